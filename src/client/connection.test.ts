/**
 * The requester: INIT as the kernel does it, request splitting at max_write
 * and max_pages, answers in any order, credentials and groups per call,
 * INTERRUPT on abort, and failure handling (malformed answers, answers to
 * requests never sent, the channel going away).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryPair } from '../transport/memory.js';
import type { Channel } from '../transport/channel.js';
import {
  decodeRequest,
  encodeError,
  encodeReply,
  InitFlag,
  type Request,
  type ReplyingOp,
  type ReplyInputOf,
} from '../protocol/index.js';
import { Tmpfs } from '../fs/tmpfs/index.js';
import { HelloFs } from '../fs/hello/index.js';
import { ROOT_ID, type RequestContext } from '../server/types.js';
import type { FileSystem } from '../server/ops.js';
import { fsError } from '../errors.js';
import { attach } from './attach.js';
import { LockTable } from './locks.js';
import { counted, pair, sleep, track } from './fixtures/testing.js';

const dirAttr = { ino: 1, mode: 0o40755, nlink: 2, uid: 0, gid: 0, rdev: 0, size: 0, blocks: 0, atime: 0, mtime: 0, ctime: 0, atimensec: 0, mtimensec: 0, ctimensec: 0, blksize: 4096, flags: 0 };

/** A hand-driven server: the test sees each request and answers (or not) as it likes. */
class FakeServer {
  readonly requests: Request[] = [];
  private waiters: (() => void)[] = [];
  auto = true;
  constructor(
    readonly channel: Channel,
    readonly init: Partial<ReplyInputOf<'init'>> = {},
  ) {
    channel.start({
      frame: (f) => {
        const req = decodeRequest(Uint8Array.from(f), { setxattrExt: true });
        this.requests.push(req);
        if (req.op === 'init') this.reply('init', req.header.unique, { major: 7, minor: 45, maxWrite: 65536, flags: Number(InitFlag.BIG_WRITES | InitFlag.INIT_EXT), ...this.init });
        else if (req.op === 'getattr' && req.header.nodeid === ROOT_ID && this.auto) this.reply('getattr', req.header.unique, { attrValid: 0, attr: dirAttr });
        for (const w of this.waiters.splice(0)) w();
      },
      closed: () => undefined,
    });
  }
  reply<K extends ReplyingOp>(op: K, unique: number, value: ReplyInputOf<K>): void {
    this.channel.send(encodeReply(op, unique, value));
  }
  error(unique: number, errno: number): void {
    this.channel.send([encodeError(unique, errno)]);
  }
  raw(bytes: Uint8Array): void {
    this.channel.send([bytes]);
  }
  async next(op: string): Promise<Request> {
    for (;;) {
      const r = this.requests.find((q) => q.op === op);
      if (r) {
        this.requests.splice(this.requests.indexOf(r), 1);
        return r;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

function fake(init: Partial<ReplyInputOf<'init'>> = {}) {
  const [clientEnd, serverEnd] = memoryPair();
  const server = new FakeServer(serverEnd, init);
  return { server, clientEnd };
}

/** An attached client whose server answers nothing by itself from now on (attach's own requests are answered and forgotten). */
async function heldClient() {
  const { server, clientEnd } = fake();
  const client = track(await attach({ channel: clientEnd }));
  server.auto = false;
  server.requests.length = 0;
  return { server, client, conn: client.core.conn };
}

test('INIT offers 7.45 and the flags the client honours; max_write and max_pages come from the answer', { timeout: 10_000 }, async () => {
  const { server, clientEnd } = fake({ maxWrite: 8192, maxPages: 3, flags: Number(InitFlag.BIG_WRITES | InitFlag.MAX_PAGES | InitFlag.DO_READDIRPLUS) });
  const client = track(await attach({ channel: clientEnd }));
  void server;
  assert.equal(client.info.major, 7);
  assert.equal(client.info.minor, 45);
  assert.equal(client.info.maxWrite, 8192);
  assert.equal(client.info.maxRead, 3 * 4096);
  assert.equal(client.info.readdirplus, true);
  assert.ok(!client.info.flagNames.includes('WRITEBACK_CACHE'));
  void client.close();
  await client.closed;
});

test('the INIT request is what a kernel sends', { timeout: 10_000 }, async () => {
  const [clientEnd, serverEnd] = memoryPair();
  let initReq: Request | undefined;
  serverEnd.start({
    frame: (f) => {
      const req = decodeRequest(Uint8Array.from(f));
      if (req.op === 'init') {
        initReq = req;
        serverEnd.send([encodeError(req.header.unique, 71)]);
      }
    },
    closed: () => undefined,
  });
  await assert.rejects(attach({ channel: clientEnd }), { code: 'EPROTO' });
  assert.ok(initReq && initReq.op === 'init');
  const a = (initReq as Request & { op: 'init' }).arg;
  assert.equal(a.major, 7);
  assert.equal(a.minor, 45);
  const flags = BigInt(a.flags) | (BigInt(a.flags2) << 32n);
  for (const f of ['ASYNC_READ', 'BIG_WRITES', 'MAX_PAGES', 'INIT_EXT', 'SETXATTR_EXT', 'DO_READDIRPLUS', 'PARALLEL_DIROPS', 'ATOMIC_O_TRUNC'] as const) {
    assert.ok(flags & InitFlag[f], `offers ${f}`);
  }
  for (const f of ['WRITEBACK_CACHE', 'POSIX_LOCKS', 'HANDLE_KILLPRIV_V2'] as const) assert.ok(!(flags & InitFlag[f]), `does not offer ${f}`);
});

test('writes are split at max_write and reads at max_pages, several in flight', { timeout: 10_000 }, async () => {
  const c = counted(new Tmpfs());
  let biggest = 0;
  const write = c.fs.write!;
  c.fs.write = (ctx, ino, fh, off, data, flags) => {
    biggest = Math.max(biggest, data.byteLength);
    return write(ctx, ino, fh, off, data, flags);
  };
  const { client } = await pair(c.fs, { maxWrite: 8192 });
  const data = Buffer.alloc(100_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
  await client.writeFile('/f', data);
  assert.equal(biggest, 8192);
  assert.equal(c.count('write'), Math.ceil(100_000 / 8192));
  c.reset();
  const back = await client.readFile('/f');
  assert.ok(back.equals(data));
  assert.equal(c.count('read'), Math.ceil(100_000 / 8192), 'exactly the size, as node reads it');
  await client.close();
});

test('answers arriving in any order reach their own callers', { timeout: 10_000 }, async () => {
  const { server, clientEnd } = fake();
  const client = track(await attach({ channel: clientEnd }));
  server.auto = false;
  const names = ['a', 'b', 'c', 'd', 'e'];
  const calls = names.map((n) => client.stat('/' + n).then((s) => s.size));
  const reqs: Request[] = [];
  for (let i = 0; i < names.length; i++) reqs.push(await server.next('lookup'));
  for (const r of reqs.reverse()) {
    const name = (r as Request & { op: 'lookup' }).name;
    const size = name.charCodeAt(0);
    server.reply('lookup', r.header.unique, { nodeid: 10 + size, attr: { ...dirAttr, mode: 0o100644, ino: 10 + size, size }, entryValid: 0, attrValid: 5 });
  }
  assert.deepEqual(await Promise.all(calls), names.map((n) => n.charCodeAt(0)));
  void client.close();
});

test('hundreds of requests in flight, one of them left waiting the whole time, each get their own answer', { timeout: 10_000 }, async () => {
  // The pending table keeps a ring of slots by unique id: 600 requests wrap it more than twice, and
  // the first one, never answered until the end, holds a slot that later ids map to.
  const { server, client, conn } = await heldClient();
  const cred = client.credentials;
  const call = (nodeid: number) =>
    conn.call('getattr', nodeid, { arg: { getattrFlags: 0, fh: 0 } }, cred).then((r) => r.attr.size);
  const first = call(100);
  const rest = Array.from({ length: 600 }, (_, i) => call(101 + i));
  const reqs: Request[] = [];
  for (let i = 0; i < 601; i++) reqs.push(await server.next('getattr'));
  assert.equal(conn.inFlight, 601);
  const answer = (r: Request) =>
    server.reply('getattr', r.header.unique, { attrValid: 0, attr: { ...dirAttr, ino: r.header.nodeid, size: r.header.nodeid * 3 } });
  for (const r of reqs.slice(1).reverse()) answer(r);
  assert.deepEqual(await Promise.all(rest), Array.from({ length: 600 }, (_, i) => (101 + i) * 3));
  assert.equal(conn.inFlight, 1);
  // Left waiting: a second batch reuses the slots, then the first gets its answer.
  const more = Array.from({ length: 300 }, (_, i) => call(1000 + i));
  const reqs2: Request[] = [];
  for (let i = 0; i < 300; i++) reqs2.push(await server.next('getattr'));
  answer(reqs[0]!);
  assert.equal(await first, 300);
  for (const r of reqs2) answer(r);
  assert.deepEqual(await Promise.all(more), Array.from({ length: 300 }, (_, i) => (1000 + i) * 3));
  assert.equal(conn.inFlight, 0);
  // An answer to one already answered is an answer to a request never sent.
  answer(reqs[0]!);
  assert.equal((await conn.closed)?.name, 'ProtocolError');
});

test('the server going away rejects every one of many pending calls, oldest first', { timeout: 10_000 }, async () => {
  const { server, client, conn } = await heldClient();
  const order: number[] = [];
  const calls = Array.from({ length: 400 }, (_, i) =>
    conn.call('getattr', 10 + i, { arg: { getattrFlags: 0, fh: 0 } }, client.credentials).then(
      () => assert.fail('answered'),
      (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'ENOTCONN');
        order.push(i);
      },
    ),
  );
  for (let i = 0; i < 400; i++) await server.next('getattr');
  server.channel.close();
  await Promise.all(calls);
  assert.deepEqual(order, Array.from({ length: 400 }, (_, i) => i));
  assert.equal(conn.inFlight, 0);
});

test('a request nobody waits for fails without an unhandled rejection, whenever it fails', { timeout: 10_000 }, async () => {
  const seen: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const { server, clientEnd } = fake();
    const client = track(await attach({ channel: clientEnd }));
    server.auto = false;
    const conn = client.core.conn;
    const body = { arg: { getattrFlags: 0, fh: 0 } };
    conn.enqueue('getattr', 5, body, client.credentials); // answered with an error
    conn.enqueue('getattr', 6, body, client.credentials); // still waiting when the server goes
    const aborted = new AbortController();
    aborted.abort();
    conn.enqueue('getattr', 7, body, client.credentials, { signal: aborted.signal }); // fails before it is sent
    const r = await server.next('getattr');
    await server.next('getattr');
    server.error(r.header.unique, 5);
    await sleep(20);
    server.channel.close();
    await conn.closed;
    conn.enqueue('getattr', 8, body, client.credentials); // fails at once: the session is over
    await sleep(50);
    assert.deepEqual(seen, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('a malformed answer closes the session with a clear error; pending and later calls fail at once', { timeout: 10_000 }, async () => {
  const { server, clientEnd } = fake();
  const client = track(await attach({ channel: clientEnd }));
  server.auto = false;
  const pending = client.stat('/x');
  const other = client.readdir('/');
  const req = await server.next('lookup');
  // A lookup answer that stops after 8 bytes of its 128-byte body.
  const bad = Buffer.alloc(24);
  bad.writeUInt32LE(24, 0);
  bad.writeBigUInt64LE(BigInt(req.header.unique), 8);
  server.raw(bad);
  await assert.rejects(pending, (err: NodeJS.ErrnoException) => {
    assert.equal(err.code, 'EIO');
    assert.match(err.message, /malformed reply/);
    assert.equal(err.syscall, 'stat');
    return true;
  });
  await assert.rejects(other, { code: 'EIO' });
  const closedWith = await client.closed;
  assert.match(String(closedWith?.message), /malformed reply from the server: lookup reply: 8 bytes, expected 128/);
  const t0 = performance.now();
  await assert.rejects(client.stat('/'), (err: NodeJS.ErrnoException) => err.code === 'ENOTCONN' && /malformed/.test(err.message));
  assert.ok(performance.now() - t0 < 50, 'fails fast');
  await client.close();
});

test('an answer to a request never sent closes the session', { timeout: 10_000 }, async () => {
  const { server, clientEnd } = fake();
  const client = track(await attach({ channel: clientEnd }));
  server.reply('getattr', 123456, { attrValid: 0, attr: dirAttr });
  const err = await client.closed;
  assert.match(String(err?.message), /reply to unknown request 123456/);
  await assert.rejects(client.readdir('/'), { code: 'ENOTCONN' });
});

test('the server closing fails every pending call with ENOTCONN, and later calls fail fast', { timeout: 10_000 }, async () => {
  const { server, clientEnd } = fake();
  const client = track(await attach({ channel: clientEnd }));
  server.auto = false;
  const calls = [client.stat('/a'), client.readFile('/b'), client.mkdir('/c')];
  await server.next('lookup');
  server.channel.close();
  for (const c of calls) await assert.rejects(c, { code: 'ENOTCONN' });
  assert.match(String((await client.closed)?.message), /closed the connection/);
  await assert.rejects(client.stat('/'), { code: 'ENOTCONN', syscall: 'stat' });
  await client.close();
});

test('an AbortSignal sends INTERRUPT: the server sees ctx.signal abort; the caller gets AbortError', { timeout: 10_000 }, async () => {
  let seen: RequestContext | undefined;
  const slow: FileSystem = {
    ...(new HelloFs() as unknown as FileSystem),
    lookup: (ctx, _parent, name) =>
      new Promise((resolve, reject) => {
        if (name !== 'slow') return reject(fsError('ENOENT'));
        seen = ctx;
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
      }),
    getattr: new HelloFs().getattr.bind(new HelloFs()),
  };
  const { client, session } = await pair(slow);
  const ac = new AbortController();
  const call = client.readFile('/slow', { signal: ac.signal });
  await sleep(20);
  assert.ok(seen, 'the request reached the server');
  assert.equal(session.pending, 1);
  ac.abort();
  await assert.rejects(call, { name: 'AbortError', code: 'ABORT_ERR' });
  await sleep(10);
  assert.equal(seen!.signal.aborted, true, 'INTERRUPT reached the file system');
  assert.equal((seen!.signal.reason as NodeJS.ErrnoException).code, 'EINTR');
  assert.equal(session.pending, 0);
  assert.equal(client.core.conn.stats.interrupts, 1);
  // An already-aborted signal never sends anything.
  await assert.rejects(client.stat('/hello', { signal: AbortSignal.abort() }), { name: 'AbortError' });
  await client.close();
});

test('credentials per call: uid, gid, pid in the header, groups as FUSE_EXT_GROUPS, umask applied', { timeout: 10_000 }, async () => {
  const seen: { uid: number; gid: number; pid: number; groups: readonly number[]; umask: number; mode: number }[] = [];
  const t = new Tmpfs();
  const spy: FileSystem = Object.create(t) as FileSystem;
  spy.mkdir = (ctx, parent, name, mode) => {
    seen.push({ uid: ctx.uid, gid: ctx.gid, pid: ctx.pid, groups: ctx.groups(), umask: ctx.umask, mode });
    return t.mkdir(ctx, parent, name, mode);
  };
  const { client } = await pair(spy, {}, { uid: 0, gid: 0, groups: [], umask: 0o022 });
  await client.mkdir('/as-root', 0o777);
  const user = client.withCredentials({ uid: 1000, gid: 100, groups: [100, 5, 7], umask: 0o077 });
  await user.mkdir('/as-user', 0o777);
  assert.deepEqual(seen[0], { uid: 0, gid: 0, pid: process.pid, groups: [], umask: 0o022, mode: 0o755 });
  assert.deepEqual(seen[1], { uid: 1000, gid: 100, pid: process.pid, groups: [100, 5, 7], umask: 0o077, mode: 0o700 });
  const st = await client.stat('/as-user');
  assert.equal(st.uid, 1000);
  assert.equal(st.gid, 100);
  await client.close();
});

test('lock table: locks are taken in ascending id order and callers in any order never deadlock', { timeout: 10_000 }, async () => {
  const locks = new LockTable();
  const order: number[] = [];
  const held = new Set<number>();
  const work = async (ids: number[], k: number) => {
    const release = await locks.acquire(ids);
    ids = [...new Set(ids)];
    for (const id of ids) {
      assert.ok(!held.has(id), `lock ${id} held twice`);
      held.add(id);
    }
    order.push(k);
    await sleep(1);
    for (const id of ids) held.delete(id);
    release();
  };
  const jobs: Promise<void>[] = [];
  for (let k = 0; k < 200; k++) {
    const a = 1 + (k % 7);
    const b = 1 + ((k * 3) % 5);
    jobs.push(work(k % 2 ? [a, b] : [b, a], k));
  }
  await Promise.all(jobs);
  assert.equal(order.length, 200);
  assert.equal(locks.size, 0);
});
