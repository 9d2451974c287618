/**
 * Round trips through the codec for every op, reply layout and notification in
 * the tables, with seeded random field values, plus hand-written byte fixtures
 * that pin the wire format independently of the round trip.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './layouts.js';
import { layoutOf, type Fields, type StructDef } from './struct.js';
import { ops, notifications, type OpName, type NotifyName, type OpSpec } from './opcodes.js';
import {
  decodeDirents,
  decodeNotification,
  decodeReply,
  decodeRequest,
  DirentPacker,
  encodeError,
  encodeNotification,
  encodeReply,
  encodeRequest,
  type CodecOptions,
  type DirentPlusRecord,
  type DirentRecord,
  type ReplyingOp,
} from './codec.js';
import { prngU32 } from '../testing/prng.js';

// ---- seeded randomness ----------------------------------------------------------------

type Rng = ReturnType<typeof rng>;

/** mulberry32: small, fast, good enough to pick test values reproducibly. */
function rng(seed: number) {
  const u32 = prngU32(seed);
  const int = (n: number) => Math.floor((u32() / 2 ** 32) * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const u53 = () => (u32() & 0x1fffff) * 2 ** 32 + u32();
  return {
    u32,
    int,
    pick,
    chance: (p: number) => u32() / 2 ** 32 < p,
    u64: () => (int(4) === 0 ? pick([0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1]) : u53()),
    i64: () => {
      if (int(4) === 0) return pick([0, -1, 1, -(2 ** 32), -(2 ** 53 - 1), 2 ** 53 - 1]);
      const m = u53();
      return m !== 0 && int(2) === 0 ? -m : m;
    },
    u64n: () => (int(4) === 0 ? pick([0n, 1n, 2n ** 63n, 2n ** 64n - 1n]) : (BigInt(u32()) << 32n) | BigInt(u32())),
    bytes: (n: number) => {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = u32() & 0xff;
      return b;
    },
  };
}

/** A random value for every non-padding field, edge values included. */
function randomStruct(def: StructDef<Fields>, r: Rng): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of layoutOf(def)) {
    const s = f.spec;
    if (typeof s === 'object') out[f.name] = randomStruct(s, r);
    else if (s === 'u16') out[f.name] = r.int(0x10000);
    else if (s === 'u32') out[f.name] = r.chance(0.2) ? r.pick([0, 0xffffffff]) : r.u32();
    else if (s === 'i32') out[f.name] = r.chance(0.2) ? r.pick([0, -1, -(2 ** 31), 2 ** 31 - 1]) : r.u32() | 0;
    else if (s === 'u64') out[f.name] = r.u64();
    else if (s === 'i64') out[f.name] = r.i64();
    else if (s === 'u64n') out[f.name] = r.u64n();
  }
  return out;
}

const namePools: readonly (readonly [number, number])[] = [
  [0x21, 0x7e], // ASCII (minus '/', skipped below)
  [0xa0, 0x7ff], // 2-byte UTF-8
  [0x800, 0xd7ff], // 3-byte UTF-8
  [0xfffd, 0xfffd], // the replacement character itself: a valid name
  [0x10000, 0x1faff], // 4-byte UTF-8 (surrogate pairs in JS)
];

/** A random file name: 0..24 code points of 1- to 4-byte UTF-8, never NUL or '/'. */
function randomName(r: Rng): string {
  let s = '';
  const n = r.chance(0.05) ? 0 : 1 + r.int(24);
  for (let i = 0; i < n; i++) {
    const [lo, hi] = r.pick(namePools);
    const cp = lo + r.int(hi - lo + 1);
    s += cp === 0x2f ? '_' : String.fromCodePoint(cp);
  }
  return s;
}

/** Buffers and Uint8Arrays compare by content whatever their class. */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

/** The frame inside a larger buffer at an odd offset with garbage around it, as a reused read buffer would be. */
function embedded(frame: Uint8Array, r: Rng): Uint8Array {
  const before = 1 + r.int(7);
  const big = r.bytes(before + frame.byteLength + 1 + r.int(16));
  big.set(frame, before);
  return big.subarray(before, before + frame.byteLength);
}

const opNames = Object.keys(ops) as OpName[];
const replyingOps = opNames.filter((op) => ops[op].reply !== 'none') as ReplyingOp[];
const ROUNDS = 30;

// ---- requests -------------------------------------------------------------------------

/** A random request for `op` and the value decodeRequest must give back for it. */
function randomRequest(op: OpName, r: Rng, options: CodecOptions) {
  const spec: OpSpec = ops[op];
  const input: Record<string, unknown> = {
    op,
    header: { unique: r.u64(), nodeid: r.u64(), uid: r.u32(), gid: r.u32(), pid: r.u32() },
  };
  const expected: Record<string, unknown> = { op };
  if (spec.arg) {
    input.arg = randomStruct(spec.arg, r);
    const arg = { ...(input.arg as Record<string, unknown>) };
    if (op === 'setxattr' && !options.setxattrExt) arg.setxattrFlags = 0; // not on the wire in the 8-byte form
    expected.arg = arg;
  }
  for (const key of spec.names ?? []) expected[key] = input[key] = randomName(r);
  if (spec.items) {
    const items = Array.from({ length: r.int(6) }, () => randomStruct(spec.items!, r));
    expected.items = input.items = items;
    (expected.arg as Record<string, unknown>).count = items.length;
  }
  if (spec.data) {
    const data = r.bytes(r.chance(0.1) ? 0 : r.int(300));
    expected.data = input.data = data;
    const arg = expected.arg as Record<string, unknown>;
    if ('size' in arg && op !== 'ioctl') arg.size = data.byteLength;
  }
  return { input, expected };
}

function bodySize(op: OpName, input: Record<string, unknown>, options: CodecOptions): number {
  const spec: OpSpec = ops[op];
  let n = spec.arg ? (op === 'setxattr' && !options.setxattrExt ? 8 : spec.arg.size) : 0;
  for (const key of spec.names ?? []) n += Buffer.byteLength(input[key] as string) + 1;
  if (spec.items) n += (input.items as unknown[]).length * spec.items.size;
  if (spec.data) n += (input.data as Uint8Array).byteLength;
  return n;
}

for (const [i, op] of opNames.entries()) {
  test(`request round trip: ${op}`, () => {
    const seed = 1000 + i;
    const r = rng(seed);
    for (let round = 0; round < ROUNDS; round++) {
      const options: CodecOptions = { setxattrExt: r.chance(0.5) };
      const { input, expected } = randomRequest(op, r, options);
      const frame = encodeRequest(input as never, options);
      const ctx = `seed ${seed} round ${round}: ${JSON.stringify(input, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`;
      assert.equal(frame.byteLength, 40 + bodySize(op, input, options), ctx);
      const decoded = decodeRequest(embedded(frame, r), options);
      const header = { ...(input.header as object), len: frame.byteLength, opcode: ops[op].opcode, totalExtlen: 0 };
      assert.deepStrictEqual(norm(decoded), norm({ ...expected, header }), ctx);
    }
  });
}

test('every op in the table is covered by the round trips', () => {
  // FUSE_LOOKUP (1) .. FUSE_COPY_FILE_RANGE_64 (53); 7 and 19 were never assigned.
  const codes = opNames.map((op) => ops[op].opcode).sort((a, b) => a - b);
  const want = Array.from({ length: 53 }, (_, k) => k + 1).filter((c) => c !== 7 && c !== 19);
  assert.deepStrictEqual(codes, want);
});

test('decoded payloads are copies: the frame buffer can be reused', () => {
  const frame = encodeRequest({
    op: 'write',
    header: { unique: 2, nodeid: 3, uid: 0, gid: 0, pid: 1 },
    arg: { fh: 1, offset: 0, size: 3, writeFlags: 0, lockOwner: 0n, flags: 0 },
    data: Buffer.from('abc'),
  });
  const req = decodeRequest(frame);
  (frame as Buffer).fill(0x55);
  assert.equal(req.op, 'write');
  if (req.op === 'write') assert.equal(Buffer.from(req.data).toString(), 'abc');
});

test('setxattr carries the 8-byte argument by default and the 16-byte one with setxattrExt', () => {
  const base = {
    op: 'setxattr' as const,
    header: { unique: 9, nodeid: 4, uid: 1, gid: 2, pid: 3 },
    arg: { size: 0, flags: 1, setxattrFlags: 5 },
    name: 'user.x',
    data: Buffer.from('value'),
  };
  const compat = encodeRequest(base);
  const ext = encodeRequest(base, { setxattrExt: true });
  assert.equal(compat.byteLength, 40 + 8 + 7 + 5);
  assert.equal(ext.byteLength, 40 + 16 + 7 + 5);
  // The compat argument is size, flags and nothing else: the name follows at offset 48.
  assert.equal(Buffer.from(compat).readUInt32LE(40), 5);
  assert.equal(Buffer.from(compat).readUInt32LE(44), 1);
  assert.equal(Buffer.from(compat.subarray(48, 55)).toString('latin1'), 'user.x\0');
  assert.equal(Buffer.from(ext).readUInt32LE(48), 5);
  assert.equal(Buffer.from(ext.subarray(56, 63)).toString('latin1'), 'user.x\0');

  const a = decodeRequest(compat);
  const b = decodeRequest(ext, { setxattrExt: true });
  assert.ok(a.op === 'setxattr' && b.op === 'setxattr');
  assert.deepStrictEqual(a.arg, { size: 5, flags: 1, setxattrFlags: 0 });
  assert.deepStrictEqual(b.arg, { size: 5, flags: 1, setxattrFlags: 5 });
  assert.equal(a.name, 'user.x');
  assert.equal(b.name, 'user.x');
  assert.equal(Buffer.from(a.data).toString(), 'value');
  assert.equal(Buffer.from(b.data).toString(), 'value');
});

function initFrame(body: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32LE(40 + body.byteLength, 0);
  h.writeUInt32LE(26, 4);
  h.writeUInt32LE(77, 8);
  return Buffer.concat([h, body]);
}

test('INIT with the 16-byte pre-7.36 body decodes with zeros for the rest', () => {
  const body = Buffer.alloc(16);
  body.writeUInt32LE(7, 0);
  body.writeUInt32LE(31, 4);
  body.writeUInt32LE(0x20000, 8);
  body.writeUInt32LE(0xdeadbeef, 12);
  const req = decodeRequest(initFrame(body));
  assert.equal(req.op, 'init');
  assert.equal(req.header.unique, 77);
  if (req.op === 'init') assert.deepStrictEqual(req.arg, { major: 7, minor: 31, maxReadahead: 0x20000, flags: 0xdeadbeef, flags2: 0 });

  // The full 64-byte body carries flags2.
  const full = Buffer.alloc(64);
  body.copy(full);
  full.writeUInt32LE(0x1234, 16);
  const req2 = decodeRequest(initFrame(full));
  if (req2.op === 'init') assert.equal(req2.arg.flags2, 0x1234);
  else assert.fail('not init');
});

// ---- replies --------------------------------------------------------------------------

/** A random successful reply value for `op`, the value decodeReply must give, and the requested size to pass. */
function randomReply(op: ReplyingOp, r: Rng): { value: unknown; expected: unknown; requestedSize?: number } {
  const layout = ops[op].reply as OpSpec['reply'];
  if (typeof layout === 'object') {
    const v = randomStruct(layout, r);
    return { value: v, expected: v };
  }
  switch (layout) {
    case 'empty':
      return { value: undefined, expected: undefined };
    case 'data': {
      if (r.chance(0.5)) {
        const b = r.bytes(r.int(200));
        return { value: b, expected: b };
      }
      const parts = Array.from({ length: r.int(4) }, () => r.bytes(r.int(100)));
      return { value: parts, expected: Buffer.concat(parts) };
    }
    case 'create': {
      const v = { entry: randomStruct(L.entryOut, r), open: randomStruct(L.openOut, r) };
      return { value: v, expected: v };
    }
    case 'xattr': {
      if (r.chance(0.5)) {
        const v = { size: r.u32() };
        return { value: v, expected: v, requestedSize: 0 };
      }
      const b = r.bytes(r.int(100));
      return { value: b, expected: b, requestedSize: b.byteLength + r.int(50) || 1 };
    }
    case 'ioctl': {
      const out = randomStruct(L.ioctlOut, r);
      if (r.chance(0.3)) return { value: { out }, expected: { out, data: Buffer.alloc(0) } };
      const data = r.bytes(r.int(100));
      return { value: { out, data }, expected: { out, data } };
    }
    default:
      throw new Error(`${op} has no reply`);
  }
}

for (const [i, op] of replyingOps.entries()) {
  test(`reply round trip: ${op}`, () => {
    const seed = 2000 + i;
    const r = rng(seed);
    for (let round = 0; round < ROUNDS; round++) {
      const unique = r.u64();
      const { value, expected, requestedSize } = randomReply(op, r);
      const parts = encodeReply(op, unique, value as never);
      const frame = Buffer.concat(parts);
      assert.equal(frame.readUInt32LE(0), frame.byteLength, `seed ${seed} round ${round}: length field`);
      assert.equal(frame.readInt32LE(4), 0);
      const decoded = decodeReply(op, embedded(frame, r), requestedSize);
      assert.deepStrictEqual(norm(decoded), norm({ unique, error: 0, value: expected }), `seed ${seed} round ${round}`);
    }
  });

  test(`error reply: ${op}`, () => {
    const r = rng(3000 + i);
    for (const errno of [1, 2, 13, 38, 61, 95, 4095, 1 + r.int(4095)]) {
      const unique = r.u64();
      const frame = encodeError(unique, errno);
      assert.equal(frame.byteLength, 16);
      assert.deepStrictEqual(decodeReply(op, frame), { unique, error: errno });
    }
  });
}

test('data replies reference the caller buffers (no copy)', () => {
  const payload = Buffer.from('hello');
  const parts = encodeReply('read', 5, payload);
  assert.equal(parts.length, 2);
  assert.equal(parts[1], payload);
  assert.equal(Buffer.from(parts[0]!).readUInt32LE(0), 16 + 5);
});

test('encodeError refuses errnos that are not positive integers below 4096', () => {
  for (const bad of [0, -2, 4096, 1.5, NaN]) assert.throws(() => encodeError(1, bad), RangeError, String(bad));
});

test('encodeReply refuses ops that take no reply', () => {
  for (const op of opNames.filter((o) => ops[o].reply === 'none')) {
    assert.throws(() => encodeReply(op as never, 1, undefined as never), TypeError, op);
  }
});

// ---- notifications --------------------------------------------------------------------

const notifyNames = Object.keys(notifications) as NotifyName[];

for (const [i, kind] of notifyNames.entries()) {
  test(`notification round trip: ${kind}`, () => {
    const seed = 4000 + i;
    const r = rng(seed);
    const spec = notifications[kind] as { code: number; arg?: StructDef<Fields>; names?: readonly string[]; data?: true; items?: StructDef<Fields> };
    for (let round = 0; round < ROUNDS; round++) {
      const n: Record<string, unknown> = { kind };
      let expectArg: Record<string, unknown> | undefined;
      if (spec.arg) {
        n.arg = randomStruct(spec.arg, r);
        expectArg = { ...(n.arg as Record<string, unknown>) };
      }
      for (const key of spec.names ?? []) n[key] = randomName(r);
      if (spec.names) expectArg!.namelen = Buffer.byteLength(n[spec.names[0]!] as string);
      if (spec.data) {
        n.data = r.bytes(r.int(200));
        expectArg!.size = (n.data as Buffer).byteLength;
      }
      if (spec.items) {
        n.items = Array.from({ length: r.int(6) }, () => randomStruct(spec.items!, r));
        expectArg!.count = (n.items as unknown[]).length;
      }
      const frame = Buffer.concat(encodeNotification(n as never));
      assert.equal(frame.readUInt32LE(0), frame.byteLength);
      assert.equal(frame.readInt32LE(4), spec.code, 'error field carries the notify code');
      assert.equal(frame.readBigUInt64LE(8), 0n, 'unique is 0');
      const decoded = decodeNotification(embedded(frame, r));
      const expected = { ...n, ...(expectArg ? { arg: expectArg } : {}) };
      assert.deepStrictEqual(norm(decoded), norm(expected), `seed ${seed} round ${round}`);
    }
  });
}

// ---- directory listings ---------------------------------------------------------------

const align8 = (n: number) => (n + 7) & ~7;

function randomDirent(r: Rng, plus: boolean): DirentRecord | DirentPlusRecord {
  const rec: DirentRecord = { ino: r.u64(), off: r.u64(), type: r.int(16), name: randomName(r) || 'x' };
  return plus ? { ...rec, entry: randomStruct(L.entryOut, r) as DirentPlusRecord['entry'] } : rec;
}

for (const plus of [false, true]) {
  const what = plus ? 'readdirplus' : 'readdir';

  test(`${what}: DirentPacker/decodeDirents round trip and the size limit`, () => {
    const seed = plus ? 5001 : 5000;
    const r = rng(seed);
    const fixed = plus ? 152 : 24;
    for (let round = 0; round < 20; round++) {
      const max = r.int(2048);
      const packer = new DirentPacker(max, plus);
      const accepted: (DirentRecord | DirentPlusRecord)[] = [];
      let refused = 0;
      for (let k = 0; k < 40; k++) {
        const rec = randomDirent(r, plus);
        const need = align8(fixed + Buffer.byteLength(rec.name));
        const before = Buffer.from(packer.finish());
        const sizeBefore = packer.size;
        const fits = sizeBefore + need <= max;
        assert.equal(packer.add(rec), fits, `seed ${seed} round ${round}: ${need} bytes at ${sizeBefore} of ${max}`);
        if (fits) {
          accepted.push(rec);
          assert.equal(packer.size, sizeBefore + need);
        } else {
          refused++;
          // Refused: nothing written, nothing counted.
          assert.equal(packer.size, sizeBefore);
          assert.deepStrictEqual(Buffer.from(packer.finish()), before);
        }
      }
      const bytes = packer.finish();
      assert.ok(bytes.byteLength <= max);
      assert.equal(bytes.byteLength % 8, 0);
      assert.deepStrictEqual(norm(decodeDirents(embedded(bytes, r), plus)), norm(accepted), `seed ${seed} round ${round}`);
      if (max < 200) assert.ok(refused > 0);
    }
  });

  test(`${what}: a record that exactly fits is taken, one byte less is refused`, () => {
    const rec = plus ? randomDirent(rng(1), true) : { ino: 5, off: 1, type: 4, name: 'abcde' };
    rec.name = 'abcde';
    const need = align8((plus ? 152 : 24) + 5);
    const exact = new DirentPacker(need, plus);
    assert.equal(exact.add(rec), true);
    assert.equal(exact.size, need);
    assert.equal(exact.add({ ...rec, name: 'a' }), false);
    const short = new DirentPacker(need - 1, plus);
    assert.equal(short.add(rec), false);
    assert.equal(short.size, 0);
    assert.equal(short.finish().byteLength, 0);
    // The name is padded with zeros to the 8-byte boundary.
    const bytes = Buffer.from(exact.finish());
    const nameAt = plus ? 152 : 24;
    assert.equal(bytes.subarray(nameAt, nameAt + 5).toString(), 'abcde');
    assert.deepStrictEqual([...bytes.subarray(nameAt + 5, need)], [0, 0, 0]);
  });

  test(`${what}: push() writes exactly the bytes of the struct layouts (fuse_dirent, fuse_entry_out)`, () => {
    const r = rng(plus ? 5101 : 5100);
    const packer = new DirentPacker(1 << 16, plus);
    const want: Buffer[] = [];
    for (let k = 0; k < 200; k++) {
      const rec = randomDirent(r, plus);
      // Small values take the fast path, u64 values above 2^32 the general one.
      if (k % 2) {
        rec.ino = r.int(1 << 30);
        rec.off = r.int(1 << 30);
      }
      const name = Buffer.from(rec.name);
      const fixed = plus ? L.direntplus.size : L.dirent.size;
      const one = Buffer.alloc(align8(fixed + name.byteLength));
      const view = new DataView(one.buffer, one.byteOffset, one.byteLength);
      if (plus) L.entryOut.encode(view, 0, (rec as DirentPlusRecord).entry);
      L.dirent.encode(view, fixed - L.dirent.size, { ino: rec.ino, off: rec.off, namelen: name.byteLength, type: rec.type });
      name.copy(one, fixed);
      want.push(one);
      assert.ok(packer.push(rec.ino, rec.off, rec.type, rec.name, (rec as Partial<DirentPlusRecord>).entry));
    }
    assert.deepStrictEqual(Buffer.from(packer.finish()), Buffer.concat(want));
  });

  if (plus) {
    test('readdirplus: pushPlus() writes what push() writes with the same entry encoded', () => {
      const r = rng(5200);
      const viaStruct = new DirentPacker(1 << 16, true);
      const direct = new DirentPacker(1 << 16, true);
      for (let k = 0; k < 200; k++) {
        const rec = randomDirent(r, true) as DirentPlusRecord;
        const e = rec.entry;
        e.attr.flags = 0; // the server never sets fuse_attr.flags in a listing
        if (k % 2) for (const key of ['ino', 'size', 'blocks', 'atime', 'mtime', 'ctime'] as const) e.attr[key] = r.int(1 << 30);
        const attr = {
          ino: e.attr.ino,
          size: e.attr.size,
          blocks: e.attr.blocks,
          atime: { sec: e.attr.atime, nsec: e.attr.atimensec },
          mtime: { sec: e.attr.mtime, nsec: e.attr.mtimensec },
          ctime: { sec: e.attr.ctime, nsec: e.attr.ctimensec },
          mode: e.attr.mode,
          nlink: e.attr.nlink,
          uid: e.attr.uid,
          gid: e.attr.gid,
          rdev: e.attr.rdev,
          blksize: e.attr.blksize,
        };
        assert.ok(viaStruct.push(rec.ino, rec.off, rec.type, rec.name, e));
        assert.ok(direct.pushPlus(rec.ino, rec.off, rec.type, rec.name, e.nodeid, e.generation, e.entryValid, e.entryValidNsec, e.attrValid, e.attrValidNsec, attr));
      }
      assert.deepStrictEqual(Buffer.from(direct.finish()), Buffer.from(viaStruct.finish()));
      // Refused when it does not fit, with nothing written.
      const small = new DirentPacker(160, true);
      assert.equal(small.pushPlus(1, 1, 8, 'abcdefghi', 1, 0, 0, 0, 0, 0, { ino: 1, size: 0, blocks: 0, atime: { sec: 0, nsec: 0 }, mtime: { sec: 0, nsec: 0 }, ctime: { sec: 0, nsec: 0 }, mode: 0, nlink: 1, uid: 0, gid: 0, rdev: 0, blksize: 4096 }), false);
      assert.equal(small.size, 0);
    });
  }
}

// ---- hand-written fixtures ------------------------------------------------------------

const hex = (s: string) => Buffer.from(s.replace(/#[^\n]*/g, '').replace(/\s+/g, ''), 'hex');

test('fixture: LOOKUP request bytes', () => {
  const frame = hex(`
    2e 00 00 00               # len = 46 (40-byte header + "a.txt\\0")
    01 00 00 00               # opcode = 1 (FUSE_LOOKUP)
    07 00 00 00 00 00 00 00   # unique = 7
    01 00 00 00 00 00 00 00   # nodeid = 1 (root)
    e8 03 00 00               # uid = 1000
    e9 03 00 00               # gid = 1001
    39 30 00 00               # pid = 12345
    00 00                     # total_extlen = 0
    00 00                     # padding
    61 2e 74 78 74 00         # name = "a.txt", NUL-terminated
  `);
  const req = decodeRequest(frame);
  assert.deepStrictEqual(req, {
    op: 'lookup',
    header: { len: 46, opcode: 1, unique: 7, nodeid: 1, uid: 1000, gid: 1001, pid: 12345, totalExtlen: 0 },
    name: 'a.txt',
  });
  const again = encodeRequest({ op: 'lookup', header: { unique: 7, nodeid: 1, uid: 1000, gid: 1001, pid: 12345 }, name: 'a.txt' });
  assert.deepStrictEqual(Buffer.from(again), frame);
});

test('fixture: INIT reply bytes', () => {
  const frame = hex(`
    50 00 00 00               # fuse_out_header.len = 80 (16 + 64)
    00 00 00 00               # error = 0
    05 04 03 02 01 00 00 00   # unique = 0x0102030405
    07 00 00 00               # major = 7
    2d 00 00 00               # minor = 45
    00 00 02 00               # max_readahead = 0x20000
    78 56 34 12               # flags = 0x12345678
    0c 00                     # max_background = 12
    09 00                     # congestion_threshold = 9
    00 00 10 00               # max_write = 0x100000
    01 00 00 00               # time_gran = 1
    00 01                     # max_pages = 256
    03 00                     # map_alignment = 3
    21 43 00 00               # flags2 = 0x4321
    02 00 00 00               # max_stack_depth = 2
    1e 00                     # request_timeout = 30
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00   # unused[11]
  `);
  assert.equal(frame.byteLength, 80);
  const value = {
    major: 7,
    minor: 45,
    maxReadahead: 0x20000,
    flags: 0x12345678,
    maxBackground: 12,
    congestionThreshold: 9,
    maxWrite: 0x100000,
    timeGran: 1,
    maxPages: 256,
    mapAlignment: 3,
    flags2: 0x4321,
    maxStackDepth: 2,
    requestTimeout: 30,
  };
  assert.deepStrictEqual(Buffer.concat(encodeReply('init', 0x0102030405, value)), frame);
  assert.deepStrictEqual(decodeReply('init', frame), { unique: 0x0102030405, error: 0, value });
});

test('fixture: error reply and a readdir record', () => {
  assert.deepStrictEqual(
    Buffer.from(encodeError(3, 2)),
    hex(`
      10 00 00 00               # len = 16
      fe ff ff ff               # error = -2 (-ENOENT)
      03 00 00 00 00 00 00 00   # unique = 3
    `),
  );
  const p = new DirentPacker(64, false);
  p.add({ ino: 0x1122, off: 1, type: 8, name: 'foo' });
  assert.deepStrictEqual(
    Buffer.from(p.finish()),
    hex(`
      22 11 00 00 00 00 00 00   # ino
      01 00 00 00 00 00 00 00   # off (cookie of the next entry)
      03 00 00 00               # namelen = 3
      08 00 00 00               # type = DT_REG
      66 6f 6f 00 00 00 00 00   # "foo" padded to 8 bytes
    `),
  );
});

test('fixture: request with a FUSE_EXT_GROUPS extension', () => {
  const frame = hex(`
    44 00 00 00               # len = 68: header 40 + mkdir_in 8 + "dir\\0" 4 + extensions 16
    09 00 00 00               # opcode = 9 (FUSE_MKDIR)
    02 00 00 00 00 00 00 00   # unique = 2
    01 00 00 00 00 00 00 00   # nodeid = 1
    00 00 00 00 00 00 00 00   # uid, gid
    00 00 00 00               # pid
    02 00                     # total_extlen = 2 (16 bytes of extensions)
    00 00                     # padding
    ed 41 00 00               # mkdir_in.mode = 040755
    12 00 00 00               # mkdir_in.umask = 022
    64 69 72 00               # name = "dir"
    10 00 00 00               # fuse_ext_header.size = 16
    20 00 00 00               # type = 32 (FUSE_EXT_GROUPS)
    01 00 00 00               # fuse_supp_groups.nr = 1
    e8 03 00 00               # groups[0] = 1000
  `);
  assert.equal(frame.byteLength, 0x44);
  const req = decodeRequest(frame);
  assert.equal(req.op, 'mkdir');
  if (req.op !== 'mkdir') return;
  assert.deepStrictEqual(req.arg, { mode: 0o40755, umask: 0o22 });
  assert.equal(req.name, 'dir');
  assert.deepStrictEqual(req.groups, [1000]);
  assert.equal(req.header.totalExtlen, 2);
});

test('encodeRequest writes every byte of its (unzeroed) frame: the groups fixture byte for byte, zero padding after an even group count', () => {
  for (let round = 0; round < 50; round++) {
    // Frames are cut from a slab without zeroing; many in a row, some with 0xff payloads, must all come out exact.
    encodeRequest({ op: 'write', header: { unique: 4, nodeid: 5, uid: 0, gid: 0, pid: 0 }, arg: { fh: 1, offset: 0, size: 0, writeFlags: 0, lockOwner: 0n, flags: 0 }, data: Buffer.alloc(1000 + round, 0xff) });
    const one = encodeRequest({ op: 'mkdir', header: { unique: 2, nodeid: 1, uid: 0, gid: 0, pid: 0 }, arg: { mode: 0o40755, umask: 0o22 }, name: 'dir', groups: [1000] });
    assert.deepStrictEqual(
      Buffer.from(one).toString('hex'),
      '440000000900000002000000000000000100000000000000000000000000000000000000020000' + '00ed41000012000000646972001000000020000000010000' + '00e8030000',
    );
    const two = Buffer.from(encodeRequest({ op: 'mkdir', header: { unique: 2, nodeid: 1, uid: 0, gid: 0, pid: 0 }, arg: { mode: 0o40755, umask: 0o22 }, name: 'dir', groups: [1000, 1001] }));
    assert.equal(two.byteLength, 40 + 8 + 4 + 24);
    assert.equal(two.readUInt16LE(36), 3, 'total_extlen: 24 bytes');
    assert.equal(two.readUInt16LE(38), 0, 'header padding');
    assert.deepStrictEqual([...two.subarray(two.byteLength - 4)], [0, 0, 0, 0], 'extension padding');
    assert.deepStrictEqual(decodeRequest(two).groups, [1000, 1001]);
  }
});
