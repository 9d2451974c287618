import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_ID, XATTR_CREATE, XATTR_REPLACE } from '../../server/types.js';
import { Tmpfs } from './index.js';
import { bytes, ctx, ns, text, tick } from './test-context.js';

const c = ctx();
const alice = ctx({ uid: 1000, gid: 1000 });

describe('tmpfs extended attributes', () => {
  it('sets, gets, lists and removes', async () => {
    const fs = new Tmpfs();
    const f = fs.mknod(c, ROOT_ID, 'f', 0o100644, 0).ino;
    const ct = ns(fs.getattr(c, f).attr.ctime);
    await tick();
    fs.setxattr(c, f, 'user.a', bytes('one'), 0);
    assert.ok(ns(fs.getattr(c, f).attr.ctime) > ct, 'setxattr updates ctime');
    assert.equal(text(fs.getxattr(c, f, 'user.a')), 'one');
    fs.setxattr(c, f, 'user.a', bytes('two'), 0);
    assert.equal(text(fs.getxattr(c, f, 'user.a')), 'two');
    fs.setxattr(c, f, 'user.empty', new Uint8Array(0), 0);
    assert.equal(fs.getxattr(c, f, 'user.empty').length, 0);
    fs.setxattr(c, f, 'trusted.t', bytes('t'), 0);
    fs.setxattr(c, f, 'security.s', bytes('s'), 0);
    // The kernel lists in descending name order.
    assert.deepEqual(fs.listxattr(c, f), ['user.empty', 'user.a', 'trusted.t', 'security.s']);
    // The value is copied: changing the caller's buffer changes nothing.
    const v = bytes('abc');
    fs.setxattr(c, f, 'user.copy', v, 0);
    v[0] = 0x7a;
    assert.equal(text(fs.getxattr(c, f, 'user.copy')), 'abc');
    fs.removexattr(c, f, 'user.a');
    assert.throws(() => fs.getxattr(c, f, 'user.a'), { code: 'ENODATA' });
    assert.throws(() => fs.removexattr(c, f, 'user.a'), { code: 'ENODATA' });
    // Directories take user attributes too.
    fs.setxattr(c, ROOT_ID, 'user.dir', bytes('d'), 0);
    assert.deepEqual(fs.listxattr(c, ROOT_ID), ['user.dir']);
  });

  it('reports the kernel errors', () => {
    const fs = new Tmpfs();
    const f = fs.mknod(c, ROOT_ID, 'f', 0o100644, 0).ino;
    fs.setxattr(c, f, 'user.a', bytes('1'), 0);
    assert.throws(() => fs.getxattr(c, f, 'user.missing'), { code: 'ENODATA' });
    assert.throws(() => fs.setxattr(c, f, 'user.a', bytes('1'), XATTR_CREATE), { code: 'EEXIST' });
    assert.throws(() => fs.setxattr(c, f, 'user.b', bytes('1'), XATTR_REPLACE), { code: 'ENODATA' });
    fs.setxattr(c, f, 'user.a', bytes('2'), XATTR_REPLACE);
    fs.setxattr(c, f, 'user.b', bytes('1'), XATTR_CREATE);
    fs.setxattr(c, f, 'user.big', new Uint8Array(65536), 0);
    assert.throws(() => fs.setxattr(c, f, 'user.big2', new Uint8Array(65537), 0), { code: 'E2BIG' });
    fs.setxattr(c, f, 'user.' + 'n'.repeat(250), bytes('x'), 0);
    assert.throws(() => fs.setxattr(c, f, 'user.' + 'n'.repeat(251), bytes('x'), 0), { code: 'ERANGE' });
    assert.throws(() => fs.getxattr(c, f, 'user.' + 'n'.repeat(251)), { code: 'ERANGE' });
    assert.throws(() => fs.setxattr(c, f, '', bytes('x'), 0), { code: 'ERANGE' });
    assert.throws(() => fs.setxattr(c, f, 'foo.bar', bytes('x'), 0), { code: 'EOPNOTSUPP' });
    assert.throws(() => fs.setxattr(c, f, 'system.bar', bytes('x'), 0), { code: 'EOPNOTSUPP' });
    assert.throws(() => fs.getxattr(c, f, 'foo.bar'), { code: 'EOPNOTSUPP' });
    assert.throws(() => fs.setxattr(c, f, 'user.', bytes('x'), 0), { code: 'EINVAL' });
    assert.throws(() => fs.setxattr(c, f, 'user.x', bytes('x'), 4), { code: 'EINVAL' });
  });

  it('allows user.* only on regular files and directories', () => {
    const fs = new Tmpfs();
    const l = fs.symlink(c, ROOT_ID, 'l', 'target').ino;
    const p = fs.mknod(c, ROOT_ID, 'p', 0o010644, 0).ino;
    assert.throws(() => fs.setxattr(c, l, 'user.a', bytes('v'), 0), { code: 'EPERM' });
    assert.throws(() => fs.setxattr(c, p, 'user.a', bytes('v'), 0), { code: 'EPERM' });
    assert.throws(() => fs.getxattr(c, p, 'user.a'), { code: 'ENODATA' });
    fs.setxattr(c, l, 'trusted.a', bytes('v'), 0);
    fs.setxattr(c, p, 'trusted.a', bytes('v'), 0);
    assert.equal(text(fs.getxattr(c, l, 'trusted.a')), 'v');
  });

  it('keeps trusted.* for root and checks access when asked to', () => {
    const fs = new Tmpfs({ checkPermissions: true, uid: 0, gid: 0 });
    const f = fs.mknod(alice, ROOT_ID, 'f', 0o100600, 0).ino;
    fs.setxattr(alice, f, 'user.mine', bytes('1'), 0);
    fs.setxattr(c, f, 'trusted.t', bytes('1'), 0);
    assert.deepEqual(fs.listxattr(alice, f), ['user.mine'], 'trusted.* hidden from non-root');
    assert.deepEqual(fs.listxattr(c, f), ['user.mine', 'trusted.t']);
    assert.throws(() => fs.setxattr(alice, f, 'trusted.x', bytes('1'), 0), { code: 'EPERM' });
    assert.throws(() => fs.getxattr(alice, f, 'trusted.t'), { code: 'ENODATA' });
    assert.throws(() => fs.setxattr(alice, f, 'security.x', bytes('1'), 0), { code: 'EPERM' });
    const bob = ctx({ uid: 1001, gid: 1001 });
    assert.throws(() => fs.getxattr(bob, f, 'user.mine'), { code: 'EACCES' });
    assert.throws(() => fs.setxattr(bob, f, 'user.x', bytes('1'), 0), { code: 'EACCES' });
    // Sticky directories: only the owner writes user attributes.
    const d = fs.mkdir(alice, ROOT_ID, 'd', 0o777).ino;
    fs.setattr(alice, d, { mode: 0o1777 });
    assert.throws(() => fs.setxattr(bob, d, 'user.x', bytes('1'), 0), { code: 'EPERM' });
    fs.setxattr(alice, d, 'user.x', bytes('1'), 0);
  });

  it('charges xattrs to the inode space like the kernel (nr_inodes)', () => {
    // Same numbers as Linux: nr_inodes=4 gives 4096 bytes of inode space, 1024 per inode,
    // 40 + name + value per attribute.
    const fs = new Tmpfs({ nrInodes: 4 });
    const f = fs.mknod(c, ROOT_ID, 'f', 0o100644, 0).ino;
    assert.equal(fs.statfs(c, ROOT_ID).ffree, 2);
    fs.setxattr(c, f, 'user.a', new Uint8Array(1000 - 46), 0);
    assert.equal(fs.usage().inodeSpace, 2048 + 1000);
    assert.equal(fs.statfs(c, ROOT_ID).ffree, 1);
    fs.setxattr(c, f, 'user.b', new Uint8Array(1000), 0);
    assert.throws(() => fs.setxattr(c, f, 'user.c', new Uint8Array(100), 0), { code: 'ENOSPC' });
    assert.throws(() => fs.mknod(c, ROOT_ID, 'g', 0o100644, 0), { code: 'ENOSPC' });
    // As in the kernel the new value is charged before the old one is refunded: even a smaller one fails when full.
    assert.throws(() => fs.setxattr(c, f, 'user.b', new Uint8Array(10), 0), { code: 'ENOSPC' });
    assert.equal(fs.getxattr(c, f, 'user.b').length, 1000);
    fs.removexattr(c, f, 'user.a');
    fs.setxattr(c, f, 'user.b', new Uint8Array(10), 0);
    assert.equal(fs.usage().inodeSpace, 2048 + 56);
    fs.mknod(c, ROOT_ID, 'g', 0o100644, 0);
    // Freed with the inode.
    fs.unlink(c, ROOT_ID, 'f');
    fs.forget(f);
    assert.equal(fs.usage().inodeSpace, 2048, 'root and g');
  });
});
