/**
 * The vnode layer: lookup counts (FORGET on release, zero after close),
 * entry and attribute caches with the server's timeouts, invalidation
 * notifications, negative entries, and the path walk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tmpfs } from '../fs/tmpfs/index.js';
import { ROOT_ID } from '../server/types.js';
import { counted, pair, sleep } from './fixtures/testing.js';
import type { PuffsFs } from './promises.js';

async function busyWork(client: PuffsFs): Promise<void> {
  await client.mkdir('/a/b/c', { recursive: true });
  for (let i = 0; i < 20; i++) await client.writeFile(`/a/f${i}`, `file ${i}`);
  await client.symlink('/a/b', '/lnk');
  await client.link('/a/f1', '/a/b/hard');
  await client.readdir('/a', { withFileTypes: true });
  await client.stat('/lnk/c');
  await client.rename('/a/f2', '/a/b/c/f2');
  await client.unlink('/a/f3');
  await client.rm('/a/b/c', { recursive: true });
  const h = await client.open('/a/f4', 'r+');
  await h.write('x');
  await client.unlink('/a/f4'); // open but unlinked: the node must live until the handle closes
  assert.equal((await h.stat()).nlink, 0);
  await h.close();
  await client.readdir('/', { recursive: true });
}

test('lookup counts go back to zero after close, and every node is forgotten', { timeout: 20_000 }, async () => {
  const c = counted(new Tmpfs());
  const { client, session, ended } = await pair(c.fs, { entryTimeout: 60, attrTimeout: 60 });
  await busyWork(client);
  const held = [...c.handedOut].filter((ino) => session.lookupCount(ino) > 0);
  assert.ok(held.length > 10, `the client holds references while attached (${held.length})`);
  for (const ino of held) assert.equal(client.core.vfs.lookupCount(ino), session.lookupCount(ino), `node ${ino}: both sides count the same`);
  await client.close();
  for (const ino of c.handedOut) assert.equal(session.lookupCount(ino), 0, `node ${ino} still has lookups`);
  assert.deepEqual([...new Set(c.forgotten)].sort(), [...c.handedOut].filter((i) => i !== ROOT_ID).sort(), 'forget reached the file system for every node');
  assert.equal(await ended, undefined, 'the session ended cleanly');
});

test('idle vnodes are forgotten while attached (FORGET/BATCH_FORGET), and looked up again when used', { timeout: 20_000 }, async () => {
  const c = counted(new Tmpfs());
  const { client, session } = await pair(c.fs, { entryTimeout: 0.05, attrTimeout: 0.05 }, { idleMs: 20, sweepMs: 25 });
  const inos: number[] = [];
  for (let i = 0; i < 10; i++) {
    await client.writeFile(`/x${i}`, 'x');
    inos.push((await client.stat(`/x${i}`)).ino);
  }
  const ino = inos[3]!;
  assert.ok(session.lookupCount(ino) > 0);
  await sleep(250);
  for (const i of inos) assert.equal(session.lookupCount(i), 0, `node ${i} forgotten`);
  assert.ok(c.forgotten.includes(ino));
  assert.equal(client.core.vfs.table.size, 1, 'only the root is left');
  c.reset();
  assert.equal((await client.stat('/x3')).ino, ino);
  assert.equal(c.count('lookup'), 1, 'looked up again');
  await client.close();
});

test('the table is kept under maxVnodes', { timeout: 20_000 }, async () => {
  const { client, session } = await pair(new Tmpfs(), { entryTimeout: 3600, attrTimeout: 3600 }, { maxVnodes: 30 });
  for (let i = 0; i < 120; i++) await client.writeFile(`/n${i}`, '');
  // RELEASEs are not awaited by close(), so the last sweep may trail a little (more on a loaded machine).
  for (const end = Date.now() + 2000; client.core.vfs.table.size > 31 && Date.now() < end; ) await sleep(10);
  assert.ok(client.core.vfs.table.size <= 31, `table has ${client.core.vfs.table.size} vnodes`);
  assert.equal((await client.readdir('/')).length, 120);
  await client.close();
  assert.equal(session.lookupCount(5), 0);
});

test('entry and attribute caches honour the server timeouts (0 = always ask)', { timeout: 20_000 }, async () => {
  {
    const c = counted(new Tmpfs());
    const { client } = await pair(c.fs, { entryTimeout: 0, attrTimeout: 0 });
    await client.writeFile('/f', 'x');
    c.reset();
    for (let i = 0; i < 3; i++) await client.stat('/f');
    assert.equal(c.count('lookup'), 3, 'entry timeout 0: a LOOKUP per walk');
    assert.equal(c.count('getattr'), 3, 'attr timeout 0: a GETATTR per stat');
    await client.close();
  }
  {
    const c = counted(new Tmpfs());
    const { client } = await pair(c.fs, { entryTimeout: 60, attrTimeout: 60 });
    await client.writeFile('/f', 'x');
    await client.stat('/f');
    c.reset();
    for (let i = 0; i < 3; i++) await client.stat('/f');
    assert.equal(c.count('lookup'), 0, 'cached entry');
    assert.equal(c.count('getattr'), 0, 'cached attributes');
    await client.close();
  }
  {
    const c = counted(new Tmpfs());
    const { client } = await pair(c.fs, { entryTimeout: 0.1, attrTimeout: 0.1 });
    await client.writeFile('/f', 'x');
    await client.stat('/f');
    c.reset();
    await client.stat('/f');
    assert.equal(c.count('lookup') + c.count('getattr'), 0, 'fresh');
    await sleep(150);
    await client.stat('/f');
    assert.equal(c.count('lookup'), 1, 'entry expired');
    await client.close();
  }
});

test('negative entries are cached for the negative timeout only', { timeout: 20_000 }, async () => {
  const c = counted(new Tmpfs());
  const { client } = await pair(c.fs, { negativeTimeout: 60 });
  await assert.rejects(client.stat('/missing'), { code: 'ENOENT' });
  await assert.rejects(client.stat('/missing'), { code: 'ENOENT' });
  assert.equal(c.count('lookup'), 1, 'the second ENOENT came from the cache');
  // Creating the name through this client replaces the negative entry.
  await client.writeFile('/missing', 'now here');
  assert.equal(await client.readFile('/missing', 'utf8'), 'now here');
  await client.close();
});

test('invalidation notifications from the server are honoured', { timeout: 20_000 }, async () => {
  const tmpfs = new Tmpfs();
  const c = counted(tmpfs);
  const { client, session } = await pair(c.fs, { entryTimeout: 3600, attrTimeout: 3600 });
  await client.writeFile('/a', 'one');
  const ino = (await client.stat('/a')).ino;
  const ctx = { uid: 0, gid: 0, pid: 1, umask: 0, unique: 0, signal: new AbortController().signal, groups: () => [] };

  // Behind the client's back: the name moves. The cached entry still says /a.
  tmpfs.rename(ctx, ROOT_ID, 'a', ROOT_ID, 'b', 0);
  assert.equal((await client.stat('/a')).ino, ino, 'stale without a notification (the cache is real)');
  assert.equal(await session.invalEntry(ROOT_ID, 'a'), true);
  await sleep(5);
  await assert.rejects(client.stat('/a'), { code: 'ENOENT' });
  assert.equal((await client.stat('/b')).ino, ino);

  // Attributes changed behind its back.
  tmpfs.setattr(ctx, ino, { size: 1000 });
  assert.equal((await client.stat('/b')).size, 3, 'cached attributes');
  await session.invalInode(ino, -1, 0);
  await sleep(5);
  assert.equal((await client.stat('/b')).size, 1000);

  // A name deleted behind its back.
  tmpfs.unlink(ctx, ROOT_ID, 'b');
  await session.notifyDelete(ROOT_ID, ino, 'b');
  await sleep(5);
  await assert.rejects(client.stat('/b'), { code: 'ENOENT' });

  // RETRIEVE is answered (with nothing: there is no page cache), so the server does not wait.
  const got = await session.retrieve(ino, 0, 100);
  assert.equal(got.byteLength, 0);
  await client.close();
});

test('path walk: symlinks up to 40 deep, ELOOP beyond, .. stops at the root, long names', { timeout: 20_000 }, async () => {
  const { client } = await pair(new Tmpfs());
  await client.writeFile('/target', 'end');
  await client.symlink('target', '/l0');
  for (let i = 1; i <= 40; i++) await client.symlink(`l${i - 1}`, `/l${i}`);
  assert.equal(await client.readFile('/l39', 'utf8'), 'end', '40 links are followed');
  await assert.rejects(client.readFile('/l40'), { code: 'ELOOP', syscall: 'open' });
  await client.mkdir('/d');
  assert.equal((await client.stat('/../../d/../..')).ino, ROOT_ID);
  assert.equal(await client.realpath('/d/../../d/./'), '/d');
  await assert.rejects(client.stat('/' + 'x'.repeat(256)), { code: 'ENAMETOOLONG' });
  await assert.rejects(client.stat('/d/' + 'y/'.repeat(2100)), { code: 'ENAMETOOLONG' });
  await assert.rejects(client.stat('/target/x'), { code: 'ENOTDIR' });
  await assert.rejects(client.stat(''), { code: 'ENOENT' });
  await assert.rejects(client.stat('a\0b'), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(client.stat(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal((await client.stat(Buffer.from('/target'))).size, 3);
  assert.equal((await client.stat(new URL('file:///target'))).size, 3);
  await client.close();
});

test('permission checks from cached attributes, in the kernel\'s order (default_permissions)', { timeout: 20_000 }, async () => {
  const { client: root } = await pair(new Tmpfs({ checkPermissions: true }), { entryTimeout: 60, attrTimeout: 60 }, { uid: 0, gid: 0, groups: [] });
  const as = (uid: number, gid = uid): PuffsFs => root.withCredentials({ uid, gid, groups: [] });
  const code = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: NodeJS.ErrnoException) => e.code ?? String(e));
  // search permission on every directory walked, cached entries or not
  await root.mkdir('/a', 0o700);
  await root.symlink('a', '/a/a');
  await root.lstat('/a/a');
  assert.equal(await code(as(1000).stat('/a/a')), 'EACCES');
  await root.mkdir('/d');
  await root.chmod('/d', 0o444);
  assert.equal(await code(as(1001).readFile('/d/.')), 'EACCES');
  // sticky directory: EPERM before the type check
  await root.mkdir('/s');
  await root.chmod('/s', 0o1777);
  await root.writeFile('/s/f', '');
  await root.mkdir('/s/dir');
  assert.equal(await code(as(1000).rmdir('/s/f')), 'EPERM');
  assert.equal(await code(as(1000).unlink('/s/dir')), 'EPERM');
  // write permission on the parent before the type check
  assert.equal(await code(as(1001, 1000).rmdir('/d/x')), 'EACCES');
  await root.chmod('/d', 0o755);
  await root.writeFile('/d/f', '');
  assert.equal(await code(as(1001, 1000).rmdir('/d/f')), 'EACCES');
  // trailing slash on a name being created: an existing name is EEXIST
  await root.symlink('loop', '/loop');
  assert.equal(await code(root.mkdir('/loop/')), 'EEXIST');
  assert.equal(await code(root.symlink('x', '/d/f/')), 'EEXIST');
  assert.equal(await code(root.rmdir('/loop/')), 'ENOTDIR');
  // rename: a missing source and '.' come before a name too long
  assert.equal(await code(root.rename('/nothing', '/' + 'n'.repeat(256))), 'ENOENT');
  assert.equal(await code(root.rename('/' + 'n'.repeat(256), '/.')), 'EBUSY');
  // chmod by another user: EPERM
  assert.equal(await code(as(1001).chmod('/d', 0o777)), 'EPERM');
  // protected_hardlinks: another user's file that one cannot read and write
  assert.equal(await code(as(1000).link('/d/f', '/s/l')), 'EPERM');
  // chown drops suid from a file, root's chown included; another user's chown of such a file is EPERM
  await root.chmod('/d/f', 0o4755);
  assert.equal(await code(as(1000).chown('/d/f', -1, -1)), 'EPERM');
  await root.chown('/d/f', -1, -1);
  assert.equal((await root.stat('/d/f')).mode & 0o7777, 0o755);
  // a zero-length read answers before the access mode is checked
  const h = await root.open('/d/f', 'w');
  assert.equal((await h.read(Buffer.alloc(4), 0, 0, 0)).bytesRead, 0);
  await h.close();
  // root may search any directory
  await root.chmod('/a', 0);
  assert.equal(await code(root.lstat('/a/a')), 'ok');
  await root.close();
});
