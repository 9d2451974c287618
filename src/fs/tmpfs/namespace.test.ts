import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, ROOT_ID, type Entry } from '../../server/types.js';
import { Tmpfs } from './index.js';
import { O_EXCL, O_RDWR, bytes, ctx, text , readBytes } from './test-context.js';

const c = ctx();

function attr(fs: Tmpfs, ino: number) {
  return fs.getattr(c, ino).attr;
}

function names(fs: Tmpfs, dir: number): string[] {
  return [...fs.readdir(c, dir, 0, 0, false)].map((e) => e.name);
}

describe('tmpfs directories and names', () => {
  it('counts directory links and resolves . and ..', () => {
    const fs = new Tmpfs({ mode: 0o755 });
    assert.equal(attr(fs, ROOT_ID).nlink, 2);
    assert.equal(attr(fs, ROOT_ID).mode, 0o40755);
    const a = fs.mkdir(c, ROOT_ID, 'a', 0o755).ino;
    assert.equal(attr(fs, ROOT_ID).nlink, 3);
    assert.equal(attr(fs, a).nlink, 2);
    const b = fs.mkdir(c, a, 'b', 0o755).ino;
    fs.mknod(c, a, 'file', 0o100644, 0);
    assert.equal(attr(fs, a).nlink, 3, 'files do not add links');
    assert.equal(fs.lookup(c, b, '..').ino, a);
    assert.equal(fs.lookup(c, b, '.').ino, b);
    assert.equal(fs.lookup(c, ROOT_ID, '..').ino, ROOT_ID);
    const dots = [...fs.readdir(c, b, 0, 0, false)].slice(0, 2);
    assert.deepEqual(dots.map((e) => [e.name, e.ino, e.offset]), [['.', b, 1], ['..', a, 2]]);
    fs.rmdir(c, a, 'b');
    assert.equal(attr(fs, a).nlink, 2);
    assert.equal(attr(fs, b).nlink, 0);
  });

  it('reports directory sizes as the kernel (20 bytes per entry, 40 empty)', () => {
    const fs = new Tmpfs();
    const a = fs.mkdir(c, ROOT_ID, 'a', 0o755).ino;
    assert.equal(attr(fs, a).size, 40);
    assert.equal(attr(fs, a).blocks, 0);
    fs.mknod(c, a, 'x', 0o100644, 0);
    assert.equal(attr(fs, a).size, 60);
    fs.symlink(c, a, 'l', 'abcdef');
    fs.mkdir(c, a, 'd', 0o755);
    assert.equal(attr(fs, a).size, 100);
    fs.unlink(c, a, 'x');
    assert.equal(attr(fs, a).size, 80);
  });

  it('symlinks: size is the target length, long targets take a page, mode is 0777', () => {
    const fs = new Tmpfs();
    const u = ctx({ umask: 0o077 });
    const s = fs.symlink(u, ROOT_ID, 's', 'abcdef');
    assert.equal(s.attr.mode, 0o120777);
    assert.equal(s.attr.size, 6);
    assert.equal(s.attr.blocks, 0);
    assert.equal(fs.readlink(c, s.ino), 'abcdef');
    assert.equal(fs.symlink(c, ROOT_ID, 'u', 'é').attr.size, 2);
    assert.equal(fs.symlink(c, ROOT_ID, 's127', 'x'.repeat(127)).attr.blocks, 0);
    assert.equal(fs.symlink(c, ROOT_ID, 's128', 'x'.repeat(128)).attr.blocks, 8);
    assert.equal(fs.usage().blocks, 1);
    fs.symlink(c, ROOT_ID, 's4095', 'y'.repeat(4095));
    assert.throws(() => fs.symlink(c, ROOT_ID, 's4096', 'y'.repeat(4096)), { code: 'ENAMETOOLONG' });
    assert.throws(() => fs.symlink(c, ROOT_ID, 'empty', ''), { code: 'ENOENT' });
    assert.throws(() => fs.readlink(c, ROOT_ID), { code: 'EINVAL' });
  });

  it('creates FIFOs, sockets and device nodes', () => {
    const fs = new Tmpfs();
    const fifo = fs.mknod(c, ROOT_ID, 'fifo', 0o010644, 0);
    const sock = fs.mknod(c, ROOT_ID, 'sock', 0o140755, 0);
    const chr = fs.mknod(c, ROOT_ID, 'null', 0o020666, (1 << 8) | 3);
    const blk = fs.mknod(c, ROOT_ID, 'blk', 0o060600, (8 << 8) | 1);
    const reg = fs.mknod(c, ROOT_ID, 'reg', 0o644, 0);
    assert.equal(fifo.attr.mode, 0o010644);
    assert.equal(fifo.attr.rdev, 0);
    assert.equal(sock.attr.mode, 0o140755);
    assert.equal(chr.attr.rdev, (1 << 8) | 3);
    assert.equal(blk.attr.mode, 0o060600);
    assert.equal(reg.attr.mode, 0o100644, 'type 0 is a regular file');
    assert.throws(() => fs.mknod(c, ROOT_ID, 'd', 0o040755, 0), { code: 'EPERM' });
    assert.throws(() => fs.mknod(c, ROOT_ID, 'bad', 0o170755, 0), { code: 'EINVAL' });
  });

  it('refuses bad names and operations as Linux', () => {
    const fs = new Tmpfs();
    const d = fs.mkdir(c, ROOT_ID, 'd', 0o755).ino;
    fs.mknod(c, d, 'x', 0o100644, 0);
    const f = fs.mknod(c, ROOT_ID, 'f', 0o100644, 0).ino;
    fs.mknod(c, ROOT_ID, 'n'.repeat(255), 0o100644, 0);
    assert.throws(() => fs.mknod(c, ROOT_ID, 'n'.repeat(256), 0o100644, 0), { code: 'ENAMETOOLONG' });
    assert.throws(() => fs.mknod(c, ROOT_ID, 'é'.repeat(128), 0o100644, 0), { code: 'ENAMETOOLONG' });
    assert.throws(() => fs.lookup(c, ROOT_ID, 'n'.repeat(256)), { code: 'ENAMETOOLONG' });
    assert.deepEqual(fs.lookup(c, ROOT_ID, 'missing'), { ino: 0 }, 'a missing name: a negative entry, not a throw');
    assert.throws(() => fs.lookup(c, f, 'x'), { code: 'ENOTDIR' });
    assert.throws(() => fs.mkdir(c, ROOT_ID, 'd', 0o755), { code: 'EEXIST' });
    assert.throws(() => fs.mkdir(c, d, '.', 0o755), { code: 'EEXIST' });
    assert.throws(() => fs.unlink(c, ROOT_ID, 'd'), { code: 'EISDIR' });
    assert.throws(() => fs.rmdir(c, ROOT_ID, 'f'), { code: 'ENOTDIR' });
    assert.throws(() => fs.rmdir(c, ROOT_ID, 'd'), { code: 'ENOTEMPTY' });
    assert.throws(() => fs.rmdir(c, d, '.'), { code: 'EINVAL' });
    assert.throws(() => fs.rmdir(c, d, '..'), { code: 'ENOTEMPTY' });
    assert.throws(() => fs.link(c, d, ROOT_ID, 'd2'), { code: 'EPERM' });
    assert.throws(() => fs.unlink(c, ROOT_ID, 'missing'), { code: 'ENOENT' });
    // A removed directory takes no new entries and lists nothing.
    const e = fs.mkdir(c, ROOT_ID, 'e', 0o755).ino;
    fs.rmdir(c, ROOT_ID, 'e');
    assert.throws(() => fs.mknod(c, e, 'x', 0o100644, 0), { code: 'ENOENT' });
    assert.throws(() => fs.readdir(c, e, 0, 0, false), { code: 'ENOENT' });
  });

  it('hard links share the inode and count links', () => {
    const fs = new Tmpfs();
    const { entry, open } = fs.create(c, ROOT_ID, 'a', 0o644, O_RDWR);
    fs.write(c, entry.ino, open.fh!, 0, bytes('shared'), 0);
    const l = fs.link(c, entry.ino, ROOT_ID, 'b');
    assert.equal(l.ino, entry.ino);
    assert.equal(l.attr.nlink, 2);
    fs.unlink(c, ROOT_ID, 'a');
    assert.equal(attr(fs, entry.ino).nlink, 1);
    assert.equal(fs.lookup(c, ROOT_ID, 'b').ino, entry.ino);
    assert.equal(text(readBytes(fs, c, entry.ino, open.fh!, 0, 10)), 'shared');
  });
});

describe('tmpfs inode lifetime', () => {
  it('an unlinked open file stays readable until both release and forget', () => {
    const fs = new Tmpfs();
    const { entry, open } = fs.create(c, ROOT_ID, 'f', 0o644, O_RDWR);
    const ino = entry.ino;
    const fh = open.fh!;
    fs.write(c, ino, fh, 0, bytes('still here'), 0);
    const inodes = fs.usage().inodes;
    fs.unlink(c, ROOT_ID, 'f');
    assert.equal(fs.lookup(c, ROOT_ID, 'f').ino, 0);
    assert.equal(attr(fs, ino).nlink, 0);
    assert.equal(text(readBytes(fs, c, ino, fh, 0, 100)), 'still here');
    fs.write(c, ino, fh, 10, bytes('!'), 0);
    fs.release(c, ino, fh, 0);
    // The kernel still references it: attributes remain.
    assert.equal(attr(fs, ino).size, 11);
    assert.equal(fs.usage().blocks, 1);
    fs.forget(ino);
    assert.throws(() => fs.getattr(c, ino), { code: 'ENOENT' });
    assert.equal(fs.usage().blocks, 0);
    assert.equal(fs.usage().inodes, inodes - 1);
  });

  it('forget before release: freed on release', () => {
    const fs = new Tmpfs();
    const { entry, open } = fs.create(c, ROOT_ID, 'f', 0o644, O_RDWR);
    fs.write(c, entry.ino, open.fh!, 0, bytes('x'), 0);
    fs.forget(entry.ino);
    // Still linked: forget alone frees nothing.
    assert.equal(attr(fs, entry.ino).nlink, 1);
    fs.unlink(c, ROOT_ID, 'f');
    assert.equal(text(readBytes(fs, c, entry.ino, open.fh!, 0, 1)), 'x');
    fs.release(c, entry.ino, open.fh!, 0);
    assert.throws(() => fs.getattr(c, entry.ino), { code: 'ENOENT' });
    assert.equal(fs.usage().blocks, 0);
  });

  it('destroy (end of session) drops handles and references, frees unlinked inodes, keeps named ones', () => {
    const fs = new Tmpfs();
    const kept = fs.create(c, ROOT_ID, 'kept', 0o644, O_RDWR);
    fs.write(c, kept.entry.ino, kept.open.fh!, 0, bytes('kept'), 0);
    const gone = fs.create(c, ROOT_ID, 'gone', 0o644, O_RDWR);
    fs.write(c, gone.entry.ino, gone.open.fh!, 0, bytes('gone'), 0);
    fs.unlink(c, ROOT_ID, 'gone');
    fs.destroy();
    assert.throws(() => fs.getattr(c, gone.entry.ino), { code: 'ENOENT' });
    assert.throws(() => readBytes(fs, c, kept.entry.ino, kept.open.fh!, 0, 4), { code: 'EBADF' });
    assert.deepEqual(fs.usage(), { blocks: 1, inodes: 2, inodeSpace: 2048, handles: 0 });
    const fh = fs.open(c, kept.entry.ino, O_RDWR).fh!;
    assert.equal(text(readBytes(fs, c, kept.entry.ino, fh, 0, 10)), 'kept');
  });

  it('O_TMPFILE: nlink 0 until linked; O_EXCL makes it unlinkable', () => {
    const fs = new Tmpfs();
    const d = fs.mkdir(c, ROOT_ID, 'd', 0o755).ino;
    const dirSize = attr(fs, d).size;
    const t = fs.tmpfile(c, d, 0o600, O_RDWR);
    assert.equal(t.entry.attr.nlink, 0);
    assert.equal(t.entry.attr.mode, 0o100600);
    assert.equal(attr(fs, d).size, dirSize, 'no name yet');
    fs.write(c, t.entry.ino, t.open.fh!, 0, bytes('tmp data'), 0);
    const l = fs.link(c, t.entry.ino, d, 'named');
    assert.equal(l.attr.nlink, 1);
    assert.equal(fs.lookup(c, d, 'named').ino, t.entry.ino);
    assert.equal(names(fs, d).includes('named'), true);

    const x = fs.tmpfile(c, d, 0o600, O_RDWR | O_EXCL);
    assert.throws(() => fs.link(c, x.entry.ino, d, 'nope'), { code: 'ENOENT' });
    // An ordinary file whose last name went cannot come back either.
    const f = fs.mknod(c, d, 'gone', 0o100644, 0).ino;
    fs.unlink(c, d, 'gone');
    assert.throws(() => fs.link(c, f, d, 'back'), { code: 'ENOENT' });
    // An unlinked tmpfile disappears with its last reference.
    const before = fs.usage().inodes;
    fs.release(c, x.entry.ino, x.open.fh!, 0);
    fs.forget(x.entry.ino);
    assert.equal(fs.usage().inodes, before - 1);
  });
});

describe('tmpfs rename', () => {
  function setup() {
    const fs = new Tmpfs();
    const a = fs.mkdir(c, ROOT_ID, 'a', 0o755).ino;
    const b = fs.mkdir(c, a, 'b', 0o755).ino;
    const cc = fs.mkdir(c, b, 'c', 0o755).ino;
    const f = fs.mknod(c, ROOT_ID, 'f', 0o100644, 0).ino;
    fs.link(c, f, ROOT_ID, 'g');
    const e = fs.mkdir(c, ROOT_ID, 'e', 0o755).ino;
    fs.mknod(c, e, 'x', 0o100644, 0);
    const empty = fs.mkdir(c, ROOT_ID, 'empty', 0o755).ino;
    return { fs, a, b, cc, f, e, empty };
  }

  it('fails as Linux does', () => {
    const { fs, a, b, cc } = setup();
    const r = (p: number, n: string, q: number, m: string, fl = 0): void => fs.rename(c, p, n, q, m, fl);
    assert.throws(() => r(ROOT_ID, 'a', cc, 'd'), { code: 'EINVAL' }, 'into own subtree');
    assert.throws(() => r(ROOT_ID, 'a', a, 'd'), { code: 'EINVAL' }, 'into itself');
    assert.throws(() => r(b, 'c', ROOT_ID, 'a'), { code: 'ENOTEMPTY' }, 'onto an ancestor');
    assert.throws(() => r(ROOT_ID, 'a', a, 'b', RENAME_EXCHANGE), { code: 'EINVAL' }, 'exchange with own child');
    assert.throws(() => r(ROOT_ID, 'f', ROOT_ID, 'e'), { code: 'EISDIR' });
    assert.throws(() => r(ROOT_ID, 'e', ROOT_ID, 'f'), { code: 'ENOTDIR' });
    assert.throws(() => r(ROOT_ID, 'a', ROOT_ID, 'e'), { code: 'ENOTEMPTY' });
    assert.throws(() => r(ROOT_ID, 'f', ROOT_ID, 'g', RENAME_NOREPLACE), { code: 'EEXIST' });
    assert.throws(() => r(ROOT_ID, 'f', ROOT_ID, 'zz', RENAME_EXCHANGE), { code: 'ENOENT' });
    assert.throws(() => r(ROOT_ID, 'zz', ROOT_ID, 'f'), { code: 'ENOENT' });
    assert.throws(() => r(ROOT_ID, 'f', ROOT_ID, 'g', 8), { code: 'EINVAL' });
    assert.throws(() => r(ROOT_ID, 'f', ROOT_ID, 'g', RENAME_EXCHANGE | RENAME_NOREPLACE), { code: 'EINVAL' });
    assert.throws(() => r(a, '.', ROOT_ID, 'q'), { code: 'EBUSY' });
    assert.throws(() => r(ROOT_ID, 'f', a, '..'), { code: 'EBUSY' });
    assert.throws(() => r(ROOT_ID, 'f', ROOT_ID, 'x'.repeat(256)), { code: 'ENAMETOOLONG' });
  });

  it('renaming a hard link onto its sibling is a no-op', () => {
    const { fs, f } = setup();
    fs.rename(c, ROOT_ID, 'f', ROOT_ID, 'g', 0);
    assert.equal(fs.lookup(c, ROOT_ID, 'f').ino, f);
    assert.equal(fs.lookup(c, ROOT_ID, 'g').ino, f);
    assert.equal(attr(fs, f).nlink, 2);
  });

  it('moves files and directories, fixing .., nlink and sizes', () => {
    const { fs, a, b, e, empty } = setup();
    const rootLinks = attr(fs, ROOT_ID).nlink;
    fs.rename(c, a, 'b', ROOT_ID, 'b2', 0);
    assert.equal(fs.lookup(c, b, '..').ino, ROOT_ID);
    assert.equal(attr(fs, a).nlink, 2);
    assert.equal(attr(fs, ROOT_ID).nlink, rootLinks + 1);
    assert.equal(attr(fs, a).size, 40);
    // A directory over an empty directory: the target goes away.
    const inodes = fs.usage().inodes;
    fs.forget(empty);
    fs.rename(c, ROOT_ID, 'b2', ROOT_ID, 'empty', 0);
    assert.equal(fs.lookup(c, ROOT_ID, 'empty').ino, b);
    assert.equal(attr(fs, ROOT_ID).nlink, rootLinks);
    assert.equal(fs.usage().inodes, inodes - 1);
    assert.throws(() => fs.getattr(c, empty), { code: 'ENOENT' });
    // A file over a file: the target loses a link.
    const t = fs.mknod(c, e, 'y', 0o100644, 0).ino;
    fs.link(c, t, ROOT_ID, 'y2');
    fs.rename(c, e, 'x', e, 'y', 0);
    assert.equal(attr(fs, t).nlink, 1);
    assert.deepEqual(names(fs, e), ['.', '..', 'y']);
  });

  it('RENAME_EXCHANGE swaps a file and a directory across parents', () => {
    const { fs, a, b, f } = setup();
    const rootLinks = attr(fs, ROOT_ID).nlink;
    fs.rename(c, ROOT_ID, 'f', a, 'b', RENAME_EXCHANGE);
    assert.equal(fs.lookup(c, ROOT_ID, 'f').ino, b);
    assert.equal(fs.lookup(c, a, 'b').ino, f);
    assert.equal(fs.lookup(c, b, '..').ino, ROOT_ID);
    assert.equal(attr(fs, ROOT_ID).nlink, rootLinks + 1);
    assert.equal(attr(fs, a).nlink, 2);
    assert.equal(attr(fs, b).nlink, 3);
    // Names keep their readdir positions.
    assert.deepEqual(names(fs, a), ['.', '..', 'b']);
    // Exchanging two directories.
    const d1 = fs.mkdir(c, a, 'd1', 0o755).ino;
    fs.rename(c, a, 'd1', ROOT_ID, 'f', RENAME_EXCHANGE);
    assert.equal(fs.lookup(c, d1, '..').ino, ROOT_ID);
    assert.equal(fs.lookup(c, b, '..').ino, a);
    assert.equal(attr(fs, a).nlink, 3);
  });

  it('RENAME_WHITEOUT leaves a 0:0 character device', () => {
    const { fs, f } = setup();
    fs.rename(c, ROOT_ID, 'f', ROOT_ID, 'moved', RENAME_WHITEOUT);
    assert.equal(fs.lookup(c, ROOT_ID, 'moved').ino, f);
    const w = (fs.lookup(c, ROOT_ID, 'f') as Entry).attr;
    assert.equal(w.mode, 0o020000);
    assert.equal(w.rdev, 0);
  });
});
