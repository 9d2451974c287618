import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryPair } from '../transport/memory.js';
import type { Channel } from '../transport/channel.js';
import {
  decodeOutHeader,
  decodeReply,
  encodeRequest,
  type OpName,
  type RequestInput,
  type ReplyingOp,
} from '../protocol/index.js';
import { Session, type SessionOptions } from './session.js';
import type { FileSystem } from './ops.js';
import { fsError } from '../errors.js';
import { decodeNotification } from '../protocol/index.js';
import { ROOT_ID, type Attr, type Entry } from './types.js';
import { InitFlag } from '../protocol/constants.js';

const t0 = { sec: 1, nsec: 2 };
const fileAttr = (ino: number): Attr => ({
  ino, mode: 0o100644, nlink: 1, uid: 0, gid: 0, rdev: 0, size: 3, blocks: 1, blksize: 4096, atime: t0, mtime: t0, ctime: t0,
});

/** The test plays the kernel: it sends requests on one end and collects every reply by unique. */
class FakeKernel {
  readonly replies = new Map<number, Uint8Array[]>();
  private waiters: (() => void)[] = [];
  private nextUnique = 2;
  closed = false;
  constructor(readonly channel: Channel) {
    channel.start({
      frame: (f) => {
        const copy = Uint8Array.from(f);
        const h = decodeOutHeader(copy);
        const list = this.replies.get(h.unique) ?? [];
        list.push(copy);
        this.replies.set(h.unique, list);
        for (const w of this.waiters.splice(0)) w();
      },
      closed: () => {
        this.closed = true;
        for (const w of this.waiters.splice(0)) w();
      },
    });
  }
  send<K extends OpName>(op: K, nodeid: number, rest: Omit<RequestInput<K>, 'op' | 'header'>, unique = this.nextUnique++): number {
    const req = { op, header: { unique, nodeid, uid: 0, gid: 0, pid: process.pid }, ...rest } as unknown as RequestInput<K>;
    this.channel.send([encodeRequest(req, { setxattrExt: true })]);
    return unique;
  }
  sendRaw(frame: Uint8Array): void {
    this.channel.send([frame]);
  }
  async reply(unique: number, timeoutMs = 2000): Promise<Uint8Array> {
    const end = Date.now() + timeoutMs;
    while (!this.replies.has(unique)) {
      if (this.closed) throw new Error(`channel closed before reply to ${unique}`);
      if (Date.now() > end) throw new Error(`no reply to ${unique}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 20);
      });
    }
    return this.replies.get(unique)![0]!;
  }
  async call<K extends ReplyingOp>(op: K, nodeid: number, rest: Omit<RequestInput<K>, 'op' | 'header'>) {
    const u = this.send(op, nodeid, rest);
    return decodeReply(op, await this.reply(u));
  }
  async init(minor = 45) {
    return this.call('init', 0, { arg: { major: 7, minor, maxReadahead: 131072, flags: 0xffffffff, flags2: 0xffff } } as never);
  }
}

function setup(fs: FileSystem, options: SessionOptions = {}) {
  const [kernelEnd, serverEnd] = memoryPair();
  const session = new Session(fs, serverEnd, { strictReplies: true, ...options });
  const closed = session.start();
  const kernel = new FakeKernel(kernelEnd);
  return { session, kernel, closed };
}

test('nothing but INIT is served before INIT, and a second INIT is refused', async () => {
  const { kernel, session } = setup({});
  const early = await kernel.call('getattr', ROOT_ID, { arg: { getattrFlags: 0, fh: 0 } });
  assert.equal(early.error, 5);
  const init = await kernel.init();
  assert.equal(init.error, 0);
  assert.equal(init.value!.major, 7);
  assert.equal(init.value!.minor, 45);
  assert.equal(init.value!.maxWrite, 1 << 20);
  const again = await kernel.init();
  assert.equal(again.error, 5);
  session.close();
});

test('INIT agrees on the lower minor version, and refuses one older than 7.31', async () => {
  {
    const { kernel, session } = setup({});
    const r = await kernel.init(36);
    assert.equal(r.value!.minor, 36);
    session.close();
  }
  {
    const { kernel, closed } = setup({});
    const r = await kernel.init(30);
    assert.equal(r.error, 71);
    await closed;
  }
});

test('readdirplus is offered unless nothing is cached: with entry and attr timeouts 0 it would only be stale on arrival', async () => {
  const fs: FileSystem = { readdir: () => [] };
  const offers = async (options: SessionOptions) => {
    const { kernel, session } = setup(fs, options);
    const init = await kernel.init();
    session.close();
    const flags = BigInt(init.value!.flags) | (BigInt(init.value!.flags2) << 32n);
    return { plus: (flags & InitFlag.DO_READDIRPLUS) !== 0n, auto: (flags & InitFlag.READDIRPLUS_AUTO) !== 0n };
  };
  assert.deepEqual(await offers({}), { plus: true, auto: true });
  assert.deepEqual(await offers({ entryTimeout: 0, attrTimeout: 0 }), { plus: false, auto: false });
  // One cache is enough for the attributes to be worth sending.
  assert.deepEqual(await offers({ entryTimeout: 0, attrTimeout: 1 }), { plus: true, auto: true });
  assert.deepEqual(await offers({ entryTimeout: 0, attrTimeout: 0, readdirplus: 'always' }), { plus: true, auto: false });
  assert.deepEqual(await offers({ readdirplus: 'off' }), { plus: false, auto: false });
});

test('unknown opcodes get ENOSYS with their unique; the session goes on', async () => {
  const { kernel, session } = setup({});
  await kernel.init();
  const frame = encodeRequest({ op: 'getattr', header: { unique: 77, nodeid: 1, uid: 0, gid: 0, pid: 1 }, arg: { getattrFlags: 0, fh: 0 } });
  new DataView(frame.buffer, frame.byteOffset).setUint32(4, 999, true);
  kernel.sendRaw(frame);
  const r = decodeOutHeader(await kernel.reply(77));
  assert.equal(r.error, -38);
  const ok = await kernel.call('getattr', ROOT_ID, { arg: { getattrFlags: 0, fh: 0 } });
  assert.equal(ok.error, 0, 'the default getattr answers for the root');
  session.close();
});

test('a request with a readable header but a bad body gets EINVAL; a broken length field ends the session', async () => {
  const { kernel, closed } = setup({ lookup: () => { throw fsError('ENOENT'); } });
  await kernel.init();
  const frame = encodeRequest({ op: 'lookup', header: { unique: 9, nodeid: 1, uid: 0, gid: 0, pid: 1 }, name: 'abc' });
  frame[frame.byteLength - 1] = 0x41; // the name loses its NUL
  kernel.sendRaw(frame);
  assert.equal(decodeOutHeader(await kernel.reply(9)).error, -22);
  kernel.channel.close();
  await closed;
});

test('a frame whose length field lies ends the session with a clear error', async () => {
  // The memory channel refuses to send such a frame, so hand it to the session directly.
  let handler!: import('../transport/channel.js').FrameHandler;
  let closedWith: Error | undefined | null = null;
  const channel: Channel = {
    maxFrameSize: 1 << 20,
    start: (h) => (handler = h),
    send: () => true,
    close: (e) => {
      closedWith = e;
      handler.closed(e);
    },
  };
  const session = new Session({}, channel);
  const done = session.start();
  const bad = Buffer.alloc(48);
  bad.writeUInt32LE(40, 0); // says 40, is 48
  handler.frame(bad);
  const err = await done;
  assert.match(String(err?.message), /length field 40 does not match frame size 48/);
  assert.notEqual(closedWith, null);
});

test('errors from file systems become negative errno replies; a non-errno throw is EIO', async () => {
  const warnings: string[] = [];
  const onWarn = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarn);
  try {
    const { kernel, session } = setup({
      lookup: (_c, _p, name) => {
        if (name === 'sync') throw fsError('EACCES');
        if (name === 'async') return Promise.reject(Object.assign(new Error('x'), { code: 'ENOTDIR' }));
        throw new TypeError('bug');
      },
    });
    await kernel.init();
    assert.equal((await kernel.call('lookup', 1, { name: 'sync' })).error, 13);
    assert.equal((await kernel.call('lookup', 1, { name: 'async' })).error, 20);
    assert.equal((await kernel.call('lookup', 1, { name: 'bug' })).error, 5);
    await new Promise((r) => setImmediate(r));
    assert.ok(warnings.some((w) => w.includes('bug')), 'a file-system bug is reported');
    session.close();
  } finally {
    process.off('warning', onWarn);
  }
});

test('defaults: a missing mutating op is ENOSYS, open hands out fh 0, statfs answers zeros', async () => {
  const { kernel, session } = setup({});
  await kernel.init();
  assert.equal((await kernel.call('mkdir', 1, { arg: { mode: 0o755, umask: 0 }, name: 'd' })).error, 38);
  assert.equal((await kernel.call('unlink', 1, { name: 'x' })).error, 38);
  const open = await kernel.call('open', 1, { arg: { flags: 0, openFlags: 0 } });
  assert.equal(open.error, 0);
  assert.equal(open.value!.fh, 0);
  const st = await kernel.call('statfs', 1, {});
  assert.equal(st.value!.st.namelen, 255);
  assert.equal((await kernel.call('release', 1, { arg: { fh: 0, flags: 0, releaseFlags: 0, lockOwner: 0n } })).error, 0);
  session.close();
});

test('lookup counting: forget reaches the file system only when the kernel dropped every reference', async () => {
  const forgotten: number[] = [];
  const { kernel, session } = setup({
    lookup: (_c, _p, name): Entry => ({ ino: name === 'a' ? 10 : 11, attr: fileAttr(name === 'a' ? 10 : 11) }),
    forget: (ino) => forgotten.push(ino),
  });
  await kernel.init();
  await kernel.call('lookup', 1, { name: 'a' });
  await kernel.call('lookup', 1, { name: 'a' });
  await kernel.call('lookup', 1, { name: 'b' });
  assert.equal(session.lookupCount(10), 2);
  kernel.send('forget', 10, { arg: { nlookup: 1 } });
  await kernel.call('statfs', 1, {}); // a round trip to be sure the forget was handled
  assert.deepEqual(forgotten, []);
  assert.equal(session.lookupCount(10), 1);
  kernel.send('batchForget', 0, { arg: { count: 2 }, items: [{ nodeid: 10, nlookup: 1 }, { nodeid: 11, nlookup: 1 }] } as never);
  await kernel.call('statfs', 1, {});
  assert.deepEqual(forgotten.sort(), [10, 11]);
  assert.equal(session.lookupCount(10), 0);
  session.close();
});

test('INTERRUPT aborts the signal of the request it names', async () => {
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const { kernel, session } = setup({
    read: (ctx) =>
      new Promise<Uint8Array>((_resolve, reject) => {
        started();
        ctx.signal.addEventListener('abort', () => reject(fsError('EINTR')));
      }),
  });
  await kernel.init();
  const u = kernel.send('read', 5, { arg: { fh: 0, offset: 0, size: 10, readFlags: 0, lockOwner: 0n, flags: 0 } });
  await running;
  assert.equal(session.pending, 1);
  kernel.send('interrupt', 0, { arg: { unique: u } });
  assert.equal(decodeOutHeader(await kernel.reply(u)).error, -4);
  assert.equal(session.pending, 0);
  session.close();
});

test('many requests in flight are answered out of order, each exactly once', async () => {
  const { kernel, session } = setup({
    read: (_ctx, ino, _fh, offset) =>
      ino % 2 ? Buffer.from(`s${offset}`) : new Promise((r) => setTimeout(() => r(Buffer.from(`a${offset}`)), 50 - offset)),
  });
  await kernel.init();
  const uniques: number[] = [];
  for (let i = 0; i < 40; i++) {
    uniques.push(kernel.send('read', 2 + (i % 2), { arg: { fh: 0, offset: i, size: 10, readFlags: 0, lockOwner: 0n, flags: 0 } }));
  }
  for (const [i, u] of uniques.entries()) {
    const r = decodeReply('read', await kernel.reply(u));
    assert.equal(Buffer.from(r.value as Uint8Array).toString(), `${i % 2 ? 's' : 'a'}${i}`);
  }
  await new Promise((r) => setTimeout(r, 20));
  for (const u of uniques) assert.equal(kernel.replies.get(u)!.length, 1, `one reply for ${u}`);
  // The first async reply arrives after synchronous ones sent later: out of order.
  const order = [...kernel.replies.keys()];
  assert.ok(order.indexOf(uniques[0]!) > order.indexOf(uniques[1]!));
  session.close();
});

test('a second reply to one request is caught and not sent', async () => {
  const { kernel, session } = setup({ statfs: () => new Promise((r) => setTimeout(() => r({ blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, bsize: 4096, namelen: 255, frsize: 4096 }), 10)) });
  await kernel.init();
  // A peer that reuses a unique while it is pending would make the session answer it twice.
  kernel.send('statfs', 1, {}, 500);
  kernel.send('statfs', 1, {}, 500);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(session.bugs.length, 1);
  assert.equal(session.bugs[0]!.name, 'DoubleReplyError');
  assert.equal(kernel.replies.get(500)!.length, 1, 'the peer saw one reply');
  session.close();
});

test('session end aborts pending requests and calls destroy once', async () => {
  let destroyed = 0;
  let aborted = false;
  const { kernel, session, closed } = setup({
    read: (ctx) => new Promise(() => ctx.signal.addEventListener('abort', () => (aborted = true))),
    destroy: () => {
      destroyed++;
    },
  });
  await kernel.init();
  kernel.send('read', 5, { arg: { fh: 0, offset: 0, size: 1, readFlags: 0, lockOwner: 0n, flags: 0 } });
  await new Promise((r) => setTimeout(r, 20));
  kernel.channel.close();
  await closed;
  assert.ok(aborted);
  assert.equal(destroyed, 1);
  assert.equal(session.pending, 0);
});

test('the debug trace prints one line per request and reply', async () => {
  const lines: string[] = [];
  const { kernel, session } = setup({ lookup: () => { throw fsError('ENOENT'); } }, { debug: (l) => lines.push(l) });
  await kernel.init();
  const u = kernel.send('lookup', 1, { name: 'missing' });
  await kernel.reply(u);
  assert.ok(lines.some((l) => l.startsWith(`rx ${u} lookup n1`) && l.includes('"missing"')), lines.join('\n'));
  assert.ok(lines.includes(`tx ${u} ENOENT`), lines.join('\n'));
  session.close();
});

test('readdirplus counts a lookup for each entry it sends, and only those', async () => {
  const many = Array.from({ length: 500 }, (_, i) => ({
    name: `file-with-a-long-name-${i}`, ino: 100 + i, mode: 0o100000, offset: i + 1, entry: { ino: 100 + i, attr: fileAttr(100 + i) },
  }));
  const { kernel, session } = setup({ readdir: (_c, _i, _f, off) => many.slice(off) });
  await kernel.init();
  const r = await kernel.call('readdirplus', 1, { arg: { fh: 0, offset: 0, size: 4096, readFlags: 0, lockOwner: 0n, flags: 0 } });
  const body = r.value as Uint8Array;
  assert.ok(body.byteLength <= 4096 && body.byteLength > 0);
  const sent = [...Array(many.length).keys()].filter((i) => session.lookupCount(100 + i) === 1).length;
  assert.ok(sent > 0 && sent < many.length, `counted ${sent}`);
  assert.equal(session.lookupCount(100 + sent), 0, 'entries that did not fit are not counted');
  session.close();
});

test('a change through one session is announced to the other sessions of the same file system', async () => {
  const fs: FileSystem = {
    write: (_c, _i, _f, _o, data) => data.byteLength,
    mkdir: (_c, _p, name): Entry => ({ ino: 50, attr: { ...fileAttr(50), mode: 0o40755 } }),
    getattr: (_c, ino) => ({ attr: fileAttr(ino) }),
  };
  const a = setup(fs);
  const b = setup(fs);
  const notes: Uint8Array[] = [];
  // Notifications have unique 0; the fake kernel files them under 0.
  await a.kernel.init();
  await b.kernel.init();
  const w = await a.kernel.call('write', 7, { arg: { fh: 0, offset: 4096, size: 5, writeFlags: 0, lockOwner: 0n, flags: 0 }, data: Buffer.from('hello') });
  assert.equal(w.error, 0);
  await a.kernel.call('mkdir', 1, { arg: { mode: 0o755, umask: 0 }, name: 'sub' });
  await new Promise((r) => setTimeout(r, 20));
  notes.push(...(b.kernel.replies.get(0) ?? []));
  const kinds = notes.map((n) => decodeNotification(n));
  assert.deepEqual(kinds[0], { kind: 'invalInode', arg: { ino: 7, off: 4096, len: 5 } });
  assert.ok(kinds.some((k) => k.kind === 'invalEntry' && k.arg.parent === 1 && k.name === 'sub'));
  assert.ok(kinds.some((k) => k.kind === 'invalInode' && k.arg.ino === 1 && k.arg.off === -1));
  assert.equal(a.kernel.replies.get(0), undefined, 'the session that made the change is not told');
  // A read changes nothing and announces nothing.
  const before = notes.length;
  await a.kernel.call('getattr', 7, { arg: { getattrFlags: 0, fh: 0 } });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal((b.kernel.replies.get(0) ?? []).length, before);
  a.session.close();
  b.session.close();
});

/**
 * The server end of a memory pair, reading each frame into the room the
 * session lends (FrameHandler.readArea), as the device channel's hot reader
 * does; records the rooms it read into.
 */
function readingIntoLentRoom(inner: Channel): { channel: Channel; rooms: Uint8Array[] } {
  const rooms: Uint8Array[] = [];
  const channel: Channel = {
    maxFrameSize: inner.maxFrameSize,
    doneWithPartsOnSend: inner.doneWithPartsOnSend,
    start: (handler) =>
      inner.start({
        ...handler,
        frame: (f) => {
          const room = handler.readArea?.(inner.maxFrameSize);
          if (!room) return handler.frame(f);
          rooms.push(room);
          room.set(f);
          handler.frame(room.subarray(0, f.byteLength));
        },
      }),
    send: (parts) => inner.send(parts),
    close: (err) => inner.close(err),
  };
  return { channel, rooms };
}

test('full-size writes reach a file system that keeps its writes in the memory they were read into', async () => {
  const seen: Uint8Array[] = [];
  const fs: FileSystem = {
    features: { accountsWriteData: true },
    write: (_c, _i, _f, _o, data) => {
      seen.push(data);
      return data.byteLength;
    },
  };
  const [kernelEnd, serverEnd] = memoryPair();
  const { channel, rooms } = readingIntoLentRoom(serverEnd);
  const session = new Session(fs, channel, { strictReplies: true });
  session.start();
  const kernel = new FakeKernel(kernelEnd);
  const init = await kernel.init();
  const max = init.value!.maxWrite;
  const write = async (size: number, fill: number) => {
    const r = await kernel.call('write', 7, { arg: { fh: 0, offset: 0, size, writeFlags: 0, lockOwner: 0n, flags: 0 }, data: Buffer.alloc(size, fill) });
    assert.equal(r.value?.size, size);
  };
  const roomFor = (payload: Uint8Array) => rooms.find((r) => r.buffer === payload.buffer && r.byteOffset + 80 === payload.byteOffset);
  await write(max, 1);
  await write(max, 2);
  await write(max, 3);
  await write(4096, 4);
  assert.equal(seen.length, 4);
  // Each payload is the room's memory past the write's header, not a copy of it.
  for (const i of [0, 1, 2]) assert.ok(roomFor(seen[i]!), `write ${i + 1} was kept where it was read`);
  assert.notEqual(seen[0]!.byteOffset, seen[1]!.byteOffset);
  assert.notEqual(seen[1]!.byteOffset, seen[2]!.byteOffset);
  for (const i of [0, 1, 2]) assert.ok(seen[i]!.every((b) => b === i + 1), `payload ${i + 1} intact after the later reads`);
  // A short write is copied out of the room, which is lent again.
  assert.equal(roomFor(seen[3]!), undefined);
  assert.ok(seen[3]!.every((b) => b === 4));
  session.close();
});
