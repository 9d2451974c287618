/**
 * The watchdog's guard, tested as a pure function and by running the watchdog
 * script against real mounts. Raw mounts here are made by this process with
 * an open /dev/fuse it never serves: it only reads the mount table, and
 * closes the descriptor to make a mount dead.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { close, open } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCommand } from './exec.js';
import {
  forceUnmount,
  makeBase,
  makeMountpoint,
  mountAt,
  poll,
  startFixture,
  statInChild,
  sweepMounts,
  type Fixture,
} from './fixture-client.js';
import { mountArgs, resolveMountOptions } from './mount.js';
import { parseMountInfo, type MountInfo } from './mountinfo.js';
import {
  decideOnServerDeath,
  findUnannouncedMount,
  WATCHDOG_FLAG,
  WATCHDOG_LOG_ENV,
  watchdogScriptPath,
  type MountIdentity,
  type WatchdogTarget,
} from './watchdog.js';

const openFd = promisify(open);
const closeFd = promisify(close);

let base: string;
const fds = new Set<number>();
const children = new Set<ChildProcess>();
const fixtures: Fixture[] = [];

before(async () => {
  base = await makeBase('watchdog-test');
});

after(async () => {
  for (const fd of fds) await closeFd(fd).catch(() => {});
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const f of fixtures) f.kill();
  await sweepMounts(base);
});

describe('decideOnServerDeath', () => {
  const mp = '/mnt/x';
  const target: WatchdogTarget = { mountpoint: mp, fstype: 'fuse.puffs', source: 'puffs' };
  const table = (...lines: string[]): MountInfo[] =>
    parseMountInfo(['1 0 254:1 / / rw - ext4 /dev/vda rw', ...lines].join('\n'));
  const ours = `40 1 0:50 / ${mp} rw - fuse.puffs puffs rw`;

  it('unmounts the mount it recorded', () => {
    const d = decideOnServerDeath(table(ours), target, { mountId: 40, dev: '0:50' });
    assert.equal(d.action, 'unmount');
  });

  it('leaves a mount with another device or mount id', () => {
    assert.equal(decideOnServerDeath(table(ours), target, { mountId: 40, dev: '0:51' }).action, 'leave');
    assert.equal(decideOnServerDeath(table(ours), target, { mountId: 41, dev: '0:50' }).action, 'leave');
  });

  it('leaves a mount point with nothing mounted', () => {
    const d = decideOnServerDeath(table(), target, { mountId: 40, dev: '0:50' });
    assert.deepEqual(d, { action: 'leave', reason: 'the mount is already gone' });
  });

  it('leaves a mount whose type changed', () => {
    const d = decideOnServerDeath(table(`40 1 0:50 / ${mp} rw - tmpfs t rw`), target, { mountId: 40, dev: '0:50' });
    assert.equal(d.action, 'leave');
  });

  it('leaves our mount when another is stacked on it or on an ancestor', () => {
    const stacked = table(ours, `41 40 0:51 / ${mp} rw - tmpfs t rw`);
    assert.equal(decideOnServerDeath(stacked, target, { mountId: 40, dev: '0:50' }).action, 'leave');
    const ancestor = table(ours, '42 1 0:52 / /mnt rw - tmpfs t rw');
    assert.equal(decideOnServerDeath(ancestor, target, { mountId: 40, dev: '0:50' }).action, 'leave');
  });

  it('finds an unannounced mount only by type and source, skipping known ids', () => {
    assert.equal(findUnannouncedMount(table(ours), target)?.mountId, 40);
    assert.equal(findUnannouncedMount(table(ours), { ...target, source: 'other' }), undefined);
    assert.equal(findUnannouncedMount(table(ours), { ...target, knownMountIds: [40] }), undefined);
  });
});

/** A FUSE mount this process makes and holds, never served. */
async function rawMount(mp: string, subtype: string): Promise<{ fd: number; info: MountInfo }> {
  const fd = await openFd('/dev/fuse', 'r+');
  fds.add(fd);
  const r = await runCommand('mount', mountArgs(mp, resolveMountOptions({ subtype })), { fuseFd: fd });
  assert.equal(r.code, 0, r.stderr);
  const info = await mountAt(mp);
  assert.ok(info && info.fstype === `fuse.${subtype}`, 'raw mount present');
  return { fd, info };
}

async function dropFd(fd: number): Promise<void> {
  if (fds.delete(fd)) await closeFd(fd);
}

interface Watchdog {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly log: () => Promise<string>;
}

/** Run the watchdog script as our own (non-detached) child, so we can await it. */
function runWatchdog(target: WatchdogTarget, identity?: MountIdentity): Watchdog {
  const logFile = join(base, `watchdog-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
  const child = spawn(process.execPath, [watchdogScriptPath(), WATCHDOG_FLAG, JSON.stringify(target)], {
    stdio: ['pipe', 'ignore', 'inherit'],
    env: { ...process.env, [WATCHDOG_LOG_ENV]: logFile },
  });
  children.add(child);
  child.stdin!.on('error', () => {});
  if (identity) child.stdin!.write(`mounted ${identity.mountId} ${identity.dev}\n`);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, log: () => readFile(logFile, 'utf8').catch(() => '') };
}

async function waitReady(w: Watchdog): Promise<void> {
  assert.ok(await poll(async () => (await w.log()).includes('watching'), 5000), 'watchdog started');
}

describe('watchdog process', () => {
  it('releases a dead mount it recorded, within 1 s of the pipe closing', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    try {
      const { fd, info } = await rawMount(mp, 'wdtest');
      const w = runWatchdog({ mountpoint: mp, fstype: 'fuse.wdtest', source: 'puffs' }, info);
      await waitReady(w);
      await dropFd(fd); // the "server" dies: its descriptor closes ...
      const t0 = Date.now();
      w.child.stdin!.end(); // ... and so does its pipe
      assert.ok(await poll(async () => (await mountAt(mp)) === undefined, 1000, 5), `released in ${Date.now() - t0} ms`);
      assert.equal(await w.exited, 0);
      assert.match(await w.log(), /mount released \(it was dead\)/);
    } finally {
      await forceUnmount(mp);
    }
  });

  it('releases a recorded mount that nobody answers, and does not hang on its stuck probe', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    try {
      // We keep the descriptor open but never read it: the mount is alive, and unanswered.
      const { fd, info } = await rawMount(mp, 'wdtest');
      const w = runWatchdog({ mountpoint: mp, fstype: 'fuse.wdtest', source: 'puffs' }, info);
      await waitReady(w);
      const t0 = Date.now();
      w.child.stdin!.end();
      assert.ok(await poll(async () => (await mountAt(mp)) === undefined, 1000, 5), `released in ${Date.now() - t0} ms`);
      // Its statfs is still blocked in the kernel; the watchdog must exit anyway.
      const exited = await Promise.race([w.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
      assert.equal(exited, true, 'watchdog exited');
      assert.match(await w.log(), /mount released \(it was unresponsive\)/);
      await dropFd(fd);
    } finally {
      await forceUnmount(mp);
    }
  });

  it('exits without acting after a clean message', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    try {
      const { fd, info } = await rawMount(mp, 'wdtest');
      const w = runWatchdog({ mountpoint: mp, fstype: 'fuse.wdtest', source: 'puffs' }, info);
      w.child.stdin!.end('clean\n');
      assert.equal(await w.exited, 0);
      assert.equal((await mountAt(mp))?.dev, info.dev, 'mount untouched');
      assert.match(await w.log(), /clean detach/);
      await dropFd(fd);
    } finally {
      await forceUnmount(mp);
    }
  });

  it('never unmounts a live mount that replaced ours, even with the same mount id and device', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    let replacement: Fixture | undefined;
    try {
      // Ours: mounted, then unmounted while "our server" still lives.
      const { fd, info } = await rawMount(mp, 'puffs');
      await forceUnmount(mp);
      await dropFd(fd);
      // A new, served mount takes the path; the kernel typically hands it the same id and device.
      replacement = await startFixture(mp, { watchdog: false });
      fixtures.push(replacement);
      assert.equal(replacement.first.event, 'mounted', JSON.stringify(replacement.first));
      await replacement.waitFor('init');
      const now = await mountAt(mp);
      assert.ok(now);
      const w = runWatchdog({ mountpoint: mp, fstype: 'fuse.puffs', source: 'puffs' }, info);
      await waitReady(w);
      w.child.stdin!.end(); // our server dies
      assert.equal(await w.exited, 0);
      assert.equal((await mountAt(mp))?.mountId, now.mountId, 'replacement still mounted');
      const st = await statInChild(mp);
      assert.equal(st.code, 0, `replacement still served: ${st.stderr}`);
      const sameIdentity = now.mountId === info.mountId && now.dev === info.dev;
      assert.match(await w.log(), sameIdentity ? /answers, so it is not ours/ : /leaving: a different mount/);
    } finally {
      replacement?.kill();
      await forceUnmount(mp);
    }
  });

  it('never unmounts a mount of another type that replaced ours', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    try {
      const { fd, info } = await rawMount(mp, 'wdtest');
      await forceUnmount(mp);
      await dropFd(fd);
      const r = await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'puffs-wd-tmpfs', mp]);
      assert.equal(r.code, 0, r.stderr);
      const w = runWatchdog({ mountpoint: mp, fstype: 'fuse.wdtest', source: 'puffs' }, info);
      w.child.stdin!.end();
      assert.equal(await w.exited, 0);
      assert.equal((await mountAt(mp))?.fstype, 'tmpfs', 'tmpfs untouched');
    } finally {
      await forceUnmount(mp);
    }
  });

  it('releases a dead mount whose server died before announcing it', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    try {
      const w = runWatchdog({ mountpoint: mp, fstype: 'fuse.wdtest', source: 'wd-unannounced' });
      await waitReady(w);
      const fd = await openFd('/dev/fuse', 'r+');
      fds.add(fd);
      const r = await runCommand('mount', mountArgs(mp, resolveMountOptions({ subtype: 'wdtest', fsname: 'wd-unannounced' })), {
        fuseFd: fd,
      });
      assert.equal(r.code, 0, r.stderr);
      await dropFd(fd);
      w.child.stdin!.end();
      assert.ok(await poll(async () => (await mountAt(mp)) === undefined, 1000, 5), 'released');
      assert.equal(await w.exited, 0);
    } finally {
      await forceUnmount(mp);
    }
  });

  it('ignores SIGINT and SIGHUP, and obeys SIGTERM without touching a live server’s mount', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    try {
      const { fd, info } = await rawMount(mp, 'wdtest');
      const w = runWatchdog({ mountpoint: mp, fstype: 'fuse.wdtest', source: 'puffs' }, info);
      await waitReady(w);
      w.child.kill('SIGINT');
      w.child.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(w.child.exitCode, null, 'still running after SIGINT and SIGHUP');
      w.child.kill('SIGTERM');
      assert.equal(await w.exited, 0);
      assert.equal((await mountAt(mp))?.dev, info.dev, 'mount untouched');
      assert.match(await w.log(), /exiting on SIGTERM/);
      await dropFd(fd);
    } finally {
      await forceUnmount(mp);
    }
  });

  it('after SIGTERM still cleans up if the server dies in the grace period', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    try {
      const { fd, info } = await rawMount(mp, 'wdtest');
      const w = runWatchdog({ mountpoint: mp, fstype: 'fuse.wdtest', source: 'puffs' }, info);
      await waitReady(w);
      w.child.kill('SIGTERM');
      await dropFd(fd);
      w.child.stdin!.end();
      assert.equal(await w.exited, 0);
      assert.equal(await mountAt(mp), undefined, 'released');
    } finally {
      await forceUnmount(mp);
    }
  });
});

describe('no leftovers', () => {
  it('leaves no mounts of ours in /proc/mounts', { timeout: 20_000 }, async () => {
    const text = await readFile('/proc/mounts', 'utf8');
    // Tests above unmount in finally; anything left is a bug (after() sweeps it anyway).
    const ours = text.split('\n').filter((l) => l.split(' ')[1]?.startsWith(base));
    assert.deepEqual(ours, []);
  });
});
