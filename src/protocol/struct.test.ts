/** The struct DSL: 64-bit helpers at their edges, zero-filled encoding. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getI64, getU64, setU64, struct } from './struct.js';

function roundTrip(value: number): { u: number; i: number; bytes: string } {
  const b = Buffer.alloc(8);
  const v = new DataView(b.buffer);
  setU64(v, 0, value);
  return { u: getU64(v, 0), i: getI64(v, 0), bytes: b.toString('hex') };
}

test('u64/i64 helpers: exact below 2^53, two-complement negatives', () => {
  for (const x of [0, 1, 0xffffffff, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1]) assert.equal(roundTrip(x).u, x);
  for (const x of [-1, -2, -(2 ** 32), -(2 ** 32) - 1, -(2 ** 53 - 1)]) assert.equal(roundTrip(x).i, x);
  assert.equal(roundTrip(-1).bytes, 'ffffffffffffffff');
  assert.equal(roundTrip(2 ** 32).bytes, '0000000001000000');
});

test('setU64 takes non-finite values without throwing', () => {
  assert.equal(roundTrip(NaN).bytes, '0000000000000000');
  assert.equal(roundTrip(Infinity).bytes, 'ffffffffffffffff');
  assert.equal(roundTrip(-Infinity).bytes, '0000000000000080');
});

test('encode writes every field, missing ones and padding as zero', () => {
  const s = struct('t', { a: 'u32', p: 'pad4', b: 'u64n', c: 'u16', d: 'pad6' });
  assert.equal(s.size, 24);
  const b = Buffer.alloc(24, 0xaa);
  s.encode(new DataView(b.buffer), 0, { c: 7 });
  assert.equal(b.toString('hex'), '0000000000000000' + '0000000000000000' + '0700' + '000000000000');
  assert.deepStrictEqual(s.decode(new DataView(b.buffer), 0), { a: 0, b: 0n, c: 7 });
});

test('encode: generated stores agree with setU64 and the kernel types at every edge, nested structs included', () => {
  const inner = struct('in', { q: 'u64', r: 'i32' });
  const s = struct('t', { a: 'u64', b: 'i64', c: 'u32', d: 'i32', e: 'u16', n: inner });
  const edges = [0, -0, 1, 1.5, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1, 2 ** 53, 2 ** 64, -1, -(2 ** 32) - 1, -(2 ** 53 - 1), NaN, Infinity, -Infinity, undefined];
  for (const x of edges) {
    const b = Buffer.alloc(s.size, 0xaa);
    const view = new DataView(b.buffer);
    s.encode(view, 0, { a: x, b: x, c: x, d: x, e: x, n: { q: x, r: x } } as never);
    // The expected bytes, field by field, by the slow and obvious route.
    const want = Buffer.alloc(s.size);
    const w = new DataView(want.buffer);
    setU64(w, 0, x ?? 0);
    setU64(w, 8, x ?? 0);
    w.setUint32(16, (x ?? 0) >>> 0, true);
    w.setInt32(20, (x ?? 0) | 0, true);
    w.setUint16(24, (x ?? 0) & 0xffff, true);
    setU64(w, 26, x ?? 0);
    w.setInt32(34, (x ?? 0) | 0, true);
    assert.equal(b.toString('hex'), want.toString('hex'), `value ${x}`);
  }
  // A missing nested struct is all zeros.
  const b = Buffer.alloc(s.size, 0xaa);
  s.encode(new DataView(b.buffer), 0, { a: 3 });
  assert.equal(b.toString('hex'), '03' + '00'.repeat(s.size - 1));
  assert.deepStrictEqual(s.decode(new DataView(b.buffer), 0), { a: 3, b: 0, c: 0, d: 0, e: 0, n: { q: 0, r: 0 } });
});
