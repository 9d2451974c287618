/**
 * Free payload slabs are kept for reuse (slab.ts SlabPool): only once no
 * view of them is left, and only for as long as they are let be kept.
 */
import assert from 'node:assert/strict';
import { afterEach, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PayloadReader, PayloadSlab, keepFreedPayloads, payloadSlabs } from './slab.js';

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

// ---- reading frames straight into payload slabs (PayloadReader) ----------------------

const FRAME = (1 << 20) + 4096;
const DATA_AT = 80; // a WRITE's payload offset: in_header + write_in
const MiB = 1 << 20;

/** "Read" a frame into `room`: its payload part filled with `fill`. */
function readInto(room: Uint8Array, payloadBytes: number, fill: number): Uint8Array {
  room.fill(0xee, 0, DATA_AT);
  room.fill(fill, DATA_AT, DATA_AT + payloadBytes);
  return room.subarray(DATA_AT, DATA_AT + payloadBytes);
}

it('copies each payload into room of its own, page-aligned, into a next slab when one is full', () => {
  const slab = new PayloadSlab();
  const kept: Buffer[] = [];
  // Sizes that are not whole pages, past the end of the first slab.
  for (let i = 0; i < 70; i++) kept.push(slab.copy(new Uint8Array(MiB - 100 + i).fill(i)));
  assert.notEqual(kept[0]!.buffer, kept[69]!.buffer, 'a second slab was taken');
  for (let i = 0; i < kept.length; i++) {
    assert.equal(kept[i]!.byteOffset % 4096, 0, `payload ${i} starts a page`);
    assert.equal(kept[i]!.byteLength, MiB - 100 + i);
    assert.ok(kept[i]!.every((b) => b === i), `payload ${i} intact`);
  }
});

it('keeps a payload read into a lent room where it lies: the kept bytes are the room', () => {
  const reader = new PayloadReader(DATA_AT);
  const room = reader.area(FRAME)!;
  assert.equal(reader.area(FRAME)!, room, 'the same room until a payload is taken');
  assert.equal((room.byteOffset + DATA_AT) % 4096, 0, 'the payload starts a page');
  const kept = PayloadReader.adopt(readInto(room, MiB, 0x5a));
  assert.ok(kept);
  assert.equal(kept.buffer, room.buffer);
  assert.equal(kept.byteOffset, room.byteOffset + DATA_AT);
  assert.equal(kept.byteLength, MiB);
  // Not a copy: a byte changed in the room is a byte changed in the payload.
  room[DATA_AT + 7] = 0x11;
  assert.equal(kept[7], 0x11);
});

it('lends the next room past every payload kept, so no kept byte is read over', () => {
  const reader = new PayloadReader(DATA_AT);
  const kept: Buffer[] = [];
  // 70 full-size payloads: past the end of the first slab (63 fit in one).
  for (let i = 0; i < 70; i++) {
    const room = reader.area(FRAME)!;
    room.fill(0xff); // a whole frame's worth of reading lands in the room
    const data = readInto(room, MiB, i);
    const p = PayloadReader.adopt(data);
    assert.ok(p, `payload ${i} kept`);
    kept.push(p);
  }
  assert.notEqual(kept[0]!.buffer, kept[69]!.buffer, 'a second slab was taken');
  for (let i = 0; i < kept.length; i++) {
    assert.ok(kept[i]!.every((b) => b === i), `payload ${i} intact`);
  }
});

it('copies instead when the bytes are not a payload of the room lent', () => {
  const reader = new PayloadReader(DATA_AT);
  const room = reader.area(FRAME)!;
  readInto(room, 8192, 1);
  // At another offset (a frame whose payload starts elsewhere): not taken, the room stays lent.
  assert.equal(PayloadReader.adopt(room.subarray(DATA_AT + 8, DATA_AT + 8 + 4096)), undefined);
  assert.equal(reader.area(FRAME)!, room);
  // Ordinary memory, and a payload slab no reader lent: not taken either.
  assert.equal(new PayloadReader(DATA_AT).area(PayloadSlab.SIZE), undefined, 'no room larger than a slab holds');
  assert.equal(PayloadReader.adopt(new Uint8Array(4096)), undefined);
  assert.equal(PayloadReader.adopt(new PayloadSlab().copy(new Uint8Array(4096))), undefined);
  // Taken once only: the room is used up by the first.
  const data = room.subarray(DATA_AT, DATA_AT + 8192);
  assert.ok(PayloadReader.adopt(data));
  assert.equal(PayloadReader.adopt(data), undefined);
  assert.notEqual(reader.area(FRAME)!.byteOffset, room.byteOffset);
});

it('holds its slab only through kept payloads: with none, the slab goes back to the pool', async () => {
  await collectSome();
  payloadSlabs.trim(true);
  const reader = new PayloadReader(DATA_AT);
  let kept: Buffer | undefined = PayloadReader.adopt(readInto(reader.area(FRAME)!, MiB, 3));
  assert.ok(kept);
  await collectSome();
  assert.equal(payloadSlabs.freeBytes, 0, 'a kept payload holds its slab');
  kept = undefined;
  await collectUntil(() => payloadSlabs.freeBytes === PayloadSlab.SIZE, 'the reader’s slab to come back');
  void kept;
});
