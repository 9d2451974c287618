/**
 * Faults: the server dies or disconnects (every pending call rejects with
 * ENOTCONN/EIO within a second, later calls fail fast, nothing hangs, no
 * unhandled rejection), a slow server does not block unrelated calls, and
 * close() lets calls in flight finish.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HelloFs } from '../fs/hello/index.js';
import type { FileSystem } from '../server/ops.js';
import { fsError } from '../errors.js';
import { attach } from './attach.js';
import { pair, sleep, track } from './fixtures/testing.js';
import * as net from 'node:net';
import { decodeRequest, encodeReply, type Request } from '../protocol/index.js';
import { encodeStatus, MAGIC } from './handshake.js';
import { Framer } from '../transport/framer.js';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
process.on('unhandledRejection', onUnhandled);
after(() => process.off('unhandledRejection', onUnhandled));

/** Lines a child prints, as they come. */
function lines(child: ReturnType<typeof spawn>): (want: string) => Promise<void> {
  let buffer = '';
  const seen = new Set<string>();
  const waiters: (() => void)[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buffer += d;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      seen.add(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  return async (want) => {
    const deadline = Date.now() + 10_000;
    while (!seen.has(want)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`child never printed ${want}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
}

test('a server killed (kill -9) in the middle of a large write: the write rejects within 1 s, later calls fail fast', { timeout: 20_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'puffs-kill-'));
  const sock = join(dir, 'server.sock');
  const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/serve-child.js', import.meta.url)), sock, '20'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    const wait = lines(child);
    await wait('ready');
    const client = track(await attach(`unix:${sock}`));
    await client.writeFile('/small', 'still here');
    const big = Buffer.alloc(64 * 1024 * 1024, 0xab);
    const write = client.writeFile('/big', big).then(
      () => undefined,
      (err: NodeJS.ErrnoException) => err,
    );
    await wait('writing');
    const killedAt = performance.now();
    child.kill('SIGKILL');
    const err = await write;
    const delay = performance.now() - killedAt;
    assert.ok(err, 'the write failed');
    assert.ok(err.code === 'ENOTCONN' || err.code === 'EIO', `code ${err.code}`);
    assert.equal(err.syscall, 'write');
    assert.ok(delay < 1000, `rejected ${delay.toFixed(0)} ms after the kill`);
    const t0 = performance.now();
    await assert.rejects(client.stat('/small'), { code: 'ENOTCONN', syscall: 'stat', path: '/small' });
    await assert.rejects(client.readFile('/small'), { code: 'ENOTCONN' });
    assert.ok(performance.now() - t0 < 100, 'later calls fail fast');
    assert.ok(await client.closed, 'closed reports why');
    await client.close();
  } finally {
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
});

test('a worker whose server crashes: the pending call rejects, later calls fail fast', { timeout: 20_000 }, async () => {
  const client = track(await attach({ worker: new URL('./fixtures/crashing-fs.js', import.meta.url), export: 'CrashingFs' }));
  assert.deepEqual(await client.readdir('/'), ['crash']);
  const t0 = performance.now();
  const err = (await client.readFile('/crash').catch((e: NodeJS.ErrnoException) => e)) as NodeJS.ErrnoException;
  assert.equal(err.code, 'ENOTCONN');
  assert.match(err.message, /worker failed: boom/);
  assert.ok(performance.now() - t0 < 1000);
  await assert.rejects(client.stat('/'), { code: 'ENOTCONN' });
  await client.close();
});

test('a slow server operation does not block unrelated calls', { timeout: 20_000 }, async () => {
  const hello = new HelloFs();
  const slow: FileSystem = {
    getattr: hello.getattr.bind(hello),
    readdir: hello.readdir.bind(hello),
    open: hello.open.bind(hello),
    read: hello.read.bind(hello),
    lookup: async (ctx, parent, name) => {
      if (name === 'slow') {
        await sleep(800);
        throw fsError('ENOENT');
      }
      return hello.lookup(ctx, parent, name);
    },
  };
  const { client } = await pair(slow, {}, { closeTimeoutMs: 100 });
  const slowCall = client.stat('/slow').catch((e: NodeJS.ErrnoException) => e.code);
  await sleep(10);
  const t0 = performance.now();
  assert.equal(await client.readFile('/hello', 'utf8'), 'Hello, world!\n');
  const entries = await client.readdir('/');
  const fast = performance.now() - t0;
  assert.deepEqual(entries, ['hello']);
  assert.ok(fast < 200, `unrelated calls took ${fast.toFixed(0)} ms`);
  assert.equal(await slowCall, 'ENOENT');
  await client.close();
});

test('close() lets calls in flight finish, then later calls fail with ENOTCONN', { timeout: 20_000 }, async () => {
  const hello = new HelloFs();
  const fs: FileSystem = {
    getattr: hello.getattr.bind(hello),
    lookup: async (ctx, parent, name) => {
      await sleep(100);
      return hello.lookup(ctx, parent, name);
    },
  };
  const { client, ended } = await pair(fs);
  const inFlight = client.stat('/hello');
  await sleep(5);
  const closing = client.close();
  assert.equal((await inFlight).size, 14, 'the call in flight completed');
  await closing;
  assert.equal(await ended, undefined);
  await assert.rejects(client.stat('/hello'), { code: 'ENOTCONN' });
});

test('close() of a session whose server stopped answering returns after closeTimeoutMs', { timeout: 20_000 }, async () => {
  const hello = new HelloFs();
  const stuck: FileSystem = {
    getattr: hello.getattr.bind(hello),
    lookup: hello.lookup.bind(hello),
    open: hello.open.bind(hello),
    flush: () => new Promise<void>(() => undefined), // never answers
    read: () => new Promise<Uint8Array>(() => undefined),
  };
  const { client } = await pair(stuck, {}, { closeTimeoutMs: 150 });
  const h = await client.open('/hello');
  const read = h.read().catch((e: NodeJS.ErrnoException) => e.code);
  const t0 = performance.now();
  await client.close();
  const took = performance.now() - t0;
  assert.ok(took < 1000, `close took ${took.toFixed(0)} ms`);
  assert.equal(await read, 'ENOTCONN');
});

/**
 * A socket server that does the handshake and INIT properly, answers the
 * root's GETATTR, then misbehaves on the first other request as `bad` says.
 */
async function misbehaving(bad: (socket: net.Socket, req: Request) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'puffs-bad-'));
  const path = join(dir, 'bad.sock');
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let greeted = false;
    let pending = Buffer.alloc(0);
    const framer = new Framer((frame) => {
      const req = decodeRequest(Uint8Array.from(frame), { setxattrExt: true });
      if (req.op === 'init') {
        for (const p of encodeReply('init', req.header.unique, { major: 7, minor: 45, maxWrite: 65536 })) socket.write(p);
      } else if (req.op === 'getattr' && req.header.nodeid === 1) {
        const attr = { ino: 1, mode: 0o40755, nlink: 2, uid: 0, gid: 0, rdev: 0, size: 0, blocks: 0, atime: 0, mtime: 0, ctime: 0, atimensec: 0, mtimensec: 0, ctimensec: 0, blksize: 4096, flags: 0 };
        for (const p of encodeReply('getattr', req.header.unique, { attrValid: 0, attr })) socket.write(p);
      } else bad(socket, req);
    });
    socket.on('data', (d: Buffer) => {
      if (!greeted) {
        pending = Buffer.concat([pending, d]);
        if (pending.byteLength < MAGIC.byteLength + 4) return;
        const len = pending.readUInt32LE(MAGIC.byteLength);
        if (pending.byteLength < MAGIC.byteLength + 4 + len) return;
        greeted = true;
        socket.write(encodeStatus(0));
        d = pending.subarray(MAGIC.byteLength + 4 + len);
      }
      if (d.byteLength) framer.push(d);
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    url: `unix:${path}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('a server that sends a garbage frame: pending calls get EIO, the session is closed with the reason', { timeout: 20_000 }, async () => {
  const bad = await misbehaving((socket) => socket.write(Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4])));
  try {
    const client = track(await attach(bad.url));
    const err = (await client.stat('/x').catch((e: NodeJS.ErrnoException) => e)) as NodeJS.ErrnoException;
    assert.equal(err.code, 'EIO');
    assert.match(err.message, /exceeds the maximum/);
    assert.match(String((await client.closed)?.message), /frame length/);
    await assert.rejects(client.stat('/'), { code: 'ENOTCONN' });
    await client.close();
  } finally {
    await bad.close();
  }
});

test('a server that stalls in the middle of a reply: calls fail after the stall timeout instead of hanging', { timeout: 20_000 }, async () => {
  const bad = await misbehaving((socket) => socket.write(Buffer.from([200, 0, 0, 0, 0, 0])));
  try {
    const client = track(await attach(bad.url, { stallTimeoutMs: 200 }));
    const t0 = performance.now();
    const err = (await client.readdir('/').catch((e: NodeJS.ErrnoException) => e)) as NodeJS.ErrnoException;
    assert.equal(err.code, 'EIO');
    assert.match(err.message, /stalled mid-frame/);
    assert.ok(performance.now() - t0 < 2000);
    await client.close();
  } finally {
    await bad.close();
  }
});

test('no unhandled rejections were left behind', { timeout: 20_000 }, async () => {
  await sleep(20);
  assert.deepEqual(unhandled, []);
});
