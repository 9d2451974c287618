import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FramingError, MIN_FRAME_SIZE } from './channel.js';
import { checkOutgoingFrame, DEFAULT_MAX_FRAME_SIZE, Framer, readFrameLength, resolveMaxFrameSize } from './framer.js';
import { prng } from '../testing/prng.js';

function randInt(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

function frameOf(length: number, fill: (i: number) => number): Uint8Array {
  const f = new Uint8Array(length);
  new DataView(f.buffer).setUint32(0, length, true);
  for (let i = 4; i < length; i++) f[i] = fill(i);
  return f;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** A framer that records copies of its frames (they are valid only during the call). */
function recording(maxFrameSize?: number): { framer: Framer; frames: Uint8Array[] } {
  const frames: Uint8Array[] = [];
  const framer = new Framer((f) => frames.push(Uint8Array.from(f)), { maxFrameSize });
  return { framer, frames };
}

function randomFrames(rng: () => number, count: number, maxLen: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    const length = randInt(rng, MIN_FRAME_SIZE, maxLen);
    const salt = randInt(rng, 0, 255);
    frames.push(frameOf(length, (i) => (i * 7 + salt + k) & 0xff));
  }
  return frames;
}

test('splits a multi-frame byte string at every possible chunk boundary', () => {
  const rng = prng(0x5eed);
  for (let round = 0; round < 4; round++) {
    const expected = randomFrames(rng, 8, 90);
    expected.push(frameOf(MIN_FRAME_SIZE, () => 0xee)); // the smallest legal frame, last
    const bytes = concat(expected);
    for (let cut = 0; cut <= bytes.byteLength; cut++) {
      const { framer, frames } = recording();
      framer.push(bytes.subarray(0, cut));
      framer.push(bytes.subarray(cut));
      assert.deepEqual(frames, expected, `round ${round}, cut at ${cut}`);
      assert.equal(framer.midFrame, false);
      assert.equal(framer.frameCount, expected.length);
      framer.end(); // at a boundary: no error
    }
  }
});

test('splits at every pair of chunk boundaries (three chunks)', () => {
  const rng = prng(42);
  const expected = randomFrames(rng, 5, 40);
  const bytes = concat(expected);
  for (let i = 0; i <= bytes.byteLength; i++) {
    for (let j = i; j <= bytes.byteLength; j++) {
      const { framer, frames } = recording();
      framer.push(bytes.subarray(0, i));
      framer.push(bytes.subarray(i, j));
      framer.push(bytes.subarray(j));
      assert.deepEqual(frames, expected, `cuts at ${i} and ${j}`);
    }
  }
});

test('random chunkings, byte-at-a-time, and large frames', () => {
  const rng = prng(7);
  for (let round = 0; round < 50; round++) {
    const expected = randomFrames(rng, randInt(rng, 1, 30), round % 5 === 0 ? 5000 : 200);
    const bytes = concat(expected);
    const { framer, frames } = recording();
    let off = 0;
    while (off < bytes.byteLength) {
      const size = round % 10 === 1 ? 1 : randInt(rng, 0, 300);
      framer.push(bytes.subarray(off, off + size));
      off += size;
    }
    assert.deepEqual(frames, expected, `round ${round}`);
  }
});

test('a frame inside one chunk is delivered without a copy; a spanning frame is copied', () => {
  const a = frameOf(20, (i) => i);
  const b = frameOf(30, (i) => 255 - i);
  const chunk = concat([a, b]);
  const seen: Uint8Array[] = [];
  const framer = new Framer((f) => seen.push(f));
  framer.push(chunk.subarray(0, 40)); // a whole, b started
  framer.push(chunk.subarray(40));
  assert.equal(seen.length, 2);
  assert.equal(seen[0]!.buffer, chunk.buffer, 'whole frame is a view of the chunk');
  assert.equal(seen[0]!.byteOffset, 0);
  assert.notEqual(seen[1]!.buffer, chunk.buffer, 'spanning frame is copied');
  assert.deepEqual(Uint8Array.from(seen[1]!), b);
});

test('reports progress of an incomplete frame', () => {
  const { framer } = recording();
  const f = frameOf(100, () => 1);
  framer.push(f.subarray(0, 2));
  assert.equal(framer.midFrame, true);
  assert.equal(framer.bufferedBytes, 2);
  assert.equal(framer.expectedLength, undefined);
  framer.push(f.subarray(2, 50));
  assert.equal(framer.bufferedBytes, 50);
  assert.equal(framer.expectedLength, 100);
  assert.throws(() => framer.end(), (e: unknown) => e instanceof FramingError && /50 of 100/.test(e.message));
});

for (const [what, length] of [
  ['too small', MIN_FRAME_SIZE - 1],
  ['zero', 0],
  ['oversized', 1000 + 1],
  ['huge (>= 2^31)', 0xfffffff0],
] as const) {
  test(`rejects a ${what} length with FramingError and delivers nothing after`, () => {
    const rng = prng(length);
    const good = randomFrames(rng, 3, 100);
    const bad = new Uint8Array(4);
    new DataView(bad.buffer).setUint32(0, length, true);
    const after = randomFrames(rng, 3, 100);
    const bytes = concat([...good, bad, new Uint8Array(200), ...after]);
    // Whole, and with the bad header split across chunks.
    for (const cut of [bytes.byteLength, concat(good).byteLength + 2]) {
      const { framer, frames } = recording(1000);
      let error: unknown;
      try {
        framer.push(bytes.subarray(0, cut));
        framer.push(bytes.subarray(cut));
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof FramingError, `expected FramingError, got ${String(error)}`);
      assert.match(error.message, new RegExp(`\\b${length}\\b`));
      assert.match(error.message, length < MIN_FRAME_SIZE ? /minimum of 16/ : /maximum of 1000/);
      assert.deepEqual(frames, good);
      assert.equal(framer.failure, error);
      // Dead from now on: the same error, nothing delivered.
      assert.throws(() => framer.push(concat(after)), (e: unknown) => e === error);
      assert.deepEqual(frames, good);
    }
  });
}

test('accepts a frame of exactly maxFrameSize', () => {
  const { framer, frames } = recording(64);
  const f = frameOf(64, (i) => i);
  framer.push(f);
  assert.deepEqual(frames, [f]);
});

test('a throwing onFrame stops the framer', () => {
  const seen: number[] = [];
  const framer = new Framer((f) => {
    seen.push(f.byteLength);
    if (seen.length === 2) throw new Error('boom');
  });
  const bytes = concat([frameOf(16, () => 0), frameOf(17, () => 0), frameOf(18, () => 0)]);
  assert.throws(() => framer.push(bytes), /boom/);
  assert.throws(() => framer.push(frameOf(16, () => 0)), /boom/);
  assert.deepEqual(seen, [16, 17]);
});

test('stop() drops the rest of the chunk', () => {
  const seen: number[] = [];
  const framer = new Framer((f) => {
    seen.push(f.byteLength);
    framer.stop();
  });
  framer.push(concat([frameOf(16, () => 0), frameOf(17, () => 0)]));
  framer.push(frameOf(18, () => 0));
  assert.deepEqual(seen, [16]);
});

test('checkOutgoingFrame validates header, total and bounds', () => {
  const f = frameOf(40, (i) => i);
  assert.equal(checkOutgoingFrame([f.subarray(0, 4), f.subarray(4, 10), new Uint8Array(0), f.subarray(10)], 100), 40);
  assert.throws(() => checkOutgoingFrame([], 100), FramingError);
  assert.throws(() => checkOutgoingFrame([f.subarray(0, 3), f.subarray(3)], 100), FramingError);
  assert.throws(() => checkOutgoingFrame([f.subarray(0, 39)], 100), /says 40 bytes but the parts hold 39/);
  assert.throws(() => checkOutgoingFrame([f], 39), /exceeds the maximum of 39/);
  const small = frameOf(8, () => 0);
  assert.throws(() => checkOutgoingFrame([small], 100), /below the minimum/);
});

test('readFrameLength is unsigned little-endian; maxFrameSize is validated', () => {
  assert.equal(readFrameLength(Uint8Array.of(0x01, 0x02, 0x03, 0x84)), 0x84030201);
  assert.equal(readFrameLength(Uint8Array.of(9, 0x10, 0, 0, 0), 1), 16);
  assert.equal(resolveMaxFrameSize(undefined), DEFAULT_MAX_FRAME_SIZE);
  assert.equal(DEFAULT_MAX_FRAME_SIZE, 1024 * 1024 + 4096);
  assert.throws(() => resolveMaxFrameSize(15), RangeError);
  assert.throws(() => resolveMaxFrameSize(2 ** 32), RangeError);
  assert.throws(() => resolveMaxFrameSize(100.5), RangeError);
  assert.throws(() => new Framer(() => {}, { maxFrameSize: 3 }), RangeError);
});
