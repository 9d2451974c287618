/**
 * Free payload slabs are kept for reuse (slab.ts SlabPool): only once no
 * view of them is left, and only for as long as they are let be kept.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PayloadSlab, keepFreedPayloads, payloadSlabs } from './slab.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collect until `done` holds (finalizers run in tasks after a collection), or fail after 3 s. */
async function collectUntil(done: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 3000;
  while (!done()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Copies `bytes` of `fill` into a fresh PayloadSlab's first room; only the returned view refers to it. */
function payload(bytes: number, fill: number): Buffer {
  return new PayloadSlab().copy(new Uint8Array(bytes).fill(fill));
}

afterEach(() => {
  keepFreedPayloads(300_000);
  payloadSlabs.trim(true);
});

it('keeps a slab once its payloads are gone, and the next slab is that memory', async () => {
  let first: Buffer | null = payload(8192, 0xab);
  assert.equal(payloadSlabs.freeBytes, 0);
  first = null;
  await collectUntil(() => payloadSlabs.freeBytes === PayloadSlab.SIZE, 'the slab to come back');
  const second = payload(4096, 0xcd);
  assert.equal(payloadSlabs.freeBytes, 0, 'the kept slab was taken');
  assert.equal(second.byteLength, 4096);
  assert.ok(second.every((b) => b === 0xcd));
  // Past the new room lie the old payload's bytes: the same memory, not a fresh (zeroed) slab.
  assert.equal(new Uint8Array(second.buffer)[4096], 0xab);
  void first;
});

/** Collect a few times, letting finalizers run. */
async function collectSome(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('does not hand out a slab while any payload cut from it is alive', async () => {
  // Only this test's slabs in the pool from here on.
  await collectSome();
  payloadSlabs.trim(true);
  const slab = new PayloadSlab();
  let a: Buffer | null = slab.copy(new Uint8Array(4096).fill(1));
  const b = slab.copy(new Uint8Array(4096).fill(2));
  // A view made from a payload holds the slab as well.
  const tail = new Uint8Array(b.buffer, b.byteOffset + 100, 10);
  a = null;
  await collectSome();
  // b's slab must not come back: rooms cut now would overwrite b.
  const others = Array.from({ length: 3 }, () => payload(3 * 4096, 9));
  assert.ok(b.every((x) => x === 2), 'b unchanged');
  assert.ok(tail.every((x) => x === 2));
  for (const o of others) assert.ok(o.every((x) => x === 9));
  void a;
});

it('gives kept memory back after keep_freed, and keeps nothing with 0', async () => {
  keepFreedPayloads(200);
  let p: Buffer | null = payload(4096, 1);
  p = null;
  await collectUntil(() => payloadSlabs.freeBytes > 0, 'the slab to come back');
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(payloadSlabs.freeBytes, 0, 'dropped after 200 ms');

  keepFreedPayloads(0);
  p = payload(4096, 1);
  let done = false;
  const watch = new FinalizationRegistry(() => (done = true));
  watch.register(p.buffer, 0);
  p = null;
  const end = Date.now() + 3000;
  while (!done && Date.now() < end) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(done, 'the slab was collected');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(payloadSlabs.freeBytes, 0, 'not kept');
});
