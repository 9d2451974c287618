/**
 * The FileSystem interface: one method per FUSE operation, all optional.
 *
 * Rules that hold for every method:
 * - Node ids are numbers chosen by the file system; ROOT_ID (1) is the root.
 * - Return the answer, or a Promise of it. A plain (synchronous) return lets
 *   the session answer the kernel without a trip through the event loop.
 * - Fail by throwing (or rejecting with) an errno error: `throw fsError('ENOENT')`.
 *   Any other thrown value is a bug and is answered with EIO.
 * - A method left out gets the default in server/defaults.ts; the doc below
 *   says what that default is. A mutating operation never succeeds silently.
 * - The session counts lookups: every Entry returned by lookup, mknod, mkdir,
 *   symlink, link, create, tmpfile and readdirplus adds one reference; `forget`
 *   is called once the kernel has dropped all of them.
 * - `ctx.signal` aborts when the kernel interrupts the request.
 */
import type {
  AttrReply,
  ConnectionInfo,
  DirEntry,
  Entry,
  FileLock,
  NegativeEntry,
  OpenReply,
  RequestContext,
  SetattrChanges,
  StatFs,
} from './types.js';

export type MaybePromise<T> = T | Promise<T>;

export interface CreateReply {
  entry: Entry;
  open: OpenReply;
}

export interface LockRequest {
  owner: bigint;
  lock: FileLock;
  /** A BSD flock() rather than a POSIX fcntl() lock. */
  flock: boolean;
}

/** Protocol features a file system supports beyond the defaults; each changes what requests look like. */
export interface FsFeatures {
  /**
   * open() and create() apply O_TRUNC themselves (FUSE_ATOMIC_O_TRUNC).
   * Without it the kernel truncates with a SETATTR that the file system
   * cannot tell from truncate(2).
   */
  atomicOTrunc?: boolean;
  /**
   * Directories need no open handle (FUSE_NO_OPENDIR_SUPPORT): where the
   * kernel supports it, the session answers its first OPENDIR with ENOSYS,
   * after which it opens directories without asking, with fh 0 and with
   * keep_cache and cache_dir, and sends no RELEASEDIR. opendir() and
   * releasedir() are then not called, so only a file system that checks no
   * permissions itself on opendir (default_permissions) and lists the same
   * entries whatever the handle should set it. Ignored by peers that do not
   * offer it (the in-process client).
   */
  noOpendir?: boolean;
  /**
   * flush() does nothing but release the lock owner's POSIX locks. Where no
   * lock can be held through the file system for a session (setlk not
   * agreed with that peer: the kernel keeps locks itself, or the peer takes
   * none), the session then answers FLUSH with ENOSYS, and the kernel (as
   * the in-process client) stops sending it: every close(2) saves a round
   * trip. A file system without flush() is treated so anyway.
   */
  flushOnlyReleasesLocks?: boolean;
  /**
   * The file system clears set-user-ID and set-group-ID itself, and drops
   * `security.capability`, on write, truncate and chown, as the kernel's
   * file_remove_privs() would (for a write: when `flags` has
   * WRITE_KILL_PRIVS, or by its own rule). The session then offers
   * FUSE_HANDLE_KILLPRIV_V2, and the kernel stops asking for
   * `security.capability` (a GETXATTR) before every buffered write. Same as
   * the session option `handleKillpriv`.
   */
  killsPrivs?: boolean;
  /**
   * The file system reports the write data it lets go, so that keeping data
   * costs no garbage collections. Write payloads of max_write bytes then
   * arrive in SharedArrayBuffers, which V8 leaves out of its external-memory
   * count: kept ArrayBuffers made V8 start a major collection for every
   * 64 MiB written (about 15 per GiB). Such a payload is a view of room of
   * its own in a larger slab (slab.ts PayloadSlab), page-aligned: its bytes
   * are the file system's to keep, and the slab is free for reuse (slab.ts
   * SlabPool, keep_freed) once the last payload cut from it is gone. The
   * device channel's hot reader reads requests straight into such room
   * (slab.ts PayloadReader), so these payloads are not copied at all. In exchange the file system must call
   * releasedUncounted() (server/memory.ts) with the bytes of such a payload
   * it does not keep, and of kept data it drops (isUncounted() tells), so
   * that a collection still comes when much of it has become garbage.
   * Ignored where the process cannot start collections itself.
   */
  accountsWriteData?: boolean;
}

export interface FileSystem {
  /** Optional features, read once when the session starts. */
  readonly features?: FsFeatures;

  // ---- the file system as a whole -------------------------------------------------

  /** Called once the connection is negotiated, before any other request. Default: nothing. */
  init?(info: ConnectionInfo): MaybePromise<void>;
  /** Called once at unmount or session end. Default: nothing. */
  destroy?(): MaybePromise<void>;
  /** statfs(2). Default: all counts zero, bsize 512, namelen 255. */
  statfs?(ctx: RequestContext, ino: number): MaybePromise<StatFs>;
  /** syncfs(2). Default: success (a memory file system has nothing to flush). */
  syncfs?(ctx: RequestContext, ino: number): MaybePromise<void>;

  // ---- names ------------------------------------------------------------------------

  /**
   * Resolve `name` in directory `parent`. A missing name: return a
   * NegativeEntry (no exception, which is cheaper; its entryTimeout lets the
   * kernel cache the absence), or throw ENOENT. Default: ENOENT, so a file
   * system without lookup shows an empty root.
   */
  lookup?(ctx: RequestContext, parent: number, name: string): MaybePromise<Entry | NegativeEntry>;
  /** The kernel dropped its last reference to `ino`. No reply. Default: nothing. */
  forget?(ino: number): void;
  /** Create a regular file, FIFO, socket or device node. `mode` includes the type; umask is in ctx and not yet applied. Default: ENOSYS. */
  mknod?(ctx: RequestContext, parent: number, name: string, mode: number, rdev: number): MaybePromise<Entry>;
  /** mkdir(2). `mode` has no type bits; umask is in ctx and not yet applied. Default: ENOSYS. */
  mkdir?(ctx: RequestContext, parent: number, name: string, mode: number): MaybePromise<Entry>;
  /** symlink(2): a link named `name` in `parent` pointing at `target`. Default: ENOSYS. */
  symlink?(ctx: RequestContext, parent: number, name: string, target: string): MaybePromise<Entry>;
  /** link(2): a new name for `ino`. Default: ENOSYS. */
  link?(ctx: RequestContext, ino: number, newParent: number, newName: string): MaybePromise<Entry>;
  /** unlink(2). Default: ENOSYS. */
  unlink?(ctx: RequestContext, parent: number, name: string): MaybePromise<void>;
  /** rmdir(2). Default: ENOSYS. */
  rmdir?(ctx: RequestContext, parent: number, name: string): MaybePromise<void>;
  /**
   * rename(2)/renameat2(2); `flags` is RENAME_NOREPLACE, RENAME_EXCHANGE or 0.
   * Look both names up again when it runs: the kernel's view may be stale.
   * Default: ENOSYS.
   */
  rename?(
    ctx: RequestContext,
    parent: number,
    name: string,
    newParent: number,
    newName: string,
    flags: number,
  ): MaybePromise<void>;

  // ---- attributes -------------------------------------------------------------------

  /** stat(2). `fh` is set when the kernel asked through an open file. Default: ENOSYS (root only: a plain 0755 directory). */
  getattr?(ctx: RequestContext, ino: number, fh?: number): MaybePromise<AttrReply>;
  /** chmod, chown, truncate, utimes and their f* forms. Return the new attributes. Default: ENOSYS. */
  setattr?(ctx: RequestContext, ino: number, changes: SetattrChanges): MaybePromise<AttrReply>;
  /** readlink(2). Default: ENOSYS. */
  readlink?(ctx: RequestContext, ino: number): MaybePromise<string | Uint8Array>;
  /**
   * access(2). Only called without `default_permissions`; `mask` is R_OK|W_OK|X_OK or F_OK.
   * Default: ENOSYS, which the kernel takes as "always allowed" from then on.
   */
  access?(ctx: RequestContext, ino: number, mask: number): MaybePromise<void>;

  // ---- extended attributes ---------------------------------------------------------

  /** setxattr(2); `flags` is XATTR_CREATE, XATTR_REPLACE or 0. Default: ENOSYS (permanent: the kernel stops asking). */
  setxattr?(ctx: RequestContext, ino: number, name: string, value: Uint8Array, flags: number): MaybePromise<void>;
  /** getxattr(2): the whole value; the session handles size probing and ERANGE. Default: ENOSYS (permanent). */
  getxattr?(ctx: RequestContext, ino: number, name: string): MaybePromise<Uint8Array>;
  /** listxattr(2): the names; the session packs them and handles ERANGE. Default: ENOSYS (permanent). */
  listxattr?(ctx: RequestContext, ino: number): MaybePromise<readonly string[]>;
  /** removexattr(2). Default: ENOSYS (permanent). */
  removexattr?(ctx: RequestContext, ino: number, name: string): MaybePromise<void>;

  // ---- files ------------------------------------------------------------------------

  /**
   * open(2) of an existing file; `flags` are the open flags. O_TRUNC arrives
   * here only with `features.atomicOTrunc`; otherwise the kernel sends a
   * setattr first. Default: fh 0.
   */
  open?(ctx: RequestContext, ino: number, flags: number): MaybePromise<OpenReply>;
  /**
   * Create and open `name` in `parent` (O_CREAT). umask is in ctx and not yet applied.
   * Default: when mknod exists, ENOSYS (the kernel falls back to mknod + open); else ENOSYS.
   */
  create?(ctx: RequestContext, parent: number, name: string, mode: number, flags: number): MaybePromise<CreateReply>;
  /** O_TMPFILE: an unnamed file in `parent`. Default: EOPNOTSUPP. */
  tmpfile?(ctx: RequestContext, parent: number, mode: number, flags: number): MaybePromise<CreateReply>;
  /**
   * pread: up to `size` bytes at `offset`; fewer means end of file. May answer
   * with a gather list (written out with one writev, no copy); its buffers
   * must stay unchanged until the reply is sent. Default: ENOSYS.
   */
  read?(ctx: RequestContext, ino: number, fh: number, offset: number, size: number): MaybePromise<Uint8Array | readonly Uint8Array[]>;
  /**
   * pwrite: `data` is the file system's to keep. Return the bytes written.
   * `flags` are FUSE write flags: WRITE_CACHE (from the page cache,
   * writeback) and WRITE_KILL_PRIVS (clear suid/sgid: the caller lacks
   * CAP_FSETID; the kernel sends it with direct writes, and with buffered
   * ones under FsFeatures.killsPrivs). Default: ENOSYS.
   */
  write?(ctx: RequestContext, ino: number, fh: number, offset: number, data: Uint8Array, flags: number): MaybePromise<number>;
  /**
   * Called on each close(2) of a descriptor; release `lockOwner`'s POSIX locks
   * on the file here if setlk is offered. Default: none, and the session
   * answers FLUSH with ENOSYS (as libfuse), after which the kernel stops
   * sending it — unless setlk is agreed, when the default succeeds.
   */
  flush?(ctx: RequestContext, ino: number, fh: number, lockOwner: bigint): MaybePromise<void>;
  /** The last descriptor of an open file is gone. Default: success. */
  release?(ctx: RequestContext, ino: number, fh: number, flags: number): MaybePromise<void>;
  /** fsync(2)/fdatasync(2). Default: success. */
  fsync?(ctx: RequestContext, ino: number, fh: number, datasync: boolean): MaybePromise<void>;
  /** fallocate(2); `mode` holds FALLOC_FL_* flags. Default: EOPNOTSUPP (permanent). */
  fallocate?(ctx: RequestContext, ino: number, fh: number, offset: number, length: number, mode: number): MaybePromise<void>;
  /** lseek(2) for SEEK_DATA (3) and SEEK_HOLE (4). Default: ENOSYS (permanent: the kernel then treats the file as all data). */
  lseek?(ctx: RequestContext, ino: number, fh: number, offset: number, whence: number): MaybePromise<number>;
  /** copy_file_range(2). Return bytes copied. Default: ENOSYS (permanent: the kernel copies through read and write). */
  copyFileRange?(
    ctx: RequestContext,
    inIno: number,
    inFh: number,
    inOffset: number,
    outIno: number,
    outFh: number,
    outOffset: number,
    length: number,
    flags: number,
  ): MaybePromise<number>;

  // ---- locks ------------------------------------------------------------------------

  /**
   * F_GETLK: the first lock that would conflict with `req.lock`, or a lock with
   * type F_UNLCK if none does. Offered to the kernel only if setlk exists.
   */
  getlk?(ctx: RequestContext, ino: number, fh: number, req: LockRequest): MaybePromise<FileLock>;
  /**
   * F_SETLK/F_SETLKW and flock(). With `wait`, resolve once the lock is taken
   * (watch ctx.signal: an interrupted wait throws EINTR); without, throw EAGAIN
   * on conflict. Default: not offered, so the kernel keeps locks itself (right
   * for a single mount).
   */
  setlk?(ctx: RequestContext, ino: number, fh: number, req: LockRequest, wait: boolean): MaybePromise<void>;

  // ---- directories --------------------------------------------------------------------

  /** opendir(3). Default: fh 0. */
  opendir?(ctx: RequestContext, ino: number, flags: number): MaybePromise<OpenReply>;
  /**
   * The entries after cookie `offset` (0 = from the start), in a stable order;
   * each entry's `offset` resumes after it. The session takes as many as fit.
   * With `plus`, fill `entry` on each (except "." and ".."): the session counts
   * a lookup for every one it sends. An entry may go without `entry` (one
   * whose inode the kernel already holds, say): the kernel then looks the
   * name up when it needs it. Default: ENOSYS.
   */
  readdir?(
    ctx: RequestContext,
    ino: number,
    fh: number,
    offset: number,
    plus: boolean,
  ): MaybePromise<Iterable<DirEntry>>;
  /** closedir(3). Default: success. */
  releasedir?(ctx: RequestContext, ino: number, fh: number): MaybePromise<void>;
  /** fsync(2) on a directory. Default: success. */
  fsyncdir?(ctx: RequestContext, ino: number, fh: number, datasync: boolean): MaybePromise<void>;

  // ---- rarely used ------------------------------------------------------------------

  /** Map a block of the file to a device block (only for fuseblk). Default: ENOSYS. */
  bmap?(ctx: RequestContext, ino: number, blocksize: number, block: number): MaybePromise<number>;
  /** poll(2) readiness; return revents. Default: ENOSYS (permanent: the kernel then reports always ready). */
  poll?(ctx: RequestContext, ino: number, fh: number, events: number, kh: number | undefined): MaybePromise<number>;
  /** ioctl(2) (unrestricted ioctls are not offered). Default: ENOTTY. */
  ioctl?(
    ctx: RequestContext,
    ino: number,
    fh: number,
    cmd: number,
    arg: bigint,
    input: Uint8Array,
    outSize: number,
  ): MaybePromise<{ result: number; output?: Uint8Array }>;
}

/** Names of all FileSystem methods, for checks and for building op vectors. */
export const fileSystemOps = [
  'init', 'destroy', 'statfs', 'syncfs',
  'lookup', 'forget', 'mknod', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'rename',
  'getattr', 'setattr', 'readlink', 'access',
  'setxattr', 'getxattr', 'listxattr', 'removexattr',
  'open', 'create', 'tmpfile', 'read', 'write', 'flush', 'release', 'fsync', 'fallocate', 'lseek', 'copyFileRange',
  'getlk', 'setlk',
  'opendir', 'readdir', 'releasedir', 'fsyncdir',
  'bmap', 'poll', 'ioctl',
] as const satisfies readonly (keyof FileSystem)[];
