/**
 * Domain types shared by the session loop, the in-process client and file
 * systems. No wire format here: the server translates these to and from FUSE
 * structs, so a file system never sees a byte offset.
 */

/** A point in time with nanosecond precision, as POSIX keeps it. */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** Node ids are chosen by the file system; 1 is the root. */
export const ROOT_ID = 1;

/** What stat(2) shows of a node. */
export interface Attr {
  ino: number;
  /** File type and permission bits, as st_mode. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  /** 512-byte blocks allocated. */
  blocks: number;
  blksize: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

/** Cache lifetimes in seconds (fractions allowed); 0 means "ask every time". */
export interface CacheTimeouts {
  entryTimeout?: number;
  attrTimeout?: number;
}

/** A name resolved to a node: the answer to lookup, mknod, mkdir, symlink, link, create. */
export interface Entry extends CacheTimeouts {
  /** Node id; the server counts kernel references to it (see FileSystem.forget). */
  ino: number;
  /** ino + generation must be unique over the file system's life when ids are reused. */
  generation?: number;
  attr: Attr;
}

/** A negative entry: "this name does not exist", cached for `entryTimeout` seconds. */
/** "No such name", answered without throwing (cheaper than ENOENT); the kernel may cache it for `entryTimeout`. */
export interface NegativeEntry {
  ino: 0;
  /** Seconds; omitted: the mount's negative timeout (0 by default, which answers ENOENT). */
  entryTimeout?: number;
}

export interface AttrReply {
  attr: Attr;
  /** Seconds the kernel may keep these attributes. */
  attrTimeout?: number;
}

/** How an open file or directory behaves in the kernel's caches. */
export interface OpenReply {
  /** A handle of the file system's choosing, passed back on read, write, release... */
  fh?: number;
  /** Bypass the page cache for this open file. */
  directIo?: boolean;
  /** Keep cached pages from an earlier open (the file did not change). */
  keepCache?: boolean;
  nonSeekable?: boolean;
  /** Directories: let the kernel cache readdir results. */
  cacheDir?: boolean;
  /** Stream-like file with no position at all. */
  stream?: boolean;
  noFlush?: boolean;
  parallelDirectWrites?: boolean;
}

/** Changes asked for by setattr (chmod, chown, truncate, utimes...). Absent = unchanged. */
export interface SetattrChanges {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** A Timespec, or 'now' for the server's current time (UTIME_NOW). */
  atime?: Timespec | 'now';
  mtime?: Timespec | 'now';
  ctime?: Timespec;
  /** The handle the change came through (ftruncate, fchmod), when there is one. */
  fh?: number;
  /** The kernel asks the file system to clear suid/sgid as part of this change. */
  killSuidgid?: boolean;
}

/** One directory entry. `offset` is the cookie that resumes the listing after this entry. */
export interface DirEntry {
  name: string;
  ino: number;
  /** File type bits (S_IFDIR...) or a full mode; only the type is used. */
  mode: number;
  offset: number;
  /** Filled for readdirplus: the entry as lookup would return it. */
  entry?: Entry;
}

export interface StatFs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
  frsize: number;
}

/** A POSIX byte-range lock as fcntl sees it. `end` is inclusive; Infinity-like max for "to EOF". */
export interface FileLock {
  start: number;
  end: number;
  /** F_RDLCK (0), F_WRLCK (1) or F_UNLCK (2). */
  type: number;
  pid: number;
}

export const enum LockType {
  Read = 0,
  Write = 1,
  Unlock = 2,
}

/** Flags of rename2. */
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;

/** Modes of fallocate. */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** Flags of write (FileSystem.write's `flags`). */
/** The data comes from the page cache (writeback), not from a write(2). */
export const WRITE_CACHE = 1;
/** The writer lacks CAP_FSETID: clear set-user-ID and set-group-ID (see FsFeatures.killsPrivs). */
export const WRITE_KILL_PRIVS = 4;

/** Flags of setxattr. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

/** What the connection agreed on, given to FileSystem.init. */
export interface ConnectionInfo {
  protoMajor: number;
  protoMinor: number;
  maxWrite: number;
  maxReadahead: number;
  /** Capabilities in force, by name: 'posixLocks', 'flockLocks', 'writebackCache', ... */
  capabilities: ReadonlySet<string>;
}

/** Who is asking, and a way to learn that the question was withdrawn. */
export interface RequestContext {
  uid: number;
  gid: number;
  pid: number;
  /** The caller's umask where the kernel sent one (create, mkdir, mknod, tmpfile); else 0. */
  umask: number;
  /** Aborted when the kernel sends INTERRUPT for this request (or the session ends). */
  signal: AbortSignal;
  /** The request's id on the wire, for logs. */
  unique: number;
  /**
   * Supplementary groups of the caller. Read from /proc/<pid>/status for
   * kernel mounts (as libfuse's fuse_req_getgroups does); given by the client
   * for in-process sessions. Empty when unknown.
   */
  groups(): readonly number[];
  /**
   * Say that this request changed attributes of `ino` that its reply does
   * not carry (a write that cleared set-id bits): the session tells its
   * peer (the kernel) to drop the cached attributes. Absent where nobody
   * caches them.
   */
  attrsChanged?(ino: number): void;
}
