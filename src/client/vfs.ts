/**
 * The vnode layer: what the kernel's VFS and dcache do for a FUSE mount.
 *
 * - A vnode table keyed by node id. Every entry the server hands out (lookup,
 *   mkdir, mknod, symlink, link, create, readdirplus) adds one to the node's
 *   lookup count; when a vnode is released its count goes back in a FORGET
 *   (BATCH_FORGET for many), so the server's counts return to zero.
 * - A vnode is released when nothing uses it (no walk, call or open handle
 *   pins it), no cached name points to it, and it has been idle a while; or
 *   when the table is over its size limit; and all of them on close.
 * - Entry and attribute caches honour the timeouts the server returns
 *   (0 = ask every time) and its invalidation notifications.
 * - Path walks go component by component: '.', '..' (physical: the parent
 *   the walk came through), symlinks followed up to 40 (ELOOP), ENOTDIR,
 *   ENAMETOOLONG, trailing slashes.
 *
 * Concurrency without locks held across server calls: answers that would
 * fill a cache are only cached when nothing changed the directory (its
 * version) or the node (its attribute version) since the request was sent,
 * as the kernel's attr_version does; namespace operations take node locks in
 * ascending id order only around revalidate-and-enqueue (see locks.ts).
 */
import {
  FUSE_GETATTR_FH,
  FUSE_ROOT_ID,
  InitFlag,
  layouts as L,
  type Notification,
  type ReplyOf,
  type ReplyingOp,
  type StructValue,
} from '../protocol/index.js';
import { FsError } from '../errors.js';
import { keepShape } from '../shapes.js';
import { errnoError } from './errors.js';
import { LockTable } from './locks.js';
import type { Body, CallOptions, Connection, Credentials, Pending } from './connection.js';

export type FuseAttr = StructValue<typeof L.attr.fields>;

/** Attributes as a server sends them (times with nanoseconds), for exemplars kept by shapes.ts. */
export const EXEMPLAR_ATTR: FuseAttr = {
  ...L.attr.decode(new DataView(new ArrayBuffer(L.attr.size)), 0),
  ...{ ino: 1, mode: 0o100644, nlink: 1, atime: 1.7e9, atimensec: 1, mtime: 1.7e9, mtimensec: 1, ctime: 1.7e9, ctimensec: 1 },
};
export type EntryOut = StructValue<typeof L.entryOut.fields>;

export { S_IFMT, S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO, S_ISVTX } from '../linux.js';
import { S_IFMT, S_IFLNK, S_IFDIR, S_ISVTX } from '../linux.js';

/** Linux's MAXSYMLINKS. */
export const MAX_SYMLINKS = 40;
/** PATH_MAX, including the terminating NUL. */
export const PATH_MAX = 4096;
/** FUSE_NAME_MAX: the kernel refuses longer names before asking the server. */
export const FUSE_NAME_MAX = 1024;

/** Who asks, and a way to withdraw the question. */
export interface Ctx {
  cred: Credentials;
  signal?: AbortSignal;
}

interface CachedEntry {
  /** Node id, or 0 for a cached absence (negative entry). */
  node: number;
  /** performance.now() deadline; the entry is valid while now < expires. */
  expires: number;
}

export class Vnode {
  /** Entries received for this node that have not been forgotten. */
  nlookup = 0;
  /** Walks, calls and open handles using the node right now. */
  pins = 0;
  attrExpires = 0;
  /** ATTR_* groups of the cached attributes known to be stale (the others are good until attrExpires). */
  attrStale = 0;
  /** Bumped when the node changes or its attributes are invalidated. */
  attrVersion = 0;
  lastUsed = 0;
  /** Directories: bumped on every change of the name space inside. */
  version = 0;
  /** Directories: cached names. */
  children: Map<string, CachedEntry> | undefined;
  /** Symlinks: the cached target (only with FUSE_CACHE_SYMLINKS). */
  target: string | undefined;
  /** Serialises O_APPEND writes from this client: the next free offset, once known. */
  appendTail: Promise<number> | undefined;
  appendsInFlight = 0;

  constructor(
    readonly id: number,
    public generation: number,
    public attr: FuseAttr,
  ) {}

  get type(): number {
    return this.attr.mode & S_IFMT;
  }
  get isDir(): boolean {
    return this.type === S_IFDIR;
  }
  get isSymlink(): boolean {
    return this.type === S_IFLNK;
  }
}
keepShape(new Vnode(0, 0, EXEMPLAR_ATTR)); // see shapes.ts

/** The result of a path walk. Call `release` when done with it. */
export interface Walk {
  /** The directory holding the last name; undefined when the path is the root. */
  parent: Vnode | undefined;
  /** The last component ('' for the root). */
  name: string;
  /** The node the path names, or undefined when the last name does not exist. */
  node: Vnode | undefined;
  /** What the last component was: a name, '.', '..', or the path was the root. */
  last: 'name' | 'dot' | 'dotdot' | 'root';
  /** The path ended in '/'. */
  trailingSlash: boolean;
  /** Directories from the root down to `parent` (or to node for dots): the physical ancestry. */
  ancestors: Vnode[];
  /** Canonical path of `node` (or of where it would be). */
  canonical: string;
  release(): void;
}

export interface WalkOptions {
  /** Follow a symlink in the last component (stat, open) or not (lstat, unlink, rename). */
  follow: boolean;
}

export interface VfsOptions {
  /** Vnodes kept in the table before idle ones are released early (default 10000). */
  maxVnodes?: number;
  /** Unused vnodes (no pins, no cached names) are forgotten after this long (default 1000 ms). */
  idleMs?: number;
  /** How often the table is swept (default 1000 ms). */
  sweepMs?: number;
}

/**
 * Groups of attributes a cached copy can be stale in while the rest stay
 * good (the kernel's inval_mask): a read makes only atime stale, a write
 * mtime, ctime and blocks (and the mode when it may drop setuid/setgid)
 * while this side still knows the size.
 */
export const ATTR_SIZE = 1;
export const ATTR_ATIME = 2;
/** mtime, ctime, blocks. */
export const ATTR_MODIFY = 4;
/** mode, uid, gid. */
export const ATTR_MODE = 8;
export const ATTR_ALL = 15;

export const MAY_EXEC = 1;
export const MAY_WRITE = 2;
export const MAY_READ = 4;

/** generic_permission on attributes (no ACLs). */
export function allowed(attr: FuseAttr, mask: number, cred: Credentials): boolean {
  const mode = attr.mode;
  if (cred.uid === 0) {
    if (!(mask & MAY_EXEC) || (mode & S_IFMT) === S_IFDIR) return true;
    return (mode & 0o111) !== 0;
  }
  let bits: number;
  if (attr.uid === cred.uid) bits = (mode >> 6) & 7;
  else if (attr.gid === cred.gid || (cred.groups ?? []).includes(attr.gid)) bits = (mode >> 3) & 7;
  else bits = mode & 7;
  return (mask & ~bits & 7) === 0;
}

const now = (): number => performance.now();

/** What Vfs.resolveCached found: the node a path names and the directory holding it. */
export interface CachedHit {
  node: Vnode;
  parent: Vnode;
}

/** Seconds plus nanoseconds from now, as a performance.now() deadline; 0 s = already expired. */
function deadline(sec: number, nsec: number): number {
  if (sec === 0 && nsec === 0) return 0;
  if (sec >= 2 ** 31) return Infinity;
  return now() + sec * 1000 + nsec / 1e6;
}

function split(path: string): { parts: string[]; absolute: boolean; trailingSlash: boolean } {
  const absolute = path.startsWith('/');
  const trailingSlash = path.length > 1 && path.endsWith('/');
  return { parts: path.split('/').filter((p) => p !== ''), absolute, trailingSlash };
}

export class Vfs {
  readonly conn: Connection;
  readonly locks = new LockTable();
  readonly table = new Map<number, Vnode>();
  readonly root: Vnode;
  private attrSeq = 0;
  private readonly maxVnodes: number;
  private readonly idleMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  private sweepQueued = false;
  /** Ops the server answered ENOSYS to for good (create, access, ...). */
  readonly unsupported = new Set<string>();
  /** Counters for tests. */
  readonly stats = { lookups: 0, getattrs: 0, forgets: 0, forgotten: 0 };

  constructor(conn: Connection, rootAttr: FuseAttr, options: VfsOptions = {}) {
    this.conn = conn;
    this.maxVnodes = options.maxVnodes ?? 10_000;
    this.idleMs = options.idleMs ?? 1000;
    this.root = new Vnode(FUSE_ROOT_ID, 0, rootAttr);
    this.root.attrExpires = 0;
    this.table.set(FUSE_ROOT_ID, this.root);
    this.sweeper = setInterval(() => this.sweep(), options.sweepMs ?? 1000);
    this.sweeper.unref();
  }

  /** Read the root's attributes, as the kernel does at mount. */
  static async rootAttr(conn: Connection, cred: Credentials): Promise<FuseAttr> {
    const r = await conn.call('getattr', FUSE_ROOT_ID, { arg: { getattrFlags: 0, fh: 0 } }, cred);
    if ((r.attr.mode & S_IFMT) !== S_IFDIR) throw errnoError('ENOTDIR', 'the server\'s root is not a directory');
    return r.attr;
  }

  get cacheSymlinks(): boolean {
    return ((this.conn.info?.flags ?? 0n) & InitFlag.CACHE_SYMLINKS) !== 0n;
  }

  // ---- calls ----------------------------------------------------------------------------

  // A Ctx is call options as it is (its signal); merged only when there are more.
  call<K extends ReplyingOp>(op: K, nodeid: number, body: Body<K>, ctx: Ctx, options?: CallOptions): Promise<ReplyOf<K>> {
    return this.conn.call(op, nodeid, body, ctx.cred, options ? { signal: ctx.signal, ...options } : ctx);
  }

  /** Connection.readInto with the context's credentials and signal. */
  readInto(nodeid: number, arg: Body<'read'>['arg'], into: Uint8Array, ctx: Ctx): Promise<number> {
    return this.conn.readInto(nodeid, arg, into, ctx.cred, ctx.signal);
  }

  enqueue<K extends ReplyingOp>(op: K, nodeid: number, body: Body<K>, ctx: Ctx, options?: CallOptions): Pending<K> {
    return this.conn.enqueue(op, nodeid, body, ctx.cred, options ? { signal: ctx.signal, ...options } : ctx);
  }

  // ---- pins -------------------------------------------------------------------------------

  pin(v: Vnode): Vnode {
    // No lastUsed here: a pinned node is never swept, and unpin stamps it.
    v.pins++;
    return v;
  }

  unpin(v: Vnode): void {
    v.pins--;
    v.lastUsed = now();
    // Over the limit, a sweep may have passed this node over while it was held (a RELEASE in flight): look again.
    if (v.pins === 0 && this.table.size > this.maxVnodes) this.queueSweep();
  }

  // ---- caches -----------------------------------------------------------------------------

  /** A snapshot for attribute caching: answers to requests sent before a later change are not cached. */
  attrStamp(): number {
    return this.attrSeq;
  }

  /** The node changed (or may have): its cached attributes are no longer good. */
  invalidateAttr(v: Vnode | undefined): void {
    if (!v) return;
    v.attrExpires = 0;
    v.attrVersion = ++this.attrSeq;
  }

  /** Some of the node's attributes (ATTR_* groups) changed or may have; the others stay cached. */
  staleAttr(v: Vnode, groups: number): void {
    v.attrStale |= groups;
    v.attrVersion = ++this.attrSeq;
  }

  /** Cached attributes good for the ATTR_* groups in `want`. */
  attrValid(v: Vnode, want: number): boolean {
    return (v.attrStale & want) === 0 && now() < v.attrExpires;
  }

  /**
   * This client wrote up to `end` (exclusive) and nothing else touched the
   * node since `stamp`: the size is known as the kernel knows it
   * (fuse_write_update_attr); mtime, ctime and blocks are not, nor the mode
   * when the write may have dropped setuid/setgid. Otherwise all is stale.
   */
  wrote(v: Vnode, end: number, stamp: number): void {
    this.sizeChanged(v, Math.max(end, v.attr.size), stamp);
  }

  /** An O_TRUNC open the server carried out (atomic_o_trunc), sent at `stamp`: size 0, the rest as after a write. */
  truncatedOnOpen(v: Vnode, stamp: number): void {
    this.sizeChanged(v, 0, stamp);
  }

  private sizeChanged(v: Vnode, size: number, stamp: number): void {
    if (v.attrVersion > stamp || !this.attrValid(v, ATTR_SIZE)) {
      this.invalidateAttr(v);
      return;
    }
    // The server drops setuid and setgid on a write or truncation (by anyone but root): the mode is stale if it has them.
    const privs = (v.attr.mode & 0o6000) !== 0;
    // In place: the cached object is this vnode's own (callers copy what they keep, as Stats does).
    v.attr.size = size;
    this.staleAttr(v, ATTR_MODIFY | (privs ? ATTR_MODE : 0));
  }

  /** Take attributes from an answer, caching them unless the node changed since `stamp`. */
  private takeAttr(v: Vnode, attr: FuseAttr, validSec: number, validNsec: number, stamp: number): void {
    if (v.attrVersion > stamp) return;
    v.attr = attr;
    v.attrStale = 0;
    v.attrExpires = deadline(validSec, validNsec);
  }

  /** Attributes after a change this client made: cached, and newer than anything in flight. */
  changedAttr(v: Vnode, attr: FuseAttr, validSec: number, validNsec: number): void {
    v.attrVersion = ++this.attrSeq;
    v.attr = attr;
    v.attrStale = 0;
    v.attrExpires = deadline(validSec, validNsec);
  }

  /** An entry arrived: count the lookup and take the node's attributes. */
  gotEntry(e: EntryOut, stamp: number): Vnode {
    let v = this.table.get(e.nodeid);
    if (v && v.generation !== e.generation && v.nlookup > 0) {
      // Same id, new generation: the old node is gone. Keep counting on the id (the server counts per id).
      v.generation = e.generation;
      v.target = undefined;
      this.invalidateAttr(v);
    }
    if (!v) {
      v = new Vnode(e.nodeid, e.generation, e.attr);
      this.table.set(e.nodeid, v);
      if (this.table.size > this.maxVnodes) this.queueSweep();
    }
    v.nlookup++;
    v.lastUsed = now();
    this.takeAttr(v, e.attr, e.attrValid, e.attrValidNsec, stamp);
    return v;
  }

  /** Sweep soon (once, however often asked before it runs). */
  private queueSweep(): void {
    if (this.sweepQueued || this.closed) return;
    this.sweepQueued = true;
    setImmediate(() => {
      this.sweepQueued = false;
      this.sweep();
    });
  }

  /** Cache `name` in `dir` → node (0 = absent), unless the directory changed since `version`. */
  cacheEntry(dir: Vnode, name: string, node: number, sec: number, nsec: number, version: number): void {
    if (dir.version !== version || this.closed) return;
    const expires = deadline(sec, nsec);
    if (expires === 0) {
      dir.children?.delete(name);
      return;
    }
    (dir.children ??= new Map()).set(name, { node, expires });
  }

  /** The name space in `dir` changed: answers in flight must not be cached. */
  dirChanged(dir: Vnode | undefined, ...names: string[]): void {
    if (!dir) return;
    dir.version++;
    for (const n of names) dir.children?.delete(n);
    this.invalidateAttr(dir);
  }

  // ---- lookups ----------------------------------------------------------------------------

  /** The node named `name` in `dir`, from the cache or the server; undefined when there is none. */
  async lookup(dir: Vnode, name: string, ctx: Ctx): Promise<Vnode | undefined> {
    const cached = dir.children?.get(name);
    if (cached) {
      if (now() < cached.expires) {
        if (cached.node === 0) return undefined;
        const v = this.table.get(cached.node);
        if (v) {
          v.lastUsed = now();
          return v;
        }
      }
      dir.children!.delete(name);
    }
    const version = dir.version;
    const stamp = this.attrStamp();
    this.stats.lookups++;
    let e: EntryOut;
    try {
      e = await this.call('lookup', dir.id, { name }, ctx);
    } catch (err) {
      if ((err as FsError).code === 'ENOENT') return undefined;
      throw err;
    }
    if (e.nodeid === 0) {
      this.cacheEntry(dir, name, 0, e.entryValid, e.entryValidNsec, version);
      return undefined;
    }
    const v = this.gotEntry(e, stamp);
    this.cacheEntry(dir, name, v.id, e.entryValid, e.entryValidNsec, version);
    return v;
  }

  /**
   * Attributes of `v`, from the cache while valid, else from the server.
   * `want` (ATTR_* groups, default all) is what the caller reads: the cache
   * serves it while those groups are good, as the kernel's request mask.
   */
  async getattr(v: Vnode, ctx: Ctx, options: { fh?: number; fresh?: boolean; want?: number } = {}): Promise<FuseAttr> {
    if (!options.fresh && this.attrValid(v, options.want ?? ATTR_ALL)) return v.attr;
    const stamp = this.attrStamp();
    this.stats.getattrs++;
    const fh = options.fh;
    const r = await this.call('getattr', v.id, { arg: { getattrFlags: fh === undefined ? 0 : FUSE_GETATTR_FH, fh: fh ?? 0 } }, ctx);
    this.takeAttr(v, r.attr, r.attrValid, r.attrValidNsec, stamp);
    return r.attr;
  }

  /** A symlink's target. */
  async readlink(v: Vnode, ctx: Ctx): Promise<string> {
    if (v.target !== undefined) return v.target;
    const data = await this.call('readlink', v.id, {}, ctx);
    const target = Buffer.from(data as Uint8Array).toString('utf8');
    if (this.cacheSymlinks) v.target = target;
    return target;
  }

  // ---- permissions ------------------------------------------------------------------------

  /**
   * The kernel's generic_permission with default_permissions: `mask` is
   * MAY_READ (4) | MAY_WRITE (2) | MAY_EXEC (1), checked against the node's
   * mode bits (owner, else group incl. supplementary groups, else other),
   * from cached attributes refreshed when they expired. uid 0 may do
   * anything except execute a non-directory without any x bit.
   */
  async permission(v: Vnode, mask: number, ctx: Ctx): Promise<void> {
    if (mask === 0) return;
    // uid 0 needs the mode only to execute a non-directory (a node's type never changes).
    if (ctx.cred.uid === 0 && (!(mask & MAY_EXEC) || v.isDir)) return;
    const attr = await this.permAttr(v, ctx);
    if (!allowed(attr, mask, ctx.cred)) throw errnoError('EACCES');
  }

  /** Attributes for a permission decision: the cached ones while valid, else fresh from the server. */
  async permAttr(v: Vnode, ctx: Ctx): Promise<FuseAttr> {
    return this.attrValid(v, ATTR_MODE) ? v.attr : this.getattr(v, ctx);
  }

  /**
   * may_delete: write and search permission on `dir`, the sticky bit (only
   * the owner of the victim or of the directory, or root, may remove), then
   * the type: ENOTDIR when a directory was asked for, EISDIR when it was not.
   */
  async mayDelete(dir: Vnode, victim: Vnode, isDir: boolean, ctx: Ctx): Promise<void> {
    await this.permission(dir, MAY_WRITE | MAY_EXEC, ctx);
    if (ctx.cred.uid !== 0) {
      const d = await this.permAttr(dir, ctx);
      if (d.mode & S_ISVTX && d.uid !== ctx.cred.uid) {
        const a = await this.permAttr(victim, ctx);
        if (a.uid !== ctx.cred.uid) throw errnoError('EPERM');
      }
    }
    if (isDir && !victim.isDir) throw errnoError('ENOTDIR');
    if (!isDir && victim.isDir) throw errnoError('EISDIR');
  }

  // ---- path walk --------------------------------------------------------------------------

  /**
   * Resolve `path` (absolute or relative to the root) component by
   * component. The last name may be absent (node undefined); a missing
   * directory on the way is ENOENT, a non-directory ENOTDIR, more than 40
   * symlinks ELOOP. Every vnode handed back is pinned until `release`.
   */
  walk(path: string, ctx: Ctx, options: WalkOptions): Promise<Walk> {
    const w = this.walkCached(path, ctx.cred);
    return w ? Promise.resolve(w) : this.walkSlow(path, ctx, options);
  }

  /**
   * The walk when every step is answered by the caches: a plain path
   * ('/a/b', no '.', '..' or trailing slash) of cached names through
   * directories whose search permission the cached attributes grant, ending
   * on an existing node that is not a symlink. Anything else (a miss, a
   * symlink, a refusal, an error to report) is left to walkSlow, which
   * gives the same answer for the cases taken here.
   */
  private walkCached(path: string, cred: Credentials): Walk | undefined {
    const stack: Vnode[] = [];
    const names: string[] = [];
    const child = this.cachedSteps(path, cred, stack, names);
    if (!child) return undefined;
    for (const v of stack) this.pin(v);
    this.pin(child);
    const pinned = [...stack, child];
    const release = (): void => {
      for (const v of pinned.splice(0)) this.unpin(v);
    };
    return this.walked(stack, stack[stack.length - 1]!, names[names.length - 1]!, child, 'name', false, names, release);
  }

  /**
   * Whether the caches answer every step of `path`, as walkCached takes it,
   * without building a Walk: for open(2) of a cached name, which needs only
   * the node and its directory, written to `hit` (the caller's, reused, so a
   * hit allocates nothing). Nothing is pinned; the caller pins what it keeps
   * across a request.
   */
  resolveCached(path: string, cred: Credentials, hit: CachedHit): boolean {
    return this.cachedSteps(path, cred, undefined, undefined, hit) !== undefined;
  }

  /**
   * walkCached's steps: the node at the end, or undefined for anything left
   * to walkSlow. `stack` and `names`, when given, receive the directories
   * from the root down to the parent and the names walked.
   */
  private cachedSteps(path: string, cred: Credentials, stack: Vnode[] | undefined, names: string[] | undefined, hit?: CachedHit): Vnode | undefined {
    const len = path.length;
    if (len === 0 || len >= PATH_MAX / 4 || path.charCodeAt(len - 1) === 47 /* '/' */) return undefined;
    const t = now();
    let cur = this.root;
    let start = path.charCodeAt(0) === 47 ? 1 : 0;
    for (;;) {
      let end = path.indexOf('/', start);
      if (end < 0) end = len;
      if (end === start) return undefined; // '//': left to the full walk
      const comp = path.slice(start, end);
      if (comp === '.' || comp === '..' || comp.length > FUSE_NAME_MAX / 4) return undefined;
      // may_lookup from cached attributes.
      if (!(cred.uid === 0 || (this.attrValid(cur, ATTR_MODE) && allowed(cur.attr, MAY_EXEC, cred)))) return undefined;
      const e = cur.children?.get(comp);
      if (!e || e.node === 0 || !(t < e.expires)) return undefined;
      const child = this.table.get(e.node);
      if (!child || child.isSymlink) return undefined;
      stack?.push(cur);
      names?.push(comp);
      if (end === len) {
        if (hit !== undefined) {
          hit.node = child;
          hit.parent = cur;
        }
        return child;
      }
      if (!child.isDir) return undefined;
      cur = child;
      start = end + 1;
    }
  }

  private async walkSlow(path: string, ctx: Ctx, options: WalkOptions): Promise<Walk> {
    if (path === '') throw errnoError('ENOENT');
    if (Buffer.byteLength(path) >= PATH_MAX) throw errnoError('ENAMETOOLONG');
    const pinned: Vnode[] = [];
    const hold = (v: Vnode): Vnode => {
      pinned.push(this.pin(v));
      return v;
    };
    const release = (): void => {
      for (const v of pinned.splice(0)) this.unpin(v);
    };
    try {
      const first = split(path);
      let queue = first.parts;
      let trailingSlash = first.trailingSlash;
      let stack: Vnode[] = [hold(this.root)];
      let names: string[] = [];
      let links = 0;
      let last: Walk['last'] = 'root';
      let parent: Vnode | undefined;
      let lastName = '';
      while (queue.length > 0) {
        const comp = queue.shift()!;
        const isLast = queue.length === 0;
        const cur = stack[stack.length - 1]!;
        if (!cur.isDir) throw errnoError('ENOTDIR');
        // may_lookup: search permission on every directory walked through.
        await this.permission(cur, MAY_EXEC, ctx);
        if (comp === '.') {
          if (isLast) last = 'dot';
          continue;
        }
        if (comp === '..') {
          if (stack.length > 1) {
            stack.pop();
            names.pop();
          }
          if (isLast) last = 'dotdot';
          continue;
        }
        if (Buffer.byteLength(comp) > FUSE_NAME_MAX) throw errnoError('ENAMETOOLONG');
        const child = await this.lookup(cur, comp, ctx);
        if (!child) {
          if (isLast) {
            return this.walked(stack.slice(), cur, comp, undefined, 'name', trailingSlash, [...names, comp], release);
          }
          throw errnoError('ENOENT');
        }
        hold(child);
        if (child.isSymlink && (!isLast || options.follow || trailingSlash)) {
          if (++links > MAX_SYMLINKS) throw errnoError('ELOOP');
          const target = await this.readlink(child, ctx);
          if (target === '') throw errnoError('ENOENT');
          const t = split(target);
          if (t.absolute) {
            stack = [this.root];
            names = [];
          }
          if (isLast && t.trailingSlash) trailingSlash = true;
          queue = [...t.parts, ...queue];
          if (queue.length === 0) last = t.absolute ? 'root' : 'dot';
          continue;
        }
        if (isLast) {
          parent = cur;
          lastName = comp;
          if (trailingSlash && !child.isDir) throw errnoError('ENOTDIR');
          return this.walked(stack.slice(), parent, lastName, child, 'name', trailingSlash, [...names, comp], release);
        }
        stack.push(child);
        names.push(comp);
      }
      // The path ended on a directory reached through '.', '..', a symlink, or it is the root.
      const node = stack[stack.length - 1]!;
      if (trailingSlash && !node.isDir) throw errnoError('ENOTDIR');
      if (stack.length === 1) {
        return this.walked([], undefined, '', node, last === 'root' ? 'root' : last, trailingSlash, [], release);
      }
      const up = stack[stack.length - 2]!;
      return this.walked(stack.slice(0, -1), up, names[names.length - 1]!, node, last === 'root' ? 'dot' : last, trailingSlash, names, release);
    } catch (err) {
      release();
      throw err;
    }
  }

  private walked(
    ancestors: Vnode[],
    parent: Vnode | undefined,
    name: string,
    node: Vnode | undefined,
    last: Walk['last'],
    trailingSlash: boolean,
    names: string[],
    release: () => void,
  ): Walk {
    return { parent, name, node, last, trailingSlash, ancestors, canonical: '/' + names.join('/'), release };
  }

  // ---- releasing vnodes -------------------------------------------------------------------

  /**
   * Forget vnodes nobody uses: no pins, no valid cached name pointing at
   * them, idle for `idleMs` (or, over the size limit, the least recently
   * used ones). Expired entries go first.
   */
  sweep(force = false): void {
    if (this.closed && !force) return;
    const t = now();
    const referenced = new Set<number>();
    for (const v of this.table.values()) {
      if (!v.children) continue;
      for (const [name, e] of v.children) {
        if (t >= e.expires || (e.node !== 0 && !this.table.has(e.node))) v.children.delete(name);
        else if (e.node !== 0) referenced.add(e.node);
      }
    }
    const victims: Vnode[] = [];
    for (const v of this.table.values()) {
      if (v === this.root || v.pins > 0) continue;
      if (force || (!referenced.has(v.id) && t - v.lastUsed >= this.idleMs)) victims.push(v);
    }
    let excess = this.table.size - victims.length - this.maxVnodes;
    if (excess > 0) {
      const chosen = new Set(victims);
      const spare = [...this.table.values()]
        .filter((v) => v !== this.root && v.pins === 0 && !chosen.has(v))
        .sort((a, b) => a.lastUsed - b.lastUsed);
      for (const v of spare) {
        if (excess-- <= 0) break;
        victims.push(v);
      }
    }
    this.forget(victims);
  }

  /** Drop vnodes from the table and give their lookups back to the server in one message. */
  forget(victims: Vnode[]): void {
    const items: { nodeid: number; nlookup: number }[] = [];
    for (const v of victims) {
      this.table.delete(v.id);
      v.children = undefined;
      if (v.nlookup > 0) items.push({ nodeid: v.id, nlookup: v.nlookup });
      v.nlookup = 0;
    }
    this.stats.forgotten += victims.length;
    const cred = { uid: 0, gid: 0, pid: 0, umask: 0 };
    // 16 bytes an item: keep each message well inside a frame.
    for (let i = 0; i < items.length; i += 4096) {
      const chunk = items.slice(i, i + 4096);
      this.stats.forgets++;
      if (chunk.length === 1) this.conn.post('forget', chunk[0]!.nodeid, { arg: { nlookup: chunk[0]!.nlookup } }, cred);
      else this.conn.post('batchForget', 0, { arg: { count: chunk.length }, items: chunk }, cred);
    }
  }

  /** Release every vnode (close): the server's lookup counts all go back to zero. */
  forgetAll(): void {
    clearInterval(this.sweeper);
    const all = [...this.table.values()];
    this.table.clear();
    this.closed = true;
    const items = all.filter((v) => v.nlookup > 0);
    this.forget(items);
    this.table.clear();
    for (const v of all) v.children = undefined;
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.closed = true;
  }

  /** Lookups this side holds on `id` (for tests). */
  lookupCount(id: number): number {
    return this.table.get(id)?.nlookup ?? 0;
  }

  // ---- notifications ----------------------------------------------------------------------

  /** Honour the server's invalidations. */
  onNotification(n: Notification): void {
    switch (n.kind) {
      case 'invalInode': {
        const v = this.table.get(n.arg.ino);
        if (v) {
          this.invalidateAttr(v);
          if (n.arg.off >= 0) v.target = undefined;
        }
        return;
      }
      case 'invalEntry': {
        const dir = this.table.get(n.arg.parent);
        if (dir) this.dirChanged(dir, n.name);
        return;
      }
      case 'delete': {
        const dir = this.table.get(n.arg.parent);
        if (dir) this.dirChanged(dir, n.name);
        this.invalidateAttr(this.table.get(n.arg.child));
        return;
      }
      case 'incEpoch':
        // Every cached name is suspect.
        for (const v of this.table.values()) this.dirChanged(v.isDir ? v : undefined, ...(v.children?.keys() ?? []));
        return;
      case 'prune': {
        const ids = new Set(n.items.map((i) => i.nodeid));
        const victims = [...this.table.values()].filter((v) => ids.has(v.id) && v.pins === 0 && v !== this.root);
        for (const dir of this.table.values()) {
          if (!dir.children) continue;
          for (const [name, e] of dir.children) if (ids.has(e.node)) dir.children.delete(name);
        }
        this.forget(victims);
        return;
      }
      default:
        // poll wakeups, store (no page cache here), retrieve (answered by the connection), resend.
        return;
    }
  }
}
