/**
 * Acceptance: programs written against node:fs/promises (a recursive copy, a
 * directory walker, a JSON store) run unchanged against attach(...) of a
 * tmpfs — in-process, in a worker thread, in a child process, and served
 * over a Unix socket — and produce what they produce on a real directory.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attach } from './attach.js';
import { track } from './fixtures/testing.js';
import { serve } from '../server/serve.js';
import { Tmpfs } from '../fs/tmpfs/index.js';
import { scenario, type Fsp } from './fixtures/programs.js';

/** A kernel tmpfs when there is one, so the reference is the semantics being copied. */
const scratch = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const TMPFS_MODULE = new URL('../fs/tmpfs/index.js', import.meta.url);

let realBase: string;
let expected: Record<string, unknown>;

before(async () => {
  realBase = await fsp.mkdtemp(join(scratch, 'puffs-programs-'));
  expected = await scenario(fsp, realBase);
});

after(async () => {
  await fsp.rm(realBase, { recursive: true, force: true });
});

test('the reference run on node:fs/promises saw what the programs should see', () => {
  assert.equal(expected.copied, 7);
  assert.equal((expected.keys as string[]).length, 37);
  assert.deepEqual(expected.deleted, [true, true, true, false]);
  assert.equal(expected.statErr, 'ENOENT');
  assert.deepEqual(expected.tmpLeft, []);
});

test('in-process: attach(new Tmpfs())', { timeout: 30_000 }, async () => {
  const fs = track(await attach(new Tmpfs()));
  try {
    assert.deepEqual(await scenario(fs as unknown as Fsp, '/base'), expected);
  } finally {
    await fs.close();
  }
});

test('worker thread: attach({ worker: tmpfs module })', { timeout: 30_000 }, async () => {
  const fs = track(await attach({ worker: TMPFS_MODULE, export: 'Tmpfs', args: [{ size: 256 * 1024 * 1024 }] }));
  try {
    assert.deepEqual(await scenario(fs as unknown as Fsp, '/base'), expected);
  } finally {
    await fs.close();
  }
});

test('child process: attach({ child: tmpfs module })', { timeout: 30_000 }, async () => {
  const fs = track(await attach({ child: TMPFS_MODULE, export: 'Tmpfs' }));
  try {
    assert.deepEqual(await scenario(fs as unknown as Fsp, '/base'), expected);
  } finally {
    await fs.close();
  }
});

test('Unix socket: attach("unix:...") of puffs serve', { timeout: 30_000 }, async () => {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'puffs-sock-'));
  const server = track(await serve(new Tmpfs(), { listen: `unix:${join(dir, 'tmpfs.sock')}`, log: false }));
  try {
    const fs = track(await attach(server.address));
    try {
      assert.deepEqual(await scenario(fs as unknown as Fsp, '/base'), expected);
    } finally {
      await fs.close();
    }
  } finally {
    await server.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
