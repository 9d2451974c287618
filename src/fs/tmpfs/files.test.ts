import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, ROOT_ID } from '../../server/types.js';
import { Tmpfs } from './index.js';
import { O_APPEND, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, bytes, ctx, ns, text, tick , readBytes } from './test-context.js';

const c = ctx();
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

function newFile(fs: Tmpfs, name = 'f', flags = O_RDWR): { ino: number; fh: number } {
  const r = fs.create(c, ROOT_ID, name, 0o644, flags);
  return { ino: r.entry.ino, fh: r.open.fh! };
}

describe('tmpfs regular files', () => {
  it('writes, reads, and reports size and blocks', () => {
    const fs = new Tmpfs();
    const { ino, fh } = newFile(fs);
    assert.equal(fs.write(c, ino, fh, 0, bytes('hello world'), 0), 11);
    assert.equal(text(readBytes(fs, c, ino, fh, 0, 100)), 'hello world');
    assert.equal(text(readBytes(fs, c, ino, fh, 6, 3)), 'wor');
    assert.equal(readBytes(fs, c, ino, fh, 11, 10).length, 0);
    assert.equal(readBytes(fs, c, ino, fh, 1000, 10).length, 0);
    const a = fs.getattr(c, ino).attr;
    assert.equal(a.size, 11);
    assert.equal(a.blocks, 8);
    assert.equal(a.blksize, 4096);
    assert.equal(a.mode, 0o100644);
    assert.equal(a.nlink, 1);
  });

  it('writes across page boundaries and overwrites in place', () => {
    const fs = new Tmpfs();
    const { ino, fh } = newFile(fs);
    const big = new Uint8Array(10000).map((_, i) => i % 251);
    assert.equal(fs.write(c, ino, fh, 4000, big.slice(), 0), 10000);
    assert.deepEqual(readBytes(fs, c, ino, fh, 4000, 10000), big);
    fs.write(c, ino, fh, 4090, bytes('XYZXYZXYZXYZ'), 0);
    const back = readBytes(fs, c, ino, fh, 4090, 12);
    assert.equal(text(back), 'XYZXYZXYZXYZ');
    // Pages 0..3 are allocated (4000..13999).
    assert.equal(fs.getattr(c, ino).attr.blocks, 4 * 8);
  });

  it('holes read as zeros and cost nothing', () => {
    const fs = new Tmpfs();
    const { ino, fh } = newFile(fs);
    fs.write(c, ino, fh, 100_000, bytes('end'), 0);
    const a = fs.getattr(c, ino).attr;
    assert.equal(a.size, 100_003);
    assert.equal(a.blocks, 8);
    const r = readBytes(fs, c, ino, fh, 0, 100_003);
    assert.equal(r.length, 100_003);
    assert.ok(r.subarray(0, 100_000).every((b) => b === 0));
    assert.equal(text(r.subarray(100_000)), 'end');
  });

  it('truncate shrinks, zeroes the old tail, and grows with zeros', () => {
    const fs = new Tmpfs();
    const { ino, fh } = newFile(fs);
    fs.write(c, ino, fh, 0, bytes('abcdefgh'), 0);
    fs.write(c, ino, fh, 5000, bytes('page two'), 0);
    assert.equal(fs.getattr(c, ino).attr.blocks, 16);
    fs.setattr(c, ino, { size: 2 });
    assert.equal(fs.getattr(c, ino).attr.blocks, 8);
    fs.setattr(c, ino, { size: 8 });
    assert.deepEqual([...readBytes(fs, c, ino, fh, 0, 100)], [97, 98, 0, 0, 0, 0, 0, 0]);
    fs.setattr(c, ino, { size: 0 });
    assert.equal(fs.getattr(c, ino).attr.blocks, 0);
    assert.equal(fs.usage().blocks, 0);
    assert.throws(() => fs.setattr(c, ino, { size: -1 }), { code: 'EINVAL' });
    assert.throws(() => fs.setattr(c, ROOT_ID, { size: 0 }), { code: 'EISDIR' });
  });

  it('a sparse 4 GiB file with a few pages uses almost no memory', () => {
    const fs = new Tmpfs({ size: 0 });
    const { ino, fh } = newFile(fs);
    const before = process.memoryUsage();
    const G4 = 4 * 1024 ** 3;
    fs.write(c, ino, fh, G4 - 1, bytes('!'), 0);
    fs.write(c, ino, fh, 0, bytes('start'), 0);
    fs.write(c, ino, fh, 2 * 1024 ** 3, bytes('middle'), 0);
    const after = process.memoryUsage();
    const a = fs.getattr(c, ino).attr;
    assert.equal(a.size, G4);
    assert.equal(a.blocks, 3 * 8);
    assert.equal(fs.usage().blocks, 3);
    const grown = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers);
    assert.ok(grown < 1024 * 1024, `grew ${grown} bytes`);
    assert.equal(text(readBytes(fs, c, ino, fh, 2 * 1024 ** 3, 6)), 'middle');
    assert.ok(readBytes(fs, c, ino, fh, 3 * 1024 ** 3, 65536).every((b) => b === 0));
    assert.equal(fs.lseek(c, ino, fh, 10, SEEK_HOLE), 4096);
    assert.equal(fs.lseek(c, ino, fh, 4096, SEEK_DATA), 2 * 1024 ** 3);
    assert.equal(fs.lseek(c, ino, fh, 2 * 1024 ** 3 + 4096, SEEK_DATA), G4 - 4096);
  });

  it('adopts whole aligned buffers and keeps them consistent', () => {
    const fs = new Tmpfs();
    const { ino, fh } = newFile(fs);
    const data = new Uint8Array(8192).fill(7);
    fs.write(c, ino, fh, 0, data, 0);
    assert.ok(readBytes(fs, c, ino, fh, 0, 8192).every((b) => b === 7));
    fs.setattr(c, ino, { size: 100 });
    fs.setattr(c, ino, { size: 8192 });
    const r = readBytes(fs, c, ino, fh, 0, 8192);
    assert.ok(r.subarray(0, 100).every((b) => b === 7));
    assert.ok(r.subarray(100).every((b) => b === 0));
  });

  it('SEEK_DATA and SEEK_HOLE answer exactly as Linux tmpfs', () => {
    // Every expected value was observed on Linux 6.18 tmpfs with the same sequence.
    const fs = new Tmpfs();
    const { ino, fh } = newFile(fs);
    fs.fallocate(c, ino, fh, 0, 8192, 0);
    assert.equal(fs.getattr(c, ino).attr.size, 8192);
    assert.equal(fs.getattr(c, ino).attr.blocks, 16);
    // Fallocated but unwritten pages are holes.
    assert.throws(() => fs.lseek(c, ino, fh, 0, SEEK_DATA), { code: 'ENXIO' });
    assert.equal(fs.lseek(c, ino, fh, 0, SEEK_HOLE), 0);
    fs.write(c, ino, fh, 5000, bytes('x'), 0);
    assert.equal(fs.lseek(c, ino, fh, 0, SEEK_DATA), 4096);
    assert.equal(fs.lseek(c, ino, fh, 0, SEEK_HOLE), 0);
    assert.equal(fs.lseek(c, ino, fh, 4096, SEEK_HOLE), 8192);
    assert.equal(fs.lseek(c, ino, fh, 8191, SEEK_DATA), 8191);
    assert.throws(() => fs.lseek(c, ino, fh, 8192, SEEK_DATA), { code: 'ENXIO' });
    fs.setattr(c, ino, { size: 100_000 });
    fs.write(c, ino, fh, 50_000, bytes('y'), 0);
    assert.equal(fs.lseek(c, ino, fh, 8192, SEEK_DATA), 49152);
    assert.equal(fs.lseek(c, ino, fh, 50_000, SEEK_HOLE), 53248);
    assert.equal(fs.lseek(c, ino, fh, 53248, SEEK_HOLE), 53248);
    assert.throws(() => fs.lseek(c, ino, fh, 53248, SEEK_DATA), { code: 'ENXIO' });
    assert.equal(fs.lseek(c, ino, fh, 99_999, SEEK_HOLE), 99_999);
    assert.throws(() => fs.lseek(c, ino, fh, 100_000, SEEK_HOLE), { code: 'ENXIO' });
    assert.throws(() => fs.lseek(c, ino, fh, -1, SEEK_DATA), { code: 'ENXIO' });
    assert.throws(() => fs.lseek(c, ino, fh, 0, 0), { code: 'EINVAL' });
    // A data page at the end: the hole is EOF.
    fs.write(c, ino, fh, 99_000, bytes('z'), 0);
    assert.equal(fs.lseek(c, ino, fh, 98_500, SEEK_HOLE), 100_000);
    assert.equal(fs.lseek(c, ino, fh, 53248, SEEK_DATA), 98304);
  });

  it('fallocate supports the modes Linux tmpfs supports and no others', () => {
    const fs = new Tmpfs();
    const { ino, fh } = newFile(fs);
    fs.write(c, ino, fh, 0, new Uint8Array(3 * 4096).fill(1), 0);
    const op = (mode: number, off = 0, len = 4096): void => fs.fallocate(c, ino, fh, off, len, mode);
    assert.throws(() => op(FALLOC_FL_ZERO_RANGE), { code: 'EOPNOTSUPP' });
    assert.throws(() => op(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE), { code: 'EOPNOTSUPP' });
    assert.throws(() => op(FALLOC_FL_PUNCH_HOLE), { code: 'EOPNOTSUPP' });
    assert.throws(() => op(0x08), { code: 'EOPNOTSUPP' }); // COLLAPSE_RANGE
    assert.throws(() => op(0x20), { code: 'EOPNOTSUPP' }); // INSERT_RANGE
    assert.throws(() => op(0, 0, 0), { code: 'EINVAL' });
    assert.throws(() => op(0, -1, 10), { code: 'EINVAL' });

    // KEEP_SIZE past EOF: blocks, not size.
    op(FALLOC_FL_KEEP_SIZE, 49 * 4096, 8192);
    let a = fs.getattr(c, ino).attr;
    assert.equal(a.size, 3 * 4096);
    assert.equal(a.blocks, (3 + 2) * 8);
    // Unaligned: 200000..208191 touches pages 48, 49 (already there) and 50.
    op(FALLOC_FL_KEEP_SIZE, 200_000, 8192);
    assert.equal(fs.getattr(c, ino).attr.blocks, (3 + 3) * 8);
    // Mode 0 grows the size; the new range reads as zeros.
    op(0, 3 * 4096, 10_000);
    a = fs.getattr(c, ino).attr;
    assert.equal(a.size, 3 * 4096 + 10_000);
    assert.ok(readBytes(fs, c, ino, fh, 3 * 4096, 10_000).every((b) => b === 0));
    // Truncating down drops the pages beyond EOF too.
    fs.setattr(c, ino, { size: 3 * 4096 });
    assert.equal(fs.getattr(c, ino).attr.blocks, 3 * 8);

    // Punch: whole pages freed, partial ones zeroed, size kept.
    op(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 4096 + 4096 - 100 + 50);
    a = fs.getattr(c, ino).attr;
    assert.equal(a.size, 3 * 4096);
    assert.equal(a.blocks, 2 * 8);
    const r = readBytes(fs, c, ino, fh, 0, 3 * 4096);
    assert.ok(r.subarray(0, 100).every((b) => b === 1));
    assert.ok(r.subarray(100, 8192 + 50).every((b) => b === 0));
    assert.ok(r.subarray(8192 + 50).every((b) => b === 1));
    assert.equal(fs.lseek(c, ino, fh, 4096, SEEK_DATA), 8192);

    const ro = fs.open(c, ino, O_RDONLY).fh!;
    assert.throws(() => fs.fallocate(c, ino, ro, 0, 10, 0), { code: 'EBADF' });
    const d = fs.opendir(c, ROOT_ID, 0).fh!;
    assert.throws(() => fs.fallocate(c, ROOT_ID, d, 0, 10, 0), { code: 'EBADF' });
  });

  it('copy_file_range copies data, holes as allocated zeros, and checks as the kernel', () => {
    const fs = new Tmpfs();
    const src = newFile(fs, 'src');
    const dst = newFile(fs, 'dst');
    fs.write(c, src.ino, src.fh, 0, bytes('A'.repeat(5000)), 0);
    fs.write(c, src.ino, src.fh, 5 * 4096, bytes('tail'), 0);
    // Destination has old data where the source has a hole: it must become zeros.
    fs.write(c, dst.ino, dst.fh, 0, new Uint8Array(6 * 4096).fill(9), 0);
    const n = fs.copyFileRange(c, src.ino, src.fh, 0, dst.ino, dst.fh, 0, 1 << 30, 0);
    assert.equal(n, 5 * 4096 + 4);
    const out = readBytes(fs, c, dst.ino, dst.fh, 0, 6 * 4096);
    assert.equal(text(out.subarray(0, 5000)), 'A'.repeat(5000));
    assert.ok(out.subarray(5000, 5 * 4096).every((b) => b === 0));
    assert.equal(text(out.subarray(5 * 4096, 5 * 4096 + 4)), 'tail');
    assert.ok(out.subarray(5 * 4096 + 4).every((b) => b === 9));
    // Holes of the source are copied as zeros and stay allocated, as the kernel's tmpfs does.
    assert.equal(fs.getattr(c, dst.ino).attr.blocks, 6 * 8);
    assert.equal(fs.lseek(c, dst.ino, dst.fh, 5000, SEEK_DATA), 5000);
    assert.equal(fs.lseek(c, dst.ino, dst.fh, 5000, SEEK_HOLE), 6 * 4096, "no hole before the end");

    // Past EOF: nothing; a copy that extends the destination grows it.
    assert.equal(fs.copyFileRange(c, src.ino, src.fh, 1 << 20, dst.ino, dst.fh, 0, 10, 0), 0);
    assert.equal(fs.copyFileRange(c, src.ino, src.fh, 0, dst.ino, dst.fh, 100_000, 10, 0), 10);
    assert.equal(fs.getattr(c, dst.ino).attr.size, 100_010);

    assert.throws(() => fs.copyFileRange(c, src.ino, src.fh, 0, dst.ino, dst.fh, 0, 10, 1), { code: 'EINVAL' });
    // Overlap within one file.
    assert.throws(() => fs.copyFileRange(c, src.ino, src.fh, 0, src.ino, src.fh, 100, 200, 0), { code: 'EINVAL' });
    assert.equal(fs.copyFileRange(c, src.ino, src.fh, 0, src.ino, src.fh, 10_000, 100, 0), 100);
    const wo = fs.open(c, src.ino, O_WRONLY).fh!;
    const ro = fs.open(c, dst.ino, O_RDONLY).fh!;
    const ap = fs.open(c, dst.ino, O_WRONLY | O_APPEND).fh!;
    assert.throws(() => fs.copyFileRange(c, src.ino, wo, 0, dst.ino, dst.fh, 0, 10, 0), { code: 'EBADF' });
    assert.throws(() => fs.copyFileRange(c, src.ino, src.fh, 0, dst.ino, ro, 0, 10, 0), { code: 'EBADF' });
    assert.throws(() => fs.copyFileRange(c, src.ino, src.fh, 0, dst.ino, ap, 0, 10, 0), { code: 'EBADF' });
    assert.throws(() => fs.copyFileRange(c, src.ino, 9999, 0, dst.ino, dst.fh, 0, 10, 0), { code: 'EBADF' });
    const d = fs.opendir(c, ROOT_ID, 0).fh!;
    assert.throws(() => fs.copyFileRange(c, ROOT_ID, d, 0, dst.ino, dst.fh, 0, 10, 0), { code: 'EISDIR' });
  });

  it('checks handles: EBADF for writes through read-only handles and unknown handles', () => {
    const fs = new Tmpfs();
    const { ino } = newFile(fs);
    const ro = fs.open(c, ino, O_RDONLY).fh!;
    assert.throws(() => fs.write(c, ino, ro, 0, bytes('x'), 0), { code: 'EBADF' });
    assert.throws(() => readBytes(fs, c, ino, 12345, 0, 1), { code: 'EBADF' });
    const d = fs.opendir(c, ROOT_ID, 0).fh!;
    assert.throws(() => readBytes(fs, c, ROOT_ID, d, 0, 1), { code: 'EISDIR' });
    assert.throws(() => fs.open(c, ROOT_ID, O_WRONLY), { code: 'EISDIR' });
  });

  it('create without O_EXCL on an existing file opens it (and honours O_TRUNC)', () => {
    const fs = new Tmpfs();
    const { ino, fh } = newFile(fs);
    fs.write(c, ino, fh, 0, bytes('data'), 0);
    const again = fs.create(c, ROOT_ID, 'f', 0o600, O_RDWR);
    assert.equal(again.entry.ino, ino);
    assert.equal(fs.getattr(c, ino).attr.size, 4);
    fs.create(c, ROOT_ID, 'f', 0o600, O_RDWR | O_TRUNC);
    assert.equal(fs.getattr(c, ino).attr.size, 0);
    assert.throws(() => fs.create(c, ROOT_ID, 'f', 0o600, O_RDWR | 0o200), { code: 'EEXIST' });
  });
});

describe('tmpfs timestamps', () => {
  it('write sets mtime and ctime, read sets atime', async () => {
    const fs = new Tmpfs();
    const { ino, fh } = newFile(fs);
    const t0 = fs.getattr(c, ino).attr;
    await tick();
    fs.write(c, ino, fh, 0, bytes('x'), 0);
    const t1 = fs.getattr(c, ino).attr;
    assert.ok(ns(t1.mtime) > ns(t0.mtime));
    assert.equal(ns(t1.ctime), ns(t1.mtime));
    assert.equal(ns(t1.atime), ns(t0.atime));
    await tick();
    readBytes(fs, c, ino, fh, 0, 1);
    const t2 = fs.getattr(c, ino).attr;
    assert.ok(ns(t2.atime) > ns(t1.atime));
    assert.equal(ns(t2.mtime), ns(t1.mtime));
    assert.equal(ns(t2.ctime), ns(t1.ctime));
    // A zero-length write changes nothing.
    await tick();
    fs.write(c, ino, fh, 0, new Uint8Array(0), 0);
    assert.equal(ns(fs.getattr(c, ino).attr.mtime), ns(t1.mtime));
    // Nanoseconds are really there (not all multiples of a millisecond).
    const stamps = [t0, t1, t2].map((a) => a.mtime.nsec % 1_000_000);
    assert.ok(stamps.some((x) => x !== 0));
  });

  it('namespace operations update parents and inodes as POSIX says', async () => {
    const fs = new Tmpfs();
    const dirA = fs.mkdir(c, ROOT_ID, 'a', 0o755).ino;
    const dirB = fs.mkdir(c, ROOT_ID, 'b', 0o755).ino;
    const m = (ino: number): bigint => ns(fs.getattr(c, ino).attr.mtime);
    const ct = (ino: number): bigint => ns(fs.getattr(c, ino).attr.ctime);

    let before = m(dirA);
    await tick();
    const f = fs.mknod(c, dirA, 'f', 0o100644, 0).ino;
    assert.ok(m(dirA) > before && ct(dirA) === m(dirA), 'create: parent mtime+ctime');

    before = ct(f);
    const beforeB = m(dirB);
    await tick();
    fs.link(c, f, dirB, 'g');
    assert.ok(ct(f) > before, 'link: inode ctime');
    assert.ok(m(dirB) > beforeB, 'link: parent mtime');

    const bA = m(dirA);
    const bB = m(dirB);
    before = ct(f);
    await tick();
    fs.rename(c, dirA, 'f', dirB, 'h', 0);
    assert.ok(m(dirA) > bA && m(dirB) > bB, 'rename: both parents');
    assert.ok(ct(f) > before, 'rename: inode ctime');

    before = ct(f);
    const bB2 = m(dirB);
    await tick();
    fs.unlink(c, dirB, 'g');
    assert.ok(ct(f) > before, 'unlink: inode ctime');
    assert.ok(m(dirB) > bB2 && ct(dirB) === m(dirB), 'unlink: parent mtime+ctime');

    // setattr: chmod sets ctime, leaves mtime; truncate(2) to the same size changes
    // nothing (shmem_setattr); ftruncate (with a handle) stamps mtime and ctime.
    const mt = m(f);
    before = ct(f);
    await tick();
    fs.setattr(c, f, { mode: 0o600 });
    assert.ok(ct(f) > before && m(f) === mt);
    const ctAfterChmod = ct(f);
    await tick();
    fs.setattr(c, f, { size: fs.getattr(c, f).attr.size });
    assert.ok(m(f) === mt && ct(f) === ctAfterChmod, 'truncate(2) to the same size');
    const h = fs.open(c, f, 2).fh!;
    await tick();
    fs.setattr(c, f, { size: fs.getattr(c, f).attr.size, fh: h });
    assert.ok(m(f) > mt && ct(f) === m(f), 'ftruncate to the same size');

    // utimes: explicit values, and "now".
    fs.setattr(c, f, { atime: { sec: 100, nsec: 5 }, mtime: { sec: 200, nsec: 7 } });
    let a = fs.getattr(c, f).attr;
    assert.deepEqual(a.atime, { sec: 100, nsec: 5 });
    assert.deepEqual(a.mtime, { sec: 200, nsec: 7 });
    fs.setattr(c, f, { atime: 'now', mtime: 'now' });
    a = fs.getattr(c, f).attr;
    assert.ok(a.atime.sec > 1_600_000_000);
    assert.deepEqual(a.atime, a.mtime);
    assert.deepEqual(a.ctime, a.mtime);

    // readdir touches the directory's atime.
    const at = ns(fs.getattr(c, dirB).attr.atime);
    await tick();
    [...fs.readdir(c, dirB, 0, 0, false)];
    assert.ok(ns(fs.getattr(c, dirB).attr.atime) > at);
  });
});
