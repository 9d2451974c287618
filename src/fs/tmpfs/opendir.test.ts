/**
 * Directories without OPENDIR/RELEASEDIR round trips (FUSE_NO_OPENDIR_SUPPORT)
 * through a real mount: what the kernel sends, and that listings and
 * permissions stay right. The mount is served by this process; every command
 * runs in a child process.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mountPoint, removeMountPoint, run, sweepMounts } from '../../testing/mounts.js';
import { mount } from '../../server/mount.js';
import { Tmpfs } from './index.js';

const skip = existsSync('/dev/fuse') && process.getuid?.() === 0 ? false : 'needs /dev/fuse and root';

after(async () => {
  if (skip) return;
  assert.deepEqual(await sweepMounts(), []);
});

/** Mount a tmpfs with a request log; run `body`; unmount. */
async function withMount(defaultPermissions: boolean, body: (dir: string, ops: () => string[]) => Promise<void>): Promise<void> {
  const dir = await mountPoint();
  const lines: string[] = [];
  const fs = new Tmpfs({ checkPermissions: !defaultPermissions });
  const m = await mount(fs, dir, { defaultPermissions, allowOther: true, entryTimeout: 60, attrTimeout: 60, debug: (l) => lines.push(l) });
  // The op of each request line, e.g. "opendir"; replies are kept beside their requests.
  const ops = () => lines.filter((l) => l.startsWith('rx ')).map((l) => l.split(' ')[2]!);
  try {
    await body(dir, ops);
  } finally {
    await m.unmount().catch(() => undefined);
    await removeMountPoint(dir);
  }
}

const ls = async (dir: string, ...as: string[]) => {
  const r = await run(as.length ? 'setpriv' : 'ls', as.length ? [...as, 'ls', '-a', dir] : ['-a', dir]);
  return { code: r.code, names: r.stdout.trim().split('\n').filter(Boolean), stderr: r.stderr };
};
const count = (ops: string[], op: string) => ops.filter((o) => o === op).length;

test('with default_permissions the kernel asks OPENDIR once, and listings stay exact as entries come and go', { skip }, async () => {
  await withMount(true, async (dir, ops) => {
    assert.equal((await run('sh', ['-c', `mkdir ${dir}/d && touch ${dir}/d/a ${dir}/d/b`])).code, 0);
    assert.deepEqual((await ls(`${dir}/d`)).names, ['.', '..', 'a', 'b']);
    assert.deepEqual((await ls(`${dir}/d`)).names, ['.', '..', 'a', 'b']);
    await run('sh', ['-c', `touch ${dir}/d/c && rm ${dir}/d/a`]);
    assert.deepEqual((await ls(`${dir}/d`)).names, ['.', '..', 'b', 'c'], 'a changed directory is listed again, not from a stale cache');
    await run('sh', ['-c', `mv ${dir}/d/b ${dir}/d/e`]);
    assert.deepEqual((await ls(`${dir}/d`)).names, ['.', '..', 'c', 'e']);
    const seen = ops();
    assert.equal(count(seen, 'opendir'), 1, 'one OPENDIR, answered ENOSYS; the kernel opens directories itself after it');
    assert.equal(count(seen, 'releasedir'), 0);
    assert.ok(count(seen, 'readdir') + count(seen, 'readdirplus') > 0);
  });
});

test('with default_permissions the kernel still refuses to list an unreadable directory', { skip }, async () => {
  await withMount(true, async (dir) => {
    await run('sh', ['-c', `mkdir -m 700 ${dir}/private && touch ${dir}/private/x && chmod 755 ${dir}`]);
    const r = await ls(`${dir}/private`, '--reuid=65534', '--regid=65534', '--clear-groups');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Permission denied/);
    assert.deepEqual((await ls(`${dir}/private`)).names, ['.', '..', 'x'], 'root lists it');
  });
});

test('when tmpfs checks permissions itself, every listing opens the directory and an unreadable one is refused', { skip }, async () => {
  await withMount(false, async (dir, ops) => {
    await run('sh', ['-c', `mkdir -m 711 ${dir}/private && touch ${dir}/private/x && chmod 755 ${dir}`]);
    const setup = ops().length; // mkdir -m opens the new directory too
    const r = await ls(`${dir}/private`, '--reuid=65534', '--regid=65534', '--clear-groups');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Permission denied/);
    assert.deepEqual((await ls(`${dir}/private`)).names, ['.', '..', 'x']);
    assert.deepEqual((await ls(`${dir}/private`)).names, ['.', '..', 'x']);
    const seen = ops().slice(setup);
    assert.equal(count(seen, 'opendir'), 3);
    assert.equal(count(seen, 'releasedir'), 2, 'the two successful opens are released');
  });
});
