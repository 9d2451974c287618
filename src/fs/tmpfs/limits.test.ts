import assert from 'node:assert/strict';
import { totalmem } from 'node:os';
import { describe, it } from 'node:test';
import { FALLOC_FL_KEEP_SIZE, ROOT_ID } from '../../server/types.js';
import { Tmpfs, parseTmpfsOptions } from './index.js';
import { O_RDWR, bytes, ctx, ns, text , readBytes } from './test-context.js';

const c = ctx();
const MiB = 1024 * 1024;

function newFile(fs: Tmpfs, name: string): { ino: number; fh: number } {
  const r = fs.create(c, ROOT_ID, name, 0o644, O_RDWR);
  return { ino: r.entry.ino, fh: r.open.fh! };
}

describe('tmpfs size limit', () => {
  it('writes what fits, then ENOSPC, and never damages stored data', () => {
    // Observed on Linux with size=1m: a 2 MiB write at offset 100 returns 1048476.
    const fs = new Tmpfs({ size: MiB });
    const f = newFile(fs, 'f');
    const big = new Uint8Array(2 * MiB).fill(0x61);
    assert.equal(fs.write(c, f.ino, f.fh, 100, big, 0), MiB - 100);
    assert.equal(fs.getattr(c, f.ino).attr.size, MiB);
    assert.equal(fs.getattr(c, f.ino).attr.blocks, 2048);
    assert.throws(() => fs.write(c, f.ino, f.fh, MiB, bytes('more'), 0), { code: 'ENOSPC' });
    assert.equal(fs.getattr(c, f.ino).attr.size, MiB, 'size unchanged by the failed write');
    // Rewriting allocated pages still works when full.
    assert.equal(fs.write(c, f.ino, f.fh, 0, bytes('head'), 0), 4);
    const r = readBytes(fs, c, f.ino, f.fh, 0, MiB);
    assert.equal(text(r.subarray(0, 4)), 'head');
    assert.ok(r.subarray(4, 100).every((b) => b === 0));
    assert.ok(r.subarray(100).every((b) => b === 0x61));
    // Other files cannot grow; long symlinks need a page too.
    const g = newFile(fs, 'g');
    assert.throws(() => fs.write(c, g.ino, g.fh, 0, bytes('x'), 0), { code: 'ENOSPC' });
    assert.throws(() => fs.symlink(c, ROOT_ID, 'long', 'x'.repeat(200)), { code: 'ENOSPC' });
    fs.symlink(c, ROOT_ID, 'short', 'x'.repeat(100));
    const st = fs.statfs(c, ROOT_ID);
    assert.equal(st.blocks, 256);
    assert.equal(st.bfree, 0);
    assert.equal(st.bavail, 0);
    // Freeing space makes room again.
    fs.setattr(c, f.ino, { size: 4096 });
    assert.equal(fs.statfs(c, ROOT_ID).bfree, 255);
    assert.equal(fs.write(c, g.ino, g.fh, 0, bytes('x'), 0), 1);
  });

  it('fallocate beyond the limit fails with nothing changed', async () => {
    const fs = new Tmpfs({ size: MiB });
    const f = newFile(fs, 'f');
    fs.write(c, f.ino, f.fh, 0, new Uint8Array(1000 * 1024).fill(1), 0);
    const g = newFile(fs, 'g');
    const before = fs.getattr(c, g.ino).attr;
    await new Promise((r) => setTimeout(r, 2));
    assert.throws(() => fs.fallocate(c, g.ino, g.fh, 0, 100 * 1024, 0), { code: 'ENOSPC' });
    assert.throws(() => fs.fallocate(c, g.ino, g.fh, 0, 2 * MiB, FALLOC_FL_KEEP_SIZE), { code: 'ENOSPC' });
    const after = fs.getattr(c, g.ino).attr;
    assert.equal(after.size, 0);
    assert.equal(after.blocks, 0);
    assert.equal(ns(after.mtime), ns(before.mtime));
    assert.equal(fs.statfs(c, ROOT_ID).bfree, 6);
    fs.fallocate(c, g.ino, g.fh, 0, 6 * 4096, 0);
    assert.equal(fs.statfs(c, ROOT_ID).bfree, 0);
  });

  it('size=0 and nr_inodes=0 are unlimited and statfs shows zeros, as Linux', () => {
    const fs = new Tmpfs({ size: 0, nrInodes: 0 });
    const st = fs.statfs(c, ROOT_ID);
    assert.deepEqual(st, { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, namelen: 255 });
    const f = newFile(fs, 'f');
    assert.equal(fs.write(c, f.ino, f.fh, 0, new Uint8Array(4 * MiB), 0), 4 * MiB);
  });

  it('defaults to half of RAM for both limits, like the kernel', () => {
    const fs = new Tmpfs();
    const half = Math.floor(Math.floor(totalmem() / 4096) / 2);
    const st = fs.statfs(c, ROOT_ID);
    assert.equal(st.blocks, half);
    assert.equal(st.files, half);
    assert.equal(st.ffree, half - 1);
  });

  it('statfs follows the options (size rounds up to pages)', () => {
    const fs = new Tmpfs(parseTmpfsOptions('size=5000,nr_inodes=1k'));
    const st = fs.statfs(c, ROOT_ID);
    assert.equal(st.blocks, 2);
    assert.equal(st.files, 1024);
    assert.equal(st.ffree, 1023);
    assert.equal(st.namelen, 255);
  });
});

describe('tmpfs inode limit', () => {
  it('refuses new inodes (and hard links) beyond nr_inodes', () => {
    // Observed on Linux with nr_inodes=100: the root counts, so 99 more; each extra hard link costs one.
    const fs = new Tmpfs({ nrInodes: 100 });
    const f = fs.mknod(c, ROOT_ID, 'f', 0o100644, 0).ino;
    fs.link(c, f, ROOT_ID, 'f2');
    assert.equal(fs.statfs(c, ROOT_ID).ffree, 97);
    fs.unlink(c, ROOT_ID, 'f2');
    assert.equal(fs.statfs(c, ROOT_ID).ffree, 98);
    const inos: number[] = [];
    for (let i = 0; i < 98; i++) inos.push(fs.mknod(c, ROOT_ID, `n${i}`, 0o100644, 0).ino);
    assert.equal(fs.statfs(c, ROOT_ID).ffree, 0);
    assert.throws(() => fs.mknod(c, ROOT_ID, 'x', 0o100644, 0), { code: 'ENOSPC' });
    assert.throws(() => fs.mkdir(c, ROOT_ID, 'x', 0o755), { code: 'ENOSPC' });
    assert.throws(() => fs.symlink(c, ROOT_ID, 'x', 't'), { code: 'ENOSPC' });
    assert.throws(() => fs.create(c, ROOT_ID, 'x', 0o644, O_RDWR), { code: 'ENOSPC' });
    assert.throws(() => fs.tmpfile(c, ROOT_ID, 0o644, O_RDWR), { code: 'ENOSPC' });
    assert.throws(() => fs.link(c, f, ROOT_ID, 'f3'), { code: 'ENOSPC' });
    assert.equal(fs.lookup(c, ROOT_ID, 'x').ino, 0, 'nothing half-created');
    // An unlinked inode is only given back once forgotten.
    fs.unlink(c, ROOT_ID, 'n0');
    assert.throws(() => fs.mknod(c, ROOT_ID, 'x', 0o100644, 0), { code: 'ENOSPC' });
    fs.forget(inos[0]!);
    fs.mknod(c, ROOT_ID, 'x', 0o100644, 0);
  });
});
