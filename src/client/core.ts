/**
 * The client's kernel: name-space operations that keep the caches right,
 * open files, and the read/write engine (splitting at max_write and
 * max_pages, several requests in flight, O_APPEND resolved here as the
 * kernel resolves it). The fs/promises API (promises.ts) and FileHandle
 * (handle.ts) are thin shapes over this.
 */
import {
  FATTR_ATIME,
  FATTR_ATIME_NOW,
  FATTR_FH,
  FATTR_GID,
  FATTR_MODE,
  FATTR_MTIME,
  FATTR_MTIME_NOW,
  FATTR_SIZE,
  FATTR_UID,
  FOPEN_NOFLUSH,
  FUSE_FSYNC_FDATASYNC,
  decodeDirents,
  type DirentPlusRecord,
  type ReplyOf,
} from '../protocol/index.js';
import type { FsError } from '../errors.js';
import { keepShape } from '../shapes.js';
import { errnoError } from './errors.js';
import type { Connection, Pending } from './connection.js';
import { O_ACCMODE, O_APPEND, O_CREAT, O_EXCL, O_NOCTTY, O_RDONLY, O_TRUNC, O_WRONLY } from './args.js';
import { ATTR_ATIME, EXEMPLAR_ATTR, S_IFREG, S_IFMT, Vfs, Vnode, type Ctx, type FuseAttr } from './vfs.js';

/** The kernel's struct file: an open file or directory on the server. */
export class OpenFile {
  /** Position for reads and writes that give none. */
  position = 0;
  closed = false;
  /** A stand-in descriptor number, unique within the client. */
  readonly fd: number;
  readonly lockOwner: bigint;

  constructor(
    readonly vnode: Vnode,
    readonly fh: number,
    readonly flags: number,
    readonly openFlags: number,
    readonly isDir: boolean,
    fd: number,
  ) {
    this.fd = fd;
    this.lockOwner = BigInt(fd);
  }

  get readable(): boolean {
    return (this.flags & O_ACCMODE) !== O_WRONLY;
  }
  get writable(): boolean {
    return (this.flags & O_ACCMODE) !== O_RDONLY;
  }
}
keepShape(new OpenFile(new Vnode(0, 0, EXEMPLAR_ATTR), 0, 0, 0, false, 0)); // see shapes.ts

export interface SetattrChanges {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: { sec: number; nsec: number } | 'now';
  mtime?: { sec: number; nsec: number } | 'now';
}

export interface ListedEntry {
  name: string;
  /** S_IF* type bits; 0 when the server did not say. */
  type: number;
  ino: number;
}

/** In-flight READ or WRITE requests per call. */
const WINDOW = 16;
/** Bytes asked for per READDIR. */
const READDIR_SIZE = 32768;

let nextFd = 1000;

export class Core {
  readonly conn: Connection;
  readonly vfs: Vfs;
  /** st_dev for every Stats of this client. */
  readonly dev: number;
  readonly openFiles = new Set<OpenFile>();
  private closing: Promise<void> | undefined;
  private readonly closeTimeoutMs: number;

  constructor(conn: Connection, vfs: Vfs, options: { dev: number; closeTimeoutMs?: number }) {
    this.conn = conn;
    this.vfs = vfs;
    this.dev = options.dev;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5000;
  }

  get maxWrite(): number {
    return this.conn.info!.maxWrite;
  }
  get maxRead(): number {
    return this.conn.info!.maxRead;
  }

  /** Throw ENOTCONN when the session is over or closing: later calls fail at once. */
  checkOpen(): void {
    if (this.conn.state === 'closed' || this.closing) {
      const e = this.conn.error;
      throw errnoError('ENOTCONN', e ? `session closed: ${e.message}` : 'session closed', e);
    }
  }

  get isClosing(): boolean {
    return this.closing !== undefined;
  }

  /** The mode sent for a new node: the umask applied here unless the server applies it (DONT_MASK). */
  createMode(mode: number, ctx: Ctx): number {
    return this.conn.info!.dontMask ? mode : mode & ~ctx.cred.umask;
  }

  // ---- name space -------------------------------------------------------------------------

  /**
   * Take the locks on `lockIds` in order, check, enqueue, release, then wait:
   * no lock is held while the server works.
   */
  private async locked<T>(lockIds: number[], send: () => T): Promise<T> {
    const release = await this.vfs.locks.acquire(lockIds);
    try {
      return send();
    } finally {
      release();
    }
  }

  /** After a name was created in `parent`: cache it (if nothing else changed the directory meanwhile). */
  private created(parent: Vnode, name: string, e: ReplyOf<'lookup'>, version: number, stamp: number): Vnode {
    const v = this.vfs.gotEntry(e, stamp);
    const fresh = parent.version === version;
    this.vfs.dirChanged(parent, name);
    if (fresh) this.vfs.cacheEntry(parent, name, v.id, e.entryValid, e.entryValidNsec, parent.version);
    return v;
  }

  async mkdir(parent: Vnode, name: string, mode: number, ctx: Ctx): Promise<Vnode> {
    const version = parent.version;
    const stamp = this.vfs.attrStamp();
    const p = await this.locked([parent.id], () =>
      this.vfs.enqueue('mkdir', parent.id, { arg: { mode: this.createMode(mode & 0o7777, ctx), umask: ctx.cred.umask }, name }, ctx),
    );
    const e = await p.reply;
    return this.created(parent, name, e, version, stamp);
  }

  async mknod(parent: Vnode, name: string, mode: number, rdev: number, ctx: Ctx): Promise<Vnode> {
    const version = parent.version;
    const stamp = this.vfs.attrStamp();
    const m = (mode & S_IFMT) | this.createMode(mode & 0o7777, ctx);
    const p = await this.locked([parent.id], () =>
      this.vfs.enqueue('mknod', parent.id, { arg: { mode: m, rdev, umask: ctx.cred.umask }, name }, ctx),
    );
    const e = await p.reply;
    return this.created(parent, name, e, version, stamp);
  }

  async symlink(parent: Vnode, name: string, target: string, ctx: Ctx): Promise<Vnode> {
    const version = parent.version;
    const stamp = this.vfs.attrStamp();
    const p = await this.locked([parent.id], () => this.vfs.enqueue('symlink', parent.id, { name, target }, ctx));
    const e = await p.reply;
    return this.created(parent, name, e, version, stamp);
  }

  async link(node: Vnode, parent: Vnode, name: string, ctx: Ctx): Promise<Vnode> {
    const version = parent.version;
    const stamp = this.vfs.attrStamp();
    const p = await this.locked([parent.id, node.id], () =>
      this.vfs.enqueue('link', parent.id, { arg: { oldnodeid: node.id }, name }, ctx),
    );
    let e: ReplyOf<'link'>;
    try {
      e = await p.reply;
    } finally {
      this.vfs.invalidateAttr(node); // nlink and ctime changed (or may have)
    }
    return this.created(parent, name, e, version, stamp);
  }

  async unlink(parent: Vnode, name: string, node: Vnode | undefined, ctx: Ctx): Promise<void> {
    const p = await this.locked([parent.id, node?.id ?? 0], () => this.vfs.enqueue('unlink', parent.id, { name }, ctx));
    try {
      await p.reply;
    } finally {
      this.vfs.dirChanged(parent, name);
      this.vfs.invalidateAttr(node);
    }
  }

  async rmdir(parent: Vnode, name: string, node: Vnode | undefined, ctx: Ctx): Promise<void> {
    const p = await this.locked([parent.id, node?.id ?? 0], () => this.vfs.enqueue('rmdir', parent.id, { name }, ctx));
    try {
      await p.reply;
    } finally {
      this.vfs.dirChanged(parent, name);
      if (node) {
        this.vfs.invalidateAttr(node);
        if (node.children) node.children.clear();
        node.version++;
      }
    }
  }

  /**
   * rename(2). `revalidate` runs under the locks of both directories and both
   * nodes (taken in id order): it returns false when what the caller looked
   * up is no longer what the caches say, and the caller walks again.
   */
  async rename(
    oldParent: Vnode,
    oldName: string,
    node: Vnode,
    newParent: Vnode,
    newName: string,
    target: Vnode | undefined,
    flags: number,
    revalidate: () => boolean,
    ctx: Ctx,
  ): Promise<boolean> {
    const ids = [oldParent.id, newParent.id, node.id, target?.id ?? 0];
    const p = await this.locked(ids, (): Pending<'rename' | 'rename2'> | undefined => {
      if (!revalidate()) return undefined;
      return flags === 0
        ? this.vfs.enqueue('rename', oldParent.id, { arg: { newdir: newParent.id }, name: oldName, newName }, ctx)
        : this.vfs.enqueue('rename2', oldParent.id, { arg: { newdir: newParent.id, flags }, name: oldName, newName }, ctx);
    });
    if (!p) return false;
    try {
      await p.reply;
    } finally {
      this.vfs.dirChanged(oldParent, oldName);
      this.vfs.dirChanged(newParent, newName);
      this.vfs.invalidateAttr(node);
      this.vfs.invalidateAttr(target);
    }
    return true;
  }

  // ---- files ------------------------------------------------------------------------------

  private track(v: Vnode, fh: number, flags: number, openFlags: number, isDir: boolean): OpenFile {
    this.vfs.pin(v);
    const f = new OpenFile(v, fh, flags, openFlags, isDir, nextFd++);
    this.openFiles.add(f);
    return f;
  }

  /**
   * open(2) of an existing node (OPENDIR for a directory). O_TRUNC goes with
   * the OPEN when the server agreed to atomic_o_trunc, else it is a SETATTR
   * after it, as the kernel does.
   */
  async open(v: Vnode, flags: number, ctx: Ctx): Promise<OpenFile> {
    if (v.isDir) {
      const r = await this.vfs.call('opendir', v.id, { arg: { flags: flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC), openFlags: 0 } }, ctx);
      return this.track(v, r.fh, flags, r.openFlags, true);
    }
    // Linux truncates on O_TRUNC whatever the access mode (O_RDONLY|O_TRUNC too; may_open asks for write permission).
    const truncate = (flags & O_TRUNC) !== 0 && v.type === S_IFREG;
    const atomic = truncate && this.conn.info!.atomicOTrunc;
    const stamp = this.vfs.attrStamp();
    const sent = flags & ~(O_CREAT | O_EXCL | O_NOCTTY | (atomic ? 0 : O_TRUNC));
    const r = await this.vfs.call('open', v.id, { arg: { flags: sent, openFlags: 0 } }, ctx);
    const f = this.track(v, r.fh, flags, r.openFlags, false);
    if (atomic) this.vfs.truncatedOnOpen(v, stamp);
    else if (truncate) {
      try {
        await this.setattr(v, { size: 0 }, ctx, f.fh);
      } catch (err) {
        await this.closeFile(f, ctx).catch(() => undefined);
        throw err;
      }
    }
    return f;
  }

  /** Create and open `name` in `parent`: CREATE, or MKNOD then OPEN when the server has no CREATE. */
  async create(parent: Vnode, name: string, mode: number, flags: number, ctx: Ctx): Promise<OpenFile> {
    if (!this.vfs.unsupported.has('create')) {
      const version = parent.version;
      const stamp = this.vfs.attrStamp();
      const p = await this.locked([parent.id], () =>
        this.vfs.enqueue(
          'create',
          parent.id,
          { arg: { flags, mode: S_IFREG | this.createMode(mode & 0o7777, ctx), umask: ctx.cred.umask, openFlags: 0 }, name },
          ctx,
        ),
      );
      try {
        const r = await p.reply;
        const v = this.created(parent, name, r.entry, version, stamp);
        return this.track(v, r.open.fh, flags, r.open.openFlags, false);
      } catch (err) {
        if ((err as FsError).code !== 'ENOSYS') throw err;
        this.vfs.unsupported.add('create');
      }
    }
    const v = await this.mknod(parent, name, S_IFREG | (mode & 0o7777), 0, ctx);
    return this.open(v, flags & ~O_TRUNC, ctx);
  }

  /**
   * close(2): FLUSH (its error is close's), then RELEASE, sent but not
   * waited for, as the kernel sends it (fuse_release is asynchronous). The
   * node stays held until RELEASE is answered, so no FORGET overtakes it.
   */
  async closeFile(f: OpenFile, ctx: Ctx): Promise<void> {
    if (f.closed) return;
    f.closed = true;
    this.openFiles.delete(f);
    const v = f.vnode;
    let flushError: unknown;
    try {
      if (!f.isDir && !(f.openFlags & FOPEN_NOFLUSH) && !this.vfs.unsupported.has('flush') && this.conn.state === 'ready') {
        try {
          await this.vfs.call('flush', v.id, { arg: { fh: f.fh, lockOwner: f.lockOwner } }, { cred: ctx.cred });
        } catch (err) {
          // ENOSYS: the kernel's no_flush, no FLUSH from then on.
          if ((err as FsError).code === 'ENOSYS') this.vfs.unsupported.add('flush');
          else flushError = err;
        }
      }
    } finally {
      this.release(f, ctx);
    }
    if (flushError !== undefined && (flushError as FsError).code !== 'ENOTCONN') throw flushError;
  }

  /** Send RELEASE (RELEASEDIR) for `f`; its answer only unpins the node. */
  private release(f: OpenFile, ctx: Ctx): void {
    const v = f.vnode;
    const unpin = (): void => this.vfs.unpin(v);
    if (this.conn.state !== 'ready' && this.conn.state !== 'closing') {
      unpin();
      return;
    }
    const op = f.isDir ? 'releasedir' : 'release';
    const arg = { fh: f.fh, flags: f.flags, releaseFlags: 0, lockOwner: f.isDir ? 0n : f.lockOwner };
    this.conn.enqueue(op, v.id, { arg }, ctx.cred).reply.then(unpin, unpin);
  }

  /** SETATTR: chmod, chown, truncate, utimes (through `fh` when there is one). */
  async setattr(v: Vnode, c: SetattrChanges, ctx: Ctx, fh?: number): Promise<FuseAttr> {
    let valid = 0;
    const arg = {
      valid: 0,
      fh: fh ?? 0,
      size: 0,
      lockOwner: 0n,
      atime: 0,
      mtime: 0,
      ctime: 0,
      atimensec: 0,
      mtimensec: 0,
      ctimensec: 0,
      mode: 0,
      uid: 0,
      gid: 0,
    };
    if (fh !== undefined) valid |= FATTR_FH;
    if (c.mode !== undefined) {
      valid |= FATTR_MODE;
      arg.mode = (v.attr.mode & S_IFMT) | (c.mode & 0o7777);
    }
    if (c.uid !== undefined) {
      valid |= FATTR_UID;
      arg.uid = c.uid;
    }
    if (c.gid !== undefined) {
      valid |= FATTR_GID;
      arg.gid = c.gid;
    }
    if (c.size !== undefined) {
      valid |= FATTR_SIZE;
      arg.size = c.size;
    }
    if (c.atime === 'now') valid |= FATTR_ATIME | FATTR_ATIME_NOW;
    else if (c.atime) {
      valid |= FATTR_ATIME;
      arg.atime = c.atime.sec;
      arg.atimensec = c.atime.nsec;
    }
    if (c.mtime === 'now') valid |= FATTR_MTIME | FATTR_MTIME_NOW;
    else if (c.mtime) {
      valid |= FATTR_MTIME;
      arg.mtime = c.mtime.sec;
      arg.mtimensec = c.mtime.nsec;
    }
    arg.valid = valid;
    this.vfs.invalidateAttr(v);
    const r = await this.vfs.call('setattr', v.id, { arg }, ctx);
    this.vfs.changedAttr(v, r.attr, r.attrValid, r.attrValidNsec);
    return r.attr;
  }

  /**
   * pread into `buf`: as many READs of at most max_pages pages as it takes,
   * up to 16 in flight; stops at the first short answer (end of file).
   */
  readAt(f: OpenFile, buf: Uint8Array, position: number, ctx: Ctx): Promise<number> {
    const length = buf.byteLength;
    if (length === 0) return Promise.resolve(0);
    // Not async itself: the one-READ case hands back readOne's promise, without a promise and three microtasks more.
    if (length <= this.maxRead) return this.readOne(f, buf, position, ctx);
    return this.readMany(f, buf, position, ctx);
  }

  /** readAt in several READs, up to 16 in flight. */
  private async readMany(f: OpenFile, buf: Uint8Array, position: number, ctx: Ctx): Promise<number> {
    const length = buf.byteLength;
    const max = this.maxRead;
    const count = Math.ceil(length / max);
    const v = f.vnode;
    const inFlight: { p: Pending<'read'>; off: number; len: number }[] = [];
    let next = 0;
    const issue = (): void => {
      const off = next++ * max;
      const len = Math.min(max, length - off);
      const p = this.vfs.enqueue(
        'read',
        v.id,
        { arg: { fh: f.fh, offset: position + off, size: len, readFlags: 0, lockOwner: 0n, flags: f.flags } },
        ctx,
      );
      inFlight.push({ p, off, len });
    };
    while (next < count && inFlight.length < WINDOW) issue();
    let total = 0;
    try {
      while (inFlight.length > 0) {
        const { p, off, len } = inFlight.shift()!;
        let data: Uint8Array;
        try {
          data = (await p.reply) as Uint8Array;
        } catch (err) {
          if (total === 0) throw err;
          break;
        }
        buf.set(data, off);
        total += data.byteLength;
        if (data.byteLength < len) break; // end of file
        if (next < count) issue();
      }
    } finally {
      this.vfs.staleAttr(v, ATTR_ATIME);
    }
    return total;
  }

  /** readAt in one READ: the same, without the bookkeeping for several. */
  private async readOne(f: OpenFile, buf: Uint8Array, position: number, ctx: Ctx): Promise<number> {
    const v = f.vnode;
    const arg = { fh: f.fh, offset: position, size: buf.byteLength, readFlags: 0, lockOwner: 0n, flags: f.flags };
    try {
      return await this.vfs.readInto(v.id, arg, buf, ctx);
    } finally {
      this.vfs.staleAttr(v, ATTR_ATIME);
    }
  }

  /** writeAt in one WRITE: the same, without the bookkeeping for several. */
  private async writeOne(f: OpenFile, data: Uint8Array, position: number, ctx: Ctx): Promise<number> {
    const v = f.vnode;
    const length = data.byteLength;
    const arg = { fh: f.fh, offset: position, size: length, writeFlags: 0, lockOwner: 0n, flags: f.flags };
    const stamp = this.vfs.attrStamp();
    let n = -1;
    try {
      n = (await this.vfs.call('write', v.id, { arg, data }, ctx)).size;
      if (n > length) throw errnoError('EIO', `server wrote ${n} bytes of ${length}`);
      return n;
    } finally {
      if (n === length) this.vfs.wrote(v, position + n, stamp);
      else this.vfs.invalidateAttr(v);
    }
  }

  /** pwrite of `data` at `position`: WRITEs of at most max_write bytes, up to 16 in flight. */
  writeAt(f: OpenFile, data: Uint8Array, position: number, ctx: Ctx): Promise<number> {
    const length = data.byteLength;
    if (length === 0) return Promise.resolve(0);
    // Not async itself, as readAt.
    if (length <= this.maxWrite) return this.writeOne(f, data, position, ctx);
    return this.writeMany(f, data, position, ctx);
  }

  /** writeAt in several WRITEs, up to 16 in flight. */
  private async writeMany(f: OpenFile, data: Uint8Array, position: number, ctx: Ctx): Promise<number> {
    const length = data.byteLength;
    const v = f.vnode;
    const max = this.maxWrite;
    const count = Math.ceil(length / max);
    const inFlight: { p: Pending<'write'>; len: number }[] = [];
    let next = 0;
    const issue = (): void => {
      const off = next++ * max;
      const chunk = data.subarray(off, off + max);
      const p = this.vfs.enqueue(
        'write',
        v.id,
        { arg: { fh: f.fh, offset: position + off, size: chunk.byteLength, writeFlags: 0, lockOwner: 0n, flags: f.flags }, data: chunk },
        ctx,
      );
      inFlight.push({ p, len: chunk.byteLength });
    };
    const stamp = this.vfs.attrStamp();
    while (next < count && inFlight.length < WINDOW) issue();
    let total = 0;
    let ok = false;
    try {
      while (inFlight.length > 0) {
        const { p, len } = inFlight.shift()!;
        let n: number;
        try {
          n = (await p.reply).size;
        } catch (err) {
          if (total === 0) throw err;
          break;
        }
        if (n > len) throw errnoError('EIO', `server wrote ${n} bytes of ${len}`);
        total += n;
        if (n < len) break;
        if (next < count) issue();
      }
      ok = total === length;
    } finally {
      // Every write answered in full: the size is known. Anything else (an error, a short write with more in flight): ask again.
      if (ok) this.vfs.wrote(v, position + total, stamp);
      else this.vfs.invalidateAttr(v);
    }
    return total;
  }

  /** write(2) at the file's position, or at its end for O_APPEND (resolved here, serialised per node). */
  async write(f: OpenFile, data: Uint8Array, position: number | null | undefined, ctx: Ctx): Promise<number> {
    if (f.flags & O_APPEND) return this.append(f, data, ctx, position === null || position === undefined || position < 0);
    if (position !== null && position !== undefined && position >= 0) return this.writeAt(f, data, position, ctx);
    const at = f.position;
    f.position += data.byteLength;
    let n: number;
    try {
      n = await this.writeAt(f, data, at, ctx);
    } catch (err) {
      if (f.position === at + data.byteLength) f.position = at;
      throw err;
    }
    if (n < data.byteLength && f.position === at + data.byteLength) f.position = at + n;
    return n;
  }

  /**
   * O_APPEND: the offset is the size, learnt once per burst with a fresh
   * GETATTR; appends from this client queue behind each other's offsets only,
   * never behind each other's writes.
   */
  private async append(f: OpenFile, data: Uint8Array, ctx: Ctx, advance = true): Promise<number> {
    const v = f.vnode;
    const len = data.byteLength;
    const base = v.appendTail ?? this.vfs.getattr(v, ctx, { fh: f.fh, fresh: true }).then((a) => a.size);
    v.appendTail = base.then((at) => at + len);
    v.appendTail.catch(() => undefined);
    v.appendsInFlight++;
    try {
      const at = await base;
      const n = await this.writeAt(f, data, at, ctx);
      // pwrite(2) on an O_APPEND file writes at the end but leaves the file position alone.
      if (advance) f.position = at + n;
      return n;
    } finally {
      if (--v.appendsInFlight === 0) v.appendTail = undefined;
    }
  }

  /** read(2) at the file's position (advanced by what was read), or pread at `position`. */
  async read(f: OpenFile, buf: Uint8Array, position: number | null | undefined, ctx: Ctx): Promise<number> {
    if (position !== null && position !== undefined && position >= 0) return this.readAt(f, buf, position, ctx);
    const at = f.position;
    f.position += buf.byteLength;
    let n: number;
    try {
      n = await this.readAt(f, buf, at, ctx);
    } catch (err) {
      if (f.position === at + buf.byteLength) f.position = at;
      throw err;
    }
    if (f.position === at + buf.byteLength) f.position = at + n;
    return n;
  }

  async fsync(f: OpenFile, datasync: boolean, ctx: Ctx): Promise<void> {
    if (this.vfs.unsupported.has(f.isDir ? 'fsyncdir' : 'fsync')) return;
    try {
      await this.vfs.call(f.isDir ? 'fsyncdir' : 'fsync', f.vnode.id, { arg: { fh: f.fh, fsyncFlags: datasync ? FUSE_FSYNC_FDATASYNC : 0 } }, ctx);
    } catch (err) {
      // ENOSYS: the kernel takes it as success from then on.
      if ((err as FsError).code !== 'ENOSYS') throw err;
      this.vfs.unsupported.add(f.isDir ? 'fsyncdir' : 'fsync');
    }
  }

  // ---- directories --------------------------------------------------------------------------

  /**
   * Read a whole directory through an open handle: READDIRPLUS when agreed
   * (its entries fill the caches and count as lookups), else READDIR.
   * '.' and '..' are left out.
   */
  async *entries(f: OpenFile, ctx: Ctx): AsyncGenerator<ListedEntry[]> {
    const dir = f.vnode;
    const plus = this.conn.info!.readdirplus;
    const size = Math.min(READDIR_SIZE, this.maxRead);
    let offset = 0;
    for (;;) {
      const version = dir.version;
      const stamp = this.vfs.attrStamp();
      const arg = { fh: f.fh, offset, size, readFlags: 0, lockOwner: 0n, flags: 0 };
      const data = (await this.vfs.call(plus ? 'readdirplus' : 'readdir', dir.id, { arg }, ctx)) as Uint8Array;
      if (data.byteLength === 0) return;
      let records;
      try {
        records = decodeDirents(data, plus);
      } catch (err) {
        throw errnoError('EIO', `malformed directory listing: ${(err as Error).message}`, err);
      }
      const out: ListedEntry[] = [];
      for (const r of records) {
        offset = r.off;
        if (plus) {
          const e = (r as DirentPlusRecord).entry;
          if (e.nodeid !== 0) {
            const v = this.vfs.gotEntry(e, stamp);
            this.vfs.cacheEntry(dir, r.name, v.id, e.entryValid, e.entryValidNsec, version);
          }
        }
        if (r.name === '.' || r.name === '..') continue;
        out.push({ name: r.name, type: (r.type & 0xf) << 12, ino: r.ino });
      }
      if (records.length === 0) return;
      yield out;
    }
  }

  async statfs(v: Vnode, ctx: Ctx): Promise<ReplyOf<'statfs'>['st']> {
    return (await this.vfs.call('statfs', v.id, {}, ctx)).st;
  }

  // ---- the end --------------------------------------------------------------------------------

  /**
   * End the session cleanly: new calls fail with ENOTCONN, calls in flight
   * get up to `closeTimeoutMs` to finish, open files are released, every
   * vnode is forgotten (the server's lookup counts return to zero), and the
   * channel is closed in order.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const conn = this.conn;
      if (conn.state !== 'closed') {
        // One deadline for both steps: a server that stopped answering cannot hold close() up.
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((r) => (timer = setTimeout(r, this.closeTimeoutMs)));
        await Promise.race([conn.whenIdle(), deadline]);
        const cred = { uid: 0, gid: 0, pid: process.pid, umask: 0 };
        await Promise.race([Promise.allSettled([...this.openFiles].map((f) => this.closeFile(f, { cred }))), deadline]);
        // RELEASEs (theirs and those of files closed just before) are answered before the FORGETs go.
        await Promise.race([conn.whenIdle(), deadline]);
        clearTimeout(timer);
        this.vfs.forgetAll();
        conn.close();
      } else {
        this.vfs.stop();
      }
      await conn.closed;
    })();
    return this.closing;
  }
}
