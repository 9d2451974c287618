/**
 * Many async callers at once: 200 random operations on a small, contended
 * name space leave the client's cached view equal to the server's, with only
 * the errors POSIX allows; renames of one file back and forth from many
 * callers leave exactly one entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tmpfs } from '../fs/tmpfs/index.js';
import { attach } from './attach.js';
import type { PuffsFs } from './promises.js';
import { jittered, pair, track } from './fixtures/testing.js';
import { prng as rng } from '../testing/prng.js';

/** Everything under `root`: path, type, size, link count, symlink target. */
async function view(fs: PuffsFs, root = '/'): Promise<string[]> {
  const out: string[] = [];
  const names = (await fs.readdir(root, { recursive: true })).sort();
  for (const name of names) {
    const p = `${root === '/' ? '' : root}/${name}`;
    const st = await fs.lstat(p);
    const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? `l->${await fs.readlink(p)}` : 'f';
    out.push(`${name} ${type} size=${st.isDirectory() ? '-' : st.size} nlink=${st.nlink} mode=${st.mode.toString(8)}`);
  }
  return out;
}

const ALLOWED = new Set(['ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EINVAL', 'EPERM', 'ERR_FS_EISDIR', 'ELOOP']);

for (const mode of ['in order', 'answers out of order'] as const) test(`200 random operations from 20 concurrent callers (${mode}): only POSIX errors, and the cached view equals the server`, { timeout: 20_000 }, async () => {
  const tmpfs = new Tmpfs();
  const random = rng(20241125);
  const served = mode === 'in order' ? tmpfs : jittered(tmpfs, rng(7));
  const { client, session } = await pair(served, { entryTimeout: 3600, attrTimeout: 3600, negativeTimeout: 3600 });
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const dirs = ['/d0', '/d1', '/d0/e'];
  const name = (): string => `${pick(['', ...dirs])}/n${Math.floor(random() * 5)}`;
  const ops: (() => Promise<unknown>)[] = [
    () => client.writeFile(name(), 'w'.repeat(Math.floor(random() * 5000))),
    () => client.appendFile(name(), 'append;'),
    () => client.readFile(name()),
    () => client.stat(name()),
    () => client.unlink(name()),
    () => client.rename(name(), name()),
    () => client.rename(pick(dirs), pick(dirs) + '/moved'),
    () => client.mkdir(pick(dirs), { recursive: random() < 0.5 }),
    () => client.rmdir(pick(dirs)),
    () => client.readdir(pick(dirs), { withFileTypes: true }),
    () => client.symlink('n1', name()),
    () => client.link(name(), name()),
    () => client.truncate(name(), Math.floor(random() * 100)),
    () => client.copyFile(name(), name()),
    () => client.rm(pick(dirs), { recursive: true, force: true }),
    () => client.mkdir(`${pick(dirs)}/sub`, { recursive: true }),
  ];
  const counts = { ok: 0, failed: 0 };
  const unexpected: string[] = [];
  const plans = Array.from({ length: 20 }, () => Array.from({ length: 10 }, () => pick(ops)));
  await Promise.all(
    plans.map(async (plan) => {
      for (const op of plan) {
        try {
          await op();
          counts.ok++;
        } catch (err) {
          counts.failed++;
          const code = (err as NodeJS.ErrnoException).code ?? String(err);
          if (!ALLOWED.has(code)) unexpected.push(`${code}: ${(err as Error).message}`);
        }
      }
    }),
  );
  assert.equal(counts.ok + counts.failed, 200);
  assert.deepEqual(unexpected, []);
  assert.ok(counts.ok > 30, `${counts.ok} succeeded`);
  const fresh = track(await attach(tmpfs));
  // Every name the operations could touch, by lstat alone (no listing to refresh the cache).
  const candidates = ['', ...dirs, '/d0/moved', '/d1/moved', '/d0/e/moved', '/d0/sub', '/d1/sub', '/d0/e/sub'].flatMap((d) => [d || '/', ...Array.from({ length: 5 }, (_, i) => `${d}/n${i}`)]);
  const probe = async (fs: PuffsFs) =>
    Promise.all(candidates.map((p) => fs.lstat(p).then((st) => `${p} ${st.ino} ${st.isDirectory() ? 'd' : st.size} ${st.nlink}`, (e: NodeJS.ErrnoException) => `${p} ${e.code}`)));
  assert.deepEqual(await probe(client), await probe(fresh));
  const cached = await view(client);
  const truth = await view(fresh);
  await fresh.close();
  assert.deepEqual(cached, truth);
  assert.equal(client.core.vfs.locks.size, 0, 'no lock left held');
  await client.close();
  for (let ino = 2; ino < 2000; ino++) assert.equal(session.lookupCount(ino), 0);
});

test('renames of one file back and forth from many callers leave exactly one entry', { timeout: 20_000 }, async () => {
  const tmpfs = new Tmpfs();
  const { client } = await pair(tmpfs, { entryTimeout: 3600, attrTimeout: 3600 });
  await client.mkdir('/x');
  await client.mkdir('/y');
  await client.writeFile('/x/a', 'the one file');
  const ino = (await client.stat('/x/a')).ino;
  const places = ['/x/a', '/x/b', '/y/a', '/y/c'];
  let moved = 0;
  await Promise.all(
    Array.from({ length: 12 }, async (_, k) => {
      for (let i = 0; i < 25; i++) {
        const from = places[(k + i) % places.length]!;
        const to = places[(k * 3 + i + 1) % places.length]!;
        try {
          await client.rename(from, to);
          moved++;
        } catch (err) {
          assert.equal((err as NodeJS.ErrnoException).code, 'ENOENT');
        }
      }
    }),
  );
  assert.ok(moved > 0);
  const found: string[] = [];
  for (const p of places) {
    try {
      const st = await client.stat(p);
      assert.equal(st.ino, ino);
      found.push(p);
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOENT');
    }
  }
  assert.equal(found.length, 1, `the file is at ${found.join(', ')}`);
  const fresh = track(await attach(tmpfs));
  const listing = [...(await fresh.readdir('/x')).map((n) => `/x/${n}`), ...(await fresh.readdir('/y')).map((n) => `/y/${n}`)];
  assert.deepEqual(listing, found, 'the server agrees');
  assert.equal(await fresh.readFile(found[0]!, 'utf8'), 'the one file');
  assert.equal((await fresh.stat(found[0]!)).nlink, 1);
  await fresh.close();
  await client.close();
});

for (const mode of ['in order', 'answers out of order'] as const) test(`two renames racing (a→b, b→a) many times, with stats in between (${mode}), never lose or duplicate the file`, { timeout: 20_000 }, async () => {
  const tmpfs = new Tmpfs();
  const { client } = await pair(mode === 'in order' ? tmpfs : jittered(tmpfs, rng(11)), { entryTimeout: 3600, attrTimeout: 3600, negativeTimeout: 3600 });
  await client.writeFile('/a', 'x');
  for (let i = 0; i < 100; i++) {
    const r = await Promise.allSettled([client.rename('/a', '/b'), client.rename('/b', '/a'), client.stat('/a'), client.stat('/b')]);
    for (const x of r) if (x.status === 'rejected') assert.equal((x.reason as NodeJS.ErrnoException).code, 'ENOENT');
    // Stats first: a listing would refresh the cache and hide a stale entry.
    const exists = await Promise.all(['/a', '/b'].map((p) => client.stat(p).then(() => 1, () => 0)));
    assert.equal(exists[0]! + exists[1]!, 1, `round ${i}: the cache agrees`);
    const names = await client.readdir('/');
    assert.equal(names.length, 1, `round ${i}: ${names.join(',')}`);
  }
  await client.close();
});

for (const mode of ['in order', 'answers out of order'] as const) test(`concurrent O_APPEND writes from many callers never overlap (${mode})`, { timeout: 20_000 }, async () => {
  const tmpfs = new Tmpfs();
  const { client } = await pair(mode === 'in order' ? tmpfs : jittered(tmpfs, rng(3)), { entryTimeout: 3600, attrTimeout: 3600 });
  await client.writeFile('/log', 'head\n');
  const records = Array.from({ length: 60 }, (_, i) => `record-${String(i).padStart(3, '0')}\n`);
  const handle = await client.open('/log', 'a');
  await Promise.all(records.map((r, i) => (i % 2 ? client.appendFile('/log', r) : handle.write(r))));
  await handle.close();
  const text = await client.readFile('/log', 'utf8');
  assert.equal(text.length, 5 + records.join('').length);
  const lines = text.split('\n').filter(Boolean);
  assert.equal(lines[0], 'head');
  assert.deepEqual(lines.slice(1).sort(), records.map((r) => r.trim()));
  await client.close();
});
