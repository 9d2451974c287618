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
