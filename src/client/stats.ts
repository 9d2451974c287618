/**
 * Stats, BigIntStats, Dirent and StatFs shaped like node:fs's: the same
 * fields, the same is*() methods, Date and *Ms (and *Ns) times.
 */
import { keepShape } from '../shapes.js';
import { EXEMPLAR_ATTR, type FuseAttr } from './vfs.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from './vfs.js';

abstract class TypeChecks {
  protected abstract typeBits(): number;
  isFile(): boolean {
    return this.typeBits() === S_IFREG;
  }
  isDirectory(): boolean {
    return this.typeBits() === S_IFDIR;
  }
  isSymbolicLink(): boolean {
    return this.typeBits() === S_IFLNK;
  }
  isBlockDevice(): boolean {
    return this.typeBits() === S_IFBLK;
  }
  isCharacterDevice(): boolean {
    return this.typeBits() === S_IFCHR;
  }
  isFIFO(): boolean {
    return this.typeBits() === S_IFIFO;
  }
  isSocket(): boolean {
    return this.typeBits() === S_IFSOCK;
  }
}

function ms(sec: number, nsec: number): number {
  return sec * 1e3 + nsec / 1e6;
}

/** What stat(2) said, as node:fs's Stats. birthtime is 0 (FUSE attributes carry none), as on a kernel FUSE mount. */
export class Stats extends TypeChecks {
  dev: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
  ino: number;
  size: number;
  blocks: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  birthtimeMs: number;
  atime: Date;
  mtime: Date;
  ctime: Date;
  birthtime: Date;

  constructor(a: FuseAttr, dev: number) {
    super();
    this.dev = dev;
    this.mode = a.mode;
    this.nlink = a.nlink;
    this.uid = a.uid;
    this.gid = a.gid;
    this.rdev = a.rdev;
    this.blksize = a.blksize;
    this.ino = a.ino;
    this.size = a.size;
    this.blocks = a.blocks;
    this.atimeMs = ms(a.atime, a.atimensec);
    this.mtimeMs = ms(a.mtime, a.mtimensec);
    this.ctimeMs = ms(a.ctime, a.ctimensec);
    this.birthtimeMs = 0;
    this.atime = new Date(this.atimeMs);
    this.mtime = new Date(this.mtimeMs);
    this.ctime = new Date(this.ctimeMs);
    this.birthtime = new Date(0);
  }

  protected typeBits(): number {
    return this.mode & S_IFMT;
  }
}

function ns(sec: number, nsec: number): bigint {
  return BigInt(sec) * 1_000_000_000n + BigInt(nsec);
}

/** stat with `{ bigint: true }`: every number a bigint, and nanosecond times. */
export class BigIntStats extends TypeChecks {
  dev: bigint;
  mode: bigint;
  nlink: bigint;
  uid: bigint;
  gid: bigint;
  rdev: bigint;
  blksize: bigint;
  ino: bigint;
  size: bigint;
  blocks: bigint;
  atimeMs: bigint;
  mtimeMs: bigint;
  ctimeMs: bigint;
  birthtimeMs: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
  atime: Date;
  mtime: Date;
  ctime: Date;
  birthtime: Date;

  constructor(a: FuseAttr, dev: number) {
    super();
    this.dev = BigInt(dev);
    this.mode = BigInt(a.mode);
    this.nlink = BigInt(a.nlink);
    this.uid = BigInt(a.uid);
    this.gid = BigInt(a.gid);
    this.rdev = BigInt(a.rdev);
    this.blksize = BigInt(a.blksize);
    this.ino = BigInt(a.ino);
    this.size = BigInt(a.size);
    this.blocks = BigInt(a.blocks);
    this.atimeNs = ns(a.atime, a.atimensec);
    this.mtimeNs = ns(a.mtime, a.mtimensec);
    this.ctimeNs = ns(a.ctime, a.ctimensec);
    this.birthtimeNs = 0n;
    this.atimeMs = this.atimeNs / 1_000_000n;
    this.mtimeMs = this.mtimeNs / 1_000_000n;
    this.ctimeMs = this.ctimeNs / 1_000_000n;
    this.birthtimeMs = 0n;
    this.atime = new Date(Number(this.atimeMs));
    this.mtime = new Date(Number(this.mtimeMs));
    this.ctime = new Date(Number(this.ctimeMs));
    this.birthtime = new Date(0);
  }

  protected typeBits(): number {
    return Number(this.mode) & S_IFMT;
  }
}

/** A directory entry as readdir({ withFileTypes: true }) and Dir.read() give it. */
export class Dirent<Name extends string | Buffer = string> extends TypeChecks {
  name: Name;
  /** The directory the entry is in. */
  parentPath: string;
  /** Alias of parentPath (Node 20). */
  path: string;
  readonly #type: number;

  /** `type` is the S_IF* type bits, or 0 when unknown. */
  constructor(name: Name, type: number, parentPath: string) {
    super();
    this.name = name;
    this.parentPath = parentPath;
    this.path = parentPath;
    this.#type = type;
  }

  protected typeBits(): number {
    return this.#type;
  }
}

/** FUSE_SUPER_MAGIC, what statfs(2) reports as f_type on a FUSE mount. */
export const FUSE_SUPER_MAGIC = 0x65735546;

export class StatFs<T extends number | bigint = number> {
  type: T;
  bsize: T;
  blocks: T;
  bfree: T;
  bavail: T;
  files: T;
  ffree: T;
  constructor(v: { type: T; bsize: T; blocks: T; bfree: T; bavail: T; files: T; ffree: T }) {
    this.type = v.type;
    this.bsize = v.bsize;
    this.blocks = v.blocks;
    this.bfree = v.bfree;
    this.bavail = v.bavail;
    this.files = v.files;
    this.ffree = v.ffree;
  }
}

// See shapes.ts: a program may go a while without stat or readdir.
keepShape(new Stats(EXEMPLAR_ATTR, 0));
keepShape(new Dirent('', 0, ''));
