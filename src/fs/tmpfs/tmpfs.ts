/**
 * tmpfs: a POSIX memory file system with the semantics of Linux's tmpfs
 * (mm/shmem.c and the VFS rules around it), as a FileSystem.
 *
 * Every operation is synchronous and so atomic with respect to the others;
 * only a blocking lock wait returns a Promise.
 */
import { fsError } from '../../errors.js';
import { isUncounted, releasedUncounted } from '../../server/memory.js';
import type { CreateReply, FileSystem, FsFeatures, LockRequest } from '../../server/ops.js';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  RENAME_WHITEOUT,
  ROOT_ID,
  WRITE_KILL_PRIVS,
  XATTR_CREATE,
  XATTR_REPLACE,
  type Attr,
  type AttrReply,
  type DirEntry,
  type Entry,
  type FileLock,
  type NegativeEntry,
  type OpenReply,
  type RequestContext,
  type SetattrChanges,
  type StatFs,
} from '../../server/types.js';
import { keepShape } from '../../shapes.js';
import { now } from './clock.js';

/** A lookup that finds nothing; the mount's negative timeout applies. */
const NO_ENTRY: NegativeEntry = Object.freeze({ ino: 0 });
import {
  BOGO_INODE_SIZE,
  MAX_FILE_SIZE,
  NAME_MAX,
  O_ACCMODE,
  O_APPEND,
  O_EXCL,
  O_RDONLY,
  O_TRUNC,
  O_WRONLY,
  PAGE_SIZE,
  R_OK,
  SEEK_DATA,
  SEEK_HOLE,
  SHORT_SYMLINK_LEN,
  SYMLINK_MAX,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  S_ISGID,
  S_ISUID,
  S_ISVTX,
  S_IXGRP,
  W_OK,
  XATTR_NAME_MAX,
  XATTR_OVERHEAD,
  XATTR_SIZE_MAX,
  X_OK,
} from './constants.js';
import { DirInode, FileInode, Inode, SpecialInode, SymlinkInode, type Dirent } from './inode.js';
import { F_RDLCK, F_UNLCK, F_WRLCK, LockManager, LockTable } from './locks.js';
import { resolveTmpfsOptions, type TmpfsOptions } from './options.js';
import {
  allocatePages,
  dataPage,
  freePages,
  keptAsChunk,
  punchPages,
  readPages,
  ADOPT_MAX_PAGES,
  seekData,
  seekHole,
  truncatePages,
  writePages,
  type BlockAccount,
} from './pages.js';

/** An open file or directory. */
interface Handle {
  readonly node: Inode;
  readonly flags: number;
  /** flock owners that locked through this handle; their locks go with it. */
  flockOwners: bigint[] | null;
}

/** What the file system holds right now (for monitoring and tests). */
export interface TmpfsUsage {
  /** Pages charged to size=: file data (fallocated included) and long symlink targets. */
  blocks: number;
  /** Live inodes, the root and unlinked-but-referenced ones included. */
  inodes: number;
  /** Bytes of inode space used (1024 per inode and per extra hard link, plus xattrs), when nr_inodes is limited. */
  inodeSpace: number;
  /** Open handles. */
  handles: number;
}

function byteLength(s: string): number {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short strings skip the encoder.
  if (s.length * 3 <= NAME_MAX) {
    let ascii = true;
    for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break; }
    if (ascii) return s.length;
  }
  return Buffer.byteLength(s, 'utf8');
}

function checkName(name: string): void {
  if (name.length === 0) throw fsError('ENOENT');
  if (name.length > NAME_MAX / 3 && byteLength(name) > NAME_MAX) throw fsError('ENAMETOOLONG');
  if (name.includes('/') || name.includes('\0')) throw fsError('EINVAL');
}

function isDots(name: string): boolean {
  return name === '.' || name === '..';
}

function isFileType(mode: number, type: number): boolean {
  return (mode & S_IFMT) === type;
}

function accessMode(flags: number): number {
  return flags & O_ACCMODE;
}

/** Copy a caller's bytes when we keep them and do not own them. */
function copyBytes(v: Uint8Array): Uint8Array {
  return new Uint8Array(v);
}

/**
 * A memory file system with Linux tmpfs semantics. Construct with
 * {@link TmpfsOptions} (or the result of `parseTmpfsOptions`) and serve it
 * through a session, or call its methods directly.
 *
 * Accounting follows the kernel: `size=` limits pages of file data
 * (fallocated ones too) and symlink targets of 128 bytes or more (one page
 * each); `nr_inodes=` is a budget of nr_inodes * 1024 bytes, charged 1024
 * per inode, 1024 per additional hard link, and 40 + name + value bytes per
 * extended attribute (xattrs are free when nr_inodes=0).
 */
/** A page of zeros, the source for copying a hole. Never stored: writePages copies it. */
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

/**
 * A directory listing from cookie `offset` on, stepped by the session as it
 * fills a reply. An iterator object rather than a generator: a listing is
 * often the first of its kind in a server, and V8 compiles this in a
 * fraction of the time it spends on the generator (10 ms of a pinned CPU
 * for a 2,000-entry directory, more than the listing itself).
 */
/**
 * The end of every listing. A shared object rather than a literal: the end
 * is reached once per listing, so code V8 optimized during a big listing had
 * never seen the literal made and was thrown away at the end (and the next
 * listing compiled it again). Not frozen: a frozen object has another hidden
 * class than the other results, and the caller's loop was thrown away instead.
 */
const LISTING_DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

class Listing implements IterableIterator<DirEntry> {
  /** 0: "." next, 1: ".." next, 2: the entries. */
  private dots: number;
  private cookie: number;
  /** The `order` array being walked and the index in it; looked up at the first entry. */
  private order: Dirent[] | null = null;
  private i = 0;

  constructor(
    private readonly dir: DirInode,
    offset: number,
    /** Set for readdirplus: the entry of an inode the kernel does not hold yet. */
    private readonly entryOf: ((node: Inode) => Entry) | null,
  ) {
    this.dots = offset < 1 ? 0 : offset < 2 ? 1 : 2;
    this.cookie = Math.max(offset, 2);
  }

  [Symbol.iterator](): IterableIterator<DirEntry> {
    return this;
  }

  next(): IteratorResult<DirEntry, undefined> {
    const dir = this.dir;
    if (this.dots === 0) {
      this.dots = 1;
      return { done: false, value: { name: '.', ino: dir.ino, mode: dir.mode, offset: 1 } };
    }
    if (this.dots === 1) {
      this.dots = 2;
      return { done: false, value: { name: '..', ino: dir.parent.ino, mode: dir.parent.mode, offset: 2 } };
    }
    for (;;) {
      // The caller may act between two steps; a compaction moves entries.
      if (dir.order !== this.order) {
        this.order = dir.order;
        this.i = dir.indexAfter(this.cookie);
      }
      const order = this.order;
      if (this.i >= order.length) return LISTING_DONE;
      const d = order[this.i++]!;
      const node = d.node;
      if (node === null) continue;
      this.cookie = d.cookie;
      // readdirplus: an inode the kernel already holds goes without its entry. Relinking it
      // would only refresh what coherence keeps fresh anyway, and costs the kernel (and us)
      // several times a plain entry; should the kernel lack this name, it looks it up.
      // An entry pulled but not sent (reply full) stays marked referenced; harmless: it is
      // sent without an entry next time, and removing it needs a lookup, whose forget() clears the mark.
      if (this.entryOf !== null && !node.referenced) {
        return { done: false, value: { name: d.name, ino: node.ino, mode: node.mode, offset: d.cookie, entry: this.entryOf(node) } };
      }
      return { done: false, value: { name: d.name, ino: node.ino, mode: node.mode, offset: d.cookie } };
    }
  }
}
keepShape(new Listing(new DirInode(0, S_IFDIR, 0, 0, now(), null), 0, null));

export class Tmpfs implements FileSystem {
  /**
   * O_TRUNC comes with open, so it can be told from truncate(2), whose times
   * rule differs. Directories need no handle (readdir goes by cookie), so the
   * kernel may skip OPENDIR/RELEASEDIR, unless tmpfs checks permissions
   * itself (and `checkOpendir`): then opendir is where it refuses an
   * unreadable directory.
   */
  readonly features: FsFeatures;
  private readonly nodes = new Map<number, Inode>();
  private readonly handles = new Map<number, Handle>();
  private readonly lockManager = new LockManager();
  private nextIno = ROOT_ID + 1;
  private nextFh = 1;
  private usedBlocks = 0;
  private freeIspace: number;
  private readonly check: boolean;
  /** Size limit in pages; 0 = unlimited. */
  readonly maxBlocks: number;
  /** Inode limit; 0 = unlimited. */
  readonly maxInodes: number;
  private readonly root: DirInode;

  constructor(options: TmpfsOptions = {}) {
    const o = resolveTmpfsOptions(options);
    this.maxBlocks = o.maxBlocks;
    this.maxInodes = o.maxInodes;
    this.freeIspace = o.maxInodes * BOGO_INODE_SIZE;
    this.check = o.checkPermissions;
    // killsPrivs: write, truncate and chown below clear suid/sgid and drop
    // security.capability themselves, so the kernel need not ask before each write.
    // accountsWriteData: pages.ts reports the payloads it drops (server/memory.ts).
    this.features = {
      atomicOTrunc: true,
      noOpendir: !(o.checkPermissions && o.checkOpendir),
      flushOnlyReleasesLocks: true,
      killsPrivs: true,
      accountsWriteData: true,
    };
    // The root is charged like any inode (df -i shows it used), but never refused.
    if (this.maxInodes) this.freeIspace = Math.max(0, this.freeIspace - BOGO_INODE_SIZE);
    this.root = new DirInode(ROOT_ID, S_IFDIR | o.mode, o.uid, o.gid, now(), null);
    this.root.referenced = true;
    this.nodes.set(ROOT_ID, this.root);
  }

  /** Current usage. */
  usage(): TmpfsUsage {
    return {
      blocks: this.usedBlocks,
      inodes: this.nodes.size,
      inodeSpace: this.maxInodes ? this.maxInodes * BOGO_INODE_SIZE - this.freeIspace : 0,
      handles: this.handles.size,
    };
  }

  // ---- accounting ---------------------------------------------------------------------

  /** The size= budget, as the page code charges it. */
  private readonly acct: BlockAccount = {
    reserveBlocks: (n: number): boolean => {
      if (this.maxBlocks && this.usedBlocks + n > this.maxBlocks) return false;
      this.usedBlocks += n;
      return true;
    },
    releaseBlocks: (n: number): void => {
      this.usedBlocks -= n;
    },
  };

  private reserveIspace(bytes: number): void {
    if (!this.maxInodes) return;
    if (this.freeIspace < bytes) throw fsError('ENOSPC');
    this.freeIspace -= bytes;
  }

  private releaseIspace(bytes: number): void {
    if (this.maxInodes) this.freeIspace += bytes;
  }

  private static xattrSpace(name: string, value: Uint8Array): number {
    return XATTR_OVERHEAD + byteLength(name) + value.byteLength;
  }

  // ---- lookups and helpers ------------------------------------------------------------

  private node(ino: number): Inode {
    const n = this.nodes.get(ino);
    if (n === undefined) throw fsError('ENOENT');
    return n;
  }

  private dir(ino: number): DirInode {
    const n = this.node(ino);
    if (!(n instanceof DirInode)) throw fsError('ENOTDIR');
    return n;
  }

  private handle(fh: number, ino: number): Handle {
    const h = this.handles.get(fh);
    if (h === undefined || h.node.ino !== ino) throw fsError('EBADF');
    return h;
  }

  private regular(node: Inode): FileInode {
    if (node instanceof FileInode) return node;
    if (node instanceof DirInode) throw fsError('EISDIR');
    throw fsError('EINVAL');
  }

  private inGroup(ctx: RequestContext, gid: number): boolean {
    return ctx.gid === gid || ctx.groups().includes(gid);
  }

  /** generic_permission(): owner bits, else group bits, else other bits; root passes except x on files without any x. */
  private permits(node: Inode, ctx: RequestContext, mask: number): boolean {
    if (ctx.uid === 0) return (mask & X_OK) === 0 || node instanceof DirInode || (node.mode & 0o111) !== 0;
    let m = node.mode;
    if (ctx.uid === node.uid) m >>= 6;
    else if (this.inGroup(ctx, node.gid)) m >>= 3;
    return (m & mask) === mask;
  }

  /** EACCES unless `mask` is allowed; a no-op when permissions are not checked here. */
  private may(node: Inode, ctx: RequestContext, mask: number): void {
    if (this.check && !this.permits(node, ctx, mask)) throw fsError('EACCES');
  }

  private ownerOrRoot(node: Inode, ctx: RequestContext): boolean {
    return ctx.uid === 0 || ctx.uid === node.uid;
  }

  /** may_delete(): write+search on the directory, then the sticky bit. */
  private mayDelete(dir: DirInode, victim: Inode, ctx: RequestContext): void {
    if (!this.check) return;
    this.may(dir, ctx, W_OK | X_OK);
    if ((dir.mode & S_ISVTX) && ctx.uid !== 0 && ctx.uid !== victim.uid && ctx.uid !== dir.uid) throw fsError('EPERM');
  }

  /** may_create() for `name` in `parent`: the checks that come before any allocation. */
  private mayCreate(ctx: RequestContext, parent: number, name: string): DirInode {
    const dir = this.dir(parent);
    checkName(name);
    this.may(dir, ctx, X_OK);
    if (isDots(name) || dir.entries.has(name)) throw fsError('EEXIST');
    if (dir.nlink === 0) throw fsError('ENOENT');
    this.may(dir, ctx, W_OK | X_OK);
    return dir;
  }

  /** inode_init_owner(): the caller owns it; a setgid directory passes on its group (and, to directories, the bit). */
  private ownership(dir: DirInode, ctx: RequestContext): number {
    return dir.mode & S_ISGID ? dir.gid : ctx.gid;
  }

  /** vfs_prepare_mode() for non-directories: drop an sgid the creator may not have, then apply the umask. */
  private createMode(dir: DirInode, ctx: RequestContext, mode: number): number {
    let m = mode & 0o7777;
    if ((m & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) && (dir.mode & S_ISGID) && ctx.uid !== 0 && !this.inGroup(ctx, dir.gid)) {
      m &= ~S_ISGID;
    }
    return m & ~(ctx.umask & 0o777);
  }

  private allocIno(): number {
    return this.nextIno++;
  }

  /** Insert a new node under `name` and charge it; the inode space was reserved by the caller. */
  private attach(dir: DirInode, name: string, node: Inode): void {
    this.nodes.set(node.ino, node);
    dir.add(name, node);
    if (node instanceof DirInode) dir.nlink++;
    dir.touchModified({ sec: node.ctimeSec, nsec: node.ctimeNsec });
  }

  private openHandle(node: Inode, flags: number): number {
    const fh = this.nextFh++;
    this.handles.set(fh, { node, flags, flockOwners: null });
    node.opens++;
    return fh;
  }

  private attrOf(node: Inode): Attr {
    return {
      ino: node.ino,
      mode: node.mode,
      nlink: node.nlink,
      uid: node.uid,
      gid: node.gid,
      rdev: node.rdev,
      size: node.size,
      blocks: node.blocks,
      blksize: PAGE_SIZE,
      atime: { sec: node.atimeSec, nsec: node.atimeNsec },
      mtime: { sec: node.mtimeSec, nsec: node.mtimeNsec },
      ctime: { sec: node.ctimeSec, nsec: node.ctimeNsec },
    };
  }

  /** An Entry for the kernel: it now holds a reference until forget(). */
  private entryOf(node: Inode): Entry {
    node.referenced = true;
    return { ino: node.ino, attr: this.attrOf(node) };
  }

  /** Free an inode nobody can reach any more: no name, no kernel reference, no open handle. */
  private maybeFree(node: Inode): void {
    if (node.nlink !== 0 || node.referenced || node.opens !== 0 || node === this.root) return;
    this.nodes.delete(node.ino);
    if (node instanceof FileInode) freePages(node, this.acct);
    else if (node instanceof SymlinkInode && node.blocks) this.acct.releaseBlocks(1);
    if (node.xattrs !== null) {
      for (const [name, value] of node.xattrs) this.releaseIspace(Tmpfs.xattrSpace(name, value));
      node.xattrs = null;
    }
    this.releaseIspace(BOGO_INODE_SIZE);
    node.locks = null;
  }

  /**
   * Clear set-user-ID and (when it means something) set-group-ID as a write
   * by an unprivileged caller does: file_remove_privs() / should_remove_suid().
   */
  private killPrivs(node: Inode, ctx: RequestContext, force: boolean): boolean {
    if (!isFileType(node.mode, S_IFREG) || (!force && ctx.uid === 0)) return false;
    const kill = this.setIdToDrop(node, ctx);
    node.mode &= ~kill;
    return kill !== 0;
  }

  /**
   * The set-id bits a privilege drop clears: suid, and sgid when it is a
   * real one (group x) or the caller is neither in the file's group nor
   * capable, uid 0 standing for that (setattr_should_drop_sgid()).
   */
  private setIdToDrop(node: Inode, ctx: RequestContext): number {
    const m = node.mode;
    let kill = m & S_ISUID;
    if ((m & S_ISGID) && ((m & S_IXGRP) || (ctx.uid !== 0 && !this.inGroup(ctx, node.gid)))) kill |= S_ISGID;
    return kill;
  }

  /**
   * killPrivs for a request whose reply carries no attributes (write,
   * fallocate, copy_file_range): the kernel, which no longer clears set-id
   * bits itself (killsPrivs), is told its cached mode is stale.
   */
  private killPrivsQuietly(node: Inode, ctx: RequestContext, force: boolean): void {
    if (this.killPrivs(node, ctx, force)) ctx.attrsChanged?.(node.ino);
  }

  private isAncestorOrSelf(a: DirInode, d: DirInode): boolean {
    for (let cur = d; ; cur = cur.parent) {
      if (cur === a) return true;
      if (cur === this.root) return false;
    }
  }

  // ---- the file system as a whole -----------------------------------------------------

  /** statfs(2), as shmem_statfs: zero counts for an unlimited size or inode count. */
  statfs(_ctx: RequestContext, _ino: number): StatFs {
    const free = this.maxBlocks ? this.maxBlocks - this.usedBlocks : 0;
    return {
      bsize: PAGE_SIZE,
      frsize: PAGE_SIZE,
      blocks: this.maxBlocks,
      bfree: free,
      bavail: free,
      files: this.maxInodes,
      ffree: this.maxInodes ? Math.floor(this.freeIspace / BOGO_INODE_SIZE) : 0,
      namelen: NAME_MAX,
    };
  }

  /**
   * The session is over: its open handles, locks and kernel references are
   * gone, so unlinked inodes are freed. Named files stay, and the object can
   * be served again.
   */
  destroy(): void {
    for (const h of this.handles.values()) h.node.opens--;
    this.handles.clear();
    for (const node of [...this.nodes.values()]) {
      node.locks = null;
      if (node === this.root) continue;
      node.referenced = false;
      this.maybeFree(node);
    }
  }

  // ---- names ------------------------------------------------------------------------------

  lookup(ctx: RequestContext, parent: number, name: string): Entry | NegativeEntry {
    const dir = this.dir(parent);
    checkName(name);
    this.may(dir, ctx, X_OK);
    if (name === '.') return this.entryOf(dir);
    if (name === '..') return this.entryOf(dir.parent);
    const d = dir.entries.get(name);
    // Not thrown: every create starts with this lookup, and a throw costs a fifth of the request.
    if (d === undefined) return NO_ENTRY;
    return this.entryOf(d.node!);
  }

  forget(ino: number): void {
    const node = this.nodes.get(ino);
    if (node === undefined || node === this.root) return;
    node.referenced = false;
    this.maybeFree(node);
  }

  mknod(ctx: RequestContext, parent: number, name: string, mode: number, rdev: number): Entry {
    let type = mode & S_IFMT;
    if (type === 0) type = S_IFREG;
    if (type === S_IFDIR) throw fsError('EPERM');
    if (type !== S_IFREG && type !== S_IFCHR && type !== S_IFBLK && type !== S_IFIFO && type !== S_IFSOCK) throw fsError('EINVAL');
    const dir = this.mayCreate(ctx, parent, name);
    // CAP_MKNOD.
    if (this.check && (type === S_IFCHR || type === S_IFBLK) && ctx.uid !== 0) throw fsError('EPERM');
    this.reserveIspace(BOGO_INODE_SIZE);
    const m = type | this.createMode(dir, ctx, mode);
    const gid = this.ownership(dir, ctx);
    const t = now();
    const node = type === S_IFREG
      ? new FileInode(this.allocIno(), m, ctx.uid, gid, 1, t)
      : new SpecialInode(this.allocIno(), m, ctx.uid, gid, t, type === S_IFCHR || type === S_IFBLK ? rdev : 0);
    this.attach(dir, name, node);
    return this.entryOf(node);
  }

  mkdir(ctx: RequestContext, parent: number, name: string, mode: number): Entry {
    const dir = this.mayCreate(ctx, parent, name);
    this.reserveIspace(BOGO_INODE_SIZE);
    let m = mode & 0o1777 & ~(ctx.umask & 0o777);
    if (dir.mode & S_ISGID) m |= S_ISGID;
    const node = new DirInode(this.allocIno(), S_IFDIR | m, ctx.uid, this.ownership(dir, ctx), now(), dir);
    this.attach(dir, name, node);
    return this.entryOf(node);
  }

  symlink(ctx: RequestContext, parent: number, name: string, target: string): Entry {
    if (target.length === 0) throw fsError('ENOENT');
    const dir = this.mayCreate(ctx, parent, name);
    const len = byteLength(target);
    if (len > SYMLINK_MAX) throw fsError('ENAMETOOLONG');
    this.reserveIspace(BOGO_INODE_SIZE);
    if (len >= SHORT_SYMLINK_LEN && !this.acct.reserveBlocks(1)) {
      this.releaseIspace(BOGO_INODE_SIZE);
      throw fsError('ENOSPC');
    }
    const node = new SymlinkInode(this.allocIno(), ctx.uid, this.ownership(dir, ctx), now(), target, len);
    this.attach(dir, name, node);
    return this.entryOf(node);
  }

  link(ctx: RequestContext, ino: number, newParent: number, newName: string): Entry {
    const node = this.node(ino);
    const dir = this.mayCreate(ctx, newParent, newName);
    if (node instanceof DirInode) throw fsError('EPERM');
    const linkable = node instanceof FileInode && node.linkable;
    if (node.nlink === 0 && !linkable) throw fsError('ENOENT');
    // Each extra name pins memory, so tmpfs charges it like an inode; the first name of an O_TMPFILE is already paid for.
    if (node.nlink > 0) this.reserveIspace(BOGO_INODE_SIZE);
    else (node as FileInode).linkable = false;
    node.nlink++;
    const t = now();
    node.setCtime(t);
    dir.add(newName, node);
    dir.touchModified(t);
    return this.entryOf(node);
  }

  /** Remove a name; the inode lives on while referenced or open. */
  private unlinkEntry(dir: DirInode, d: Dirent, node: Inode, t: { sec: number; nsec: number }): void {
    dir.remove(d);
    if (node instanceof DirInode) {
      node.nlink = 0;
      dir.nlink--;
    } else {
      if (node.nlink > 1) this.releaseIspace(BOGO_INODE_SIZE);
      node.nlink--;
    }
    node.setCtime(t);
  }

  unlink(ctx: RequestContext, parent: number, name: string): void {
    const dir = this.dir(parent);
    if (isDots(name)) throw fsError('EISDIR');
    checkName(name);
    this.may(dir, ctx, X_OK);
    const d = dir.entries.get(name);
    if (d === undefined) throw fsError('ENOENT');
    const node = d.node!;
    this.mayDelete(dir, node, ctx);
    if (node instanceof DirInode) throw fsError('EISDIR');
    const t = now();
    this.unlinkEntry(dir, d, node, t);
    dir.touchModified(t);
    this.maybeFree(node);
  }

  rmdir(ctx: RequestContext, parent: number, name: string): void {
    const dir = this.dir(parent);
    if (name === '.') throw fsError('EINVAL');
    if (name === '..') throw fsError('ENOTEMPTY');
    checkName(name);
    this.may(dir, ctx, X_OK);
    const d = dir.entries.get(name);
    if (d === undefined) throw fsError('ENOENT');
    const node = d.node!;
    this.mayDelete(dir, node, ctx);
    if (!(node instanceof DirInode)) throw fsError('ENOTDIR');
    if (node.entries.size > 0) throw fsError('ENOTEMPTY');
    const t = now();
    this.unlinkEntry(dir, d, node, t);
    dir.touchModified(t);
    this.maybeFree(node);
  }

  rename(ctx: RequestContext, parent: number, name: string, newParent: number, newName: string, flags: number): void {
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) throw fsError('EINVAL');
    const exchange = (flags & RENAME_EXCHANGE) !== 0;
    if (exchange && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT))) throw fsError('EINVAL');
    if (this.check && (flags & RENAME_WHITEOUT) && ctx.uid !== 0) throw fsError('EPERM');
    const odir = this.dir(parent);
    const ndir = this.dir(newParent);
    checkName(name);
    checkName(newName);
    if (isDots(name)) throw fsError('EBUSY');
    if (isDots(newName)) throw fsError(flags & RENAME_NOREPLACE ? 'EEXIST' : 'EBUSY');
    this.may(odir, ctx, X_OK);
    this.may(ndir, ctx, X_OK);

    const od = odir.entries.get(name);
    if (od === undefined) throw fsError('ENOENT');
    const src = od.node!;
    const nd = ndir.entries.get(newName);
    const dst = nd === undefined ? null : nd.node!;
    if (dst !== null && (flags & RENAME_NOREPLACE)) throw fsError('EEXIST');
    if (dst === null && exchange) throw fsError('ENOENT');
    const srcIsDir = src instanceof DirInode;
    const dstIsDir = dst instanceof DirInode;
    if (odir !== ndir) {
      // lock_rename()'s trap: neither may be an ancestor of the other's parent.
      if (srcIsDir && this.isAncestorOrSelf(src, ndir)) throw fsError('EINVAL');
      if (dstIsDir && this.isAncestorOrSelf(dst, odir)) throw fsError(exchange ? 'EINVAL' : 'ENOTEMPTY');
    }
    if (src === dst) return;

    // may_delete() on the source, may_delete() or may_create() on the target.
    this.mayDelete(odir, src, ctx);
    if (dst === null) {
      if (ndir.nlink === 0) throw fsError('ENOENT');
      this.may(ndir, ctx, W_OK | X_OK);
    } else {
      this.mayDelete(ndir, dst, ctx);
      if (!exchange) {
        if (srcIsDir && !dstIsDir) throw fsError('ENOTDIR');
        if (!srcIsDir && dstIsDir) throw fsError('EISDIR');
      }
    }
    if (odir !== ndir) {
      // Moving a directory rewrites its "..".
      if (srcIsDir) this.may(src, ctx, W_OK);
      if (exchange && dstIsDir) this.may(dst, ctx, W_OK);
    }
    if (!exchange && dstIsDir && dst.entries.size > 0) throw fsError('ENOTEMPTY');
    const whiteout = (flags & RENAME_WHITEOUT) !== 0;
    if (whiteout) this.reserveIspace(BOGO_INODE_SIZE);

    const t = now();
    if (exchange) {
      od.node = dst;
      nd!.node = src;
      if (odir !== ndir) {
        if (srcIsDir) src.parent = ndir;
        if (dstIsDir) dst.parent = odir;
        if (srcIsDir && !dstIsDir) {
          odir.nlink--;
          ndir.nlink++;
        } else if (!srcIsDir && dstIsDir) {
          ndir.nlink--;
          odir.nlink++;
        }
      }
      dst!.setCtime(t);
    } else {
      odir.remove(od);
      if (nd !== undefined) {
        // The moved entry takes over the target's place (and readdir cookie), as simple_offset_rename().
        nd.node = src;
        if (dstIsDir) {
          dst.nlink = 0;
          ndir.nlink--;
        } else {
          if (dst!.nlink > 1) this.releaseIspace(BOGO_INODE_SIZE);
          dst!.nlink--;
        }
        dst!.setCtime(t);
      } else {
        ndir.add(newName, src);
      }
      if (srcIsDir && odir !== ndir) {
        odir.nlink--;
        ndir.nlink++;
        src.parent = ndir;
      }
      if (whiteout) {
        const w = new SpecialInode(this.allocIno(), S_IFCHR, ctx.uid, this.ownership(odir, ctx), t, 0);
        this.nodes.set(w.ino, w);
        odir.add(name, w);
      }
    }
    src.setCtime(t);
    odir.touchModified(t);
    ndir.touchModified(t);
    if (!exchange && dst !== null) this.maybeFree(dst);
  }

  // ---- attributes ---------------------------------------------------------------------------

  getattr(_ctx: RequestContext, ino: number, _fh?: number): AttrReply {
    return { attr: this.attrOf(this.node(ino)) };
  }

  setattr(ctx: RequestContext, ino: number, changes: SetattrChanges): AttrReply {
    const node = this.node(ino);
    const { mode, uid, gid, size, atime, mtime, ctime } = changes;
    const root = ctx.uid === 0;
    let file: FileInode | null = null;
    if (size !== undefined) {
      file = this.regular(node);
      if (!Number.isSafeInteger(size) || size < 0) throw fsError('EINVAL');
      if (size > MAX_FILE_SIZE) throw fsError('EFBIG');
    }
    if (this.check) {
      if (size !== undefined) {
        // Through a writable handle (ftruncate) no more is needed; otherwise truncate(2) rules. A read-only
        // handle comes with open(O_RDONLY | O_TRUNC), which the permission bits decide.
        const h = changes.fh === undefined ? undefined : this.handles.get(changes.fh);
        if (h === undefined || accessMode(h.flags) === O_RDONLY) this.may(node, ctx, W_OK);
      }
      // chown_ok() / chgrp_ok(): the owner may only give the file to a group it is in.
      if (uid !== undefined && !root && !(ctx.uid === node.uid && uid === node.uid)) throw fsError('EPERM');
      if (gid !== undefined && !root && !(ctx.uid === node.uid && (gid === node.gid || this.inGroup(ctx, gid)))) {
        throw fsError('EPERM');
      }
      if (mode !== undefined && !this.ownerOrRoot(node, ctx)) {
        // The kernel drops suid/sgid after a write or truncate by sending the reduced mode as the
        // writer (ATTR_KILL_S*ID, forced past the owner check): allow exactly that to whoever may write.
        const m = mode & 0o7777;
        const cur = node.mode & 0o7777;
        const setId = S_ISUID | S_ISGID;
        if (m === cur || (m & ~setId) !== (cur & ~setId) || (m & ~cur) !== 0) throw fsError('EPERM');
        this.may(node, ctx, W_OK);
      }
      const explicit = (atime !== undefined && atime !== 'now') || (mtime !== undefined && mtime !== 'now') || ctime !== undefined;
      if (explicit) {
        if (!this.ownerOrRoot(node, ctx)) throw fsError('EPERM');
      } else if ((atime !== undefined || mtime !== undefined) && !this.ownerOrRoot(node, ctx)) {
        this.may(node, ctx, W_OK);
      }
    }

    const t = now();
    const setId = !(node instanceof DirInode) && (node.mode & (S_ISUID | S_ISGID)) !== 0;
    // Under killsPrivs the kernel relays chown(-1, -1), and the
    // file_remove_privs() before a write, as a SETATTR that changes nothing
    // (it drops the mode change it would have made): clear set-id bits as
    // chown does, for the owner or root, and stamp ctime. On a set-id file
    // from anyone else it is a write's, whose WRITE clears them; the kernel
    // would refuse their chown (EPERM), which this cannot tell from the write's.
    // Neither mode, owner nor times: what both no-op cases below start from.
    const noOther = mode === undefined && uid === undefined && gid === undefined &&
      atime === undefined && mtime === undefined && ctime === undefined;
    const nothing = noOther && size === undefined && !changes.killSuidgid;
    if (nothing && setId && !this.ownerOrRoot(node, ctx)) return { attr: this.attrOf(node) };
    // truncate(2) to the current size changes nothing, times included, as
    // shmem_setattr does (a kill of set-id bits that are not there is
    // nothing too); ftruncate (which comes with the handle) stamps them.
    const sizeNoop = noOther && file !== null && size === file.size && changes.fh === undefined && (!changes.killSuidgid || !setId);
    if (file !== null) {
      truncatePages(file, size!, this.acct);
      if (!sizeNoop) file.touchModified(t);
      this.killPrivs(file, ctx, false);
    }
    if (uid !== undefined || gid !== undefined || nothing) {
      // chown drops set-id bits of anything but a directory, whoever calls.
      if (!(node instanceof DirInode)) node.mode &= ~this.setIdToDrop(node, ctx);
      if (uid !== undefined) node.uid = uid;
      if (gid !== undefined) node.gid = gid;
    }
    if (mode !== undefined) {
      let m = mode & 0o7777;
      if (!root && !this.inGroup(ctx, node.gid)) m &= ~S_ISGID;
      node.mode = (node.mode & S_IFMT) | m;
    }
    if (changes.killSuidgid) this.killPrivs(node, ctx, true);
    if (atime !== undefined) node.setAtime(atime === 'now' ? t : atime);
    if (mtime !== undefined) node.setMtime(mtime === 'now' ? t : mtime);
    if (!sizeNoop) node.setCtime(ctime ?? t);
    return { attr: this.attrOf(node) };
  }

  readlink(_ctx: RequestContext, ino: number): string {
    const node = this.node(ino);
    if (!(node instanceof SymlinkInode)) throw fsError('EINVAL');
    node.setAtime(now());
    return node.target;
  }

  /** access(2): always answers from the mode bits (the question is asked only when the kernel does not check). */
  access(ctx: RequestContext, ino: number, mask: number): void {
    const node = this.node(ino);
    if ((mask & 7) !== 0 && !this.permits(node, ctx, mask & 7)) throw fsError('EACCES');
  }

  // ---- extended attributes ----------------------------------------------------------------

  /**
   * xattr_permission() plus the handler lookup: is the namespace known, and
   * may this caller read (write=false) or write the attribute. Throws the
   * kernel's errno otherwise (ENODATA where a read must see nothing).
   */
  private xattrAccess(ctx: RequestContext, node: Inode, name: string, write: boolean): void {
    if (name.length === 0 || byteLength(name) > XATTR_NAME_MAX) throw fsError('ERANGE');
    let suffix: string;
    if (name.startsWith('user.')) {
      suffix = name.slice(5);
      const t = node.mode & S_IFMT;
      if (t !== S_IFREG && t !== S_IFDIR) throw fsError(write ? 'EPERM' : 'ENODATA');
      if (this.check) {
        if (write && t === S_IFDIR && (node.mode & S_ISVTX) && !this.ownerOrRoot(node, ctx)) throw fsError('EPERM');
        this.may(node, ctx, write ? W_OK : R_OK);
      }
    } else if (name.startsWith('trusted.')) {
      suffix = name.slice(8);
      if (this.check && ctx.uid !== 0) throw fsError(write ? 'EPERM' : 'ENODATA');
    } else if (name.startsWith('security.')) {
      suffix = name.slice(9);
      // The capability LSM reserves writing security.* (but security.capability) to CAP_SYS_ADMIN.
      if (this.check && write && ctx.uid !== 0 && name !== 'security.capability') throw fsError('EPERM');
    } else {
      if (this.check && write) this.may(node, ctx, W_OK);
      throw fsError('EOPNOTSUPP');
    }
    if (suffix.length === 0) throw fsError('EINVAL');
  }

  setxattr(ctx: RequestContext, ino: number, name: string, value: Uint8Array, flags: number): void {
    const node = this.node(ino);
    if (name.length === 0 || byteLength(name) > XATTR_NAME_MAX) throw fsError('ERANGE');
    if (value.byteLength > XATTR_SIZE_MAX) throw fsError('E2BIG');
    if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) throw fsError('EINVAL');
    this.xattrAccess(ctx, node, name, true);
    const old = node.xattrs?.get(name);
    const need = Tmpfs.xattrSpace(name, value);
    // As shmem_xattr_handler_set(): charge the new value first, then apply the flags, then refund the old one.
    this.reserveIspace(need);
    if ((flags & XATTR_CREATE) && old !== undefined) {
      this.releaseIspace(need);
      throw fsError('EEXIST');
    }
    if ((flags & XATTR_REPLACE) && old === undefined) {
      this.releaseIspace(need);
      throw fsError('ENODATA');
    }
    if (old !== undefined) this.releaseIspace(Tmpfs.xattrSpace(name, old));
    (node.xattrs ??= new Map()).set(name, copyBytes(value));
    node.setCtime(now());
  }

  getxattr(ctx: RequestContext, ino: number, name: string): Uint8Array {
    const node = this.node(ino);
    this.xattrAccess(ctx, node, name, false);
    const v = node.xattrs?.get(name);
    if (v === undefined) throw fsError('ENODATA');
    return copyBytes(v);
  }

  /** Names in the kernel's order (descending byte order, as its rbtree walk gives); trusted.* only for root. */
  listxattr(ctx: RequestContext, ino: number): string[] {
    const node = this.node(ino);
    if (node.xattrs === null) return [];
    const names: string[] = [];
    for (const name of node.xattrs.keys()) {
      if (ctx.uid !== 0 && name.startsWith('trusted.')) continue;
      names.push(name);
    }
    return names.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  }

  removexattr(ctx: RequestContext, ino: number, name: string): void {
    const node = this.node(ino);
    this.xattrAccess(ctx, node, name, true);
    if (!this.dropXattr(node, name)) throw fsError('ENODATA');
    node.setCtime(now());
  }

  /** Remove xattr `name` if present (no checks, no times); whether it was there. */
  private dropXattr(node: Inode, name: string): boolean {
    const v = node.xattrs?.get(name);
    if (v === undefined) return false;
    node.xattrs!.delete(name);
    if (node.xattrs!.size === 0) node.xattrs = null;
    this.releaseIspace(Tmpfs.xattrSpace(name, v));
    return true;
  }

  // ---- files ------------------------------------------------------------------------------

  /** may_open(): the access mode (and O_TRUNC) against the mode bits. */
  private mayOpen(ctx: RequestContext, node: Inode, flags: number): void {
    const acc = accessMode(flags);
    if (node instanceof DirInode && (acc !== O_RDONLY || (flags & O_TRUNC))) throw fsError('EISDIR');
    if (node instanceof SymlinkInode) throw fsError('ELOOP');
    if (!this.check) return;
    let mask = acc === O_RDONLY ? R_OK : acc === O_WRONLY ? W_OK : R_OK | W_OK;
    if (flags & O_TRUNC) mask |= W_OK;
    this.may(node, ctx, mask);
  }

  open(ctx: RequestContext, ino: number, flags: number): OpenReply {
    const node = this.node(ino);
    this.mayOpen(ctx, node, flags);
    if (flags & O_TRUNC && node instanceof FileInode) this.openTruncate(node, ctx);
    return this.fileOpen(node, flags);
  }

  create(ctx: RequestContext, parent: number, name: string, mode: number, flags: number): CreateReply {
    const dir = this.dir(parent);
    checkName(name);
    this.may(dir, ctx, X_OK);
    const existing = dir.entries.get(name);
    if (existing !== undefined && !(flags & O_EXCL)) {
      // The kernel's view was stale: O_CREAT without O_EXCL opens what is there, O_TRUNC included.
      const node = existing.node!;
      if (node instanceof DirInode) throw fsError('EISDIR');
      this.mayOpen(ctx, node, flags);
      if ((flags & O_TRUNC) && node instanceof FileInode) this.openTruncate(node, ctx);
      return { entry: this.entryOf(node), open: this.fileOpen(node, flags) };
    }
    const entry = this.mknod(ctx, parent, name, S_IFREG | (mode & 0o7777), 0);
    const node = this.nodes.get(entry.ino)!;
    return { entry, open: this.fileOpen(node, flags) };
  }

  private fileOpen(node: Inode, flags: number): OpenReply {
    // Data changes only through puffs sessions, which keep every kernel's page
    // cache coherent (writes through it, invalidations for others): keep it.
    // A write-only open (which cannot be mmapped) writes around the page cache:
    // the kernel then neither copies the data into cache pages first nor asks
    // for security.capability before each write, and it drops cached pages of
    // the range it writes.
    return { fh: this.openHandle(node, flags), keepCache: true, directIo: accessMode(flags) === O_WRONLY };
  }

  /** O_TRUNC: empty the file and stamp mtime and ctime even if it was empty (do_truncate with ATTR_OPEN). */
  private openTruncate(node: FileInode, ctx: RequestContext): void {
    truncatePages(node, 0, this.acct);
    node.touchModified(now());
    this.killPrivs(node, ctx, false);
  }

  tmpfile(ctx: RequestContext, parent: number, mode: number, flags: number): CreateReply {
    const dir = this.dir(parent);
    if (dir.nlink === 0) throw fsError('ENOENT');
    this.may(dir, ctx, W_OK | X_OK);
    this.reserveIspace(BOGO_INODE_SIZE);
    const node = new FileInode(this.allocIno(), S_IFREG | this.createMode(dir, ctx, mode), ctx.uid, this.ownership(dir, ctx), 0, now());
    node.linkable = (flags & O_EXCL) === 0;
    this.nodes.set(node.ino, node);
    const entry = this.entryOf(node);
    return { entry, open: { fh: this.openHandle(node, flags) } };
  }

  read(ctx: RequestContext, ino: number, fh: number, offset: number, size: number): Uint8Array[] {
    const h = this.handle(fh, ino);
    const node = this.regular(h.node);
    // With a writeback cache the kernel reads through write-only handles, so this is a permission check.
    if (this.check && accessMode(h.flags) === O_WRONLY) throw fsError('EBADF');
    if (offset < 0 || !Number.isSafeInteger(offset)) throw fsError('EINVAL');
    const data = readPages(node, offset, size);
    if (size > 0) node.setAtime(now());
    return data;
  }

  /**
   * pwrite at `offset` (the kernel, or the client, resolves O_APPEND). Writes
   * what fits: at the size limit the count is short, and ENOSPC only if
   * nothing fits. A page-aligned `data` of whole pages (up to 1 MiB) that
   * spans its whole ArrayBuffer is adopted (its pages become the file's)
   * instead of copied; the buffer then lives as long as any of those pages.
   */
  write(ctx: RequestContext, ino: number, fh: number, offset: number, data: Uint8Array, flags: number): number {
    if (!isUncounted(data)) return this.writeData(ctx, ino, fh, offset, data, flags);
    // An uncounted payload not kept as a chunk (copied, or refused) is let go here.
    let kept = false;
    try {
      const n = this.writeData(ctx, ino, fh, offset, data, flags);
      kept = keptAsChunk(this.nodes.get(ino) as FileInode, offset, data);
      return n;
    } finally {
      if (!kept) releasedUncounted(data.byteLength);
    }
  }

  private writeData(ctx: RequestContext, ino: number, fh: number, offset: number, data: Uint8Array, flags: number): number {
    const h = this.handle(fh, ino);
    const node = this.regular(h.node);
    if (accessMode(h.flags) === O_RDONLY) throw fsError('EBADF');
    if (offset < 0 || !Number.isSafeInteger(offset)) throw fsError('EINVAL');
    if (data.byteLength === 0) return 0;
    if (offset >= MAX_FILE_SIZE) throw fsError('EFBIG');
    let buf = data;
    if (offset + buf.byteLength > MAX_FILE_SIZE) buf = buf.subarray(0, MAX_FILE_SIZE - offset);
    // The kernel says when the writer lacks CAP_FSETID (killsPrivs agreed);
    // otherwise uid 0 stands for it.
    this.killPrivsQuietly(node, ctx, (flags & WRITE_KILL_PRIVS) !== 0);
    // Writing drops file capabilities, as the kernel's file_remove_privs does
    // (a write-only open writes around the kernel's cache and that check).
    if (node.xattrs !== null) this.dropXattr(node, 'security.capability');
    // A page-aligned write of whole pages, from a buffer it spans or from an
    // uncounted payload's room of its own (slab.ts PayloadSlab): keep its
    // pages instead of copying (ops.ts: the payload is the file system's own copy).
    const adopt = offset % PAGE_SIZE === 0 && buf.byteLength % PAGE_SIZE === 0 && buf.byteLength <= ADOPT_MAX_PAGES * PAGE_SIZE &&
      ((buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) || isUncounted(buf));
    const written = writePages(node, offset, buf, this.acct, adopt);
    if (written === 0) throw fsError('ENOSPC');
    if (offset + written > node.size) node.size = offset + written;
    node.touchModified(now());
    return written;
  }

  flush(_ctx: RequestContext, ino: number, _fh: number, lockOwner: bigint): void {
    const node = this.nodes.get(ino);
    if (node?.locks) this.lockManager.releasePosix(node.locks, lockOwner);
  }

  release(_ctx: RequestContext, ino: number, fh: number, _flags: number): void {
    const h = this.handles.get(fh);
    if (h === undefined || h.node.ino !== ino) return;
    this.handles.delete(fh);
    const node = h.node;
    if (h.flockOwners !== null && node.locks !== null) {
      for (const owner of h.flockOwners) this.lockManager.releaseFlock(node.locks, owner);
    }
    node.opens--;
    this.maybeFree(node);
  }

  fsync(_ctx: RequestContext, ino: number, _fh: number, _datasync: boolean): void {
    this.node(ino);
  }

  fallocate(ctx: RequestContext, ino: number, fh: number, offset: number, length: number, mode: number): void {
    if (offset < 0 || length <= 0) throw fsError('EINVAL');
    if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) throw fsError('EOPNOTSUPP');
    if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE)) throw fsError('EOPNOTSUPP');
    const h = this.handle(fh, ino);
    if (accessMode(h.flags) === O_RDONLY) throw fsError('EBADF');
    const n = h.node;
    if (isFileType(n.mode, S_IFIFO)) throw fsError('ESPIPE');
    if (n instanceof DirInode) throw fsError('EISDIR');
    if (!(n instanceof FileInode)) throw fsError('ENODEV');
    const end = offset + length;
    if (end > MAX_FILE_SIZE) throw fsError('EFBIG');
    if (mode & FALLOC_FL_PUNCH_HOLE) {
      punchPages(n, offset, end, this.acct);
    } else {
      if (!allocatePages(n, offset, end, this.acct)) throw fsError('ENOSPC');
      if (!(mode & FALLOC_FL_KEEP_SIZE) && end > n.size) n.size = end;
    }
    // file_modified(): times and privileges, only once it worked.
    this.killPrivsQuietly(n, ctx, false);
    n.touchModified(now());
  }

  lseek(_ctx: RequestContext, ino: number, fh: number, offset: number, whence: number): number {
    const node = this.handle(fh, ino).node;
    if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw fsError('EINVAL');
    if (!(node instanceof FileInode)) throw fsError('EINVAL');
    if (offset < 0) throw fsError('ENXIO');
    const r = whence === SEEK_DATA ? seekData(node, offset) : seekHole(node, offset);
    if (r < 0) throw fsError('ENXIO');
    return r;
  }

  /** copy_file_range(2) with the kernel's checks: holes are copied as allocated zeros (the kernel's tmpfs does the same); short on ENOSPC, as write. */
  copyFileRange(
    ctx: RequestContext,
    inIno: number,
    inFh: number,
    inOffset: number,
    outIno: number,
    outFh: number,
    outOffset: number,
    length: number,
    flags: number,
  ): number {
    if (flags !== 0) throw fsError('EINVAL');
    const hin = this.handle(inFh, inIno);
    const hout = this.handle(outFh, outIno);
    const src = hin.node;
    const dst = hout.node;
    if (src instanceof DirInode || dst instanceof DirInode) throw fsError('EISDIR');
    if (!(src instanceof FileInode) || !(dst instanceof FileInode)) throw fsError('EINVAL');
    if (accessMode(hin.flags) === O_WRONLY || accessMode(hout.flags) === O_RDONLY || (hout.flags & O_APPEND)) {
      throw fsError('EBADF');
    }
    if (inOffset < 0 || outOffset < 0 || length < 0) throw fsError('EINVAL');
    let count = inOffset >= src.size ? 0 : Math.min(length, src.size - inOffset);
    if (count > 0 && outOffset + count > MAX_FILE_SIZE) {
      if (outOffset >= MAX_FILE_SIZE) throw fsError('EFBIG');
      count = MAX_FILE_SIZE - outOffset;
    }
    if (src === dst && outOffset + count > inOffset && outOffset < inOffset + count) throw fsError('EINVAL');
    if (count === 0) return 0;

    this.killPrivsQuietly(dst, ctx, false);
    let done = 0;
    while (done < count) {
      const pos = inOffset + done;
      const idx = Math.floor(pos / PAGE_SIZE);
      const inPage = pos - idx * PAGE_SIZE;
      // Holes are copied as zeros, allocated, as the kernel's generic copy does on tmpfs.
      const page = dataPage(src, idx) ?? ZERO_PAGE;
      const n = Math.min(PAGE_SIZE - inPage, count - done);
      const w = writePages(dst, outOffset + done, page.subarray(inPage, inPage + n), this.acct, false);
      done += w;
      if (w < n) break;
    }
    if (done === 0) throw fsError('ENOSPC');
    if (outOffset + done > dst.size) dst.size = outOffset + done;
    const t = now();
    src.setAtime(t);
    dst.touchModified(t);
    return done;
  }

  // ---- locks ------------------------------------------------------------------------------

  getlk(_ctx: RequestContext, ino: number, _fh: number, req: LockRequest): FileLock {
    const node = this.node(ino);
    if (req.lock.type !== F_RDLCK && req.lock.type !== F_WRLCK) throw fsError('EINVAL');
    return this.lockManager.getlk(node.locks, req.owner, req.lock, req.flock);
  }

  setlk(ctx: RequestContext, ino: number, fh: number, req: LockRequest, wait: boolean): Promise<void> | void {
    const node = this.node(ino);
    const h = this.handles.get(fh);
    if (h !== undefined && h.node === node) {
      if (!req.flock) {
        // fcntl() wants a read lock on a readable and a write lock on a writable descriptor.
        const acc = accessMode(h.flags);
        if ((req.lock.type === F_RDLCK && acc === O_WRONLY) || (req.lock.type === F_WRLCK && acc === O_RDONLY)) {
          throw fsError('EBADF');
        }
      } else if (req.lock.type !== F_UNLCK && !(h.flockOwners ??= []).includes(req.owner)) {
        h.flockOwners.push(req.owner);
      }
    }
    const table = (node.locks ??= new LockTable());
    return this.lockManager.setlk(table, req.owner, req.lock, req.flock, wait, ctx.signal);
  }

  // ---- directories ------------------------------------------------------------------------

  opendir(ctx: RequestContext, ino: number, flags: number): OpenReply {
    const dir = this.dir(ino);
    this.may(dir, ctx, R_OK);
    // The kernel may cache listings; it drops them when the directory changes.
    return { fh: this.openHandle(dir, flags), keepCache: true, cacheDir: true };
  }

  /**
   * "." (cookie 1), ".." (2), then the entries in creation order, each with
   * its own cookie. Resumes after `offset` by binary search and yields
   * lazily, so listing a huge directory in pieces costs linear time in total.
   */
  readdir(_ctx: RequestContext, ino: number, _fh: number, offset: number, plus: boolean): Iterable<DirEntry> {
    const dir = this.dir(ino);
    // getdents on a removed directory fails (IS_DEADDIR).
    if (dir.nlink === 0) throw fsError('ENOENT');
    dir.setAtime(now());
    return new Listing(dir, offset, plus ? (node) => this.entryOf(node) : null);
  }

  releasedir(ctx: RequestContext, ino: number, fh: number): void {
    this.release(ctx, ino, fh, 0);
  }

  fsyncdir(_ctx: RequestContext, ino: number, _fh: number, _datasync: boolean): void {
    this.node(ino);
  }
}

