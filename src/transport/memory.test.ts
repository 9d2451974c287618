import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelClosedError, FramingError, type FrameHandler } from './channel.js';
import { memoryPair } from './memory.js';

const T = { timeout: 5000 };

function makeFrame(seq: number, length: number): Uint8Array {
  const f = new Uint8Array(length);
  const view = new DataView(f.buffer);
  view.setUint32(0, length, true);
  view.setUint32(4, seq, true);
  for (let i = 8; i < length; i++) f[i] = (i + seq) & 0xff;
  return f;
}

/** Records frames (by seq) and close events in one log, to check their order. */
function recorder(log: string[], name: string, onFrame?: (f: Uint8Array) => void): FrameHandler {
  return {
    frame(f) {
      log.push(`${name}:${new DataView(f.buffer, f.byteOffset).getUint32(4, true)}`);
      onFrame?.(f);
    },
    closed(e) {
      log.push(`${name}:closed${e ? `(${e.message})` : ''}`);
    },
  };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

test('memoryPair delivers frames in order, asynchronously, both ways', T, async () => {
  const [a, b] = memoryPair();
  const log: string[] = [];
  a.start(recorder(log, 'a'));
  b.start(recorder(log, 'b'));
  for (let i = 0; i < 500; i++) {
    a.send([makeFrame(i, 16 + (i % 50))]);
    b.send([makeFrame(1000 + i, 16)]);
  }
  assert.equal(log.length, 0, 'nothing is delivered inside send');
  await settle();
  assert.deepEqual(
    log.filter((l) => l.startsWith('b:')),
    Array.from({ length: 500 }, (_, i) => `b:${i}`),
  );
  assert.deepEqual(
    log.filter((l) => l.startsWith('a:')),
    Array.from({ length: 500 }, (_, i) => `a:${1000 + i}`),
  );
  a.close();
  await settle();
});

test('memoryPair copies on send: the sender may reuse its parts', T, async () => {
  const [a, b] = memoryPair();
  const got: Uint8Array[] = [];
  b.start({ frame: (f) => got.push(f), closed: () => {} });
  a.start({ frame: () => {}, closed: () => {} });
  const f = makeFrame(1, 40);
  const expected = Uint8Array.from(f);
  a.send([f.subarray(0, 4), f.subarray(4, 20), f.subarray(20)]);
  f.fill(0xff);
  await settle();
  assert.deepEqual(got, [expected]);
  assert.notEqual(got[0]!.buffer, f.buffer);
  a.close();
});

test('close: the peer gets every pending frame, then closed(undefined); send then throws', T, async () => {
  const [a, b] = memoryPair();
  const log: string[] = [];
  a.start(recorder(log, 'a'));
  b.start(recorder(log, 'b'));
  assert.equal(a.send([makeFrame(1, 16)]), true);
  a.send([makeFrame(2, 16)]);
  b.send([makeFrame(9, 16)]); // queued for a, dropped by a's close
  a.close(new Error('done'));
  assert.deepEqual(log, ['a:closed(done)'], 'the closing end hears at once');
  assert.throws(() => a.send([makeFrame(3, 16)]), ChannelClosedError);
  assert.equal(b.send([makeFrame(10, 16)]), false, 'b does not know yet: dropped, not thrown');
  await settle();
  assert.deepEqual(log, ['a:closed(done)', 'b:1', 'b:2', 'b:closed']);
  assert.throws(() => b.send([makeFrame(4, 16)]), ChannelClosedError);
  a.close();
  b.close();
  await settle();
  assert.equal(log.length, 4, 'closed is delivered exactly once per end');
});

test('frames wait for start; a channel closed before its start hears closed on start', T, async () => {
  const [a, b] = memoryPair();
  const log: string[] = [];
  a.start(recorder(log, 'a'));
  a.send([makeFrame(1, 16)]);
  a.send([makeFrame(2, 16)]);
  await settle();
  assert.equal(log.length, 0);
  b.start(recorder(log, 'b'));
  await settle();
  assert.deepEqual(log, ['b:1', 'b:2']);

  const [c, d] = memoryPair();
  c.start(recorder(log, 'c'));
  c.send([makeFrame(5, 16)]);
  c.close();
  await settle();
  d.start(recorder(log, 'd'));
  await settle();
  assert.deepEqual(log.slice(2), ['c:closed', 'd:5', 'd:closed']);
  a.close();
});

test('a handler may send from inside frame() without re-entrancy; a throwing handler closes its end', T, async () => {
  const [a, b] = memoryPair();
  const log: string[] = [];
  let depth = 0;
  // b echoes with seq + 1 until 5; a bounces them back.
  const bounce = (self: typeof a) => (f: Uint8Array) => {
    depth++;
    assert.equal(depth, 1, 're-entered');
    const seq = new DataView(f.buffer, f.byteOffset).getUint32(4, true);
    if (seq < 5) self.send([makeFrame(seq + 1, 16)]);
    depth--;
  };
  a.start(recorder(log, 'a', bounce(a)));
  b.start(
    recorder(log, 'b', (f) => {
      bounce(b)(f);
      if (new DataView(f.buffer, f.byteOffset).getUint32(4, true) === 4) throw new Error('bug');
    }),
  );
  a.send([makeFrame(0, 16)]);
  await settle();
  assert.deepEqual(log, ['b:0', 'a:1', 'b:2', 'a:3', 'b:4', 'b:closed(bug)', 'a:5', 'a:closed']);
});

test('memoryPair validates frames and options', () => {
  const [a, b] = memoryPair({ maxFrameSize: 100 });
  a.start({ frame: () => {}, closed: () => {} });
  assert.equal(a.maxFrameSize, 100);
  assert.throws(() => a.send([makeFrame(0, 101)]), FramingError);
  assert.throws(() => a.send([makeFrame(0, 40).subarray(0, 30)]), FramingError);
  assert.throws(() => a.send([]), FramingError);
  assert.throws(() => memoryPair({ maxFrameSize: 8 }), RangeError);
  a.close();
  b.close();
});

test('deliverAtOnce: frames to the first end are handled inside the second end\'s send, never out of order nor nested', T, async () => {
  const [a, b] = memoryPair({ deliverAtOnce: true });
  const log: string[] = [];
  // Sent before a starts: queued, and what follows waits behind it.
  b.send([makeFrame(1, 16)]);
  a.start(
    recorder(log, 'a', (f) => {
      const seq = new DataView(f.buffer, f.byteOffset).getUint32(4, true);
      // From inside a's handler, b sends again: queued (no nested call), delivered after this frame.
      if (seq === 3) assert.equal(b.send([makeFrame(4, 16)]), true);
      if (seq === 5) throw new Error('boom');
    }),
  );
  b.start(recorder(log, 'b'));
  b.send([makeFrame(2, 16)]);
  assert.deepEqual(log, [], 'queued behind frame 1, not handled at once');
  await settle();
  assert.deepEqual(log, ['a:1', 'a:2']);
  b.send([makeFrame(3, 16)]);
  assert.deepEqual(log, ['a:1', 'a:2', 'a:3'], 'handled inside send');
  await settle();
  assert.deepEqual(log, ['a:1', 'a:2', 'a:3', 'a:4']);
  // Several parts are joined (copied); the frame is whole.
  const head = makeFrame(6, 24).subarray(0, 8);
  const seen: number[] = [];
  const [c, d] = memoryPair({ deliverAtOnce: true });
  c.start({ frame: (f) => seen.push(f.byteLength, new DataView(f.buffer, f.byteOffset).getUint32(4, true)), closed: () => undefined });
  d.start({ frame: () => undefined, closed: () => undefined });
  d.send([head, new Uint8Array(16)]);
  assert.deepEqual(seen, [24, 6]);
  // Joined frames of any size, one after another, each arrive whole, byte for byte.
  const bytes: string[] = [];
  const [g, h] = memoryPair({ deliverAtOnce: true });
  g.start({ frame: (x) => bytes.push(Buffer.from(x).toString('hex')), closed: () => undefined });
  h.start({ frame: () => undefined, closed: () => undefined });
  const expected: string[] = [];
  for (const [seq, len] of [[10, 4096 + 16], [11, 40], [12, 70000], [13, 8192 + 24]] as const) {
    const frame = makeFrame(seq, len);
    expected.push(Buffer.from(frame).toString('hex'));
    assert.equal(h.send([frame.subarray(0, 16), frame.subarray(16, 20), frame.subarray(20)]), true);
  }
  assert.equal(bytes.length, 4, 'each handled inside its send');
  assert.deepEqual(bytes, expected);
  // A throwing handler closes its own end, not the sender's send.
  assert.equal(b.send([makeFrame(5, 16)]), true);
  assert.deepEqual(log.slice(-2), ['a:5', 'a:closed(boom)']);
  assert.equal(b.send([makeFrame(7, 16)]), false, 'a is closed: dropped');
  await settle();
  assert.deepEqual(log.slice(-1), ['b:closed']);
  assert.throws(() => b.send([makeFrame(8, 16)]), ChannelClosedError);
  // The other direction is never at once.
  const got: number[] = [];
  const [e, f] = memoryPair({ deliverAtOnce: true });
  e.start({ frame: () => undefined, closed: () => undefined });
  f.start({ frame: (x) => got.push(x.byteLength), closed: () => undefined });
  e.send([makeFrame(9, 16)]);
  assert.deepEqual(got, [], 'queued');
  await settle();
  assert.deepEqual(got, [16]);
});

test('sendOwned: the frame given up is delivered as it is, in order with send()\'s frames, checked like them', T, async () => {
  const [a, b] = memoryPair({ deliverAtOnce: true });
  const log: string[] = [];
  const seen: Uint8Array[] = [];
  a.start(recorder(log, 'a'));
  b.start(recorder(log, 'b', (f) => seen.push(f)));
  // a → b is queued (b is not the at-once end): owned and copied frames keep their order.
  const owned = makeFrame(2, 32);
  a.send([makeFrame(1, 16)]);
  assert.equal(a.sendOwned!(owned), true);
  a.send([makeFrame(3, 16)]);
  assert.deepEqual(log, [], 'queued, not handled inside the send');
  await settle();
  assert.deepEqual(log, ['b:1', 'b:2', 'b:3']);
  assert.equal(seen[1], owned, 'no copy: the receiver has the frame itself');
  // b → a: handled at once, as send() would be.
  assert.equal(b.sendOwned!(makeFrame(4, 16)), true);
  assert.deepEqual(log.slice(3), ['a:4']);
  // Checked as send() checks: a wrong length field is refused, and nothing is delivered.
  const bad = makeFrame(5, 16);
  new DataView(bad.buffer).setUint32(0, 20, true);
  assert.throws(() => a.sendOwned!(bad), FramingError);
  a.close();
  assert.throws(() => a.sendOwned!(makeFrame(6, 16)), ChannelClosedError);
  await settle();
  assert.deepEqual(log.slice(4), ['a:closed', 'b:closed']);
});
