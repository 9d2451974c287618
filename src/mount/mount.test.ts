/**
 * Integration tests against the real kernel: each mount is served by a
 * fixture child process; this process only reads the mount table and drives
 * the mounts through other processes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { close, open } from 'node:fs';
import { readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './exec.js';
import {
  forceUnmount,
  killWatchdog,
  sessionOf,
  makeBase,
  makeMountpoint,
  mountAt,
  poll,
  processGone,
  startFixture,
  statInChild,
  sweepMounts,
  type Fixture,
} from './fixture-client.js';
import { mountArgs, mountFuse, resolveMountOptions, unmount } from './mount.js';
import { isMountPoint, findMount } from './mountinfo.js';

let base: string;
const started: Fixture[] = [];
const watchdogPids: number[] = [];

before(async () => {
  base = await makeBase('mount-test');
});

after(async () => {
  for (const f of started) f.kill();
  for (const pid of watchdogPids) await killWatchdog(pid);
  await sweepMounts(base);
});

async function fixture(mountpoint: string, options: Parameters<typeof startFixture>[1] = {}): Promise<Fixture> {
  const f = await startFixture(mountpoint, options);
  started.push(f);
  if (f.first.event === 'mounted' && typeof f.first.watchdogPid === 'number') watchdogPids.push(f.first.watchdogPid);
  return f;
}

/** The watchdog is detached: it is no child of ours, so poll /proc. */
function watchdogPid(f: Fixture): number {
  assert.equal(typeof f.first.watchdogPid, 'number', 'fixture reported a watchdog pid');
  return f.first.watchdogPid as number;
}

describe('mount options', () => {
  it('builds mount(8) arguments from defaults', () => {
    const o = resolveMountOptions({ uid: 1000, gid: 100 });
    assert.deepEqual(mountArgs('/mnt/x', o), [
      '-i', '-c', '-t', 'fuse.puffs', '-o', 'fd=3,rootmode=40000,user_id=1000,group_id=100', '--source', 'puffs', '--target', '/mnt/x',
    ]);
  });

  it('adds every optional flag and extra options verbatim', () => {
    const o = resolveMountOptions({
      fsname: 'src', subtype: 'hello', allowOther: true, defaultPermissions: true, readOnly: true, maxRead: 65536,
      uid: 0, gid: 0, extraOptions: ['noatime', 'blksize=4096'],
    });
    assert.equal(mountArgs('/m', o)[3], 'fuse.hello');
    assert.equal(mountArgs('/m', o)[5], 'fd=3,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions,max_read=65536,ro,noatime,blksize=4096');
  });

  it('rejects bad options with EINVAL', () => {
    for (const bad of [
      { extraOptions: ['a,b'] },
      { extraOptions: [''] },
      { extraOptions: ['fd=7'] },
      { subtype: 'a b' },
      { fsname: '' },
      { rootMode: 0o100644 },
      { maxRead: 0 },
      { uid: -1 },
    ]) {
      assert.throws(() => resolveMountOptions(bad), (err: NodeJS.ErrnoException) => err.code === 'EINVAL', JSON.stringify(bad));
    }
  });
});

describe('mountFuse', () => {
  it('mounts with type fuse.<subtype> and the requested options; clean unmount releases it and ends the watchdog', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    const f = await fixture(mp, { subtype: 'puffstest', fsname: 'fixture fs', allowOther: true, defaultPermissions: true });
    try {
      assert.equal(f.first.event, 'mounted', JSON.stringify(f.first));
      const procMounts = (await runCommand('cat', ['/proc/mounts'])).stdout.split('\n');
      const line = procMounts.find((l) => l.split(' ')[1] === mp);
      assert.ok(line, `${mp} is in /proc/mounts`);
      const [source, , type, opts] = line.split(' ');
      assert.equal(type, 'fuse.puffstest');
      assert.equal(source, 'fixture\\040fs');
      const flags = opts!.split(',');
      for (const want of ['allow_other', 'default_permissions', 'user_id=0', 'group_id=0']) assert.ok(flags.includes(want), `${want} in ${opts}`);
      const info = await mountAt(mp);
      assert.equal(info?.dev, f.first.dev);
      assert.equal(info?.source, 'fixture fs');
      assert.equal(await isMountPoint(mp), true);

      // Served: a stat from another process reaches the fixture's GETATTR.
      await f.waitFor('init');
      const st = await statInChild(mp);
      assert.equal(st.code, 0, st.stderr);
      assert.equal(st.stdout.trim(), '41ed directory');

      // The watchdog must not hold /dev/fuse, or the kernel could never see the server die.
      const wd = watchdogPid(f);
      const fds = await readdir(`/proc/${wd}/fd`);
      for (const fd of fds) {
        const target = await readlink(`/proc/${wd}/fd/${fd}`).catch(() => '');
        assert.notEqual(target, '/dev/fuse', `watchdog fd ${fd} is /dev/fuse`);
      }
      assert.equal(await sessionOf(wd), wd, 'watchdog leads its own session');

      f.send('unmount-twice'); // the second unmount finds the mount gone and resolves
      await f.waitFor('unmounted');
      assert.equal(await mountAt(mp), undefined);
      await f.waitFor('ended');
      assert.ok(await poll(() => processGone(wd), 2000), 'watchdog exited after clean unmount');
      const exit = await f.exited;
      assert.equal(exit.code, 0, 'fixture exits by itself: nothing of the mount keeps its loop alive');
    } finally {
      f.kill();
      await forceUnmount(mp);
    }
  });

  it('passes ro and max_read through', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    const f = await fixture(mp, { readOnly: true, maxRead: 65536 });
    try {
      assert.equal(f.first.event, 'mounted', JSON.stringify(f.first));
      const info = await mountAt(mp);
      assert.ok(info);
      assert.equal(info.fstype, 'fuse.puffs');
      assert.ok(info.mountOptions.split(',').includes('ro'), info.mountOptions);
      assert.ok(info.superOptions.split(',').includes('max_read=65536'), info.superOptions);
    } finally {
      f.kill();
      await forceUnmount(mp);
    }
  });

  it('refuses a missing mount point with ENOENT', { timeout: 20_000 }, async () => {
    const missing = join(base, 'does-not-exist');
    await assert.rejects(mountFuse(missing, { watchdog: false }), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'ENOENT');
      assert.match(err.message, /does-not-exist/);
      return true;
    });
    await assert.rejects(mountFuse(join(base, 'no', 'such', 'dir')), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
  });

  it('refuses a file with ENOTDIR', { timeout: 20_000 }, async () => {
    const file = join(base, 'a-file');
    await writeFile(file, 'x');
    await assert.rejects(mountFuse(file), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'ENOTDIR');
      assert.match(err.message, /a-file/);
      return true;
    });
  });

  it('refuses a busy mount point with EBUSY and leaves the first mount alone', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    const f = await fixture(mp);
    try {
      assert.equal(f.first.event, 'mounted', JSON.stringify(f.first));
      await f.waitFor('init');
      // A second server on the same mount point.
      const second = await fixture(mp);
      assert.equal(second.first.event, 'error');
      assert.equal(second.first.code, 'EBUSY');
      assert.match(String(second.first.message), new RegExp(mp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      // Also from here, and through a symlink to it: the check reads the mount table only.
      await assert.rejects(mountFuse(mp), (err: NodeJS.ErrnoException) => err.code === 'EBUSY');
      const link = join(base, `link-${Date.now()}`);
      await symlink(mp, link);
      await assert.rejects(mountFuse(link), (err: NodeJS.ErrnoException) => err.code === 'EBUSY');

      const info = await mountAt(mp);
      assert.equal(info?.dev, f.first.dev, 'first mount still there');
      const st = await statInChild(mp);
      assert.equal(st.code, 0, `first mount still served: ${st.stderr}`);
    } finally {
      f.kill();
      await forceUnmount(mp);
    }
  });

  it('releases the mount within 1 s when the server is killed with SIGKILL', { timeout: 20_000 }, async (t) => {
    const mp = await makeMountpoint(base);
    const f = await fixture(mp);
    try {
      assert.equal(f.first.event, 'mounted', JSON.stringify(f.first));
      await f.waitFor('init');
      const wd = watchdogPid(f);
      process.kill(f.pid, 'SIGKILL');
      const t0 = Date.now();
      await f.exited;
      const gone = await poll(async () => (await mountAt(mp)) === undefined, 1000, 5);
      const elapsed = Date.now() - t0;
      assert.ok(gone, `mount still present ${elapsed} ms after SIGKILL`);
      t.diagnostic(`mount released ${elapsed} ms after the server died`);
      const st = await statInChild(mp);
      assert.equal(st.code, 0, `mount point usable again, not ENOTCONN: ${st.stderr}`);
      assert.ok(await poll(() => processGone(wd), 2000), 'watchdog exited');
    } finally {
      f.kill();
      await forceUnmount(mp);
    }
  });

  it('releases the mount when the server exits without unmounting', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    const f = await fixture(mp);
    try {
      assert.equal(f.first.event, 'mounted', JSON.stringify(f.first));
      f.send('exit');
      await f.exited;
      assert.ok(await poll(async () => (await mountAt(mp)) === undefined, 1000, 5), 'mount released');
    } finally {
      f.kill();
      await forceUnmount(mp);
    }
  });

  it('releases a mount even before INIT was answered', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    const f = await fixture(mp);
    try {
      assert.equal(f.first.event, 'mounted', JSON.stringify(f.first));
      // No waitFor('init'): the kill may land before the fixture read INIT.
      process.kill(f.pid, 'SIGKILL');
      await f.exited;
      assert.ok(await poll(async () => (await mountAt(mp)) === undefined, 1000, 5), 'mount released');
    } finally {
      f.kill();
      await forceUnmount(mp);
    }
  });

  it('reports EBUSY for a strict unmount of a busy mount, and falls back to lazy by default', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    const f = await fixture(mp);
    let sleeper: ChildProcess | undefined;
    try {
      assert.equal(f.first.event, 'mounted', JSON.stringify(f.first));
      await f.waitFor('init');
      // A process whose working directory is the mount makes it busy.
      const child = spawn('sleep', ['30'], { cwd: mp, stdio: 'ignore' });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', () => resolve());
        child.once('error', reject);
      });
      sleeper = child;
      f.send('unmount-strict');
      const failed = await f.waitFor('unmount-error');
      assert.equal(failed.code, 'EBUSY');
      assert.match(String(failed.message), /busy/);
      assert.ok(await mountAt(mp), 'still mounted after strict unmount failed');
      f.send('unmount');
      await f.waitFor('unmounted');
      assert.equal(await mountAt(mp), undefined, 'detached lazily');
      sleeper.kill('SIGKILL');
      // Once the last user leaves, the kernel ends the session.
      await f.waitFor('ended');
    } finally {
      sleeper?.kill('SIGKILL');
      f.kill();
      await forceUnmount(mp);
    }
  });
});

describe('unmount (CLI helper)', () => {
  it('refuses a path that is not a mount point with EINVAL', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    await assert.rejects(unmount(mp), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'EINVAL');
      assert.match(err.message, /not a mount point/);
      assert.match(err.message, new RegExp(mp.split('/').pop()!));
      return true;
    });
    await assert.rejects(unmount(join(base, 'missing')), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
  });

  it('refuses a mount that is not FUSE with EINVAL', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    const r = await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'puffs-test-tmpfs', mp]);
    assert.equal(r.code, 0, r.stderr);
    try {
      await assert.rejects(unmount(mp), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'EINVAL');
        assert.match(err.message, /not a FUSE mount/);
        return true;
      });
      assert.ok(await mountAt(mp), 'tmpfs untouched');
    } finally {
      await forceUnmount(mp);
    }
  });

  it('unmounts a dead FUSE mount without touching it', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    const fd = await new Promise<number>((resolve, reject) => open('/dev/fuse', 'r+', (err, n) => (err ? reject(err) : resolve(n))));
    try {
      const r = await runCommand('mount', mountArgs(mp, resolveMountOptions({ subtype: 'dead' })), { fuseFd: fd });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      close(fd, () => {}); // nobody serves it: the connection aborts, the mount is dead
    }
    try {
      assert.equal((await mountAt(mp))?.fstype, 'fuse.dead');
      const st = await statInChild(mp);
      assert.match(st.stderr, /not connected/, 'the mount is stale');
      await unmount(mp);
      assert.equal(await mountAt(mp), undefined);
    } finally {
      await forceUnmount(mp);
    }
  });

  it('unmounts a FUSE mount served by another process, which then sees the session end', { timeout: 20_000 }, async () => {
    const mp = await makeMountpoint(base);
    const f = await fixture(mp);
    try {
      assert.equal(f.first.event, 'mounted', JSON.stringify(f.first));
      await f.waitFor('init');
      assert.equal((await findMount(mp))?.fstype, 'fuse.puffs');
      await unmount(mp);
      assert.equal(await mountAt(mp), undefined);
      await f.waitFor('ended');
      // The fixture's server loop ended; its watchdog finds no mount and leaves.
      const exit = await f.exited;
      assert.equal(exit.code, 0);
      assert.ok(await poll(() => processGone(watchdogPid(f)), 2000), 'watchdog exited');
    } finally {
      f.kill();
      await forceUnmount(mp);
    }
  });
});
