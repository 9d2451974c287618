import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_ID, WRITE_KILL_PRIVS, type Entry } from '../../server/types.js';
import { Tmpfs } from './index.js';
import { O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, bytes, ctx } from './test-context.js';

const root = ctx();
const alice = ctx({ uid: 1000, gid: 1000 });
const bob = ctx({ uid: 1001, gid: 1001 });
const carol = ctx({ uid: 1002, gid: 1002, groups: [50] });

function checked(): Tmpfs {
  return new Tmpfs({ checkPermissions: true, uid: 0, gid: 0, mode: 0o755 });
}

function mode(fs: Tmpfs, ino: number): number {
  return fs.getattr(root, ino).attr.mode;
}

describe('tmpfs permission checks (checkPermissions: true)', () => {
  it('needs write and search permission on the parent to create', () => {
    const fs = checked();
    assert.throws(() => fs.mknod(alice, ROOT_ID, 'x', 0o100644, 0), { code: 'EACCES' });
    assert.throws(() => fs.mkdir(alice, ROOT_ID, 'x', 0o755), { code: 'EACCES' });
    assert.throws(() => fs.symlink(alice, ROOT_ID, 'x', 't'), { code: 'EACCES' });
    assert.throws(() => fs.create(alice, ROOT_ID, 'x', 0o644, O_RDWR), { code: 'EACCES' });
    assert.throws(() => fs.tmpfile(alice, ROOT_ID, 0o644, O_RDWR), { code: 'EACCES' });
    const pub = fs.mkdir(root, ROOT_ID, 'pub', 0o777).ino;
    const f = fs.mknod(alice, pub, 'x', 0o100644, 0);
    assert.equal(f.attr.uid, 1000);
    assert.equal(f.attr.gid, 1000);
    // Search permission: a directory without x cannot be looked into.
    const nox = fs.mkdir(root, ROOT_ID, 'nox', 0o776).ino;
    fs.mknod(root, nox, 'y', 0o100644, 0);
    assert.throws(() => fs.lookup(alice, nox, 'y'), { code: 'EACCES' });
    assert.throws(() => fs.mknod(alice, nox, 'z', 0o100644, 0), { code: 'EACCES' });
    assert.equal((fs.lookup(root, nox, 'y') as Entry).attr.uid, 0);
    // Opening a directory for listing needs read permission.
    const nor = fs.mkdir(root, ROOT_ID, 'nor', 0o711).ino;
    assert.throws(() => fs.opendir(alice, nor, 0), { code: 'EACCES' });
  });

  it('applies owner, then group (supplementary included), then other bits', () => {
    const fs = checked();
    const f = fs.mknod(root, ROOT_ID, 'f', 0o100640, 0).ino;
    fs.setattr(root, f, { uid: 1000, gid: 50 });
    assert.ok(fs.open(alice, f, O_RDWR).fh);
    assert.ok(fs.open(carol, f, O_RDONLY).fh, 'member of group 50 through supplementary groups');
    assert.throws(() => fs.open(carol, f, O_WRONLY), { code: 'EACCES' });
    assert.throws(() => fs.open(bob, f, O_RDONLY), { code: 'EACCES' });
    // The owner gets the owner bits even when group or other would give more.
    fs.setattr(root, f, { mode: 0o077 });
    assert.throws(() => fs.open(alice, f, O_RDONLY), { code: 'EACCES' });
    assert.ok(fs.open(bob, f, O_RDWR).fh);
    // O_TRUNC needs write.
    fs.setattr(root, f, { mode: 0o444 });
    assert.throws(() => fs.open(bob, f, O_RDONLY | O_TRUNC), { code: 'EACCES' });
  });

  it('root bypasses everything but x on files without any x bit', () => {
    const fs = checked();
    const f = fs.mknod(alice, fs.mkdir(root, ROOT_ID, 'd', 0o777).ino, 'f', 0o100000, 0).ino;
    assert.ok(fs.open(root, f, O_RDWR).fh);
    assert.throws(() => fs.access(root, f, 1), { code: 'EACCES' });
    fs.access(root, f, 6);
    fs.setattr(root, f, { mode: 0o010 });
    fs.access(root, f, 1);
    assert.throws(() => fs.access(alice, f, 4), { code: 'EACCES' });
    fs.access(alice, f, 0);
  });

  it('sticky directories: only the owner of the file or directory, or root, may unlink or rename', () => {
    const fs = checked();
    const tmp = fs.mkdir(root, ROOT_ID, 'tmp', 0o1777).ino;
    fs.mknod(alice, tmp, 'a1', 0o100644, 0);
    fs.mknod(alice, tmp, 'a2', 0o100644, 0);
    fs.mknod(alice, tmp, 'a3', 0o100644, 0);
    assert.throws(() => fs.unlink(bob, tmp, 'a1'), { code: 'EPERM' });
    assert.throws(() => fs.rename(bob, tmp, 'a1', tmp, 'b1', 0), { code: 'EPERM' });
    // Replacing someone else's file is deleting it too.
    fs.mknod(bob, tmp, 'b2', 0o100644, 0);
    assert.throws(() => fs.rename(bob, tmp, 'b2', tmp, 'a1', 0), { code: 'EPERM' });
    fs.unlink(alice, tmp, 'a1');
    fs.unlink(root, tmp, 'a2');
    // The directory's owner may.
    const own = fs.mkdir(bob, tmp, 'bobs', 0o1777).ino;
    fs.mknod(alice, own, 'x', 0o100644, 0);
    fs.unlink(bob, own, 'x');
    // Without checks, nothing is enforced.
    const open = new Tmpfs({ uid: 0, gid: 0 });
    const t2 = open.mkdir(root, ROOT_ID, 'tmp', 0o1777).ino;
    open.mknod(alice, t2, 'a', 0o100644, 0);
    open.unlink(bob, t2, 'a');
  });

  it('unlink and rename need write permission on the directories', () => {
    const fs = checked();
    const d = fs.mkdir(root, ROOT_ID, 'd', 0o755).ino;
    const pub = fs.mkdir(root, ROOT_ID, 'pub', 0o777).ino;
    fs.mknod(root, d, 'x', 0o100666, 0);
    assert.throws(() => fs.unlink(alice, d, 'x'), { code: 'EACCES' });
    assert.throws(() => fs.rename(alice, d, 'x', pub, 'x', 0), { code: 'EACCES' });
    // Moving a directory to another parent rewrites "..": needs write on it.
    const sub = fs.mkdir(alice, pub, 'sub', 0o555).ino;
    const other = fs.mkdir(alice, pub, 'other', 0o777).ino;
    assert.throws(() => fs.rename(alice, pub, 'sub', other, 'sub', 0), { code: 'EACCES' });
    fs.rename(alice, pub, 'sub', pub, 'renamed', 0);
    fs.setattr(alice, sub, { mode: 0o755 });
    fs.rename(alice, pub, 'renamed', other, 'sub', 0);
  });

  it('chmod, chown, utimes and truncate follow the ownership rules', () => {
    const fs = checked();
    const pub = fs.mkdir(root, ROOT_ID, 'pub', 0o777).ino;
    const f = fs.mknod(alice, pub, 'f', 0o100644, 0).ino;
    assert.throws(() => fs.setattr(bob, f, { mode: 0o777 }), { code: 'EPERM' });
    fs.setattr(alice, f, { mode: 0o600 });
    assert.throws(() => fs.setattr(alice, f, { uid: 1001 }), { code: 'EPERM' });
    fs.setattr(alice, f, { uid: 1000 });
    assert.throws(() => fs.setattr(alice, f, { gid: 50 }), { code: 'EPERM' }, 'not a member of 50');
    const g = fs.mknod(carol, pub, 'g', 0o100644, 0).ino;
    fs.setattr(carol, g, { gid: 50 });
    assert.equal(fs.getattr(root, g).attr.gid, 50);
    fs.setattr(root, f, { uid: 1001, gid: 7 });
    // utimes: explicit times need ownership; "now" needs ownership or write permission.
    assert.throws(() => fs.setattr(alice, f, { mtime: { sec: 1, nsec: 0 } }), { code: 'EPERM' });
    assert.throws(() => fs.setattr(alice, f, { atime: 'now', mtime: 'now' }), { code: 'EACCES' });
    fs.setattr(root, f, { mode: 0o666 });
    fs.setattr(alice, f, { atime: 'now', mtime: 'now' });
    assert.throws(() => fs.setattr(alice, f, { atime: { sec: 1, nsec: 0 } }), { code: 'EPERM' });
    // truncate needs write permission (or a writable handle).
    fs.setattr(root, f, { mode: 0o644 });
    assert.throws(() => fs.setattr(alice, f, { size: 0 }), { code: 'EACCES' });
    const fh = fs.open(bob, f, O_RDONLY).fh!;
    fs.setattr(bob, f, { size: 0, fh });
    assert.throws(() => fs.setattr(alice, f, { size: 0, fh }), { code: 'EACCES' });
    const wfh = fs.open(bob, f, O_WRONLY).fh!;
    fs.setattr(root, f, { mode: 0o444 });
    fs.setattr(alice, f, { size: 1, fh: wfh });
  });

  it('lets a writer drop set-id bits by mode, as the kernel does after a write, and nothing more', () => {
    const fs = checked();
    const pub = fs.mkdir(root, ROOT_ID, 'pub', 0o777).ino;
    const f = fs.mknod(root, pub, 'f', 0o106766, 0).ino;
    assert.throws(() => fs.setattr(alice, f, { mode: 0o2777 }), { code: 'EPERM' }, 'adds bits');
    assert.throws(() => fs.setattr(alice, f, { mode: 0o6766 }), { code: 'EPERM' }, 'no change');
    assert.throws(() => fs.setattr(alice, f, { mode: 0o2744 }), { code: 'EPERM' }, 'drops other bits');
    fs.setattr(carol, f, { mode: 0o2766 });
    assert.equal(mode(fs, f), 0o100766, 'carol is not in group 0: the sgid goes too');
    fs.setattr(root, f, { mode: 0o6766, gid: 50 });
    fs.setattr(carol, f, { mode: 0o2766 });
    assert.equal(mode(fs, f), 0o102766);
    fs.setattr(root, f, { mode: 0o6764 });
    assert.throws(() => fs.setattr(alice, f, { mode: 0o764 }), { code: 'EACCES' }, 'needs write permission');
  });

  it('device nodes need root; umask applies to everything but symlinks', () => {
    const fs = checked();
    const pub = fs.mkdir(root, ROOT_ID, 'pub', 0o777).ino;
    assert.throws(() => fs.mknod(alice, pub, 'dev', 0o020666, 0x103), { code: 'EPERM' });
    fs.mknod(alice, pub, 'fifo', 0o010666, 0);
    const u = ctx({ uid: 1000, gid: 1000, umask: 0o027 });
    assert.equal(fs.mknod(u, pub, 'a', 0o100666, 0).attr.mode, 0o100640);
    assert.equal(fs.mkdir(u, pub, 'b', 0o777).attr.mode, 0o40750);
    assert.equal(fs.create(u, pub, 'c', 0o666, O_RDWR).entry.attr.mode, 0o100640);
    assert.equal(fs.tmpfile(u, pub, 0o666, O_RDWR).entry.attr.mode, 0o100640);
    assert.equal(fs.symlink(u, pub, 'd', 'x').attr.mode, 0o120777);
  });

  it('without checkPermissions anyone may do anything', () => {
    const fs = new Tmpfs({ uid: 0, gid: 0, mode: 0o755 });
    const f = fs.mknod(alice, ROOT_ID, 'x', 0o100000, 0).ino;
    fs.setattr(bob, f, { mode: 0o777, uid: 5 });
    const fh = fs.open(bob, f, O_RDWR).fh!;
    fs.write(bob, f, fh, 0, bytes('x'), 0);
    fs.unlink(bob, ROOT_ID, 'x');
  });
});

describe('tmpfs set-id and sticky semantics', () => {
  it('setgid directories pass on their group, and the bit to subdirectories', () => {
    const fs = new Tmpfs({ uid: 0, gid: 0 });
    // mkdir(2) drops set-id bits from the mode it is given (Linux vfs_mkdir); chmod sets them.
    const d = fs.mkdir(root, ROOT_ID, 'shared', 0o6777).ino;
    assert.equal(mode(fs, d), 0o40777);
    fs.setattr(root, d, { gid: 50, mode: 0o2777 });
    assert.equal(mode(fs, d) & 0o2000, 0o2000);
    const f = fs.mknod(alice, d, 'f', 0o100644, 0).attr;
    assert.equal(f.gid, 50);
    assert.equal(f.mode & 0o2000, 0);
    const sub = fs.mkdir(alice, d, 'sub', 0o755).attr;
    assert.equal(sub.gid, 50);
    assert.equal(sub.mode, 0o42755);
    // A creator outside the group may not create an executable setgid file there.
    assert.equal(fs.mknod(alice, d, 'g', 0o102755, 0).attr.mode, 0o100755);
    assert.equal(fs.mknod(carol, d, 'h', 0o102755, 0).attr.mode, 0o102755);
    // Outside a setgid directory the creator's group is used.
    assert.equal(fs.mknod(alice, ROOT_ID, 'i', 0o100644, 0).attr.gid, 1000);
  });

  it('a write by a non-root caller clears suid, and sgid when group-executable', () => {
    const fs = new Tmpfs({ uid: 0, gid: 0 });
    const f = fs.mknod(alice, ROOT_ID, 'f', 0o106777, 0).ino;
    const fh = fs.open(alice, f, O_RDWR).fh!;
    fs.write(root, f, fh, 0, bytes('root keeps'), 0);
    assert.equal(mode(fs, f), 0o106777);
    fs.write(alice, f, fh, 0, bytes('x'), 0);
    assert.equal(mode(fs, f), 0o100777);
    // sgid without group x is a locking mark: kept for group members, dropped otherwise.
    fs.setattr(root, f, { mode: 0o2764 });
    fs.write(alice, f, fh, 0, bytes('x'), 0);
    assert.equal(mode(fs, f), 0o102764);
    fs.write(bob, f, fh, 0, bytes('x'), 0);
    assert.equal(mode(fs, f), 0o100764);
    // Truncation by a non-root caller, and the kernel's kill flag on setattr, do the same.
    fs.setattr(root, f, { mode: 0o4755 });
    fs.setattr(alice, f, { size: 0 });
    assert.equal(mode(fs, f), 0o100755);
    fs.setattr(root, f, { mode: 0o6755 });
    fs.setattr(root, f, { killSuidgid: true });
    assert.equal(mode(fs, f), 0o100755);
  });

  it('chown clears suid (and a real sgid) on files for any caller, not on directories', () => {
    const fs = new Tmpfs({ uid: 0, gid: 0 });
    const f = fs.mknod(root, ROOT_ID, 'f', 0o106755, 0).ino;
    fs.setattr(root, f, { uid: 1000 });
    assert.equal(mode(fs, f), 0o100755);
    fs.setattr(root, f, { mode: 0o6745 });
    fs.setattr(root, f, { gid: 5 });
    assert.equal(mode(fs, f), 0o102745, 'sgid without group x survives');
    const d = fs.mkdir(root, ROOT_ID, 'd', 0o755).ino;
    fs.setattr(root, d, { mode: 0o6755 });
    fs.setattr(root, d, { uid: 1000 });
    assert.equal(mode(fs, d), 0o46755);
  });

  it('the kill flags the kernel sends under killsPrivs: a write by root without CAP_FSETID, and an empty SETATTR (chown(-1, -1)) from the owner or root', () => {
    const fs = new Tmpfs({ uid: 0, gid: 0 });
    assert.equal(fs.features?.killsPrivs, true);
    const f = fs.mknod(alice, ROOT_ID, 'f', 0o106777, 0).ino;
    const fh = fs.open(root, f, O_RDWR).fh!;
    fs.write(root, f, fh, 0, bytes('x'), WRITE_KILL_PRIVS);
    assert.equal(mode(fs, f), 0o100777, 'the flag clears even for uid 0');
    // An empty SETATTR from someone else changes nothing, times included.
    fs.setattr(root, f, { mode: 0o6755 });
    const before = fs.getattr(root, f).attr;
    fs.setattr(bob, f, {});
    assert.deepEqual(fs.getattr(root, f).attr, before);
    // From the owner it clears as chown does: suid, and sgid where group-executable.
    fs.setattr(alice, f, {});
    assert.equal(mode(fs, f), 0o100755);
    fs.setattr(root, f, { mode: 0o6745 });
    fs.setattr(root, f, {});
    assert.equal(mode(fs, f), 0o102745);
  });

  it('chmod by a non-member of the file group drops sgid', () => {
    const fs = new Tmpfs({ uid: 0, gid: 0 });
    const f = fs.mknod(alice, ROOT_ID, 'f', 0o100644, 0).ino;
    fs.setattr(root, f, { gid: 50 });
    fs.setattr(alice, f, { mode: 0o2755 });
    assert.equal(mode(fs, f), 0o100755);
    fs.setattr(carol, f, { mode: 0o2755 });
    assert.equal(mode(fs, f), 0o102755);
    fs.setattr(root, f, { mode: 0o2755 });
    assert.equal(mode(fs, f), 0o102755);
  });
});
