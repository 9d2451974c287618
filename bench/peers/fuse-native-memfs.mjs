#!/usr/bin/env node
/**
 * The Node peer of the benchmark: a memory file system served by fuse-native
 * (libfuse 2's high-level, path-based API), written the way a user of that
 * library would write one. Loaded from bench/.peers, never a dependency of
 * puffs.
 *
 *   node bench/peers/fuse-native-memfs.mjs <dir> [nocache]
 *
 * `nocache` sets entry_timeout=0 and attr_timeout=0 (libfuse 2's
 * negative_timeout is already 0); without it fuse-native's defaults apply
 * (libfuse's: 1 s entry and attr timeouts). SIGINT/SIGTERM unmount and exit.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', '.peers', 'package.json'));
const Fuse = require('fuse-native');

const [mnt, mode] = process.argv.slice(2);
if (!mnt) {
  process.stderr.write('usage: fuse-native-memfs.mjs <dir> [nocache]\n');
  process.exit(2);
}

const CHUNK = 64 * 1024;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const uid = process.getuid();
const gid = process.getgid();

class Node {
  constructor(mode) {
    const now = new Date();
    this.mode = mode;
    this.uid = uid;
    this.gid = gid;
    this.nlink = (mode & S_IFDIR) === S_IFDIR ? 2 : 1;
    this.size = 0;
    this.atime = now;
    this.mtime = now;
    this.ctime = now;
    /** Directories: name -> Node. */
    this.children = (mode & S_IFDIR) === S_IFDIR ? new Map() : null;
    /** Files: CHUNK-byte Buffers, undefined where never written. */
    this.chunks = (mode & S_IFDIR) === S_IFDIR ? null : [];
  }
  stat() {
    return {
      mode: this.mode,
      uid: this.uid,
      gid: this.gid,
      size: this.children ? 4096 : this.size,
      nlink: this.nlink,
      atime: this.atime,
      mtime: this.mtime,
      ctime: this.ctime,
      blksize: 4096,
      blocks: Math.ceil(this.size / 512),
    };
  }
  truncate(size) {
    if (size < this.size) {
      const keep = Math.ceil(size / CHUNK);
      this.chunks.length = Math.min(this.chunks.length, keep);
      const tail = size % CHUNK;
      const last = this.chunks[keep - 1];
      if (tail && last) last.fill(0, tail);
    }
    this.size = size;
    this.mtime = this.ctime = new Date();
  }
  read(buf, len, pos) {
    if (pos >= this.size) return 0;
    const end = Math.min(this.size, pos + len);
    let done = 0;
    while (pos + done < end) {
      const at = pos + done;
      const ci = Math.floor(at / CHUNK);
      const off = at % CHUNK;
      const n = Math.min(CHUNK - off, end - at);
      const chunk = this.chunks[ci];
      if (chunk) chunk.copy(buf, done, off, off + n);
      else buf.fill(0, done, done + n);
      done += n;
    }
    return done;
  }
  write(buf, len, pos) {
    let done = 0;
    while (done < len) {
      const at = pos + done;
      const ci = Math.floor(at / CHUNK);
      const off = at % CHUNK;
      const n = Math.min(CHUNK - off, len - done);
      let chunk = this.chunks[ci];
      if (!chunk) chunk = this.chunks[ci] = Buffer.alloc(CHUNK);
      buf.copy(chunk, off, done, done + n);
      done += n;
    }
    if (pos + len > this.size) this.size = pos + len;
    this.mtime = this.ctime = new Date();
    return len;
  }
}

const root = new Node(S_IFDIR | 0o755);
const handles = new Map();
let nextFd = 1;

function lookup(path) {
  if (path === '/') return root;
  let node = root;
  for (const part of path.split('/')) {
    if (!part) continue;
    if (!node.children) return undefined;
    node = node.children.get(part);
    if (!node) return undefined;
  }
  return node;
}

function parentOf(path) {
  const i = path.lastIndexOf('/');
  return { parent: lookup(path.slice(0, i) || '/'), name: path.slice(i + 1) };
}

function open(node) {
  const fd = nextFd++;
  handles.set(fd, node);
  return fd;
}

function create(path, mode) {
  const { parent, name } = parentOf(path);
  if (!parent) return [Fuse.ENOENT];
  if (!parent.children) return [Fuse.ENOTDIR];
  if (parent.children.has(name)) return [Fuse.EEXIST];
  const node = new Node(mode);
  parent.children.set(name, node);
  if (node.children) parent.nlink++;
  parent.mtime = parent.ctime = new Date();
  return [0, node];
}

function remove(path, dir) {
  const { parent, name } = parentOf(path);
  const node = parent?.children?.get(name);
  if (!node) return Fuse.ENOENT;
  if (dir && !node.children) return Fuse.ENOTDIR;
  if (!dir && node.children) return Fuse.EISDIR;
  if (dir && node.children.size) return Fuse.ENOTEMPTY;
  parent.children.delete(name);
  if (dir) parent.nlink--;
  node.nlink--;
  parent.mtime = parent.ctime = new Date();
  return 0;
}

const ops = {
  init: (cb) => cb(0),
  statfs: (path, cb) =>
    cb(0, { bsize: 4096, frsize: 4096, blocks: 1 << 22, bfree: 1 << 22, bavail: 1 << 22, files: 1 << 20, ffree: 1 << 20, favail: 1 << 20, fsid: 0, flag: 0, namemax: 255 }),
  getattr(path, cb) {
    const node = lookup(path);
    if (!node) return cb(Fuse.ENOENT);
    cb(0, node.stat());
  },
  access: (path, mode, cb) => cb(lookup(path) ? 0 : Fuse.ENOENT),
  readdir(path, cb) {
    const node = lookup(path);
    if (!node) return cb(Fuse.ENOENT);
    if (!node.children) return cb(Fuse.ENOTDIR);
    const names = ['.', '..'];
    const stats = [node.stat(), node.stat()];
    for (const [name, child] of node.children) {
      names.push(name);
      stats.push(child.stat());
    }
    cb(0, names, stats);
  },
  open(path, flags, cb) {
    const node = lookup(path);
    if (!node) return cb(Fuse.ENOENT);
    if (flags & 0o1000 && node.chunks) node.truncate(0); // O_TRUNC
    cb(0, open(node));
  },
  create(path, mode, cb) {
    const [err, node] = create(path, mode);
    if (err) return cb(err);
    cb(0, open(node));
  },
  release(path, fd, cb) {
    handles.delete(fd);
    cb(0);
  },
  read(path, fd, buf, len, pos, cb) {
    const node = handles.get(fd) ?? lookup(path);
    if (!node) return cb(Fuse.EBADF);
    cb(node.read(buf, len, pos));
  },
  write(path, fd, buf, len, pos, cb) {
    const node = handles.get(fd) ?? lookup(path);
    if (!node) return cb(Fuse.EBADF);
    cb(node.write(buf, len, pos));
  },
  truncate(path, size, cb) {
    const node = lookup(path);
    if (!node) return cb(Fuse.ENOENT);
    if (!node.chunks) return cb(Fuse.EISDIR);
    node.truncate(size);
    cb(0);
  },
  ftruncate(path, fd, size, cb) {
    const node = handles.get(fd) ?? lookup(path);
    if (!node) return cb(Fuse.EBADF);
    node.truncate(size);
    cb(0);
  },
  utimens(path, atime, mtime, cb) {
    const node = lookup(path);
    if (!node) return cb(Fuse.ENOENT);
    node.atime = new Date(atime);
    node.mtime = new Date(mtime);
    node.ctime = new Date();
    cb(0);
  },
  chmod(path, mode, cb) {
    const node = lookup(path);
    if (!node) return cb(Fuse.ENOENT);
    node.mode = (node.mode & 0o170000) | (mode & 0o7777);
    node.ctime = new Date();
    cb(0);
  },
  chown(path, u, g, cb) {
    const node = lookup(path);
    if (!node) return cb(Fuse.ENOENT);
    if (u !== 0xffffffff) node.uid = u;
    if (g !== 0xffffffff) node.gid = g;
    node.ctime = new Date();
    cb(0);
  },
  mkdir(path, mode, cb) {
    cb(create(path, S_IFDIR | (mode & 0o7777))[0]);
  },
  unlink: (path, cb) => cb(remove(path, false)),
  rmdir: (path, cb) => cb(remove(path, true)),
  rename(src, dest, cb) {
    const from = parentOf(src);
    const node = from.parent?.children?.get(from.name);
    if (!node) return cb(Fuse.ENOENT);
    const to = parentOf(dest);
    if (!to.parent?.children) return cb(Fuse.ENOENT);
    const old = to.parent.children.get(to.name);
    if (old?.children && old.children.size) return cb(Fuse.ENOTEMPTY);
    from.parent.children.delete(from.name);
    to.parent.children.set(to.name, node);
    if (node.children && from.parent !== to.parent) {
      from.parent.nlink--;
      to.parent.nlink++;
    }
    cb(0);
  },
  flush: (path, fd, cb) => cb(0),
  fsync: (path, datasync, fd, cb) => cb(0),
};

// fuse-native drops options whose value is falsy, so a zero timeout goes in as the string '0'.
const options = mode === 'nocache' ? { entryTimeout: '0', attrTimeout: '0' } : {};
const fuse = new Fuse(mnt, ops, { ...options, fsname: 'fuse-native-memfs', subtype: 'fnmemfs' });

fuse.mount((err) => {
  if (err) {
    process.stderr.write(`fuse-native-memfs: mount failed: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`fuse-native-memfs: mounted on ${fuse.mnt}\n`);
});

let closing = false;
function stop() {
  if (closing) return;
  closing = true;
  fuse.unmount((err) => {
    if (err) process.stderr.write(`fuse-native-memfs: unmount failed: ${err.message}\n`);
    process.exit(err ? 1 : 0);
  });
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.on('SIGHUP', stop);
