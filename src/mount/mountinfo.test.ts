import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeMountField,
  findMount,
  isCovered,
  isFuseType,
  isMountPoint,
  parseMountInfo,
  resolveMountPath,
  topMountAt,
  type MountInfo,
} from './mountinfo.js';

const SAMPLE = [
  '22 27 0:21 / /proc rw,relatime - proc proc rw',
  '27 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw',
  '43 27 0:40 / /tmp/with\\040space\\011tab rw,nosuid,nodev,relatime shared:7 master:2 - fuse.puffs my\\040fs,x rw,user_id=0,group_id=0,allow_other',
  '44 43 0:41 /sub /tmp/with\\040space\\011tab rw - tmpfs tmpfs rw,size=1024k',
  '45 27 0:42 / /tmp/back\\134slash\\012nl rw - fuseblk dev rw',
  '46 27 0:43 / /tmp/caf\\303\\251 rw - fuse fs rw',
  'garbage line',
  '',
].join('\n');

describe('parseMountInfo', () => {
  const mounts = parseMountInfo(SAMPLE);

  it('parses fields and skips malformed lines', () => {
    assert.equal(mounts.length, 6);
    const fuse = mounts[2]!;
    assert.equal(fuse.mountId, 43);
    assert.equal(fuse.parentId, 27);
    assert.equal(fuse.dev, '0:40');
    assert.equal(fuse.root, '/');
    assert.deepEqual(fuse.optionalFields, ['shared:7', 'master:2']);
    assert.equal(fuse.fstype, 'fuse.puffs');
    assert.equal(fuse.superOptions, 'rw,user_id=0,group_id=0,allow_other');
    assert.equal(fuse.mountOptions, 'rw,nosuid,nodev,relatime');
  });

  it('decodes octal escapes in paths and sources', () => {
    assert.equal(mounts[2]!.mountpoint, '/tmp/with space\ttab');
    assert.equal(mounts[2]!.source, 'my fs,x');
    assert.equal(mounts[4]!.mountpoint, '/tmp/back\\slash\nnl');
    assert.equal(mounts[5]!.mountpoint, '/tmp/café');
    assert.equal(decodeMountField('plain'), 'plain');
    assert.equal(decodeMountField('a\\04'), 'a\\04', 'a truncated escape is kept');
  });

  it('finds the topmost of stacked mounts', () => {
    assert.equal(topMountAt(mounts, '/tmp/with space\ttab')?.mountId, 44);
    assert.equal(topMountAt(mounts, '/nowhere'), undefined);
  });

  it('knows when a mount is covered', () => {
    assert.equal(isCovered(mounts, mounts[2]!), true, 'stacked on the same path');
    assert.equal(isCovered(mounts, mounts[3]!), false);
    const m: MountInfo[] = parseMountInfo(
      ['1 0 0:1 / / rw - ext4 a rw', '2 1 0:2 / /a/b rw - fuse.x b rw', '3 1 0:3 / /a rw - tmpfs t rw', '4 1 0:4 / /ab rw - tmpfs t rw'].join('\n'),
    );
    assert.equal(isCovered(m, m[1]!), true, 'an ancestor mounted later hides it');
    assert.equal(isCovered(m, m[2]!), false, '/ab is not under /a');
  });

  it('recognizes FUSE types', () => {
    for (const t of ['fuse', 'fuse.puffs', 'fuseblk', 'fuseblk.x']) assert.equal(isFuseType(t), true, t);
    for (const t of ['tmpfs', 'fusectl', 'ext4', 'fuse2']) assert.equal(isFuseType(t), false, t);
  });
});

describe('resolveMountPath', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'puffs-mountinfo-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('canonicalizes through the parent and follows a final symlink by readlink', async () => {
    await mkdir(join(dir, 'real'));
    await symlink(join(dir, 'real'), join(dir, 'link'));
    await symlink('link', join(dir, 'link2'));
    assert.equal(await resolveMountPath(join(dir, 'link2')), join(dir, 'real'));
    assert.equal(await resolveMountPath(join(dir, 'real', '..', 'real')), join(dir, 'real'));
    assert.equal(await resolveMountPath(join(dir, 'missing')), join(dir, 'missing'), 'a missing final component is fine');
    await assert.rejects(resolveMountPath(join(dir, 'no', 'parent')), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
    assert.equal(await resolveMountPath('/'), '/');
  });

  it('returns a listed mount point without touching it', async () => {
    // A fake table says `dir/dead` is a mount point; nothing exists there, yet no lstat is attempted.
    const table = parseMountInfo(`99 1 0:99 / ${join(dir, 'dead')} rw - fuse.puffs x rw\n`);
    assert.equal(await resolveMountPath(join(dir, 'dead'), table), join(dir, 'dead'));
  });

  it('isMountPoint and findMount read the live table', async () => {
    assert.equal(await isMountPoint('/proc'), true);
    assert.equal((await findMount('/proc'))?.fstype, 'proc');
    assert.equal(await isMountPoint(dir), false);
    assert.equal(await findMount(join(dir, 'nope', 'deeper')), undefined);
  });
});
