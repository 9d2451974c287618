/**
 * In-memory inodes. One class per kind so each carries only what it needs:
 * 100,000 empty files must stay cheap.
 */
import type { Timespec } from '../../server/types.js';
import { keepShape } from '../../shapes.js';
import { now } from './clock.js';
import { BOGO_DIRENT_SIZE, S_IFDIR, S_IFIFO, S_IFREG } from './constants.js';
import type { LockTable } from './locks.js';
import type { Chunk } from './pages.js';

/** Fields every inode has. Times are kept as plain numbers to avoid an object per timestamp. */
export abstract class Inode {
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
  /** Extended attributes, created on first use. */
  xattrs: Map<string, Uint8Array> | null = null;
  /** Open handles (open, create, tmpfile, opendir) not yet released. */
  opens = 0;
  /** The kernel holds a reference (an Entry was handed out and not yet forgotten). */
  referenced = false;
  /** Byte-range and flock locks, created on first use. */
  locks: LockTable | null = null;

  constructor(
    readonly ino: number,
    public mode: number,
    public uid: number,
    public gid: number,
    public nlink: number,
    t: Timespec,
  ) {
    this.atimeSec = this.mtimeSec = this.ctimeSec = t.sec;
    this.atimeNsec = this.mtimeNsec = this.ctimeNsec = t.nsec;
  }

  abstract get size(): number;
  /** 512-byte blocks allocated. */
  abstract get blocks(): number;
  get rdev(): number {
    return 0;
  }

  setAtime(t: Timespec): void {
    this.atimeSec = t.sec;
    this.atimeNsec = t.nsec;
  }
  setMtime(t: Timespec): void {
    this.mtimeSec = t.sec;
    this.mtimeNsec = t.nsec;
  }
  setCtime(t: Timespec): void {
    this.ctimeSec = t.sec;
    this.ctimeNsec = t.nsec;
  }
  /** Data changed: mtime and ctime. */
  touchModified(t: Timespec): void {
    this.mtimeSec = this.ctimeSec = t.sec;
    this.mtimeNsec = this.ctimeNsec = t.nsec;
  }
}

/** A regular file: data in 4 KiB pages, absent pages are holes. */
export class FileInode extends Inode {
  private _size = 0;
  /** Chunk index -> chunk of pages (see pages.ts). Created on first allocation. */
  pages: Map<number, Chunk> | null = null;
  /** Pages present (data or reserved by fallocate): what st_blocks and the size= budget count. */
  pageCount = 0;
  /** O_TMPFILE without O_EXCL: may get a name through link() while nlink is 0 (I_LINKABLE). */
  linkable = false;
  /** fallocate(KEEP_SIZE) may have left pages past EOF: truncation must look for them. */
  pagesBeyondEof = false;

  get size(): number {
    return this._size;
  }
  set size(v: number) {
    this._size = v;
  }
  get blocks(): number {
    return this.pageCount * 8;
  }
}

/** A name in a directory. `node` is null once the name is removed (a tombstone in `order`). */
export interface Dirent {
  readonly name: string;
  node: Inode | null;
  /** readdir cookie: resumes the listing after this entry. */
  readonly cookie: number;
}

/** First cookie for entries: 1 and 2 are "." and "..". */
export const FIRST_COOKIE = 3;

/** A dirent still in its directory (a module function: V8 optimizes it once, not per compaction). */
const isLinked = (d: Dirent): boolean => d.node !== null;

/**
 * A directory. `entries` answers lookups in O(1); `order` keeps the entries
 * by cookie (creation order, cookies only grow) so readdir can resume after
 * any cookie by binary search. Removed entries stay in `order` as
 * tombstones until they are a majority, then `order` is replaced by a
 * compacted copy (a listing in progress notices the new array and finds its
 * place again by cookie).
 */
export class DirInode extends Inode {
  parent: DirInode;
  readonly entries = new Map<string, Dirent>();
  order: Dirent[] = [];
  private tombstones = 0;
  private nextCookie = FIRST_COOKIE;

  constructor(ino: number, mode: number, uid: number, gid: number, t: Timespec, parent: DirInode | null) {
    super(ino, mode, uid, gid, 2, t);
    this.parent = parent ?? this;
  }

  get size(): number {
    return BOGO_DIRENT_SIZE * (this.entries.size + 2);
  }
  get blocks(): number {
    return 0;
  }

  add(name: string, node: Inode): Dirent {
    const d: Dirent = { name, node, cookie: this.nextCookie++ };
    this.entries.set(name, d);
    this.order.push(d);
    return d;
  }

  remove(d: Dirent): void {
    this.entries.delete(d.name);
    d.node = null;
    this.tombstones++;
    if (this.tombstones > 32 && this.tombstones * 2 > this.order.length) {
      this.order = this.order.filter(isLinked);
      this.tombstones = 0;
    }
  }

  /** Index in `order` of the first entry whose cookie is greater than `cookie`. */
  indexAfter(cookie: number): number {
    const order = this.order;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order[mid]!.cookie <= cookie) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** A symbolic link. Targets of 128 bytes or more take a page, as in the kernel. */
export class SymlinkInode extends Inode {
  constructor(ino: number, uid: number, gid: number, t: Timespec, readonly target: string, readonly length: number) {
    super(ino, 0o120777, uid, gid, 1, t);
  }
  get size(): number {
    return this.length;
  }
  get blocks(): number {
    return this.length >= 128 ? 8 : 0;
  }
}

/** FIFO, socket, character or block device. */
export class SpecialInode extends Inode {
  constructor(ino: number, mode: number, uid: number, gid: number, t: Timespec, private readonly dev: number) {
    super(ino, mode, uid, gid, 1, t);
  }
  get size(): number {
    return 0;
  }
  get blocks(): number {
    return 0;
  }
  override get rdev(): number {
    return this.dev;
  }
}

// Kinds a tree can run out of keep their hidden classes (see shapes.ts); the root keeps DirInode's.
const fileExemplar = keepShape(new FileInode(0, S_IFREG, 0, 0, 1, now()));
// V8 treats a field not written since its object was made as constant, compiles on that,
// and throws the code away at the first write. A dirent's node is cleared when it is removed,
// and a directory's order is replaced when enough are: the first big listing after a warm-up
// was compiled twice (--trace-generalization: "node", then "order", const -> mutable, in
// remove). Both happen here first, before any listing is compiled.
const exemplarDir = keepShape(new DirInode(0, S_IFDIR, 0, 0, now(), null));
const made = Array.from({ length: 40 }, (_, i) => exemplarDir.add(String(i), fileExemplar));
for (const d of made) exemplarDir.remove(d);
keepShape(new SymlinkInode(0, 0, 0, now(), '', 0));
keepShape(new SpecialInode(0, S_IFIFO, 0, 0, now(), 0));
