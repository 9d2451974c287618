/**
 * What a call costs in requests, and that the shortcuts stay correct:
 * O_TRUNC on OPEN (atomic_o_trunc), a size known after this client's own
 * reads and writes (only the groups of attributes they change go stale),
 * invalidations honoured.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tmpfs } from '../fs/tmpfs/index.js';
import type { FileSystem } from '../server/ops.js';
import { FsError } from '../errors.js';
import { counted, pair, sleep, track } from './fixtures/testing.js';
import { attach } from './attach.js';

/** counted() with the wrapped file system's features (counted() leaves them out). */
function countedWithFeatures(inner: Tmpfs, features: FileSystem['features'] = inner.features) {
  const c = counted(inner);
  (c.fs as { features?: FileSystem['features'] }).features = features;
  return c;
}

/** As countedWithFeatures, for a test that gives the file system a flush of its own (one that does more than release locks). */
function countedWithOwnFlush(inner: Tmpfs) {
  return countedWithFeatures(inner, { ...inner.features, flushOnlyReleasesLocks: false });
}

const ctx = { uid: 0, gid: 0, pid: 1, umask: 0, unique: 0, signal: new AbortController().signal, groups: () => [] };

test('O_TRUNC rides on OPEN when the server takes atomic_o_trunc: no SETATTR, and the new size is seen', { timeout: 10_000 }, async () => {
  const c = countedWithFeatures(new Tmpfs());
  const { client } = await pair(c.fs, { attrTimeout: 60, entryTimeout: 60 });
  assert.equal(client.info.atomicOTrunc, true);
  await client.writeFile('/f', 'a longer first content');
  const before = await client.stat('/f');
  await sleep(2);
  c.reset();
  await client.writeFile('/f', 'ab');
  assert.equal(c.count('open'), 1);
  assert.equal(c.count('setattr'), 0, 'no SETATTR for the truncation');
  const after = await client.stat('/f');
  assert.equal(after.size, 2);
  assert.ok(after.mtimeMs > before.mtimeMs, 'mtime moved (the stat asked the server again)');
  assert.equal(await client.readFile('/f', 'utf8'), 'ab');
  // O_RDONLY | O_TRUNC truncates too, as on Linux.
  const h = await client.open('/f', 0o1000);
  await h.close();
  assert.equal((await client.stat('/f')).size, 0);
  assert.equal((await client.readFile('/f')).length, 0);
});

test('without atomic_o_trunc, O_TRUNC is a SETATTR after the OPEN', { timeout: 10_000 }, async () => {
  const c = counted(new Tmpfs()); // no features: the session does not offer ATOMIC_O_TRUNC
  const { client } = await pair(c.fs);
  assert.equal(client.info.atomicOTrunc, false);
  await client.writeFile('/f', 'a longer first content');
  c.reset();
  await client.writeFile('/f', 'ab');
  assert.equal(c.count('setattr'), 1);
  assert.equal(await client.readFile('/f', 'utf8'), 'ab');
});

test('readFile: the size stays known after reads and after this client\'s writes; stat still sees atime and mtime change', { timeout: 10_000 }, async () => {
  const c = countedWithFeatures(new Tmpfs());
  const { client } = await pair(c.fs, { attrTimeout: 60, entryTimeout: 60 });
  await client.writeFile('/f', 'x'.repeat(5000));
  await client.readFile('/f');
  c.reset();
  for (let i = 0; i < 3; i++) assert.equal((await client.readFile('/f')).length, 5000);
  assert.equal(c.count('getattr'), 0, 'no GETATTR: a read makes only atime stale');
  const s1 = await client.stat('/f');
  assert.equal(c.count('getattr'), 1, 'stat after a read asks again (atime)');
  await sleep(2);

  // Writes through a handle: growing, then within the file.
  const h = await client.open('/f', 'r+');
  await h.write(Buffer.from('tail'), 0, 4, 9000);
  await h.write(Buffer.from('head'), 0, 4, 0);
  await h.close();
  c.reset();
  const data = await client.readFile('/f');
  assert.equal(data.length, 9004, 'the size this client wrote up to');
  assert.equal(data.subarray(0, 4).toString(), 'head');
  assert.equal(data.subarray(9000).toString(), 'tail');
  assert.equal(c.count('getattr'), 0);
  const s2 = await client.stat('/f');
  assert.equal(c.count('getattr'), 1, 'stat after a write asks again (mtime, ctime, blocks)');
  assert.equal(s2.size, 9004);
  assert.ok(s2.mtimeMs > s1.mtimeMs);
  assert.ok(s2.blocks > s1.blocks);
});

test('a write that may drop setuid leaves the mode stale: the protected-hardlink check sees the bit gone', { timeout: 10_000 }, async () => {
  const { client } = await pair(new Tmpfs({ checkPermissions: true }), { attrTimeout: 60, entryTimeout: 60 });
  await client.chmod('/', 0o777);
  await client.writeFile('/suid', 'x');
  await client.chmod('/suid', 0o4666);
  const user = client.withCredentials({ uid: 1000, gid: 1000, groups: [] });
  await assert.rejects(user.link('/suid', '/l1'), { code: 'EPERM' }, 'a setuid file of another owner cannot be linked');
  const h = await user.open('/suid', 'r+');
  await h.write('y'); // the server drops S_ISUID: a write by someone other than root
  await h.close();
  await user.link('/suid', '/l2');
  assert.equal((await client.stat('/suid')).mode & 0o7777, 0o666);
});

test('invalidations are honoured by the cached size: readFile sees a change made behind the client\'s back once notified', { timeout: 10_000 }, async () => {
  const tmpfs = new Tmpfs();
  const { client, session } = await pair(tmpfs, { attrTimeout: 3600, entryTimeout: 3600 });
  await client.writeFile('/f', 'one');
  assert.equal(await client.readFile('/f', 'utf8'), 'one');
  const ino = (await client.stat('/f')).ino;
  tmpfs.setattr(ctx, ino, { size: 1000 });
  assert.equal((await client.readFile('/f')).length, 3, 'cached size (no notification yet)');
  await session.invalInode(ino, -1, 0);
  await sleep(5);
  assert.equal((await client.readFile('/f')).length, 1000);
});

test('two sessions on one tmpfs: a write through one is seen by readFile through the other at once', { timeout: 10_000 }, async () => {
  const tmpfs = new Tmpfs();
  const a = await pair(tmpfs, { attrTimeout: 3600, entryTimeout: 3600 });
  const b = await pair(tmpfs, { attrTimeout: 3600, entryTimeout: 3600 });
  await a.client.writeFile('/f', 'one');
  assert.equal(await b.client.readFile('/f', 'utf8'), 'one');
  await a.client.appendFile('/f', ' two');
  assert.equal(await b.client.readFile('/f', 'utf8'), 'one two');
  await a.client.writeFile('/f', '3');
  assert.equal(await b.client.readFile('/f', 'utf8'), '3');
});

test('close() does not wait for RELEASE, which still reaches the server; detach waits for it before the FORGETs', { timeout: 10_000 }, async () => {
  const c = countedWithFeatures(new Tmpfs());
  const waiting: (() => void)[] = [];
  const released: number[] = [];
  let sent = 0;
  const release = c.fs.release!;
  c.fs.release = (ctx2, ino, fh, flags) => {
    sent++;
    return new Promise<void>((resolve) => {
      waiting.push(() => {
        released.push(ino);
        resolve(release.call(c.fs, ctx2, ino, fh, flags) as void);
      });
    });
  };
  const { client, session } = await pair(c.fs, { attrTimeout: 60, entryTimeout: 60 });
  await client.writeFile('/f', 'data');
  for (const answer of waiting.splice(0)) answer();
  await sleep(5);
  released.length = 0;
  const h = await client.open('/f', 'r');
  const ino = (await h.stat()).ino;
  await h.close(); // resolves although RELEASE is not answered
  assert.equal(sent, 2, 'RELEASE was sent');
  assert.equal(waiting.length, 1, 'the server is working on it');
  assert.equal(released.length, 0);
  const v = client.core.vfs.table.get(ino)!;
  assert.equal(v.pins, 1, 'the node stays held until RELEASE is answered');
  const detached = client.close();
  await sleep(20);
  assert.ok(session.lookupCount(ino) > 0, 'no FORGET before the RELEASE is answered');
  for (const answer of waiting.splice(0)) answer();
  await detached;
  assert.deepEqual(released, [ino]);
  assert.equal(session.lookupCount(ino), 0, 'forgotten after');
});

test('a FLUSH answered ENOSYS is not sent again (no_flush), and close succeeds', { timeout: 10_000 }, async () => {
  const c = countedWithOwnFlush(new Tmpfs());
  let flushes = 0;
  c.fs.flush = () => {
    flushes++;
    throw new FsError('ENOSYS');
  };
  const { client } = await pair(c.fs);
  await client.writeFile('/f', 'one');
  assert.equal(flushes, 1);
  await client.writeFile('/f', 'two');
  assert.equal(await client.readFile('/f', 'utf8'), 'two');
  assert.equal(flushes, 1, 'not asked again');
  await sleep(5);
  assert.equal(c.count('release'), 3);
});

test('tmpfs\'s flush only releases locks and this client takes none: FLUSH is refused once and never reaches tmpfs; readFile and writeFile cost three round trips', { timeout: 10_000 }, async () => {
  const c = countedWithFeatures(new Tmpfs());
  const { client } = await pair(c.fs, { attrTimeout: 60, entryTimeout: 60 });
  await client.writeFile('/f', 'one');
  await client.writeFile('/f', 'two');
  await sleep(5);
  c.reset();
  assert.equal(await client.readFile('/f', 'utf8'), 'two');
  await client.writeFile('/f', 'three');
  await sleep(5);
  // OPEN, READ or WRITE, RELEASE each, and nothing else.
  assert.deepEqual([...c.calls].sort(), [['open', 2], ['read', 1], ['release', 2], ['write', 1]]);
  assert.equal(await client.readFile('/f', 'utf8'), 'three');
});

test('a FLUSH error is close()\'s error; the file is released all the same', { timeout: 10_000 }, async () => {
  const c = countedWithOwnFlush(new Tmpfs());
  let fail = false;
  let flushes = 0;
  const flush = c.fs.flush!;
  c.fs.flush = (ctx2, ino, fh, owner) => {
    flushes++;
    if (fail) throw new FsError('EIO');
    return flush.call(c.fs, ctx2, ino, fh, owner);
  };
  const { client } = await pair(c.fs);
  await client.writeFile('/f', 'one');
  fail = true;
  const h = await client.open('/f', 'r');
  await assert.rejects(h.close(), { code: 'EIO', syscall: 'close' });
  await sleep(5);
  assert.equal(c.count('release'), 2);
  fail = false;
  await client.writeFile('/f', 'two');
  assert.equal(flushes, 3, 'an error other than ENOSYS does not stop FLUSH');
});

test('a path walk the caches answer sends nothing; search permission, symlinks and dots still decide as in the full walk', { timeout: 10_000 }, async () => {
  const c = countedWithFeatures(new Tmpfs({ checkPermissions: true }));
  const { client } = await pair(c.fs, { attrTimeout: 60, entryTimeout: 60 });
  await client.mkdir('/d/e', { recursive: true });
  await client.writeFile('/d/e/f', 'x');
  await client.symlink('/d/e', '/l');
  const user = client.withCredentials({ uid: 1000, gid: 1000, groups: [] });
  const ino = (await user.stat('/d/e/f')).ino;
  c.reset();
  assert.equal((await user.stat('/d/e/f')).ino, ino);
  assert.equal((await user.stat('d/e/f')).ino, ino, 'relative to the root');
  assert.equal(c.count('lookup') + c.count('getattr'), 0, 'answered from the caches');
  assert.equal((await user.stat('/l/f')).ino, ino, 'through a symlink');
  assert.equal((await user.stat('/d/./e/../e/f')).ino, ino, 'dots');
  await assert.rejects(user.stat('/d/e/f/'), { code: 'ENOTDIR' }, 'trailing slash on a file');
  await assert.rejects(user.stat('/d//e/nope'), { code: 'ENOENT' });
  await client.chmod('/d/e', 0o700); // root's directory: no search for uid 1000
  await assert.rejects(user.stat('/d/e/f'), { code: 'EACCES', syscall: 'stat' });
  await assert.rejects(user.readFile('/l/f'), { code: 'EACCES' });
  assert.equal((await client.stat('/d/e/f')).ino, ino, 'root may search anything');
  const v = client.core.vfs.table.get(ino)!;
  assert.equal(v.pins, 0, 'every walk let go of what it held');
});

test('in-process attach (replies handled inside the server\'s send): two clients on one tmpfs stay coherent', { timeout: 10_000 }, async () => {
  const tmpfs = new Tmpfs();
  const a = track(await attach(tmpfs, { session: { attrTimeout: 3600, entryTimeout: 3600 } }));
  const b = track(await attach(tmpfs, { session: { attrTimeout: 3600, entryTimeout: 3600 } }));
  await a.writeFile('/f', 'one');
  assert.equal(await b.readFile('/f', 'utf8'), 'one');
  await a.appendFile('/f', ' two');
  assert.equal(await b.readFile('/f', 'utf8'), 'one two');
  assert.equal((await b.stat('/f')).size, 7);
  await b.rename('/f', '/g');
  await assert.rejects(a.readFile('/f'), { code: 'ENOENT' });
  const [x, y] = await Promise.all([a.readFile('/g', 'utf8'), b.readFile('/g', 'utf8'), a.writeFile('/h', 'h'), b.mkdir('/d')]);
  assert.equal(x, 'one two');
  assert.equal(y, 'one two');
  assert.deepEqual((await a.readdir('/')).sort(), ['d', 'g', 'h']);
  await a.close();
  await b.close();
});

test('readFile and writeFile of a name the caches answer: OPEN at once, with open(2)\'s checks and errors as the full walk gives them', { timeout: 10_000 }, async () => {
  // The file system checks nothing (default_permissions): only the client's checks refuse.
  let failOpen = 0;
  class FailingOpen extends Tmpfs {
    override open(ctx: Parameters<Tmpfs['open']>[0], ino: number, flags: number): ReturnType<Tmpfs['open']> {
      if (ino === failOpen) throw new FsError('EPERM');
      return super.open(ctx, ino, flags);
    }
  }
  const c = countedWithFeatures(new FailingOpen());
  const { client } = await pair(c.fs, { attrTimeout: 60, entryTimeout: 60 });
  await client.writeFile('/private', 'secret', { mode: 0o600 });
  await client.writeFile('/shared', 'shared');
  await client.chmod('/shared', 0o666); // past the umask
  await client.mkdir('/d');
  const user = client.withCredentials({ uid: 1000, gid: 1000, groups: [] });
  // Fill the caches: every name and every mode known.
  await user.stat('/');
  await user.stat('/private');
  await user.stat('/shared');
  await user.stat('/d');
  c.reset();
  await assert.rejects(user.readFile('/private'), { code: 'EACCES', syscall: 'open', path: '/private' });
  await assert.rejects(user.writeFile('/private', 'x'), { code: 'EACCES', syscall: 'open', path: '/private' });
  await assert.rejects(user.writeFile('/shared', 'x', { flag: 'wx' }), { code: 'EEXIST', syscall: 'open', path: '/shared' });
  await assert.rejects(client.readFile('/shared', { flag: 0o200000 /* O_DIRECTORY */ }), { code: 'ENOTDIR', syscall: 'open', path: '/shared' });
  await assert.rejects(client.readFile('/d'), { code: 'EISDIR' });
  assert.equal(c.count('open'), 0, 'refused before any OPEN');
  assert.equal(await user.readFile('/shared', 'utf8'), 'shared');
  await user.writeFile('/shared', 'mine');
  assert.equal(await client.readFile('/shared', 'utf8'), 'mine');
  assert.equal(c.count('lookup') + c.count('getattr'), 0, 'answered from the caches');
  assert.equal(c.count('open'), 3);
  // The server's refusal of the OPEN is open's error, with the path.
  failOpen = (await client.stat('/shared')).ino;
  await assert.rejects(user.readFile('/shared'), { code: 'EPERM', syscall: 'open', path: '/shared' });
  await assert.rejects(client.writeFile('/shared', 'x'), { code: 'EPERM', syscall: 'open', path: '/shared' });
  failOpen = 0;
  // A mode changed behind the cache's back is asked for again, not trusted.
  await client.chmod('/shared', 0o600);
  await assert.rejects(user.readFile('/shared'), { code: 'EACCES', syscall: 'open', path: '/shared' });
  await sleep(5); // RELEASEs are not waited for
  const vfs = client.core.vfs;
  assert.equal(vfs.table.get(failOpen || (await client.stat('/shared')).ino)!.pins, 0, 'the file is let go');
  assert.equal(vfs.root.pins, 0, 'and so is its directory');
});

test('in process, answers handled at once are the caller\'s own: concurrent listings, reads and links do not share bytes', { timeout: 10_000 }, async () => {
  // Several answers are delivered (joined in the channel's scratch buffer) before any caller runs again.
  const client = track(await attach(new Tmpfs()));
  const dirs = ['/one', '/two', '/three'];
  for (const [i, d] of dirs.entries()) {
    await client.mkdir(d);
    for (let j = 0; j < 3; j++) await client.writeFile(`${d}/${d.slice(1)}-${j}`, d.repeat(100 * (i + 1)));
    await client.symlink(`${d}-target`, `${d}/link`);
  }
  for (let round = 0; round < 3; round++) {
    const listed = await Promise.all(dirs.map((d) => client.readdir(d)));
    assert.deepEqual(listed.map((l) => l.sort()), dirs.map((d) => [...[0, 1, 2].map((j) => `${d.slice(1)}-${j}`), 'link'].sort()));
    const read = await Promise.all(dirs.map((d) => client.readFile(`${d}/${d.slice(1)}-1`, 'utf8')));
    assert.deepEqual(read, dirs.map((d, i) => d.repeat(100 * (i + 1))));
    const links = await Promise.all(dirs.map((d) => client.readlink(`${d}/link`)));
    assert.deepEqual(links, dirs.map((d) => `${d}-target`));
    const fh = await Promise.all(dirs.map((d) => client.open(`${d}/${d.slice(1)}-2`)));
    const chunks = await Promise.all(fh.map((h) => h.read(Buffer.alloc(8), 0, 8, 0)));
    assert.deepEqual(chunks.map((c) => c.buffer.toString()), dirs.map((d) => d.repeat(3).slice(0, 8)));
    await Promise.all(fh.map((h) => h.close()));
  }
});
