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
import { mountPoint, removeMountPoint, run, startServer, sweepMounts, waitFor, isMounted, type ServerProcess } from '../../testing/mounts.js';
import { mount } from '../../server/mount.js';
import { Tmpfs } from './index.js';

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

test('a 4 GiB sparse file costs almost no server memory and reads back as zeros', { skip }, async () => {
  const [, p] = await fresh('sparse');
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server!.pid}/status`, 'utf8'))![1]) * 1024;
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

test('the server stays up and the mount answers after all of the above', { skip }, async () => {
  assert.ok(await isMounted(puffsDir));
  await waitFor(async () => (await run('ls', [puffsDir])).code === 0, 2000, 'ls');
});
