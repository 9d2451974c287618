import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChannelClosedError, FramingError, type Channel } from './channel.js';
import { DEFAULT_MAX_FRAME_SIZE } from './framer.js';
import {
  connect,
  connectTcp,
  connectUnix,
  formatAddress,
  listen,
  parseAddress,
  StreamChannel,
  type ChannelServer,
} from './stream.js';
import { prng } from '../testing/prng.js';

const T = { timeout: 5000 };

/** Frame `seq` of `length` bytes: header, seq, then bytes derived from both, so content is checkable. */
function makeFrame(seq: number, length: number): Uint8Array {
  const f = new Uint8Array(length);
  const view = new DataView(f.buffer);
  view.setUint32(0, length, true);
  view.setUint32(4, seq, true);
  for (let i = 8; i < length; i++) f[i] = (i * 13 + seq * 7) & 0xff;
  return f;
}

function header(length: number): Uint8Array {
  const h = new Uint8Array(4);
  new DataView(h.buffer).setUint32(0, length, true);
  return h;
}

/** A handler that keeps copies of frames and lets a test await counts and the close. */
class Collector {
  readonly frames: Uint8Array[] = [];
  closedCalls = 0;
  closeError: Error | undefined;
  readonly #waiters: { n: number; resolve: () => void }[] = [];
  readonly closed: Promise<Error | undefined>;
  #resolveClosed!: (e: Error | undefined) => void;
  constructor(private readonly onFrame?: (f: Uint8Array) => void) {
    this.closed = new Promise((r) => (this.#resolveClosed = r));
  }
  frame(f: Uint8Array): void {
    this.frames.push(Uint8Array.from(f));
    this.onFrame?.(f);
    for (const w of this.#waiters.filter((w) => this.frames.length >= w.n)) w.resolve();
  }
  closed_(e: Error | undefined): void {
    this.closedCalls++;
    this.closeError = e;
    this.#resolveClosed(e);
  }
  handler(): { frame: (f: Uint8Array) => void; closed: (e?: Error) => void } {
    return { frame: (f) => this.frame(f), closed: (e) => this.closed_(e) };
  }
  until(n: number): Promise<void> {
    if (this.frames.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }
}

function tmpSocketPath(): { dir: string; sock: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'puffs-t-'));
  return { dir, sock: path.join(dir, 's.sock') };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sends frames with random sizes split into random parts, yielding now and then so both directions overlap. */
async function sendMany(ch: Channel, seed: number, count: number): Promise<number[]> {
  const rng = prng(seed);
  const sizes: number[] = [];
  for (let seq = 0; seq < count; seq++) {
    const r = rng();
    const length = r < 0.7 ? 16 + Math.floor(rng() * 200) : r < 0.97 ? 200 + Math.floor(rng() * 70_000) : 300_000 + Math.floor(rng() * 700_000);
    sizes.push(length);
    const f = makeFrame(seq, length);
    const cut1 = 4 + Math.floor(rng() * (length - 4));
    const cut2 = cut1 + Math.floor(rng() * (length - cut1));
    ch.send([f.subarray(0, 4), f.subarray(4, cut1), f.subarray(cut1, cut2), f.subarray(cut2)]);
    if (rng() < 0.1) await tick();
  }
  return sizes;
}

function checkFrames(got: readonly Uint8Array[], sizes: readonly number[], who: string): void {
  assert.equal(got.length, sizes.length, `${who}: frame count`);
  for (let seq = 0; seq < sizes.length; seq++) {
    const f = got[seq]!;
    // Compare cheaply first, then in full only on mismatch (deepEqual on MBs is slow).
    if (f.byteLength !== sizes[seq] || Buffer.compare(f, makeFrame(seq, sizes[seq]!)) !== 0) {
      assert.deepEqual(f, makeFrame(seq, sizes[seq]!), `${who}: frame ${seq}`);
    }
  }
}

/**
 * Runs `body` against a listener. Cleanup is registered with `t.after` so it
 * also runs when the test times out: a failing test must not hang the run.
 */
async function withServer(
  t: TestContext,
  address: string,
  onChannel: (ch: StreamChannel) => void,
  body: (server: ChannelServer) => Promise<void>,
  options?: Parameters<typeof listen>[2],
): Promise<void> {
  const server = await listen(address, onChannel, options);
  // Not awaited: server.close waits for connections, which later hooks destroy.
  t.after(() => void server.close());
  await body(server);
  await server.close();
}

/** A raw socket peer (reading and discarding), destroyed after the test. */
function rawPeer(t: TestContext, ...args: [path: string] | [port: number, host: string]): net.Socket {
  const socket = args.length === 1 ? net.createConnection(args[0]) : net.createConnection(args[0], args[1]);
  socket.on('error', () => {});
  socket.resume();
  t.after(() => socket.destroy());
  return socket;
}

/** A client channel, destroyed after the test. */
function own(t: TestContext, channel: StreamChannel): StreamChannel {
  t.after(() => channel.close(new Error('test cleanup')));
  return channel;
}

async function exchange(server: ChannelServer, accepted: Promise<StreamChannel>, client: StreamChannel): Promise<void> {
  const serverChannel = await accepted;
  const atServer = new Collector();
  const atClient = new Collector();
  serverChannel.start(atServer.handler());
  client.start(atClient.handler());
  const N = 300;
  const [toServer, toClient] = await Promise.all([sendMany(client, 1, N), sendMany(serverChannel, 2, N)]);
  await Promise.all([atServer.until(N), atClient.until(N)]);
  checkFrames(atServer.frames, toServer, 'server');
  checkFrames(atClient.frames, toClient, 'client');
  // Orderly close from the client: both sides see closed(undefined), once.
  client.close();
  assert.equal(atClient.closedCalls, 1);
  assert.equal(await atServer.closed, undefined);
  assert.equal(atClient.closeError, undefined);
  assert.equal(atServer.closedCalls, 1);
  assert.ok(server.address);
}

function acceptOne(): { onChannel: (ch: StreamChannel) => void; accepted: Promise<StreamChannel> } {
  let resolve!: (ch: StreamChannel) => void;
  const accepted = new Promise<StreamChannel>((r) => (resolve = r));
  return { onChannel: (ch) => resolve(ch), accepted };
}

test('Unix socket: many frames both ways in parallel; socket mode 0600; file removed on close', T, async (t) => {
  const { dir, sock } = tmpSocketPath();
  try {
    const { onChannel, accepted } = acceptOne();
    await withServer(t, `unix:${sock}`, onChannel, async (server) => {
      assert.equal(server.address, `unix:${sock}`);
      assert.equal(server.port, undefined);
      assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
      const client = own(t, await connectUnix(sock));
      await exchange(server, accepted, client);
    });
    assert.equal(fs.existsSync(sock), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('TCP 127.0.0.1:0: many frames both ways in parallel', T, async (t) => {
  const { onChannel, accepted } = acceptOne();
  await withServer(t, 'tcp://127.0.0.1:0', onChannel, async (server) => {
    assert.ok(server.port !== undefined && server.port > 0);
    assert.equal(server.address, `tcp://127.0.0.1:${server.port}`);
    const client = own(t, await connectTcp('127.0.0.1', server.port));
    await exchange(server, accepted, client);
  });
});

test('a malformed frame closes that channel with FramingError; another connection keeps working', T, async (t) => {
  const { dir, sock } = tmpSocketPath();
  const collectors: Collector[] = [];
  try {
    await withServer(
      t,
      `unix:${sock}`,
      (ch) => {
        // Echo server.
        const c = new Collector((f) => ch.send([Uint8Array.from(f)]));
        collectors.push(c);
        ch.start(c.handler());
      },
      async () => {
        for (const badLength of [8, DEFAULT_MAX_FRAME_SIZE + 1]) {
          collectors.length = 0;
          const good = own(t, await connect(`unix:${sock}`));
          const atGood = new Collector();
          good.start(atGood.handler());
          good.send([makeFrame(0, 40)]);
          await atGood.until(1);

          const raw = rawPeer(t, sock);
          const rawClosed = new Promise<void>((r) => raw.on('close', () => r()));
          raw.on('error', () => {});
          raw.resume();
          // One good frame, then garbage: the good one must still be delivered.
          raw.write(Buffer.concat([makeFrame(1, 20), header(badLength), Buffer.alloc(64, 0xaa)]));
          await rawClosed; // the server destroyed the bad connection
          const bad = collectors[1]!;
          const error = await bad.closed;
          assert.ok(error instanceof FramingError, String(error));
          assert.match(error.message, new RegExp(String(badLength)));
          assert.equal(bad.frames.length, 1);
          assert.equal(bad.closedCalls, 1);

          // The first connection is untouched.
          for (let i = 1; i <= 20; i++) good.send([makeFrame(i, 16 + i * 100)]);
          await atGood.until(21);
          checkFrames(atGood.frames, [40, ...Array.from({ length: 20 }, (_, i) => 16 + (i + 1) * 100)], 'good');
          assert.equal(collectors[0]!.closedCalls, 0);
          good.close();
          await collectors[0]!.closed;
        }
      },
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('stall timeout closes a channel stuck mid-frame, not one that is slow but progressing', T, async (t) => {
  const collectors: Collector[] = [];
  await withServer(
    t,
    'tcp://127.0.0.1:0',
    (ch) => {
      const c = new Collector();
      collectors.push(c);
      ch.start(c.handler());
    },
    async (server) => {
      // Slow: a frame in three pieces 40 ms apart, then idle between frames; stall is 150 ms.
      const slow = rawPeer(t, server.port!, '127.0.0.1');
      slow.on('error', () => {});
      slow.resume();
      await new Promise((r) => slow.once('connect', r));
      const f = makeFrame(0, 300);
      for (const [a, b] of [[0, 2], [2, 100], [100, 300]] as const) {
        slow.write(f.subarray(a, b));
        await sleep(40);
      }
      await sleep(200); // idle at a frame boundary is not a stall
      // Back to back: the chunk that ends frame 1 starts frame 2, whose clock starts then.
      const f1 = makeFrame(1, 100);
      const f2 = makeFrame(2, 100);
      slow.write(f1.subarray(0, 50));
      await sleep(100);
      slow.write(Buffer.concat([f1.subarray(50), f2.subarray(0, 50)]));
      await sleep(100);
      slow.write(f2.subarray(50));
      await sleep(20);
      const atSlow = collectors[0]!;
      checkFrames(atSlow.frames, [300, 100, 100], 'slow');
      assert.equal(atSlow.closedCalls, 0);

      // Stuck: header plus a few bytes, then nothing.
      const stuck = rawPeer(t, server.port!, '127.0.0.1');
      stuck.on('error', () => {});
      stuck.resume();
      await new Promise((r) => stuck.once('connect', r));
      const started = Date.now();
      stuck.write(makeFrame(1, 100).subarray(0, 10));
      const closedStuck = new Promise((r) => stuck.once('close', r));
      const error = await (async () => {
        while (collectors.length < 2) await sleep(5);
        return collectors[1]!.closed;
      })();
      const elapsed = Date.now() - started;
      assert.ok(error instanceof FramingError, String(error));
      assert.match(error.message, /stalled mid-frame: 10 of 100 bytes/);
      assert.ok(elapsed >= 140 && elapsed < 1500, `elapsed ${elapsed} ms`);
      await closedStuck;
      assert.equal(atSlow.closedCalls, 0);

      // Trickling: progress on every chunk, but the frame takes longer than the stall timeout.
      const trickle = rawPeer(t, server.port!, '127.0.0.1');
      await new Promise((r) => trickle.once('connect', r));
      const tf = makeFrame(0, 400);
      const trickleStart = Date.now();
      let sent = 0;
      const timer = setInterval(() => {
        if (sent < tf.byteLength && !trickle.destroyed) trickle.write(tf.subarray(sent, (sent += 10)));
      }, 30);
      t.after(() => clearInterval(timer));
      while (collectors.length < 3) await sleep(5);
      const trickleError = await collectors[2]!.closed;
      clearInterval(timer);
      assert.ok(trickleError instanceof FramingError, String(trickleError));
      assert.match(trickleError.message, /stalled mid-frame: \d+ of 400 bytes/);
      assert.ok(Date.now() - trickleStart < 600, 'the stall clock is per frame, not per chunk');
      assert.equal(collectors[2]!.frames.length, 0);
      slow.end();
      assert.equal(await atSlow.closed, undefined);
    },
    { stallTimeoutMs: 150 },
  );
});

test('peer disconnect mid-frame closes with FramingError (orderly end) or an error (reset), without hanging', T, async (t) => {
  const collectors: Collector[] = [];
  await withServer(
    t,
    'tcp://127.0.0.1:0',
    (ch) => {
      const c = new Collector();
      collectors.push(c);
      ch.start(c.handler());
    },
    async (server) => {
      // FIN after half a frame.
      const a = rawPeer(t, server.port!, '127.0.0.1');
      a.on('error', () => {});
      await new Promise((r) => a.once('connect', r));
      a.end(Buffer.concat([makeFrame(0, 20), makeFrame(1, 100).subarray(0, 50)]));
      while (collectors.length < 1) await sleep(5);
      const error = await collectors[0]!.closed;
      assert.ok(error instanceof FramingError, String(error));
      assert.match(error.message, /ended mid-frame: 50 of 100 bytes/);
      assert.equal(collectors[0]!.frames.length, 1);

      // Abrupt destroy after a partial header.
      const b = rawPeer(t, server.port!, '127.0.0.1');
      b.on('error', () => {});
      await new Promise((r) => b.once('connect', r));
      b.write(header(100).subarray(0, 2));
      await sleep(20);
      b.resetAndDestroy();
      while (collectors.length < 2) await sleep(5);
      const error2 = await collectors[1]!.closed;
      assert.ok(error2 instanceof Error, 'a reset mid-frame is an error');
      assert.equal(collectors[1]!.closedCalls, 1);
    },
  );
});

test('peer end at a frame boundary is closed(undefined) after every frame', T, async (t) => {
  const { onChannel, accepted } = acceptOne();
  await withServer(t, 'tcp://127.0.0.1:0', onChannel, async (server) => {
    const raw = rawPeer(t, server.port!, '127.0.0.1');
    raw.on('error', () => {});
    raw.resume();
    raw.end(Buffer.concat([makeFrame(0, 16), makeFrame(1, 5000), makeFrame(2, 17)]));
    const ch = await accepted;
    const c = new Collector();
    ch.start(c.handler());
    assert.equal(await c.closed, undefined);
    checkFrames(c.frames, [16, 5000, 17], 'server');
    assert.throws(() => ch.send([makeFrame(3, 16)]), ChannelClosedError);
  });
});

test('send after close throws ChannelClosedError; closed is called once; close is idempotent', T, async (t) => {
  const { onChannel, accepted } = acceptOne();
  await withServer(t, 'tcp://127.0.0.1:0', onChannel, async (server) => {
    const client = own(t, await connect(server.address));
    const serverCh = await accepted;
    const atServer = new Collector();
    serverCh.start(atServer.handler());
    const atClient = new Collector();
    client.start(atClient.handler());
    client.send([makeFrame(0, 64)]);
    client.close(); // orderly: the frame already sent still arrives
    assert.equal(atClient.closedCalls, 1, 'closed is delivered synchronously by close');
    assert.equal(client.isClosed, true);
    client.close();
    client.close(new Error('late'));
    assert.throws(() => client.send([makeFrame(1, 64)]), ChannelClosedError);
    assert.equal(await atServer.closed, undefined);
    checkFrames(atServer.frames, [64], 'server');
    await sleep(10);
    assert.equal(atClient.closedCalls, 1);
    assert.equal(atClient.closeError, undefined);
    assert.equal(atServer.closedCalls, 1);
  });
});

test('close with an error destroys the stream and reports that error', T, async (t) => {
  const { onChannel, accepted } = acceptOne();
  await withServer(t, 'tcp://127.0.0.1:0', onChannel, async (server) => {
    const client = own(t, await connect(server.address));
    const serverCh = await accepted;
    const atServer = new Collector();
    serverCh.start(atServer.handler());
    const atClient = new Collector();
    client.start(atClient.handler());
    const boom = new Error('boom');
    client.close(boom);
    assert.equal(atClient.closeError, boom);
    assert.equal(client.stream.destroyed, true);
    await atServer.closed;
    assert.equal(atServer.closedCalls, 1);
  });
});

test('send rejects a frame whose header disagrees with its parts, or that is too big; nothing is written', T, async (t) => {
  const { onChannel, accepted } = acceptOne();
  await withServer(
    t,
    'tcp://127.0.0.1:0',
    onChannel,
    async (server) => {
      const client = own(t, await connect(server.address, { maxFrameSize: 1000 }));
      const serverCh = await accepted;
      const atServer = new Collector();
      serverCh.start(atServer.handler());
      client.start(new Collector().handler());
      const f = makeFrame(0, 100);
      assert.throws(() => client.send([f.subarray(0, 99)]), FramingError);
      assert.throws(() => client.send([f, new Uint8Array(1)]), FramingError);
      assert.throws(() => client.send([makeFrame(0, 1001)]), /exceeds the maximum of 1000/);
      assert.equal(client.send([f.subarray(0, 4), f.subarray(4)]), true);
      await atServer.until(1);
      checkFrames(atServer.frames, [100], 'server');
      client.close();
      await atServer.closed;
      assert.deepEqual(atServer.frames.length, 1);
    },
    { maxFrameSize: 1000 },
  );
});

test('frames that arrive before start are not lost', T, async (t) => {
  const { onChannel, accepted } = acceptOne();
  await withServer(t, 'tcp://127.0.0.1:0', onChannel, async (server) => {
    const client = own(t, await connect(server.address));
    client.start(new Collector().handler());
    for (let i = 0; i < 50; i++) client.send([makeFrame(i, 16 + i)]);
    const serverCh = await accepted;
    await sleep(30);
    const c = new Collector();
    serverCh.start(c.handler());
    await c.until(50);
    checkFrames(c.frames, Array.from({ length: 50 }, (_, i) => 16 + i), 'server');
    client.close();
    await c.closed;
  });
});

test('a handler that throws closes its channel with that error', T, async (t) => {
  const { onChannel, accepted } = acceptOne();
  await withServer(t, 'tcp://127.0.0.1:0', onChannel, async (server) => {
    const client = own(t, await connect(server.address));
    const atClient = new Collector();
    client.start(atClient.handler());
    const serverCh = await accepted;
    const c = new Collector((f) => {
      if (f.byteLength === 17) throw new Error('handler bug');
    });
    serverCh.start(c.handler());
    client.send([makeFrame(0, 16)]);
    client.send([makeFrame(1, 17)]);
    client.send([makeFrame(2, 18)]);
    const error = await c.closed;
    assert.match(String(error), /handler bug/);
    assert.equal(c.frames.length, 2);
    await atClient.closed;
  });
});

test('server close closes the channels it accepted', T, async (t) => {
  const { onChannel, accepted } = acceptOne();
  const server = await listen('tcp://127.0.0.1:0', onChannel);
  t.after(() => void server.close());
  const client = own(t, await connect(server.address));
  const atClient = new Collector();
  client.start(atClient.handler());
  const c = new Collector();
  (await accepted).start(c.handler());
  await server.close();
  assert.equal(c.closedCalls, 1);
  assert.equal(c.closeError, undefined);
  assert.equal(await atClient.closed, undefined);
  await server.close(); // idempotent
});

/** A listen expected to fail: if it succeeds, close the server so the failed test cannot hang the run. */
async function mustFail(listening: Promise<ChannelServer>): Promise<ChannelServer> {
  const server = await listening;
  await server.close();
  return server;
}

test('listen on a Unix path: stale socket removed, live socket or other file refused', T, async (t) => {
  const { dir, sock } = tmpSocketPath();
  try {
    // A stale socket file: a hard link to a listening socket outlives the listener.
    const stale = path.join(dir, 'stale.sock');
    const tmp = await listen(`unix:${sock}`, () => {});
    t.after(() => void tmp.close());
    fs.linkSync(sock, stale);
    await tmp.close();
    assert.ok(fs.lstatSync(stale).isSocket());
    const s1 = await listen(`unix:${stale}`, (ch) => ch.close());
    t.after(() => void s1.close());
    try {
      // Now it is live: a second listener must not steal it.
      await assert.rejects(mustFail(listen(`unix:${stale}`, () => {})), { code: 'EADDRINUSE' });
      const ch = own(t, await connectUnix(stale));
      const c = new Collector();
      ch.start(c.handler());
      assert.equal(await c.closed, undefined);
    } finally {
      await s1.close();
    }
    // A regular file is never removed.
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, 'keep');
    await assert.rejects(mustFail(listen(`unix:${file}`, () => {})), { code: 'EADDRINUSE' });
    assert.equal(fs.readFileSync(file, 'utf8'), 'keep');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('connect rejects when nothing listens', T, async () => {
  const { dir, sock } = tmpSocketPath();
  try {
    await assert.rejects(connectUnix(sock), { code: 'ENOENT' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('parseAddress and formatAddress', () => {
  assert.deepEqual(parseAddress('unix:/run/puffs.sock'), { kind: 'unix', path: '/run/puffs.sock' });
  assert.deepEqual(parseAddress('unix:rel/s'), { kind: 'unix', path: 'rel/s' });
  assert.deepEqual(parseAddress('tcp://127.0.0.1:0'), { kind: 'tcp', host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseAddress('tcp://[::1]:4000'), { kind: 'tcp', host: '::1', port: 4000 });
  assert.deepEqual(parseAddress('tcp://localhost:80/'), { kind: 'tcp', host: 'localhost', port: 80 });
  assert.equal(formatAddress({ kind: 'tcp', host: '::1', port: 9 }), 'tcp://[::1]:9');
  assert.equal(formatAddress(parseAddress('unix:/a b')), 'unix:/a b');
  for (const bad of ['unix:', 'tcp://host', 'tcp://:80', 'tcp://h:99999', 'tcp://h:1/x', 'http://h:1', '/path']) {
    assert.throws(() => parseAddress(bad), TypeError, bad);
  }
});

test('options are validated', async () => {
  assert.throws(() => new StreamChannel(new net.Socket(), { maxFrameSize: 4 }), RangeError);
  assert.throws(() => new StreamChannel(new net.Socket(), { stallTimeoutMs: -1 }), RangeError);
  await assert.rejects(listen('tcp://127.0.0.1:0', () => {}, { stallTimeoutMs: 0 }), RangeError);
});
