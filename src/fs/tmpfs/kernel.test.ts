/**
 * puffs tmpfs through a real kernel mount, with the kernel's tmpfs as the
 * oracle. The server runs in a child process; every check runs in other
 * child processes (Python for the syscalls Node does not expose).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { mountPoint, removeMountPoint, run, startServer, sweepMounts, waitFor, isMounted, type ServerProcess } from '../../testing/mounts.js';
import { mount } from '../../server/mount.js';
import { Tmpfs } from './index.js';
import { counted } from '../../client/fixtures/testing.js';
import type { FileSystem } from '../../server/ops.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test-fixtures');
const haveFuse = existsSync('/dev/fuse') && process.getuid?.() === 0;
const havePython = existsSync('/usr/bin/python3');
const skip = !haveFuse ? 'needs /dev/fuse and root' : !havePython ? 'needs python3' : false;

let kernelDir = '';
let puffsDir = '';
let server: ServerProcess | undefined;

before(async () => {
  if (skip) return;
  kernelDir = await mountPoint();
  const k = await run('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'puffs-oracle', kernelDir]);
  assert.equal(k.code, 0, k.stderr);
  puffsDir = await mountPoint();
  server = await startServer(['tmpfs', puffsDir, '-o', 'size=64m,allow_other'], puffsDir);
});

after(async () => {
  if (skip) return;
  await server?.kill();
  await run('umount', [kernelDir]);
  await removeMountPoint(kernelDir);
  assert.deepEqual(await sweepMounts(), []);
});

async function fresh(name: string): Promise<[string, string]> {
  const a = join(kernelDir, name);
  const b = join(puffsDir, name);
  for (const d of [a, b]) assert.equal((await run('mkdir', ['-m', '1777', d])).code, 0);
  return [a, b];
}

test('every feature check gives the same answer on puffs tmpfs as on the kernel tmpfs', { skip }, async () => {
  const [k, p] = await fresh('features');
  const script = join(fixtures, 'tmpfs_features.py');
  const want = await run('python3', [script, k]);
  assert.equal(want.code, 0, want.stderr);
  const got = await run('python3', [script, p]);
  assert.equal(got.code, 0, got.stderr);
  const wantLines = want.stdout.trim().split('\n');
  assert.ok(wantLines.length > 100, `the script checks many things (${wantLines.length})`);
  assert.deepEqual(got.stdout.trim().split('\n'), wantLines);
});

test('two processes renaming one file back and forth thousands of times leave exactly one entry', { skip }, async () => {
  const [, p] = await fresh('race');
  await run('touch', [join(p, 'a')]);
  const script = join(fixtures, 'rename_race.py');
  const [x, y] = await Promise.all([run('python3', [script, p, '4000', '0']), run('python3', [script, p, '4000', '1'])]);
  assert.equal(x.code, 0, x.stderr);
  assert.equal(y.code, 0, y.stderr);
  const moved = Number(x.stdout) + Number(y.stdout);
  assert.ok(moved > 1000, `renames happened (${moved})`);
  const ls = await run('ls', ['-a', p]);
  const names = ls.stdout.trim().split('\n').filter((n) => n !== '.' && n !== '..');
  assert.equal(names.length, 1, `exactly one entry, got ${names.join(',')}`);
  assert.ok(names[0] === 'a' || names[0] === 'b');
});

test('ENOSPC at the size limit: a write writes what fits, earlier data stays intact', { skip }, async () => {
  const dir = await mountPoint();
  const small = await startServer(['tmpfs', dir, '-o', 'size=1m'], dir);
  try {
    const keep = await run('sh', ['-c', `head -c 300000 /dev/urandom > ${dir}/keep && sha256sum ${dir}/keep`]);
    assert.equal(keep.code, 0, keep.stderr);
    const sum = keep.stdout.split(' ')[0];
    const fill = await run('sh', ['-c', `dd if=/dev/zero of=${dir}/fill bs=64k count=100 2>&1`]);
    assert.notEqual(fill.code, 0);
    assert.match(fill.stdout, /No space left on device/);
    const size = Number((await run('stat', ['-c', '%s', `${dir}/fill`])).stdout);
    // 1 MiB of pages minus the 74 pages of keep: the partial write filled what was left.
    assert.equal(size, (256 - Math.ceil(300000 / 4096)) * 4096);
    assert.equal((await run('sha256sum', [`${dir}/keep`])).stdout.split(' ')[0], sum);
    const df = await run('df', ['-B1', '--output=size,used,avail', dir]);
    assert.match(df.stdout, /1048576\s+1048576\s+0/);
    // Removing data gives the space back.
    await run('rm', [`${dir}/fill`]);
    assert.equal((await run('sh', ['-c', `head -c 100000 /dev/zero > ${dir}/again`])).code, 0);
  } finally {
    await small.kill();
  }
});

/** A process's resident memory, in bytes. */
function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

test('a 4 GiB sparse file costs almost no server memory and reads back as zeros', { skip }, async () => {
  const [, p] = await fresh('sparse');
  const rss = () => rssOf(server!.pid);
  const before = rss();
  const f = join(p, 'big');
  const w = await run('sh', ['-c', `truncate -s 4G ${f} && printf head | dd of=${f} conv=notrunc 2>/dev/null && printf tail | dd of=${f} bs=1 seek=4294967292 conv=notrunc 2>/dev/null`]);
  assert.equal(w.code, 0, w.stderr);
  const st = await run('stat', ['-c', '%s %b', f]);
  const [size, blocks] = st.stdout.trim().split(' ').map(Number);
  assert.equal(size, 4 * 2 ** 30 + 0);
  assert.equal(blocks, 16, 'two 4 KiB pages allocated');
  const mid = await run('sh', ['-c', `dd if=${f} bs=1M skip=2048 count=1 2>/dev/null | tr -d '\\0' | wc -c`]);
  assert.equal(mid.stdout.trim(), '0', 'a hole reads as zeros');
  assert.equal((await run('sh', ['-c', `tail -c 4 ${f}`])).stdout, 'tail');
  assert.ok(rss() - before < 32 * 2 ** 20, `server grew by ${rss() - before} bytes`);
  await run('rm', [f]);
});

test('with keep_freed=0, removing a file gives its memory back to the system at once, and the data read back was right', { skip }, async () => {
  // Its own server: 256 MiB does not fit the shared one's size=64m.
  const dir = await mountPoint();
  const own = await startServer(['tmpfs', dir, '-o', 'size=512m,keep_freed=0'], dir);
  try {
    const rss = () => rssOf(own.pid);
    const f = join(dir, 'big');
    const before = rss();
    // 1 MiB writes at 1 MiB offsets: each becomes a chunk of the file as it came.
    const w = await run('sh', ['-c', `head -c 268435456 /dev/urandom > /tmp/puffs-test-rand-$$ && dd if=/tmp/puffs-test-rand-$$ of=${f} bs=1M 2>&1 && cmp /tmp/puffs-test-rand-$$ ${f}; r=$?; rm -f /tmp/puffs-test-rand-$$; exit $r`]);
    assert.equal(w.code, 0, w.stdout + w.stderr);
    const held = rss() - before;
    assert.ok(held > 240 * 2 ** 20, `256 MiB of data held in ${held} bytes`);
    assert.equal((await run('rm', [f])).code, 0);
    // A collection frees the chunks; without one they stay until the next burst of writes.
    await waitFor(() => rss() - before < 48 * 2 ** 20, 5_000, `the server's memory to fall after rm (held ${held} bytes)`);
  } finally {
    await own.kill();
  }
});

test('memory freed by rm is kept for keep_freed seconds and reused, then given back; data written into it reads back right', { skip }, async () => {
  const dir = await mountPoint();
  const own = await startServer(['tmpfs', dir, '-o', 'size=512m,keep_freed=5'], dir);
  try {
    const rss = () => rssOf(own.pid);
    const MiB = 2 ** 20;
    const before = rss();
    // Write 128 MiB of random data, check it, remove it.
    const cycle = (name: string) =>
      run('sh', ['-c', `t=/tmp/puffs-test-rand-$$; head -c 134217728 /dev/urandom > $t && dd if=$t of=${dir}/${name} bs=1M 2>&1 && cmp $t ${dir}/${name}; r=$?; rm -f $t ${dir}/${name}; exit $r`]);
    let r = await cycle('a');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await sleep(1000); // the collection that finds the first file's memory free
    // The second file is written into the first one's memory: what reads back must be its own bytes.
    r = await cycle('b');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await sleep(1500);
    const kept = rss() - before;
    assert.ok(kept > 100 * MiB, `freed memory kept for reuse (server holds ${kept} bytes more)`);
    assert.ok(kept < 200 * MiB, `the second file reused the first one's memory (server holds ${kept} bytes more)`);
    await waitFor(() => rss() - before < 48 * MiB, 12_000, `the server's memory to fall after keep_freed (held ${kept} bytes)`);
  } finally {
    await own.kill();
  }
});

test('two mounts of one tmpfs stay coherent despite long cache timeouts', { skip }, async () => {
  const fs = new Tmpfs({ size: 16 * 2 ** 20 });
  const one = await mountPoint();
  const two = await mountPoint();
  const opts = { defaultPermissions: true, entryTimeout: 3600, attrTimeout: 3600, negativeTimeout: 3600, fsname: 'shared', subtype: 'tmpfs' };
  const a = await mount(fs, one, opts);
  const b = await mount(fs, two, opts);
  try {
    assert.equal((await run('sh', ['-c', `echo first > ${one}/f`])).code, 0);
    assert.equal((await run('cat', [`${two}/f`])).stdout, 'first\n');
    assert.equal((await run('stat', ['-c', '%s', `${two}/missing`])).code, 1, 'a negative entry is now cached in two');
    // Change everything two has cached, through one.
    await run('sh', ['-c', `echo second-longer > ${one}/f && touch ${one}/missing && mkdir ${one}/d && chmod 600 ${one}/f`]);
    assert.equal((await run('cat', [`${two}/f`])).stdout, 'second-longer\n', 'page cache and size were invalidated');
    assert.equal((await run('stat', ['-c', '%a', `${two}/f`])).stdout.trim(), '600', 'attributes were invalidated');
    assert.equal((await run('stat', ['-c', '%F', `${two}/missing`])).code, 0, 'the negative entry was dropped');
    assert.equal((await run('ls', [two])).stdout, 'd\nf\nmissing\n');
    await run('sh', ['-c', `rm ${one}/missing && mv ${one}/f ${one}/g`]);
    assert.equal((await run('ls', [two])).stdout, 'd\ng\n');
    assert.equal((await run('cat', [`${two}/g`])).stdout, 'second-longer\n');
  } finally {
    await a.unmount().catch(() => undefined);
    await b.unmount().catch(() => undefined);
    await removeMountPoint(one);
    await removeMountPoint(two);
  }
});

/** A Python step: lock bytes 0-9 of FILE through one descriptor, close another, report whether a second process can lock them. */
const LOCK_THEN_CLOSE_OTHER = `
import fcntl, os, sys
f, other = sys.argv[1], sys.argv[2]
fd = os.open(f, os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
def probe(path):
    pid = os.fork()
    if pid == 0:
        g = os.open(path, os.O_RDWR)
        try:
            fcntl.lockf(g, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
            os._exit(0)
        except OSError:
            os._exit(1)
    return "free" if os.waitpid(pid, 0)[1] == 0 else "held"
before = probe(other)
os.close(os.open(f, os.O_RDONLY))
print(before, probe(other))
`;

/** counted(), keeping the file system's features. */
function countedTmpfs(inner: Tmpfs) {
  const c = counted(inner);
  (c.fs as { features?: FileSystem['features'] }).features = inner.features;
  return c;
}

test('kernelLocks (the CLI\'s setting): the kernel keeps locks, close drops them, and neither SETLK nor FLUSH reaches tmpfs', { skip }, async () => {
  const c = countedTmpfs(new Tmpfs({ size: 16 * 2 ** 20 }));
  const dir = await mountPoint();
  const m = await mount(c.fs, dir, { defaultPermissions: true, kernelLocks: true });
  try {
    assert.equal((await run('sh', ['-c', `echo data > ${dir}/f`])).code, 0);
    const r = await run('python3', ['-c', LOCK_THEN_CLOSE_OTHER, `${dir}/f`, `${dir}/f`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'held free', 'the lock conflicts, and closing another descriptor drops it');
    for (let i = 0; i < 5; i++) assert.equal((await run('cat', [`${dir}/f`])).code, 0);
    assert.equal(c.count('setlk') + c.count('getlk'), 0, 'locks stayed in the kernel');
    assert.equal(c.count('flush'), 0, 'FLUSH was refused once (ENOSYS) and not sent again');
    assert.ok(c.count('release') >= 7, 'the opens were all released');
  } finally {
    await m.unmount().catch(() => undefined);
    await removeMountPoint(dir);
  }
});

test('by default (library mount) locks are tmpfs\'s: seen across two mounts of one tmpfs, and dropped on close through FLUSH', { skip }, async () => {
  const c = countedTmpfs(new Tmpfs({ size: 16 * 2 ** 20 }));
  const one = await mountPoint();
  const two = await mountPoint();
  const a = await mount(c.fs, one, { defaultPermissions: true });
  const b = await mount(c.fs, two, { defaultPermissions: true });
  try {
    assert.equal((await run('sh', ['-c', `echo data > ${one}/f`])).code, 0);
    const r = await run('python3', ['-c', LOCK_THEN_CLOSE_OTHER, `${one}/f`, `${two}/f`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'held free', 'a lock through one mount conflicts through the other, and close drops it');
    assert.ok(c.count('setlk') > 0 && c.count('flush') > 0);
  } finally {
    await a.unmount().catch(() => undefined);
    await b.unmount().catch(() => undefined);
    await removeMountPoint(one);
    await removeMountPoint(two);
  }
});

test('killsPrivs: buffered writes cost one WRITE each, not a GETXATTR of security.capability too, and set-id bits still go', { skip }, async () => {
  const c = countedTmpfs(new Tmpfs({ size: 16 * 2 ** 20 }));
  const dir = await mountPoint();
  const m = await mount(c.fs, dir, { defaultPermissions: true, allowOther: true, kernelLocks: true });
  try {
    const writes = `
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
for i in range(200):
    os.pwrite(fd, b"x" * 4096, (i * 7919 % 256) * 4096)
os.close(fd)
`;
    const r = await run('python3', ['-c', writes, `${dir}/f`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(c.count('write') >= 200, `every write reached tmpfs (${c.count('write')})`);
    assert.ok(c.count('getxattr') <= 1, `the kernel asked for security.capability ${c.count('getxattr')} times, not once per write`);
    // The kernel no longer clears set-id bits itself: tmpfs must.
    assert.equal((await run('sh', ['-c', `touch ${dir}/s && chmod 6777 ${dir}/s`])).code, 0);
    const other = await run('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', 'sh', '-c', `printf x >> ${dir}/s`]);
    assert.equal(other.code, 0, other.stderr);
    const mode = await run('stat', ['-c', '%a', `${dir}/s`]);
    assert.equal(mode.stdout.trim(), '777');
  } finally {
    await m.unmount().catch(() => undefined);
    await removeMountPoint(dir);
  }
});

test('the server stays up and the mount answers after all of the above', { skip }, async () => {
  assert.ok(await isMounted(puffsDir));
  await waitFor(async () => (await run('ls', [puffsDir])).code === 0, 2000, 'ls');
});
