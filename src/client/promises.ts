/**
 * The API object `attach` returns: node:fs/promises' functions, with the
 * same names, argument forms, results and errors, over a FUSE session.
 *
 * Paths are those of the served file system: '/' is its root, and a relative
 * path is taken from the root (there is no working directory). Errors carry
 * `code`, `errno`, `syscall`, `path` (and `dest`) as node:fs's do, with the
 * path as the caller gave it.
 */
import { posix } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FsError } from '../errors.js';
import { abortError, argError, atSite, errnoError, SystemError, withAbort, type Site } from './errors.js';
import {
  COPYFILE_EXCL,
  COPYFILE_FICLONE_FORCE,
  F_OK,
  O_ACCMODE,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_RDONLY,
  O_WRONLY,
  checkEncoding,
  constants,
  encoded,
  nameIn,
  optionsOf,
  toFlags,
  toMode,
  toPath,
  toSeconds,
  toTimespec,
  type Encoding,
  type PathLike,
} from './args.js';
import type { Core, OpenFile } from './core.js';
import type { Credentials, InitInfo } from './connection.js';
import { FileHandle, ReadStream, WriteStream, readAll, writeAll, type ReadStreamOptions, type WriteStreamOptions } from './handle.js';
import { BigIntStats, Dirent, FUSE_SUPER_MAGIC, StatFs, Stats } from './stats.js';
import { ATTR_MODE, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFSOCK, S_IFREG, MAY_EXEC, MAY_READ, MAY_WRITE, allowed, type CachedHit, type Ctx, type FuseAttr, type Vnode, type Walk } from './vfs.js';

const noop = (): void => undefined;

/** close(2) whose error nobody sees (readFile and writeFile report the read's or write's). */
async function closeQuietly(core: Core, file: OpenFile, cred: Credentials): Promise<void> {
  try {
    await core.closeFile(file, { cred });
  } catch {
    // as .catch(noop), without its extra promise
  }
}

/** The error is ENAMETOOLONG and the path's last component is longer than NAME_MAX (255 bytes). */
function lastTooLong(path: string, err: unknown): boolean {
  if ((err as FsError).code !== 'ENAMETOOLONG') return false;
  const parts = path.split('/').filter(Boolean);
  return parts.length > 0 && Buffer.byteLength(parts[parts.length - 1]!) > 255;
}

type StatOptions = { bigint?: boolean; signal?: AbortSignal };
type ReadFileOptions = { encoding?: Encoding; flag?: string | number; signal?: AbortSignal };
type WriteFileOptions = { encoding?: Encoding; mode?: number | string; flag?: string | number; signal?: AbortSignal; flush?: boolean };
type ReaddirOptions = { encoding?: Encoding; withFileTypes?: boolean; recursive?: boolean; signal?: AbortSignal };
type MkdirOptions = { recursive?: boolean; mode?: number | string; signal?: AbortSignal };
type RmOptions = { force?: boolean; recursive?: boolean; maxRetries?: number; retryDelay?: number; signal?: AbortSignal };

export interface CpOptions {
  dereference?: boolean;
  errorOnExist?: boolean;
  filter?: (source: string, destination: string) => boolean | Promise<boolean>;
  force?: boolean;
  mode?: number;
  preserveTimestamps?: boolean;
  recursive?: boolean;
  verbatimSymlinks?: boolean;
}

/** An opened directory, as node:fs's Dir (from opendir). */
export class Dir {
  readonly path: string;
  readonly #fs: PuffsFs;
  readonly #handle: FileHandle;
  readonly #encoding: Encoding;
  readonly #iterator: AsyncGenerator<{ name: string; type: number }[]>;
  #buffer: { name: string; type: number }[] = [];
  #closed = false;
  #done = false;

  /** @internal */
  constructor(fs: PuffsFs, path: string, handle: FileHandle, iterator: AsyncGenerator<{ name: string; type: number }[]>, encoding: Encoding) {
    this.#fs = fs;
    this.path = path;
    this.#handle = handle;
    this.#iterator = iterator;
    this.#encoding = encoding;
  }

  /** The next entry, or null at the end. */
  async read(): Promise<Dirent<string | Buffer> | null> {
    if (this.#closed) throw Object.assign(new Error('Directory handle was closed'), { code: 'ERR_DIR_CLOSED' });
    while (this.#buffer.length === 0 && !this.#done) {
      let r;
      try {
        r = await this.#iterator.next();
      } catch (err) {
        throw atSite(err, { syscall: 'scandir', path: this.path });
      }
      if (r.done) this.#done = true;
      else this.#buffer.push(...r.value);
    }
    const e = this.#buffer.shift();
    if (!e) return null;
    return new Dirent(nameIn(e.name, this.#encoding), e.type, this.path);
  }

  async close(): Promise<void> {
    if (this.#closed) throw Object.assign(new Error('Directory handle was closed'), { code: 'ERR_DIR_CLOSED' });
    this.#closed = true;
    await this.#iterator.return(undefined).catch(noop);
    await this.#handle.close();
  }

  async *entries(): AsyncGenerator<Dirent<string | Buffer>> {
    try {
      for (;;) {
        const d = await this.read();
        if (d === null) return;
        yield d;
      }
    } finally {
      if (!this.#closed) await this.close();
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<Dirent<string | Buffer>> {
    return this.entries();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#closed) await this.close();
  }

  /** @internal */
  get fs(): PuffsFs {
    return this.#fs;
  }
}

/**
 * node:fs/promises over a FUSE session. Every method is bound, so
 * `const { readFile } = fs` works as with the real module.
 */
export class PuffsFs {
  readonly constants = constants;
  readonly #core: Core;
  readonly #cred: Credentials;
  /** #openableCached's answer; reused (see Vfs.resolveCached). */
  readonly #hit: CachedHit = { node: undefined as unknown as Vnode, parent: undefined as unknown as Vnode };
  readonly #detach: () => Promise<void>;

  /** @internal Use attach(). */
  constructor(core: Core, cred: Credentials, detach: () => Promise<void>) {
    this.#core = core;
    this.#cred = cred;
    this.#detach = detach;
    const proto = PuffsFs.prototype as unknown as Record<string, unknown>;
    for (const key of Object.getOwnPropertyNames(PuffsFs.prototype)) {
      const d = Object.getOwnPropertyDescriptor(PuffsFs.prototype, key);
      if (key === 'constructor' || !d || typeof d.value !== 'function') continue;
      (this as unknown as Record<string, unknown>)[key] = (proto[key] as (...a: unknown[]) => unknown).bind(this);
    }
  }

  // ---- the session ----------------------------------------------------------------------------

  /** What INIT agreed on. */
  get info(): InitInfo {
    return this.#core.conn.info!;
  }

  /** The credentials calls are made with. */
  get credentials(): Readonly<Credentials> {
    return this.#cred;
  }

  /** Settles when the session has ended: undefined after close(), the error when it broke. */
  get closed(): Promise<Error | undefined> {
    return this.#core.conn.closed;
  }

  /** @internal The client's kernel, for tests and tools. */
  get core(): Core {
    return this.#core;
  }

  /** The same file system, acting as other credentials (uid, gid, groups, umask). */
  withCredentials(cred: Partial<Credentials>): PuffsFs {
    return new PuffsFs(this.#core, { ...this.#cred, ...cred }, this.#detach);
  }

  /**
   * Release every node and open file, end the session cleanly, and stop a
   * server attach started (worker, child process). Later calls fail with
   * ENOTCONN. Idempotent.
   */
  close(): Promise<void> {
    return this.#detach();
  }

  /** Alias of close(). */
  detach(): Promise<void> {
    return this.#detach();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  async #run<T>(site: Site, signal: AbortSignal | undefined, fn: (ctx: Ctx) => Promise<T>): Promise<T> {
    try {
      this.#core.checkOpen();
      if (signal?.aborted) throw abortError(signal);
      const ctx: Ctx = { cred: this.#cred, signal };
      return await withAbort(fn(ctx), signal);
    } catch (err) {
      throw atSite(err, site);
    }
  }

  #walk(path: string, ctx: Ctx, follow: boolean): Promise<Walk> {
    return this.#core.vfs.walk(path, ctx, { follow });
  }

  /**
   * filename_create's walk: the last name is looked up without following it,
   * trailing slashes or not (an existing name is EEXIST, whatever it is).
   */
  async #createWalk(path: string, ctx: Ctx): Promise<Walk> {
    const trimmed = path.length > 1 ? path.replace(/\/+$/, '') || '/' : path;
    const w = await this.#walk(trimmed, ctx, false);
    if (trimmed !== path) w.trailingSlash = true;
    return w;
  }

  /**
   * may_create_in_sticky, for open(O_CREAT) of a name that exists, with
   * protected_regular and protected_fifos at the kernel's default (0): in a
   * sticky, world-writable directory, a symlink, socket or device owned by
   * neither the directory's owner nor the caller is refused, even to root.
   */
  async #mayCreateInSticky(dir: Vnode, v: Vnode, ctx: Ctx): Promise<void> {
    const vfs = this.#core.vfs;
    const d = await vfs.permAttr(dir, ctx);
    if (!(d.mode & 0o1000)) return;
    if (v.type === S_IFREG || v.type === S_IFIFO) return;
    const a = await vfs.permAttr(v, ctx);
    if (a.uid === d.uid || a.uid === ctx.cred.uid) return;
    if (d.mode & 0o002) throw errnoError('EACCES');
  }

  /**
   * may_linkat with protected_hardlinks (Linux's default): only the owner, or
   * root, may link anything; others only a regular file they can read and
   * write that is not setuid, nor setgid and group-executable.
   */
  async #mayLinkat(v: Vnode, ctx: Ctx): Promise<void> {
    if (ctx.cred.uid === 0) return;
    const vfs = this.#core.vfs;
    const a = await vfs.permAttr(v, ctx);
    if (a.uid === ctx.cred.uid) return;
    const safe =
      (a.mode & S_IFMT) === S_IFREG && !(a.mode & 0o4000) && (a.mode & 0o2010) !== 0o2010 && allowed(a, MAY_READ | MAY_WRITE, ctx.cred);
    if (!safe) throw errnoError('EPERM');
  }

  /**
   * setattr_prepare as the kernel runs it with default_permissions: chown
   * (chown_ok, chgrp_ok) and chmod need the owner or root (EPERM); explicit
   * times the owner (EPERM); times set to now the owner or write permission (EACCES).
   */
  async #setattrPrepare(v: Vnode, c: Parameters<Core['setattr']>[1], chown: boolean, ctx: Ctx): Promise<void> {
    const cred = ctx.cred;
    if (cred.uid === 0) return;
    const a = await this.#core.vfs.permAttr(v, ctx);
    const owner = a.uid === cred.uid;
    if (c.uid !== undefined && !(owner && c.uid === a.uid)) throw errnoError('EPERM');
    if (c.gid !== undefined && !(owner && (c.gid === a.gid || c.gid === cred.gid || (cred.groups ?? []).includes(c.gid)))) {
      throw errnoError('EPERM');
    }
    if (c.mode !== undefined && !owner) throw errnoError('EPERM');
    // chown_common asks to drop suid (and sgid with group exec) from a non-directory: a mode change, the owner's to make.
    const killsPrivs = (a.mode & S_IFMT) !== S_IFDIR && (a.mode & 0o4000 || (a.mode & 0o2010) === 0o2010);
    if (chown && killsPrivs && !owner) throw errnoError('EPERM');
    const explicit = (c.atime !== undefined && c.atime !== 'now') || (c.mtime !== undefined && c.mtime !== 'now');
    if (explicit && !owner) throw errnoError('EPERM');
    if (!explicit && (c.atime !== undefined || c.mtime !== undefined) && !owner && !allowed(a, MAY_WRITE, cred)) throw errnoError('EACCES');
  }

  /** Walk and require the node to exist (ENOENT otherwise). */
  async #node(path: string, ctx: Ctx, follow: boolean): Promise<Walk & { node: Vnode }> {
    const w = await this.#walk(path, ctx, follow);
    if (!w.node) {
      w.release();
      throw errnoError('ENOENT');
    }
    return w as Walk & { node: Vnode };
  }

  async #with<T>(path: string, ctx: Ctx, follow: boolean, fn: (w: Walk & { node: Vnode }) => Promise<T>): Promise<T> {
    const w = await this.#node(path, ctx, follow);
    try {
      return await fn(w);
    } finally {
      w.release();
    }
  }

  #stats(attr: FuseAttr, bigint: boolean | undefined): Stats | BigIntStats {
    return bigint ? new BigIntStats(attr, this.#core.dev) : new Stats(attr, this.#core.dev);
  }

  /**
   * #openAt's answer for the common case, decided without its chain of
   * awaits: a regular file whose every step the caches answer
   * (Vfs.resolveCached) and whose checks the cached attributes decide (no
   * O_EXCL, no O_DIRECTORY; with O_CREAT, the directory's mode known so
   * that may_create_in_sticky needs no GETATTR). True with the node to OPEN
   * and its directory in #hit, false when #openAt must decide: it then gives
   * the answer it gives today, error included.
   */
  #openableCached(p: string, flags: number, cred: Credentials): boolean {
    const core = this.#core;
    if (core.conn.state !== 'ready' || core.isClosing) return false; // checkOpen's refusal is #run's to make
    if (flags & (O_EXCL | O_DIRECTORY)) return false;
    const vfs = core.vfs;
    const hit = this.#hit;
    if (!vfs.resolveCached(p, cred, hit) || hit.node.type !== S_IFREG) return false;
    const v = hit.node;
    // may_create_in_sticky returns for a regular file once it has read the directory's mode: from the cache here.
    if (flags & O_CREAT && !vfs.attrValid(hit.parent, ATTR_MODE)) return false;
    // may_open's permission bits (O_TRUNC asks for write too); root reads and writes anything.
    if (cred.uid !== 0) {
      const acc = flags & O_ACCMODE;
      let mask = acc === O_RDONLY ? MAY_READ : acc === O_WRONLY ? MAY_WRITE : MAY_READ | MAY_WRITE;
      if (flags & 0o1000) mask |= MAY_WRITE;
      if (!vfs.attrValid(v, ATTR_MODE) || !allowed(v.attr, mask, cred)) return false;
    }
    return true;
  }

  /** open(2) of `p` for readFile and writeFile: OPEN at once when #openableCached allows, else #openAt under #run. */
  #openFor(p: string, flags: number, mode: number, signal: AbortSignal | undefined): Promise<OpenFile> {
    const site = { syscall: 'open', path: p };
    // #openPinned pins both at once, before anything else can use #hit.
    if (signal === undefined && this.#openableCached(p, flags, this.#cred)) return this.#openPinned(this.#hit.node, this.#hit.parent, flags, site);
    return this.#run(site, signal, (ctx) => this.#openAt(p, flags, mode, ctx));
  }

  /** core.open with the node and its directory held, as a walk holds them, until OPEN is answered. */
  async #openPinned(v: Vnode, parent: Vnode, flags: number, site: Site): Promise<OpenFile> {
    const vfs = this.#core.vfs;
    vfs.pin(parent);
    vfs.pin(v);
    try {
      return await this.#core.open(v, flags, { cred: this.#cred, signal: undefined });
    } catch (err) {
      throw atSite(err, site);
    } finally {
      vfs.unpin(v);
      vfs.unpin(parent);
    }
  }

  /** open(2) semantics on a walked path (the kernel's do_filp_open). */
  async #openAt(p: string, flags: number, mode: number, ctx: Ctx): Promise<OpenFile> {
    const excl = (flags & O_CREAT) !== 0 && (flags & O_EXCL) !== 0;
    // build_open_flags (Linux >= 6.4): O_CREAT|O_DIRECTORY is refused.
    if (flags & O_CREAT && flags & O_DIRECTORY) throw errnoError('EINVAL');
    if (flags & O_CREAT && p.length > 1 && p.endsWith('/')) {
      // open_last_lookups: O_CREAT with a trailing slash on a normal last component is EISDIR, whatever it names.
      const pw = await this.#walk(p.replace(/\/+$/, '') || '/', ctx, false);
      pw.release();
      if (pw.last === 'name') throw errnoError('EISDIR');
    }
    const w = await this.#walk(p, ctx, !(flags & O_NOFOLLOW) && !excl);
    try {
      if (!w.node) {
        if (!(flags & O_CREAT)) throw errnoError('ENOENT');
        if (w.trailingSlash) throw errnoError('EISDIR');
        return await this.#core.create(w.parent!, w.name, mode, flags, ctx);
      }
      if (excl) throw errnoError('EEXIST');
      const v = w.node;
      if (flags & O_CREAT) {
        // do_open on an existing name: a directory is EISDIR, then may_create_in_sticky.
        if (v.isDir) throw errnoError('EISDIR');
        if (w.last === 'name' && w.parent) await this.#mayCreateInSticky(w.parent, v, ctx);
      }
      // do_open: O_DIRECTORY is checked before may_open, whose first refusal is a symlink (O_NOFOLLOW).
      if (flags & O_DIRECTORY && !v.isDir) throw errnoError('ENOTDIR');
      if (v.isSymlink) throw errnoError('ELOOP');
      // may_open: O_TRUNC asks for write access too, which a directory refuses.
      if (v.isDir && ((flags & O_ACCMODE) !== O_RDONLY || flags & O_CREAT || flags & 0o1000)) throw errnoError('EISDIR');
      // may_open: then the permission bits for the access asked (O_TRUNC asks for write on a regular file).
      const acc = flags & O_ACCMODE;
      let mask = acc === O_RDONLY ? MAY_READ : acc === O_WRONLY ? MAY_WRITE : MAY_READ | MAY_WRITE;
      if (flags & 0o1000 && v.type === S_IFREG) mask |= MAY_WRITE;
      await this.#core.vfs.permission(v, mask, ctx);
      switch (v.type) {
        case S_IFSOCK:
          throw errnoError('ENXIO');
        case S_IFIFO:
        case S_IFCHR:
        case S_IFBLK:
          // Opened by the kernel's own drivers, not the file system: nothing to do that with here.
          throw errnoError('EOPNOTSUPP', 'special files cannot be opened through the client');
      }
      return await this.#core.open(v, flags, ctx);
    } finally {
      w.release();
    }
  }

  // ---- files ------------------------------------------------------------------------------------

  async open(path: PathLike, flags?: string | number, mode?: number | string): Promise<FileHandle> {
    const p = toPath(path);
    const f = toFlags(flags, 'r');
    const m = toMode(mode, 0o666);
    const file = await this.#run({ syscall: 'open', path: p }, undefined, (ctx) => this.#openAt(p, f, m, ctx));
    return new FileHandle(this.#core, file, this.#cred);
  }

  readFile(path: PathLike | FileHandle, options?: (ReadFileOptions & { encoding?: null | 'buffer' }) | null): Promise<Buffer>;
  readFile(path: PathLike | FileHandle, options: (ReadFileOptions & { encoding: BufferEncoding }) | BufferEncoding): Promise<string>;
  readFile(path: PathLike | FileHandle, options?: ReadFileOptions | BufferEncoding | null): Promise<string | Buffer>;
  async readFile(path: PathLike | FileHandle, options?: ReadFileOptions | BufferEncoding | null): Promise<string | Buffer> {
    const o = optionsOf(options, { flag: 'r' } as ReadFileOptions);
    checkEncoding(o.encoding);
    if (path instanceof FileHandle) return path.readFile({ encoding: o.encoding, signal: o.signal });
    const p = toPath(path);
    const flags = toFlags(o.flag, 'r');
    const signal = o.signal;
    const file = await this.#openFor(p, flags, 0o666, signal);
    // What a FileHandle's readFile then close would do, without making one.
    const core = this.#core;
    let data: Buffer;
    try {
      if (signal?.aborted) throw abortError(signal);
      core.checkOpen();
      try {
        data = await withAbort(readAll(core, file, { cred: this.#cred, signal }), signal);
      } catch (err) {
        throw atSite(err, { syscall: 'read' });
      }
    } finally {
      await closeQuietly(core, file, this.#cred);
    }
    return encoded(data, o.encoding);
  }

  async writeFile(path: PathLike | FileHandle, data: unknown, options?: WriteFileOptions | BufferEncoding | null): Promise<void> {
    const o = optionsOf(options, { encoding: 'utf8', mode: 0o666, flag: 'w' } as WriteFileOptions);
    checkEncoding(o.encoding);
    if (path instanceof FileHandle) return path.writeFile(data, { encoding: o.encoding, signal: o.signal });
    const p = toPath(path);
    const flags = toFlags(o.flag, 'w');
    const mode = toMode(o.mode, 0o666);
    const signal = o.signal;
    if (typeof data !== 'string' && !ArrayBuffer.isView(data) && (data === null || typeof data !== 'object')) {
      throw argError('ERR_INVALID_ARG_TYPE', `The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received ${typeof data}`);
    }
    const file = await this.#openFor(p, flags, mode, signal);
    // What a FileHandle's writeFile (and sync) then close would do, without making one.
    const core = this.#core;
    try {
      core.checkOpen();
      if (signal?.aborted) throw abortError(signal);
      try {
        await withAbort(writeAll(core, file, data, o.encoding, { cred: this.#cred, signal }), signal);
      } catch (err) {
        throw atSite(err, { syscall: 'write' });
      }
      if (o.flush) await new FileHandle(core, file, this.#cred).sync();
    } finally {
      await closeQuietly(core, file, this.#cred);
    }
  }

  async appendFile(path: PathLike | FileHandle, data: unknown, options?: WriteFileOptions | BufferEncoding | null): Promise<void> {
    const o = optionsOf(options, { encoding: 'utf8', mode: 0o666, flag: 'a' } as WriteFileOptions);
    return this.writeFile(path, data, o);
  }

  async truncate(path: PathLike, len = 0): Promise<void> {
    const h = await this.open(path, 'r+');
    try {
      await h.truncate(len);
    } finally {
      await h.close().catch(noop);
    }
  }

  async copyFile(src: PathLike, dest: PathLike, mode = 0): Promise<void> {
    const s = toPath(src, 'src');
    const d = toPath(dest, 'dest');
    await this.#run({ syscall: 'copyfile', path: s, dest: d }, undefined, (ctx) => this.#copyFile(s, d, mode, ctx));
  }

  /** uv_fs_copyfile: open the source, create the destination with its mode, copy the bytes. */
  async #copyFile(s: string, d: string, mode: number, ctx: Ctx): Promise<void> {
    if (mode & COPYFILE_FICLONE_FORCE) throw errnoError('ENOTSUP');
    const src = await this.#openAt(s, O_RDONLY, 0, ctx);
    let dst: OpenFile | undefined;
    try {
      if (src.isDir) throw errnoError('EISDIR');
      const attr = await this.#core.vfs.getattr(src.vnode, ctx, { fh: src.fh, fresh: true });
      // As libuv: no O_TRUNC at open, so that copying a file onto itself leaves it alone; truncate after that check.
      const flags = O_WRONLY | O_CREAT | (mode & COPYFILE_EXCL ? O_EXCL : 0);
      dst = await this.#openAt(d, flags, attr.mode & 0o7777, ctx);
      if (dst.vnode === src.vnode) return;
      await this.#core.setattr(dst.vnode, { size: 0 }, ctx, dst.fh);
      await this.#core.setattr(dst.vnode, { mode: attr.mode & 0o7777 }, ctx, dst.fh);
      const chunk = Math.max(this.#core.maxRead, 1 << 20);
      const buf = Buffer.allocUnsafe(chunk);
      let pos = 0;
      for (;;) {
        const n = await this.#core.readAt(src, buf, pos, ctx);
        if (n === 0) break;
        let done = 0;
        while (done < n) {
          const w = await this.#core.writeAt(dst, buf.subarray(done, n), pos + done, ctx);
          if (w === 0) throw errnoError('EIO', 'the server wrote nothing');
          done += w;
        }
        pos += n;
        if (n < chunk) break;
      }
    } finally {
      await this.#core.closeFile(src, ctx).catch(noop);
      if (dst) await this.#core.closeFile(dst, ctx).catch(noop);
    }
  }

  // ---- attributes -------------------------------------------------------------------------------

  stat(path: PathLike, options?: StatOptions & { bigint?: false }): Promise<Stats>;
  stat(path: PathLike, options: StatOptions & { bigint: true }): Promise<BigIntStats>;
  stat(path: PathLike, options?: StatOptions): Promise<Stats | BigIntStats>;
  async stat(path: PathLike, options?: StatOptions): Promise<Stats | BigIntStats> {
    const p = toPath(path);
    const attr = await this.#run({ syscall: 'stat', path: p }, options?.signal, (ctx) =>
      this.#with(p, ctx, true, (w) => this.#core.vfs.getattr(w.node, ctx)),
    );
    return this.#stats(attr, options?.bigint);
  }

  lstat(path: PathLike, options?: StatOptions & { bigint?: false }): Promise<Stats>;
  lstat(path: PathLike, options: StatOptions & { bigint: true }): Promise<BigIntStats>;
  lstat(path: PathLike, options?: StatOptions): Promise<Stats | BigIntStats>;
  async lstat(path: PathLike, options?: StatOptions): Promise<Stats | BigIntStats> {
    const p = toPath(path);
    const attr = await this.#run({ syscall: 'lstat', path: p }, options?.signal, (ctx) =>
      this.#with(p, ctx, false, (w) => this.#core.vfs.getattr(w.node, ctx)),
    );
    return this.#stats(attr, options?.bigint);
  }

  async statfs(path: PathLike, options?: StatOptions): Promise<StatFs<number> | StatFs<bigint>> {
    const p = toPath(path);
    const st = await this.#run({ syscall: 'statfs', path: p }, options?.signal, (ctx) =>
      this.#with(p, ctx, true, (w) => this.#core.statfs(w.node, ctx)),
    );
    const v = { type: FUSE_SUPER_MAGIC, bsize: st.bsize, blocks: st.blocks, bfree: st.bfree, bavail: st.bavail, files: st.files, ffree: st.ffree };
    if (options?.bigint) {
      return new StatFs<bigint>(Object.fromEntries(Object.entries(v).map(([k, x]) => [k, BigInt(x)])) as never);
    }
    return new StatFs<number>(v);
  }

  async access(path: PathLike, mode: number = F_OK): Promise<void> {
    const p = toPath(path);
    if (!Number.isInteger(mode) || mode < 0 || mode > 7) throw argError('ERR_OUT_OF_RANGE', `The value of "mode" is out of range. It must be an integer >= 0 && <= 7. Received ${mode}`);
    await this.#run({ syscall: 'access', path: p }, undefined, (ctx) =>
      this.#with(p, ctx, true, async (w) => {
        if (this.#core.vfs.unsupported.has('access')) return;
        try {
          await this.#core.vfs.call('access', w.node.id, { arg: { mask: mode } }, ctx);
        } catch (err) {
          // ENOSYS: the kernel takes it as "always allowed" from then on.
          if ((err as FsError).code !== 'ENOSYS') throw err;
          this.#core.vfs.unsupported.add('access');
        }
      }),
    );
  }

  async #setattr(syscall: string, path: PathLike, follow: boolean, changes: Parameters<Core['setattr']>[1]): Promise<void> {
    const p = toPath(path);
    await this.#run({ syscall, path: p }, undefined, (ctx) =>
      this.#with(p, ctx, follow, async (w) => {
        const chown = syscall === 'chown' || syscall === 'lchown';
        await this.#setattrPrepare(w.node, changes, chown, ctx);
        let c = changes;
        if (chown) {
          // chown_common: ATTR_KILL_SUID | ATTR_KILL_SGID on a non-directory, whoever asks (root too), sent as a mode.
          const a = await this.#core.vfs.permAttr(w.node, ctx);
          const kill = (a.mode & S_IFMT) === S_IFDIR ? 0 : (a.mode & 0o4000) | ((a.mode & 0o2010) === 0o2010 ? 0o2000 : 0);
          if (kill) c = { ...changes, mode: a.mode & 0o7777 & ~kill };
        }
        await this.#core.setattr(w.node, c, ctx);
      }),
    );
  }

  chmod(path: PathLike, mode: number | string): Promise<void> {
    return this.#setattr('chmod', path, true, { mode: toMode(mode, 0) });
  }

  /** Linux has no lchmod: as node:fs on Linux, it is not implemented. */
  async lchmod(_path: PathLike, _mode: number | string): Promise<void> {
    throw argError('ERR_METHOD_NOT_IMPLEMENTED', 'The lchmod() method is not implemented');
  }

  chown(path: PathLike, uid: number, gid: number): Promise<void> {
    return this.#setattr('chown', path, true, ownerChanges(uid, gid));
  }

  lchown(path: PathLike, uid: number, gid: number): Promise<void> {
    return this.#setattr('lchown', path, false, ownerChanges(uid, gid));
  }

  utimes(path: PathLike, atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    return this.#setattr('utime', path, true, { atime: toTimespec(toSeconds(atime, 'atime')), mtime: toTimespec(toSeconds(mtime, 'mtime')) });
  }

  lutimes(path: PathLike, atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    return this.#setattr('lutime', path, false, { atime: toTimespec(toSeconds(atime, 'atime')), mtime: toTimespec(toSeconds(mtime, 'mtime')) });
  }

  // ---- names --------------------------------------------------------------------------------------

  async mkdir(path: PathLike, options?: MkdirOptions | number | string): Promise<string | undefined> {
    const p = toPath(path);
    const o: MkdirOptions = typeof options === 'number' || typeof options === 'string' ? { mode: options } : (options ?? {});
    const mode = toMode(o.mode, 0o777);
    return this.#run({ syscall: 'mkdir', path: p }, o.signal, async (ctx) => {
      if (o.recursive) return this.#mkdirp(p, mode, ctx);
      const w = await this.#createWalk(p, ctx);
      try {
        if (w.node || w.last !== 'name') throw errnoError('EEXIST');
        await this.#core.mkdir(w.parent!, w.name, mode, ctx);
        return undefined;
      } finally {
        w.release();
      }
    });
  }

  /** mkdir -p: the first directory created (absolute), or undefined when all existed. */
  async #mkdirp(p: string, mode: number, ctx: Ctx): Promise<string | undefined> {
    const full = posix.resolve('/', p);
    const parts = full.split('/').filter(Boolean);
    let first: string | undefined;
    let dir = this.#core.vfs.root;
    const vfs = this.#core.vfs;
    const pins: Vnode[] = [];
    try {
      for (let i = 0; i < parts.length; i++) {
        const name = parts[i]!;
        const isLast = i === parts.length - 1;
        const here = '/' + parts.slice(0, i + 1).join('/');
        let child = await vfs.lookup(dir, name, ctx);
        if (!child) {
          try {
            child = await this.#core.mkdir(dir, name, mode, ctx);
            first ??= here;
          } catch (err) {
            if ((err as FsError).code !== 'EEXIST') throw err;
            child = await vfs.lookup(dir, name, ctx);
            if (!child) throw err;
          }
        }
        pins.push(vfs.pin(child));
        if (child.isSymlink) {
          // Follow it as mkdir -p does (stat): it must lead to a directory.
          const w = await vfs.walk(here, ctx, { follow: true }).catch((err: FsError) => {
            throw err.code === 'ENOENT' ? errnoError(isLast ? 'EEXIST' : 'ENOENT') : err;
          });
          try {
            if (!w.node?.isDir) throw errnoError(isLast ? 'EEXIST' : 'ENOTDIR');
            child = w.node;
            pins.push(vfs.pin(child));
          } finally {
            w.release();
          }
        }
        if (!child.isDir) throw errnoError(isLast ? 'EEXIST' : 'ENOTDIR');
        dir = child;
      }
      return first;
    } finally {
      for (const v of pins) vfs.unpin(v);
    }
  }

  async mkdtemp(prefix: string, options?: { encoding?: Encoding } | BufferEncoding): Promise<string> {
    const o = optionsOf(options, {} as { encoding?: Encoding });
    const pre = toPath(prefix, 'prefix');
    const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    let last = pre + 'XXXXXX';
    for (let attempt = 0; attempt < 100; attempt++) {
      const suffix = [...randomBytes(6)].map((b) => chars[b % chars.length]).join('');
      const candidate = pre + suffix;
      last = candidate;
      try {
        await this.#run({ syscall: 'mkdtemp', path: candidate }, undefined, async (ctx) => {
          const w = await this.#walk(candidate, ctx, false);
          try {
            if (w.node || w.last !== 'name') throw errnoError('EEXIST');
            await this.#core.mkdir(w.parent!, w.name, 0o700, ctx);
          } finally {
            w.release();
          }
        });
        return o.encoding === 'buffer' ? (Buffer.from(candidate) as unknown as string) : candidate;
      } catch (err) {
        if ((err as FsError).code !== 'EEXIST') throw err;
      }
    }
    throw atSite(errnoError('EEXIST'), { syscall: 'mkdtemp', path: last });
  }

  async rmdir(path: PathLike, options?: { recursive?: boolean; signal?: AbortSignal }): Promise<void> {
    if (options?.recursive) return this.rm(path, { recursive: true });
    const p = toPath(path);
    await this.#run({ syscall: 'rmdir', path: p }, options?.signal, async (ctx) => {
      // do_rmdir: the last name is not followed, trailing slash or not.
      const w = await this.#createWalk(p, ctx);
      try {
        if (w.last === 'root') throw errnoError('EBUSY');
        if (w.last === 'dot') throw errnoError('EINVAL');
        if (w.last === 'dotdot') throw errnoError('ENOTEMPTY');
        if (!w.node) throw errnoError('ENOENT');
        await this.#core.vfs.mayDelete(w.parent!, w.node, true, ctx);
        await this.#core.rmdir(w.parent!, w.name, w.node, ctx);
      } finally {
        w.release();
      }
    });
  }

  async unlink(path: PathLike): Promise<void> {
    const p = toPath(path);
    await this.#run({ syscall: 'unlink', path: p }, undefined, (ctx) => this.#unlinkAt(p, ctx));
  }

  async #unlinkAt(p: string, ctx: Ctx): Promise<void> {
    // do_unlinkat: the last name is not followed; a trailing slash is EISDIR or ENOTDIR after the lookup.
    const w = await this.#createWalk(p, ctx);
    try {
      if (w.last !== 'name') throw errnoError('EISDIR');
      if (!w.node) throw errnoError('ENOENT');
      if (w.trailingSlash) throw errnoError(w.node.isDir ? 'EISDIR' : 'ENOTDIR');
      await this.#core.vfs.mayDelete(w.parent!, w.node, false, ctx);
      await this.#core.unlink(w.parent!, w.name, w.node, ctx);
    } finally {
      w.release();
    }
  }

  async rm(path: PathLike, options?: RmOptions): Promise<void> {
    const p = toPath(path);
    const force = options?.force ?? false;
    const recursive = options?.recursive ?? false;
    let st: Stats;
    try {
      st = (await this.lstat(p)) as Stats;
    } catch (err) {
      if (force && (err as FsError).code === 'ENOENT') return;
      throw err;
    }
    if (st.isDirectory()) {
      if (!recursive) throw new SystemError('ERR_FS_EISDIR', { code: 'EISDIR', message: 'is a directory', path: p, syscall: 'rm' });
      await this.#rimraf(p, force);
      return;
    }
    try {
      await this.unlink(p);
    } catch (err) {
      if (force && (err as FsError).code === 'ENOENT') return;
      throw err;
    }
  }

  async #rimraf(p: string, force: boolean): Promise<void> {
    let names: string[];
    try {
      names = (await this.readdir(p)) as string[];
    } catch (err) {
      if (force && (err as FsError).code === 'ENOENT') return;
      throw err;
    }
    await Promise.all(
      names.map(async (name) => {
        const child = posix.join(p, name);
        let st: Stats;
        try {
          st = (await this.lstat(child)) as Stats;
        } catch (err) {
          if ((err as FsError).code === 'ENOENT') return;
          throw err;
        }
        if (st.isDirectory()) await this.#rimraf(child, force);
        else {
          try {
            await this.unlink(child);
          } catch (err) {
            if ((err as FsError).code !== 'ENOENT') throw err;
          }
        }
      }),
    );
    try {
      await this.rmdir(p);
    } catch (err) {
      if ((err as FsError).code !== 'ENOENT') throw err;
    }
  }

  async rename(oldPath: PathLike, newPath: PathLike): Promise<void> {
    const o = toPath(oldPath, 'oldPath');
    const n = toPath(newPath, 'newPath');
    await this.#run({ syscall: 'rename', path: o, dest: n }, undefined, (ctx) => this.#rename(o, n, 0, ctx));
  }

  /**
   * rename(2) as the kernel's do_renameat2 checks it: '.' and '..' (EBUSY),
   * a directory into itself (EINVAL), type clashes (ENOTDIR, EISDIR), the
   * same node (nothing to do). Both entries are revalidated under the locks
   * of both directories and both nodes; if either changed, walk again.
   */
  async #rename(o: string, n: string, flags: number, ctx: Ctx): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let src: Walk | undefined;
      let dst: Walk | undefined;
      try {
        // do_renameat2: both parents are walked first; the last names (not followed) are looked up later, so a
        // name too long for the server in the last component comes after EBUSY and a missing source.
        let srcLong: unknown;
        let dstLong: unknown;
        try {
          src = await this.#createWalk(o, ctx);
        } catch (err) {
          if (!lastTooLong(o, err)) throw err;
          srcLong = err;
        }
        try {
          dst = await this.#createWalk(n, ctx);
        } catch (err) {
          if (!lastTooLong(n, err)) throw err;
          dstLong = err;
        }
        if ((src && src.last !== 'name') || (dst && dst.last !== 'name')) throw errnoError('EBUSY');
        if (srcLong !== undefined) throw srcLong;
        if (!src!.node) throw errnoError('ENOENT');
        if (dstLong !== undefined) throw dstLong;
        const s = src!;
        const d = dst!;
        const node = s.node!;
        if (!node.isDir && (s.trailingSlash || d.trailingSlash)) throw errnoError('ENOTDIR');
        const target = d.node;
        const oldParent = s.parent!;
        const newParent = d.parent!;
        // lock_rename's trap: the source above the new parent (EINVAL), the target above the old one (ENOTEMPTY).
        if (node.isDir && (newParent === node || d.ancestors.includes(node))) throw errnoError('EINVAL');
        if (target && target.isDir && (oldParent === target || s.ancestors.includes(target))) throw errnoError('ENOTEMPTY');
        // vfs_rename: the same node is nothing to do; then may_delete the source, may_create or may_delete the target.
        if (target === node) return;
        const vfs = this.#core.vfs;
        await vfs.mayDelete(oldParent, node, node.isDir, ctx);
        if (target) await vfs.mayDelete(newParent, target, node.isDir, ctx);
        else await vfs.permission(newParent, MAY_WRITE | MAY_EXEC, ctx);
        const v1 = oldParent.version;
        const v2 = newParent.version;
        const revalidate = (): boolean => {
          if (attempt >= 3) return true; // the server decides
          const e1 = oldParent.children?.get(s.name);
          const e2 = newParent.children?.get(d.name);
          const same1 = oldParent.version === v1 || e1?.node === node.id;
          const same2 = newParent.version === v2 || (target ? e2?.node === target.id : e2?.node === 0);
          return same1 && same2;
        };
        if (await this.#core.rename(oldParent, s.name, node, newParent, d.name, target, flags, revalidate, ctx)) return;
      } finally {
        src?.release();
        dst?.release();
      }
    }
  }

  async link(existingPath: PathLike, newPath: PathLike): Promise<void> {
    const e = toPath(existingPath, 'existingPath');
    const n = toPath(newPath, 'newPath');
    await this.#run({ syscall: 'link', path: e, dest: n }, undefined, (ctx) =>
      this.#with(e, ctx, false, async (src) => {
        const w = await this.#createWalk(n, ctx);
        try {
          // do_linkat: filename_create (EEXIST, ENOENT) comes before vfs_link's EPERM for a directory.
          if (w.node || w.last !== 'name') throw errnoError('EEXIST');
          if (w.trailingSlash) throw errnoError('ENOENT');
          await this.#mayLinkat(src.node, ctx);
          await this.#core.vfs.permission(w.parent!, MAY_WRITE | MAY_EXEC, ctx);
          if (src.node.isDir) throw errnoError('EPERM');
          await this.#core.link(src.node, w.parent!, w.name, ctx);
        } finally {
          w.release();
        }
      }),
    );
  }

  async symlink(target: PathLike, path: PathLike, _type?: string | null): Promise<void> {
    const t = toPath(target, 'target');
    const p = toPath(path);
    await this.#run({ syscall: 'symlink', path: t, dest: p }, undefined, async (ctx) => {
      const w = await this.#createWalk(p, ctx);
      try {
        if (w.node || w.last !== 'name') throw errnoError('EEXIST');
        if (w.trailingSlash) throw errnoError('ENOENT');
        await this.#core.symlink(w.parent!, w.name, t, ctx);
      } finally {
        w.release();
      }
    });
  }

  readlink(path: PathLike, options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<string>;
  readlink(path: PathLike, options: { encoding: 'buffer' } | 'buffer'): Promise<Buffer>;
  readlink(path: PathLike, options?: { encoding?: Encoding } | BufferEncoding | 'buffer' | null): Promise<string | Buffer>;
  async readlink(path: PathLike, options?: { encoding?: Encoding } | BufferEncoding | 'buffer' | null): Promise<string | Buffer> {
    const o = optionsOf(options, {} as { encoding?: Encoding });
    checkEncoding(o.encoding);
    const p = toPath(path);
    const target = await this.#run({ syscall: 'readlink', path: p }, undefined, (ctx) =>
      this.#with(p, ctx, false, async (w) => {
        if (!w.node.isSymlink) throw errnoError('EINVAL');
        return this.#core.vfs.readlink(w.node, ctx);
      }),
    );
    return encoded(Buffer.from(target), o.encoding ?? 'utf8');
  }

  realpath(path: PathLike, options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<string>;
  realpath(path: PathLike, options: { encoding: 'buffer' } | 'buffer'): Promise<Buffer>;
  realpath(path: PathLike, options?: { encoding?: Encoding } | BufferEncoding | 'buffer' | null): Promise<string | Buffer>;
  async realpath(path: PathLike, options?: { encoding?: Encoding } | BufferEncoding | 'buffer' | null): Promise<string | Buffer> {
    const o = optionsOf(options, {} as { encoding?: Encoding });
    checkEncoding(o.encoding);
    const p = toPath(path);
    const canonical = await this.#run({ syscall: 'realpath', path: p }, undefined, (ctx) => this.#with(p, ctx, true, async (w) => w.canonical));
    return encoded(Buffer.from(canonical), o.encoding ?? 'utf8');
  }

  // ---- directories ----------------------------------------------------------------------------------

  /** The entries of one directory: name and S_IF* type. */
  async #list(p: string, ctx: Ctx): Promise<{ name: string; type: number }[]> {
    return this.#with(p, ctx, true, async (w) => {
      if (!w.node.isDir) throw errnoError('ENOTDIR');
      const f = await this.#core.open(w.node, O_RDONLY | O_DIRECTORY, ctx);
      const out: { name: string; type: number }[] = [];
      try {
        for await (const batch of this.#core.entries(f, ctx)) out.push(...batch);
      } finally {
        await this.#core.closeFile(f, ctx).catch(noop);
      }
      return out;
    });
  }

  /** A type the listing did not give: from lstat, as Node does for DT_UNKNOWN. */
  async #typeOf(path: string, ctx: Ctx): Promise<number> {
    try {
      return await this.#with(path, ctx, false, async (w) => (await this.#core.vfs.getattr(w.node, ctx)).mode & S_IFMT);
    } catch {
      return 0;
    }
  }

  readdir(path: PathLike, options?: (ReaddirOptions & { encoding?: BufferEncoding | null; withFileTypes?: false }) | BufferEncoding | null): Promise<string[]>;
  readdir(path: PathLike, options: (ReaddirOptions & { encoding: 'buffer'; withFileTypes?: false }) | 'buffer'): Promise<Buffer[]>;
  readdir(path: PathLike, options: ReaddirOptions & { encoding?: BufferEncoding | null; withFileTypes: true }): Promise<Dirent<string>[]>;
  readdir(path: PathLike, options: ReaddirOptions & { encoding: 'buffer'; withFileTypes: true }): Promise<Dirent<Buffer>[]>;
  readdir(path: PathLike, options?: ReaddirOptions | BufferEncoding | 'buffer' | null): Promise<(string | Buffer | Dirent<string | Buffer>)[]>;
  async readdir(path: PathLike, options?: ReaddirOptions | BufferEncoding | 'buffer' | null): Promise<(string | Buffer | Dirent<string | Buffer>)[]> {
    const o = optionsOf(options, {} as ReaddirOptions);
    checkEncoding(o.encoding);
    const p = toPath(path);
    return this.#run({ syscall: 'scandir', path: p }, o.signal, async (ctx) => {
      const dirents = async (dir: string): Promise<Dirent<string | Buffer>[]> => {
        const list = await this.#list(dir, ctx).catch((err) => {
          throw atSite(err, { syscall: 'scandir', path: dir });
        });
        return Promise.all(
          list.map(async (e) => new Dirent(nameIn(e.name, o.encoding), e.type || (await this.#typeOf(posix.join(dir, e.name), ctx)), dir)),
        );
      };
      if (!o.recursive) {
        if (o.withFileTypes) return dirents(p);
        return (await this.#list(p, ctx)).map((e) => nameIn(e.name, o.encoding));
      }
      // As Node's readdirRecursive: a stack of directories, results in visiting order.
      const result: (string | Buffer | Dirent<string | Buffer>)[] = [];
      if (o.withFileTypes) {
        const queue: [string, Dirent<string | Buffer>[]][] = [[p, await dirents(p)]];
        while (queue.length > 0) {
          const [dir, list] = queue.pop()!;
          for (const d of list) {
            result.push(d);
            if (d.isDirectory()) {
              const sub = posix.join(dir, String(d.name));
              queue.push([sub, await dirents(sub)]);
            }
          }
        }
        return result;
      }
      const queue: [string, { name: string; type: number }[]][] = [[p, await this.#list(p, ctx)]];
      while (queue.length > 0) {
        const [dir, list] = queue.pop()!;
        for (const e of list) {
          const sub = posix.join(dir, e.name);
          result.push(nameIn(posix.relative(posix.resolve('/', p), posix.resolve('/', sub)), o.encoding));
          // Node stats (following symlinks) to decide whether to descend.
          let isDir = e.type === S_IFDIR;
          if (e.type === S_IFLNK || e.type === 0) {
            isDir = await this.#with(sub, ctx, true, async (w) => w.node.isDir).catch(() => false);
          }
          if (isDir) {
            queue.push([
              sub,
              await this.#list(sub, ctx).catch((err) => {
                throw atSite(err, { syscall: 'scandir', path: sub });
              }),
            ]);
          }
        }
      }
      return result;
    });
  }

  async opendir(path: PathLike, options?: { encoding?: Encoding; bufferSize?: number }): Promise<Dir> {
    const o = optionsOf(options, {} as { encoding?: Encoding; bufferSize?: number });
    checkEncoding(o.encoding);
    const p = toPath(path);
    const file = await this.#run({ syscall: 'opendir', path: p }, undefined, (ctx) =>
      this.#with(p, ctx, true, async (w) => {
        if (!w.node.isDir) throw errnoError('ENOTDIR');
        return this.#core.open(w.node, O_RDONLY | O_DIRECTORY, ctx);
      }),
    );
    const handle = new FileHandle(this.#core, file, this.#cred);
    const core = this.#core;
    const cred = this.#cred;
    const self = this;
    async function* typed(): AsyncGenerator<{ name: string; type: number }[]> {
      for await (const batch of core.entries(file, { cred })) {
        yield await Promise.all(batch.map(async (e) => ({ name: e.name, type: e.type || (await self.#typeOf(posix.join(p, e.name), { cred })) })));
      }
    }
    return new Dir(this, p, handle, typed(), o.encoding);
  }

  // ---- copying trees ------------------------------------------------------------------------------------

  /** fs.cp: files, directories (with `recursive`), symlinks; Node's checks and errors. */
  async cp(src: PathLike, dest: PathLike, options?: CpOptions): Promise<void> {
    const s = toPath(src, 'src');
    const d = toPath(dest, 'dest');
    const o: Required<Omit<CpOptions, 'filter' | 'mode'>> & CpOptions = {
      dereference: false,
      errorOnExist: false,
      force: true,
      preserveTimestamps: false,
      recursive: false,
      verbatimSymlinks: false,
      ...options,
    };
    const ss = (o.dereference ? await this.stat(s) : await this.lstat(s)) as Stats;
    let ds: Stats | undefined;
    try {
      ds = (o.dereference ? await this.stat(d) : await this.lstat(d)) as Stats;
    } catch (err) {
      if ((err as FsError).code !== 'ENOENT') throw err;
    }
    if (ds) {
      if (ss.ino === ds.ino && ss.dev === ds.dev) {
        throw new SystemError('ERR_FS_CP_EINVAL', { code: 'EINVAL', message: 'src and dest cannot be the same', path: d, syscall: 'cp' });
      }
      if (ss.isDirectory() && !ds.isDirectory()) {
        throw new SystemError('ERR_FS_CP_DIR_TO_NON_DIR', {
          code: 'EISDIR',
          message: `cannot overwrite non-directory ${d} with directory ${s}`,
          path: d,
          syscall: 'cp',
        });
      }
      if (!ss.isDirectory() && ds.isDirectory()) {
        throw new SystemError('ERR_FS_CP_NON_DIR_TO_DIR', {
          code: 'ENOTDIR',
          message: `cannot overwrite directory ${d} with non-directory ${s}`,
          path: d,
          syscall: 'cp',
        });
      }
    }
    const rs = posix.resolve('/', s);
    const rd = posix.resolve('/', d);
    if (ss.isDirectory() && (rd + '/').startsWith(rs + '/')) {
      throw new SystemError('ERR_FS_CP_EINVAL', {
        code: 'EINVAL',
        message: `cannot copy ${s} to a subdirectory of self ${d}`,
        path: d,
        syscall: 'cp',
      });
    }
    if (o.filter && !(await o.filter(s, d))) return;
    // As Node: the destination's parent is made when missing.
    if (!ds) await this.mkdir(posix.dirname(rd), { recursive: true });
    await this.#cpAny(s, d, ss, ds, o);
  }

  async #cpAny(s: string, d: string, ss: Stats, ds: Stats | undefined, o: CpOptions): Promise<void> {
    if (ss.isDirectory()) {
      if (!o.recursive) {
        throw new SystemError('ERR_FS_EISDIR', { code: 'EISDIR', message: `${s} is a directory (not copied)`, path: s, syscall: 'cp' });
      }
      if (!ds) await this.mkdir(d, { mode: ss.mode & 0o7777 });
      for (const name of (await this.readdir(s)) as string[]) {
        const cs = posix.join(s, name);
        const cd = posix.join(d, name);
        if (o.filter && !(await o.filter(cs, cd))) continue;
        const css = (o.dereference ? await this.stat(cs) : await this.lstat(cs)) as Stats;
        let cds: Stats | undefined;
        try {
          cds = (await this.lstat(cd)) as Stats;
        } catch (err) {
          if ((err as FsError).code !== 'ENOENT') throw err;
        }
        await this.#cpAny(cs, cd, css, cds, o);
      }
      if (!ds) await this.chmod(d, ss.mode & 0o7777);
      return;
    }
    if (ss.isSymbolicLink()) {
      let target = (await this.readlink(s)) as string;
      if (!o.verbatimSymlinks && !posix.isAbsolute(target)) target = posix.resolve('/', posix.dirname(posix.resolve('/', s)), target);
      if (ds) {
        if (!o.force) {
          if (o.errorOnExist) throw new SystemError('ERR_FS_CP_EEXIST', { code: 'EEXIST', message: `${d} already exists`, path: d, syscall: 'cp' });
          return;
        }
        await this.unlink(d);
      }
      await this.symlink(target, d);
      return;
    }
    if (ss.isFile()) {
      if (ds) {
        if (!o.force) {
          if (o.errorOnExist) throw new SystemError('ERR_FS_CP_EEXIST', { code: 'EEXIST', message: `${d} already exists`, path: d, syscall: 'cp' });
          return;
        }
      }
      await this.copyFile(s, d, o.mode ?? 0);
      if (o.preserveTimestamps) await this.utimes(d, ss.atime, ss.mtime);
      return;
    }
    const kind = ss.isFIFO() ? 'ERR_FS_CP_FIFO_PIPE' : ss.isSocket() ? 'ERR_FS_CP_SOCKET' : 'ERR_FS_CP_UNKNOWN';
    throw new SystemError(kind, { code: 'EINVAL', message: `cannot copy a special file: ${d}`, path: d, syscall: 'cp' });
  }

  // ---- streams ----------------------------------------------------------------------------------------

  /** fs.createReadStream over this file system (opens lazily; `fd` may be a FileHandle of this client). */
  createReadStream(path: PathLike, options?: ReadStreamOptions | BufferEncoding): ReadStream {
    const o = typeof options === 'string' ? { encoding: options } : (options ?? {});
    const p = o.fd ? '' : toPath(path);
    const open = o.fd ? () => Promise.resolve(o.fd!) : () => this.open(p, o.flags ?? 'r', o.mode ?? 0o666);
    return new ReadStream(open, p, o);
  }

  /** fs.createWriteStream over this file system. */
  createWriteStream(path: PathLike, options?: WriteStreamOptions | BufferEncoding): WriteStream {
    const o = typeof options === 'string' ? { encoding: options } : (options ?? {});
    const p = o.fd ? '' : toPath(path);
    const open = o.fd ? () => Promise.resolve(o.fd!) : () => this.open(p, o.flags ?? 'w', o.mode ?? 0o666);
    return new WriteStream(open, p, o);
  }

  /** Not available: FUSE has no change notification a client can subscribe to. */
  watch(_path: PathLike): never {
    throw errnoError('ENOSYS', 'watch is not supported by the puffs client');
  }
}

function ownerChanges(uid: number, gid: number): { uid?: number; gid?: number } {
  for (const [name, v] of [
    ['uid', uid],
    ['gid', gid],
  ] as const) {
    if (!Number.isInteger(v) || v < -1 || v > 0xffffffff) {
      throw argError('ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be >= -1 && <= 4294967295. Received ${v}`);
    }
  }
  return { uid: uid === -1 ? undefined : uid, gid: gid === -1 ? undefined : gid };
}
