import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { ChannelClosedError, FramingError, type FrameHandler } from './channel.js';
import { PortChannel } from './port.js';
import { prng } from '../testing/prng.js';

const T = { timeout: 5000 };

function makeFrame(seq: number, length: number): Uint8Array {
  const f = new Uint8Array(length);
  const view = new DataView(f.buffer);
  view.setUint32(0, length, true);
  view.setUint32(4, seq, true);
  for (let i = 8; i < length; i++) f[i] = (i * 13 + seq * 7) & 0xff;
  return f;
}

class Collector {
  readonly frames: Uint8Array[] = [];
  closedCalls = 0;
  readonly closed: Promise<Error | undefined>;
  #resolveClosed!: (e: Error | undefined) => void;
  #waiter: { n: number; resolve: () => void } | undefined;
  constructor() {
    this.closed = new Promise((r) => (this.#resolveClosed = r));
  }
  readonly handler: FrameHandler = {
    frame: (f) => {
      this.frames.push(Uint8Array.from(f));
      if (this.#waiter && this.frames.length >= this.#waiter.n) this.#waiter.resolve();
    },
    closed: (e) => {
      this.closedCalls++;
      this.#resolveClosed(e);
    },
  };
  until(n: number): Promise<void> {
    if (this.frames.length >= n) return Promise.resolve();
    return new Promise((resolve) => (this.#waiter = { n, resolve }));
  }
}

/** After-hook: a failed test must not leave a port holding the event loop open. */
function closePorts(...ports: MessagePort[]): void {
  for (const port of ports) port.close();
}

test('PortChannel across a real worker thread: frames echo back intact; closing ends the worker', T, async () => {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./port.worker-fixture.js', import.meta.url), {
    workerData: { port: port2 },
    transferList: [port2],
  });
  const exited = new Promise<number>((resolve, reject) => {
    worker.once('exit', resolve);
    worker.once('error', reject);
  });
  try {
    const channel = new PortChannel(port1);
    const c = new Collector();
    channel.start(c.handler);
    const rng = prng(99);
    const sizes: number[] = [];
    for (let seq = 0; seq < 200; seq++) {
      const length = rng() < 0.9 ? 16 + Math.floor(rng() * 300) : 1000 + Math.floor(rng() * 500_000);
      sizes.push(length);
      const f = makeFrame(seq, length);
      const cut = 4 + Math.floor(rng() * (length - 4));
      const parts = [f.subarray(0, cut), f.subarray(cut)];
      channel.send(parts);
      // The caller's buffers are copied, never transferred (detached).
      assert.equal(f.buffer.byteLength, length);
      assert.equal(parts[1]!.byteLength, length - cut);
    }
    await c.until(sizes.length);
    for (let seq = 0; seq < sizes.length; seq++) {
      if (Buffer.compare(c.frames[seq]!, makeFrame(seq, sizes[seq]!)) !== 0) {
        assert.deepEqual(c.frames[seq], makeFrame(seq, sizes[seq]!), `frame ${seq}`);
      }
    }
    channel.close();
    assert.equal(c.closedCalls, 1);
    assert.equal(await c.closed, undefined);
    assert.equal(await exited, 0, 'the worker exits cleanly once its port closes');
  } finally {
    await worker.terminate();
  }
});

for (const [what, message, pattern] of [
  ['a non-binary message', 'hello', /not binary \(got string\)/],
  ['an object', { length: 16 }, /not binary \(got Object\)/],
  ['a header not matching the byte length', makeFrame(0, 40).subarray(0, 39), /says 40 bytes but the message holds 39/],
  ['a too-small frame', makeFrame(0, 8), /below the minimum of 16/],
  ['an oversized frame', makeFrame(0, 2000), /2000 exceeds the maximum of 1000/],
  ['a 2-byte message', Uint8Array.of(2, 0), /too short/],
] as const) {
  test(`PortChannel: ${what} closes the channel with FramingError`, T, async (t) => {
    const { port1, port2 } = new MessageChannel();
    t.after(() => closePorts(port1, port2));
    const channel = new PortChannel(port1, { maxFrameSize: 1000 });
    const c = new Collector();
    channel.start(c.handler);
    const peerClosed = new Promise((r) => port2.once('close', r));
    port2.ref(); // no 'message' listener on port2, so keep the loop alive for its 'close'
    port2.postMessage(makeFrame(7, 16).buffer); // an ArrayBuffer is fine
    port2.postMessage(message);
    port2.postMessage(makeFrame(8, 16)); // never delivered: the channel is dead
    const error = await c.closed;
    assert.ok(error instanceof FramingError, String(error));
    assert.match(error.message, pattern);
    assert.equal(c.frames.length, 1);
    assert.deepEqual(c.frames[0], makeFrame(7, 16));
    await peerClosed; // the port was closed, so the peer knows
    assert.throws(() => channel.send([makeFrame(0, 16)]), ChannelClosedError);
    assert.equal(c.closedCalls, 1);
  });
}

test('PortChannel: the peer closing its port is closed(undefined); send then throws', T, async (t) => {
  const { port1, port2 } = new MessageChannel();
  t.after(() => closePorts(port1, port2));
  const a = new PortChannel(port1);
  const b = new PortChannel(port2);
  const atA = new Collector();
  const atB = new Collector();
  a.start(atA.handler);
  b.start(atB.handler);
  assert.equal(a.send([makeFrame(1, 32)]), true);
  await atB.until(1);
  b.send([makeFrame(2, 48)]);
  await atA.until(1);
  assert.deepEqual(atA.frames, [makeFrame(2, 48)]);
  port2.close(); // behind b's back: a and b both see an orderly end
  assert.equal(await atA.closed, undefined);
  assert.equal(await atB.closed, undefined);
  assert.throws(() => a.send([makeFrame(3, 16)]), ChannelClosedError);
  assert.equal(atA.closedCalls, 1);
  assert.equal(atB.closedCalls, 1);
});

test('PortChannel: close(error) reports the error locally and closes the peer', T, async (t) => {
  const { port1, port2 } = new MessageChannel();
  t.after(() => closePorts(port1, port2));
  const a = new PortChannel(port1);
  const b = new PortChannel(port2);
  const atA = new Collector();
  const atB = new Collector();
  a.start(atA.handler);
  b.start(atB.handler);
  const boom = new Error('boom');
  a.close(boom);
  a.close();
  assert.equal(await atA.closed, boom);
  assert.equal(await atB.closed, undefined);
  assert.throws(() => a.send([makeFrame(0, 16)]), ChannelClosedError);
  assert.throws(() => b.send([makeFrame(0, 16)]), ChannelClosedError);
});

test('PortChannel: messages sent before start are delivered; send validates the frame', T, async (t) => {
  const { port1, port2 } = new MessageChannel();
  t.after(() => closePorts(port1, port2));
  const a = new PortChannel(port1);
  const b = new PortChannel(port2);
  a.start(new Collector().handler);
  for (let i = 0; i < 10; i++) a.send([makeFrame(i, 16 + i)]);
  assert.throws(() => a.send([makeFrame(0, 20).subarray(0, 19)]), FramingError);
  assert.throws(() => a.send([makeFrame(0, 2_000_000)]), FramingError);
  await new Promise((r) => setTimeout(r, 10));
  const atB = new Collector();
  b.start(atB.handler);
  await atB.until(10);
  assert.deepEqual(atB.frames, Array.from({ length: 10 }, (_, i) => makeFrame(i, 16 + i)));
  a.close();
  assert.equal(await atB.closed, undefined);
});
