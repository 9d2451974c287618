/**
 * The bridge between the wire and the FileSystem interface: one function per
 * op that turns a decoded request into a method call, and the method's answer
 * into a reply value. Kept apart from the session loop (as go-fuse keeps
 * fs/bridge.go apart from fuse/), so the file-system API never sees a struct.
 */
import { FsError } from '../errors.js';
import { keepShape } from '../shapes.js';
import {
  DirentPacker,
  FATTR_ATIME,
  FATTR_ATIME_NOW,
  FATTR_CTIME,
  FATTR_FH,
  FATTR_GID,
  FATTR_KILL_SUIDGID,
  FATTR_MODE,
  FATTR_MTIME,
  FATTR_MTIME_NOW,
  FATTR_SIZE,
  FATTR_UID,
  FOPEN_CACHE_DIR,
  FOPEN_DIRECT_IO,
  FOPEN_KEEP_CACHE,
  FOPEN_NOFLUSH,
  FOPEN_NONSEEKABLE,
  FOPEN_PARALLEL_DIRECT_WRITES,
  FOPEN_STREAM,
  FUSE_FSYNC_FDATASYNC,
  FUSE_GETATTR_FH,
  FUSE_LK_FLOCK,
  FUSE_POLL_SCHEDULE_NOTIFY,
  layouts as L,
  type OpName,
  type ReplyOf,
  type RequestOf,
  type ReplyingOp,
  type StructValue,
} from '../protocol/index.js';
import type { Context } from './context.js';
import type { OpVector } from './defaults.js';
import type { CreateReply } from './ops.js';
import type { Attr, AttrReply, DirEntry, Entry, NegativeEntry, OpenReply, SetattrChanges } from './types.js';

type FuseAttr = StructValue<typeof L.attr.fields>;
type EntryOut = StructValue<typeof L.entryOut.fields>;
type OpenOut = StructValue<typeof L.openOut.fields>;

/** A reply value plus the node ids the kernel gains a reference to when it receives it. */
export class WithLookups<T = unknown> {
  constructor(
    readonly value: T,
    readonly inos: readonly number[],
  ) {}
}
keepShape(new WithLookups(null, []));

/**
 * An errno answer given without throwing. Node runs our JS under a verbose
 * TryCatch, so every throw makes V8 compute a message location: about 2 µs,
 * a fifth of a whole request. Hot failures (a lookup that finds nothing)
 * come back this way instead.
 */
export class ErrnoReply {
  constructor(readonly errno: number) {}
}
const NO_SUCH_ENTRY = new ErrnoReply(2 /* ENOENT */);

export interface BridgeOptions {
  entryTimeout: number;
  attrTimeout: number;
  negativeTimeout: number;
  /** True once INIT agreed FUSE_NO_OPENDIR_SUPPORT for a file system with `features.noOpendir`. */
  noOpendir?: () => boolean;
}

type Handler<K extends ReplyingOp> = (
  req: RequestOf<K>,
  ctx: Context,
) => ReplyOf<K> | WithLookups<ReplyOf<K>> | ErrnoReply | Promise<ReplyOf<K> | WithLookups<ReplyOf<K>> | ErrnoReply>;

export type Bridge = { [K in ReplyingOp]?: Handler<K> };

function toFuseAttr(a: Attr): FuseAttr {
  return {
    ino: a.ino,
    size: a.size,
    blocks: a.blocks,
    atime: a.atime.sec,
    mtime: a.mtime.sec,
    ctime: a.ctime.sec,
    atimensec: a.atime.nsec,
    mtimensec: a.mtime.nsec,
    ctimensec: a.ctime.nsec,
    mode: a.mode,
    nlink: a.nlink,
    uid: a.uid,
    gid: a.gid,
    rdev: a.rdev,
    blksize: a.blksize,
    flags: 0,
  };
}

/** Seconds (fractions allowed) → whole seconds and nanoseconds. */
function split(seconds: number): [number, number] {
  if (!(seconds > 0)) return [0, 0];
  if (!Number.isFinite(seconds)) return [2 ** 53, 0];
  const whole = Math.floor(seconds);
  return [whole, Math.round((seconds - whole) * 1e9) % 1e9];
}

function then<T, R>(x: T | Promise<T>, f: (v: T) => R): R | Promise<R> {
  return x instanceof Promise ? x.then(f) : f(x as T);
}

function openFlags(o: OpenReply): number {
  let f = 0;
  if (o.directIo) f |= FOPEN_DIRECT_IO;
  if (o.keepCache) f |= FOPEN_KEEP_CACHE;
  if (o.nonSeekable) f |= FOPEN_NONSEEKABLE;
  if (o.cacheDir) f |= FOPEN_CACHE_DIR;
  if (o.stream) f |= FOPEN_STREAM;
  if (o.noFlush) f |= FOPEN_NOFLUSH;
  if (o.parallelDirectWrites) f |= FOPEN_PARALLEL_DIRECT_WRITES;
  return f;
}

function toOpenOut(o: OpenReply): OpenOut {
  return { fh: o.fh ?? 0, openFlags: openFlags(o), backingId: 0 };
}

const namePattern = (name: string): void => {
  // The kernel never sends these, but a client might: refuse names a path walk could not produce.
  if (name.length === 0 || name.includes('/')) throw new FsError('EINVAL');
  // A UTF-16 unit is at most 3 UTF-8 bytes: short names need no count.
  if (name.length > 85 && Buffer.byteLength(name) > 255) throw new FsError('ENAMETOOLONG');
};

export function bridge(ops: OpVector, opts: BridgeOptions): Bridge {
  const entryOut = (e: Entry | NegativeEntry): EntryOut => {
    if (e.ino === 0) {
      const [ev, evn] = split(e.entryTimeout ?? 0);
      return { nodeid: 0, generation: 0, entryValid: ev, entryValidNsec: evn, attrValid: 0, attrValidNsec: 0, attr: {} as FuseAttr };
    }
    const entry = e as Entry;
    const [ev, evn] = split(entry.entryTimeout ?? opts.entryTimeout);
    const [av, avn] = split(entry.attrTimeout ?? opts.attrTimeout);
    return {
      nodeid: entry.ino,
      generation: entry.generation ?? 0,
      entryValid: ev,
      entryValidNsec: evn,
      attrValid: av,
      attrValidNsec: avn,
      attr: toFuseAttr(entry.attr),
    };
  };
  const counted = (e: Entry | NegativeEntry): WithLookups<EntryOut> => new WithLookups(entryOut(e), e.ino ? [e.ino] : []);
  const attrOut = (r: AttrReply): ReplyOf<'getattr'> => {
    const [av, avn] = split(r.attrTimeout ?? opts.attrTimeout);
    return { attrValid: av, attrValidNsec: avn, attr: toFuseAttr(r.attr) };
  };
  const createOut = (r: CreateReply) =>
    new WithLookups<ReplyOf<'create'>>({ entry: entryOut(r.entry), open: toOpenOut(r.open) }, [r.entry.ino]);

  // Made once, not per lookup.
  /** A NegativeEntry without a timeout takes the mount's; with none at all it is plain ENOENT. */
  const lookupFound = (e: Entry | NegativeEntry) => {
    if (e.ino !== 0) return counted(e);
    const t = e.entryTimeout ?? opts.negativeTimeout;
    return t > 0 ? counted({ ino: 0, entryTimeout: t }) : NO_SUCH_ENTRY;
  };
  /** A thrown ENOENT: cached as a negative entry when the mount has a negative timeout. */
  const lookupFailed = (err: unknown) => {
    if (opts.negativeTimeout > 0 && (err as { code?: string })?.code === 'ENOENT') {
      return counted({ ino: 0, entryTimeout: opts.negativeTimeout });
    }
    throw err;
  };

  const b: Bridge = {
    lookup(req, ctx) {
      namePattern(req.name);
      let run: ReturnType<typeof ops.lookup>;
      try {
        run = ops.lookup(ctx, req.header.nodeid, req.name);
      } catch (err) {
        return lookupFailed(err); // a synchronous ENOENT is as negative as a rejected one
      }
      return run instanceof Promise ? run.then(lookupFound, lookupFailed) : lookupFound(run);
    },
    getattr(req, ctx) {
      const fh = req.arg.getattrFlags & FUSE_GETATTR_FH ? req.arg.fh : undefined;
      return then(ops.getattr(ctx, req.header.nodeid, fh), attrOut);
    },
    setattr(req, ctx) {
      const a = req.arg;
      const v = a.valid;
      const changes: SetattrChanges = {};
      if (v & FATTR_MODE) changes.mode = a.mode;
      if (v & FATTR_UID) changes.uid = a.uid;
      if (v & FATTR_GID) changes.gid = a.gid;
      if (v & FATTR_SIZE) changes.size = a.size;
      if (v & FATTR_ATIME_NOW) changes.atime = 'now';
      else if (v & FATTR_ATIME) changes.atime = { sec: a.atime, nsec: a.atimensec };
      if (v & FATTR_MTIME_NOW) changes.mtime = 'now';
      else if (v & FATTR_MTIME) changes.mtime = { sec: a.mtime, nsec: a.mtimensec };
      if (v & FATTR_CTIME) changes.ctime = { sec: a.ctime, nsec: a.ctimensec };
      if (v & FATTR_FH) changes.fh = a.fh;
      if (v & FATTR_KILL_SUIDGID) changes.killSuidgid = true;
      return then(ops.setattr(ctx, req.header.nodeid, changes), attrOut);
    },
    readlink(req, ctx) {
      return then(ops.readlink(ctx, req.header.nodeid), (t) => (typeof t === 'string' ? Buffer.from(t) : t));
    },
    symlink(req, ctx) {
      namePattern(req.name);
      return then(ops.symlink(ctx, req.header.nodeid, req.name, req.target), counted);
    },
    mknod(req, ctx) {
      namePattern(req.name);
      return then(ops.mknod(ctx, req.header.nodeid, req.name, req.arg.mode, req.arg.rdev), counted);
    },
    mkdir(req, ctx) {
      namePattern(req.name);
      return then(ops.mkdir(ctx, req.header.nodeid, req.name, req.arg.mode), counted);
    },
    unlink(req, ctx) {
      return then(ops.unlink(ctx, req.header.nodeid, req.name), () => undefined);
    },
    rmdir(req, ctx) {
      return then(ops.rmdir(ctx, req.header.nodeid, req.name), () => undefined);
    },
    rename(req, ctx) {
      namePattern(req.newName);
      return then(ops.rename(ctx, req.header.nodeid, req.name, req.arg.newdir, req.newName, 0), () => undefined);
    },
    rename2(req, ctx) {
      namePattern(req.newName);
      return then(ops.rename(ctx, req.header.nodeid, req.name, req.arg.newdir, req.newName, req.arg.flags), () => undefined);
    },
    link(req, ctx) {
      namePattern(req.name);
      return then(ops.link(ctx, req.arg.oldnodeid, req.header.nodeid, req.name), counted);
    },
    open(req, ctx) {
      return then(ops.open(ctx, req.header.nodeid, req.arg.flags), toOpenOut);
    },
    opendir(req, ctx) {
      // ENOSYS here is the kernel's cue to open directories itself from now on (no_opendir).
      if (opts.noOpendir?.()) throw new FsError('ENOSYS');
      return then(ops.opendir(ctx, req.header.nodeid, req.arg.flags), toOpenOut);
    },
    read(req, ctx) {
      const size = req.arg.size;
      return then(ops.read(ctx, req.header.nodeid, req.arg.fh, req.arg.offset, size), (data) => {
        if (data instanceof Uint8Array) return data.byteLength > size ? data.subarray(0, size) : data;
        // A gather list: never more than was asked for.
        let total = 0;
        for (const part of data) total += part.byteLength;
        if (total <= size) return data;
        return Buffer.concat(data as Uint8Array[]).subarray(0, size);
      });
    },
    write(req, ctx) {
      return then(ops.write(ctx, req.header.nodeid, req.arg.fh, req.arg.offset, req.data, req.arg.writeFlags), (n) => ({ size: n }));
    },
    statfs(req, ctx) {
      return then(ops.statfs(ctx, req.header.nodeid), (st) => ({ st }));
    },
    release(req, ctx) {
      return then(ops.release(ctx, req.header.nodeid, req.arg.fh, req.arg.flags), () => undefined);
    },
    releasedir(req, ctx) {
      return then(ops.releasedir(ctx, req.header.nodeid, req.arg.fh), () => undefined);
    },
    flush(req, ctx) {
      return then(ops.flush(ctx, req.header.nodeid, req.arg.fh, req.arg.lockOwner), () => undefined);
    },
    fsync(req, ctx) {
      const datasync = (req.arg.fsyncFlags & FUSE_FSYNC_FDATASYNC) !== 0;
      return then(ops.fsync(ctx, req.header.nodeid, req.arg.fh, datasync), () => undefined);
    },
    fsyncdir(req, ctx) {
      const datasync = (req.arg.fsyncFlags & FUSE_FSYNC_FDATASYNC) !== 0;
      return then(ops.fsyncdir(ctx, req.header.nodeid, req.arg.fh, datasync), () => undefined);
    },
    setxattr(req, ctx) {
      return then(ops.setxattr(ctx, req.header.nodeid, req.name, req.data, req.arg.flags), () => undefined);
    },
    getxattr(req, ctx) {
      const size = req.arg.size;
      return then(ops.getxattr(ctx, req.header.nodeid, req.name), (value) => sized(value, size));
    },
    listxattr(req, ctx) {
      const size = req.arg.size;
      return then(ops.listxattr(ctx, req.header.nodeid), (names) => {
        const bytes = Buffer.concat(names.map((n) => Buffer.from(n + '\0')));
        return sized(bytes, size);
      });
    },
    removexattr(req, ctx) {
      return then(ops.removexattr(ctx, req.header.nodeid, req.name), () => undefined);
    },
    access(req, ctx) {
      return then(ops.access(ctx, req.header.nodeid, req.arg.mask), () => undefined);
    },
    create(req, ctx) {
      namePattern(req.name);
      return then(ops.create(ctx, req.header.nodeid, req.name, req.arg.mode, req.arg.flags), createOut);
    },
    tmpfile(req, ctx) {
      return then(ops.tmpfile(ctx, req.header.nodeid, req.arg.mode, req.arg.flags), createOut);
    },
    getlk(req, ctx) {
      const lock = { start: req.arg.lk.start, end: req.arg.lk.end, type: req.arg.lk.type, pid: req.arg.lk.pid };
      const r = ops.getlk(ctx, req.header.nodeid, req.arg.fh, { owner: req.arg.owner, lock, flock: (req.arg.lkFlags & FUSE_LK_FLOCK) !== 0 });
      return then(r, (lk) => ({ lk }));
    },
    setlk(req, ctx) {
      const lock = { start: req.arg.lk.start, end: req.arg.lk.end, type: req.arg.lk.type, pid: req.arg.lk.pid };
      const flock = (req.arg.lkFlags & FUSE_LK_FLOCK) !== 0;
      return then(ops.setlk(ctx, req.header.nodeid, req.arg.fh, { owner: req.arg.owner, lock, flock }, false), () => undefined);
    },
    setlkw(req, ctx) {
      const lock = { start: req.arg.lk.start, end: req.arg.lk.end, type: req.arg.lk.type, pid: req.arg.lk.pid };
      const flock = (req.arg.lkFlags & FUSE_LK_FLOCK) !== 0;
      return then(ops.setlk(ctx, req.header.nodeid, req.arg.fh, { owner: req.arg.owner, lock, flock }, true), () => undefined);
    },
    bmap(req, ctx) {
      return then(ops.bmap(ctx, req.header.nodeid, req.arg.blocksize, req.arg.block), (block) => ({ block }));
    },
    ioctl(req, ctx) {
      const a = req.arg;
      return then(ops.ioctl(ctx, req.header.nodeid, a.fh, a.cmd, a.arg, req.data, a.outSize), (r) => {
        const data = r.output && r.output.byteLength > a.outSize ? r.output.subarray(0, a.outSize) : r.output;
        return { out: { result: r.result, flags: 0, inIovs: 0, outIovs: 0 }, data };
      });
    },
    poll(req, ctx) {
      const kh = req.arg.flags & FUSE_POLL_SCHEDULE_NOTIFY ? req.arg.kh : undefined;
      return then(ops.poll(ctx, req.header.nodeid, req.arg.fh, req.arg.events, kh), (revents) => ({ revents }));
    },
    fallocate(req, ctx) {
      const a = req.arg;
      return then(ops.fallocate(ctx, req.header.nodeid, a.fh, a.offset, a.length, a.mode), () => undefined);
    },
    lseek(req, ctx) {
      return then(ops.lseek(ctx, req.header.nodeid, req.arg.fh, req.arg.offset, req.arg.whence), (offset) => ({ offset }));
    },
    copyFileRange(req, ctx) {
      const a = req.arg;
      const len = Math.min(a.len, 0xffffffff); // the 32-bit reply cannot say more
      return then(ops.copyFileRange(ctx, req.header.nodeid, a.fhIn, a.offIn, a.nodeidOut, a.fhOut, a.offOut, len, a.flags), (n) => ({ size: n }));
    },
    copyFileRange64(req, ctx) {
      const a = req.arg;
      return then(ops.copyFileRange(ctx, req.header.nodeid, a.fhIn, a.offIn, a.nodeidOut, a.fhOut, a.offOut, a.len, a.flags), (n) => ({
        bytesCopied: n,
      }));
    },
    syncfs(req, ctx) {
      return then(ops.syncfs(ctx, req.header.nodeid), () => undefined);
    },
    readdir(req, ctx) {
      return listDir(req, ctx, false);
    },
    readdirplus(req, ctx) {
      return listDir(req, ctx, true);
    },
  };

  function listDir(req: RequestOf<'readdir'> | RequestOf<'readdirplus'>, ctx: Context, plus: boolean) {
    const a = req.arg;
    const listing = ops.readdir(ctx, req.header.nodeid, a.fh, a.offset, plus);
    return plus
      ? then(listing, (entries: Iterable<DirEntry>) => packPlus(entries, a.size, opts.entryTimeout, opts.attrTimeout))
      : then(listing, (entries: Iterable<DirEntry>) => packPlain(entries, a.size));
  }

  return b;
}

// The packing loops are module functions, not closures made per request: V8
// kept recompiling such a closure (7–11 ms of TurboFan on the serving CPU)
// in every other first listing of a big directory.

/** A readdir reply: as many entries as fit in `size` bytes. */
function packPlain(entries: Iterable<DirEntry>, size: number): Uint8Array {
  const packer = new DirentPacker(size, false);
  for (const e of entries) if (!packer.push(e.ino, e.offset, (e.mode >>> 12) & 0xf, e.name)) break;
  return packer.finish();
}

/** A readdirplus reply, with the mount's timeouts unless an entry brings its own; counts the lookups it hands out. */
function packPlus(entries: Iterable<DirEntry>, size: number, entryTimeout: number, attrTimeout: number): WithLookups<Uint8Array> {
  const packer = new DirentPacker(size, true);
  const inos: number[] = [];
  const [ev, evn] = split(entryTimeout);
  const [av, avn] = split(attrTimeout);
  for (const e of entries) {
    const en = e.entry;
    const type = (e.mode >>> 12) & 0xf;
    // No entry for . and .. (the kernel would not link them) nor where the file system gave none.
    if (en === undefined || en.ino === 0 || e.name === '.' || e.name === '..') {
      if (!packer.push(e.ino, e.offset, type, e.name)) break;
      continue;
    }
    let eSec = ev, eNsec = evn, aSec = av, aNsec = avn;
    if (en.entryTimeout !== undefined) [eSec, eNsec] = split(en.entryTimeout);
    if (en.attrTimeout !== undefined) [aSec, aNsec] = split(en.attrTimeout);
    if (!packer.pushPlus(e.ino, e.offset, type, e.name, en.ino, en.generation ?? 0, eSec, eNsec, aSec, aNsec, en.attr)) break;
    inos.push(en.ino);
  }
  return new WithLookups(packer.finish(), inos);
}

/** getxattr/listxattr: a size probe (0) gets the length, a short buffer ERANGE. */
function sized(value: Uint8Array, size: number): { size: number } | Uint8Array {
  if (size === 0) return { size: value.byteLength };
  if (value.byteLength > size) throw new FsError('ERANGE');
  return value;
}

export type { OpName };
