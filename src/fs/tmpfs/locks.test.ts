import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LockRequest } from '../../server/ops.js';
import { ROOT_ID, type FileLock } from '../../server/types.js';
import { Tmpfs } from './index.js';
import { O_RDONLY, O_RDWR, ctx } from './test-context.js';

const c = ctx();
const RD = 0;
const WR = 1;
const UN = 2;
const EOF = Number.MAX_SAFE_INTEGER;

function req(owner: bigint, type: number, start: number, end: number, flock = false, pid = Number(owner)): LockRequest {
  return { owner, flock, lock: { start, end, type, pid } };
}

function setup() {
  const fs = new Tmpfs();
  const { entry, open } = fs.create(c, ROOT_ID, 'f', 0o644, O_RDWR);
  const fh2 = fs.open(c, entry.ino, O_RDWR).fh!;
  return { fs, ino: entry.ino, fh: open.fh!, fh2 };
}

/** Whether a promise has settled, without waiting for it. */
async function settled(p: Promise<void>): Promise<boolean> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('tmpfs POSIX locks', () => {
  it('conflicts only between owners, and only when one side writes', () => {
    const { fs, ino, fh } = setup();
    fs.setlk(c, ino, fh, req(1n, WR, 0, 99), false);
    const g: FileLock = fs.getlk(c, ino, fh, req(2n, RD, 50, 60));
    assert.deepEqual(g, { start: 0, end: 99, type: WR, pid: 1 });
    assert.equal(fs.getlk(c, ino, fh, req(1n, WR, 50, 60)).type, UN, 'own locks never conflict');
    assert.throws(() => fs.setlk(c, ino, fh, req(2n, RD, 50, 60), false), { code: 'EAGAIN' });
    fs.setlk(c, ino, fh, req(2n, RD, 100, 199), false);
    fs.setlk(c, ino, fh, req(3n, RD, 150, 250), false);
    assert.throws(() => fs.setlk(c, ino, fh, req(3n, WR, 150, 150), false), { code: 'EAGAIN' });
    assert.equal(fs.getlk(c, ino, fh, req(4n, WR, 200, 300)).pid, 3);
    assert.equal(fs.getlk(c, ino, fh, req(4n, RD, 0, EOF)).pid, 1);
    assert.equal(fs.getlk(c, ino, fh, req(4n, WR, 251, EOF)).type, UN);
  });

  it('splits, merges and converts an owner\'s ranges', () => {
    const { fs, ino, fh } = setup();
    fs.setlk(c, ino, fh, req(1n, WR, 0, 99), false);
    fs.setlk(c, ino, fh, req(1n, UN, 40, 59), false);
    fs.setlk(c, ino, fh, req(2n, WR, 40, 59), false);
    assert.throws(() => fs.setlk(c, ino, fh, req(2n, WR, 39, 39), false), { code: 'EAGAIN' });
    assert.deepEqual(fs.getlk(c, ino, fh, req(3n, RD, 60, 60)), { start: 60, end: 99, type: WR, pid: 1 });
    // Adjacent ranges of one type merge.
    fs.setlk(c, ino, fh, req(5n, RD, 200, 209), false);
    fs.setlk(c, ino, fh, req(5n, RD, 210, 219), false);
    assert.deepEqual(fs.getlk(c, ino, fh, req(6n, WR, 215, 215)), { start: 200, end: 219, type: RD, pid: 5 });
    // Converting the middle to a write lock splits it into three.
    fs.setlk(c, ino, fh, req(5n, WR, 205, 214), false);
    assert.deepEqual(fs.getlk(c, ino, fh, req(6n, RD, 200, 219)), { start: 205, end: 214, type: WR, pid: 5 });
    fs.setlk(c, ino, fh, req(6n, RD, 200, 204), false);
    fs.setlk(c, ino, fh, req(6n, RD, 215, 219), false);
    // An upgrade that conflicts fails and leaves the read lock in place.
    assert.throws(() => fs.setlk(c, ino, fh, req(6n, WR, 200, 219), false), { code: 'EAGAIN' });
    assert.equal(fs.getlk(c, ino, fh, req(7n, WR, 200, 200)).pid, 5);
    // Unlock of a range never locked is fine.
    fs.setlk(c, ino, fh, req(9n, UN, 0, EOF), false);
    assert.throws(() => fs.setlk(c, ino, fh, req(9n, WR, 10, 5), false), { code: 'EINVAL' });
  });

  it('checks the handle\'s access mode as fcntl does', () => {
    const { fs, ino } = setup();
    const ro = fs.open(c, ino, O_RDONLY).fh!;
    assert.throws(() => fs.setlk(c, ino, ro, req(1n, WR, 0, 0), false), { code: 'EBADF' });
    fs.setlk(c, ino, ro, req(1n, RD, 0, 0), false);
  });

  it('a blocking wait is granted when the holder unlocks', async () => {
    const { fs, ino, fh } = setup();
    fs.setlk(c, ino, fh, req(1n, WR, 0, 9), false);
    const wait = fs.setlk(c, ino, fh, req(2n, WR, 5, 20), true);
    assert.ok(wait instanceof Promise);
    assert.equal(await settled(wait), false);
    fs.setlk(c, ino, fh, req(1n, UN, 0, 4), false);
    assert.equal(await settled(wait), false, 'still overlapping 5..9');
    fs.setlk(c, ino, fh, req(1n, UN, 5, 9), false);
    await wait;
    assert.deepEqual(fs.getlk(c, ino, fh, req(1n, RD, 0, EOF)), { start: 5, end: 20, type: WR, pid: 2 });
    // A wait that needs none returns at once, synchronously.
    assert.equal(fs.setlk(c, ino, fh, req(3n, WR, 100, 200), true), undefined);
  });

  it('a blocking wait is interrupted by the request signal with EINTR', async () => {
    const { fs, ino, fh } = setup();
    fs.setlk(c, ino, fh, req(1n, WR, 0, 9), false);
    const ac = new AbortController();
    const wait = fs.setlk(ctx({ signal: ac.signal }), ino, fh, req(2n, WR, 0, 0), true) as Promise<void>;
    assert.equal(await settled(wait), false);
    ac.abort();
    await assert.rejects(wait, { code: 'EINTR' });
    // The abandoned waiter does not get the lock later.
    fs.setlk(c, ino, fh, req(1n, UN, 0, 9), false);
    assert.equal(fs.getlk(c, ino, fh, req(3n, WR, 0, EOF)).type, UN);
    // Already aborted: EINTR without waiting.
    fs.setlk(c, ino, fh, req(1n, WR, 0, 9), false);
    assert.throws(() => fs.setlk(ctx({ signal: AbortSignal.abort() }), ino, fh, req(2n, WR, 0, 0), true), { code: 'EINTR' });
  });

  it('detects a deadlock between two waiting owners', async () => {
    const { fs, ino, fh } = setup();
    fs.setlk(c, ino, fh, req(1n, WR, 0, 0), false);
    fs.setlk(c, ino, fh, req(2n, WR, 1, 1), false);
    const ac = new AbortController();
    const w2 = fs.setlk(ctx({ signal: ac.signal }), ino, fh, req(2n, WR, 0, 0), true) as Promise<void>;
    assert.throws(() => fs.setlk(c, ino, fh, req(1n, WR, 1, 1), true), { code: 'EDEADLK' });
    ac.abort();
    await assert.rejects(w2, { code: 'EINTR' });
  });

  it('flush releases the owner\'s locks and wakes waiters', async () => {
    const { fs, ino, fh } = setup();
    fs.setlk(c, ino, fh, req(1n, WR, 0, 99), false);
    fs.setlk(c, ino, fh, req(1n, RD, 200, 299), false);
    fs.setlk(c, ino, fh, req(2n, RD, 150, 150), false);
    const wait = fs.setlk(c, ino, fh, req(3n, WR, 50, 250), true) as Promise<void>;
    fs.flush(c, ino, fh, 1n);
    assert.equal(await settled(wait), false, 'owner 2 still reads 150');
    fs.flush(c, ino, fh, 2n);
    await wait;
    assert.equal(fs.getlk(c, ino, fh, req(4n, RD, 0, EOF)).pid, 3);
  });
});

describe('tmpfs flock locks', () => {
  it('whole-file shared and exclusive locks per open file, separate from POSIX locks', () => {
    const { fs, ino, fh, fh2 } = setup();
    fs.setlk(c, ino, fh, req(10n, RD, 0, 0, true), false);
    fs.setlk(c, ino, fh2, req(20n, RD, 0, 0, true), false);
    assert.throws(() => fs.setlk(c, ino, fh2, req(20n, WR, 0, 0, true), false), { code: 'EAGAIN' });
    // Linux converts by dropping first: the failed upgrade lost the shared lock.
    fs.setlk(c, ino, fh, req(10n, WR, 0, 0, true), false);
    assert.equal(fs.getlk(c, ino, fh2, req(20n, RD, 0, 0, true)).type, WR);
    // POSIX locks do not see flock locks.
    fs.setlk(c, ino, fh2, req(20n, WR, 0, EOF), false);
  });

  it('release drops the handle\'s flock lock and wakes a waiter', async () => {
    const { fs, ino, fh, fh2 } = setup();
    fs.setlk(c, ino, fh, req(10n, WR, 0, 0, true), false);
    const wait = fs.setlk(c, ino, fh2, req(20n, WR, 0, 0, true), true) as Promise<void>;
    assert.equal(await settled(wait), false);
    fs.release(c, ino, fh, 0);
    await wait;
    assert.equal(fs.getlk(c, ino, fh2, req(30n, RD, 0, 0, true)).type, WR);
  });
});
