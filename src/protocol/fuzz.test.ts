/**
 * Mutation fuzzing of the decoders: valid frames are truncated, extended,
 * byte-flipped and have their length, opcode, count, namelen, size and
 * extension fields changed, then fed to decodeRequest, decodeReply,
 * decodeNotification and decodeDirents. Each call must return or throw a
 * ProtocolError; anything else (a RangeError from a DataView, a TypeError) is
 * a bug in the codec.
 *
 * Reproduce a failure with PUFFS_FUZZ_SEED=<seed printed in the message>.
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
  encodeNotification,
  encodeReply,
  encodeRequest,
  ProtocolError,
  type CodecOptions,
  type ProtocolErrorKind,
  type ReplyingOp,
} from './codec.js';
import { prngU32 } from '../testing/prng.js';

const SEED = Number(process.env.PUFFS_FUZZ_SEED ?? 0x5eed5) >>> 0;
const ITERATIONS = 20_000;

function rng(seed: number) {
  const u32 = prngU32(seed);
  const int = (n: number) => Math.floor((u32() / 2 ** 32) * n);
  return {
    u32,
    int,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]!,
    chance: (p: number) => u32() / 2 ** 32 < p,
    bytes: (n: number) => {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = u32() & 0xff;
      return b;
    },
  };
}
type Rng = ReturnType<typeof rng>;

function randomStruct(def: StructDef<Fields>, r: Rng): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of layoutOf(def)) {
    const s = f.spec;
    if (typeof s === 'object') out[f.name] = randomStruct(s, r);
    else if (s === 'u16') out[f.name] = r.int(0x10000);
    else if (s === 'u32') out[f.name] = r.u32();
    else if (s === 'i32') out[f.name] = r.u32() | 0;
    else if (s === 'u64' || s === 'i64') out[f.name] = r.int(2 ** 32) * 2 ** 16 + r.int(2 ** 16);
    else if (s === 'u64n') out[f.name] = BigInt(r.u32());
  }
  return out;
}

function randomName(r: Rng): string {
  let s = '';
  for (let n = r.int(12); n > 0; n--) s += String.fromCodePoint(r.pick([0x61 + r.int(26), 0xe9, 0x65e5, 0x1f600, 0xfffd]));
  return s;
}

// ---- a pool of valid frames -----------------------------------------------------------

interface Sample {
  what: 'request' | 'reply' | 'notification' | 'dirents';
  frame: Buffer;
  op?: OpName;
  options?: CodecOptions;
  requestedSize?: number;
  plus?: boolean;
}

function buildPool(r: Rng): Sample[] {
  const pool: Sample[] = [];
  for (const op of Object.keys(ops) as OpName[]) {
    const spec: OpSpec = ops[op];
    for (let k = 0; k < 3; k++) {
      const req: Record<string, unknown> = { op, header: { unique: r.u32(), nodeid: r.u32(), uid: r.u32(), gid: r.u32(), pid: r.u32() } };
      if (spec.arg) req.arg = randomStruct(spec.arg, r);
      for (const key of spec.names ?? []) req[key] = randomName(r);
      if (spec.items) req.items = Array.from({ length: r.int(4) }, () => randomStruct(spec.items!, r));
      if (spec.data) req.data = r.bytes(r.int(64));
      const options = { setxattrExt: r.chance(0.5) };
      let frame = Buffer.from(encodeRequest(req as never, options));
      if (k === 2) {
        // Append a FUSE_EXT_GROUPS extension (and sometimes an unknown one).
        const nr = r.int(4);
        const size = (8 + 4 + nr * 4 + 7) & ~7;
        const ext = Buffer.alloc(size + (r.chance(0.5) ? 8 : 0));
        ext.writeUInt32LE(size, 0);
        ext.writeUInt32LE(32, 4);
        ext.writeUInt32LE(nr, 8);
        for (let g = 0; g < nr; g++) ext.writeUInt32LE(r.u32(), 12 + g * 4);
        if (ext.byteLength > size) {
          ext.writeUInt32LE(8, size);
          ext.writeUInt32LE(r.int(32), size + 4);
        }
        frame = Buffer.concat([frame, ext]);
        frame.writeUInt32LE(frame.byteLength, 0);
        frame.writeUInt16LE(ext.byteLength / 8, 36);
      }
      pool.push({ what: 'request', frame, op, options });
    }
  }
  for (const op of (Object.keys(ops) as OpName[]).filter((o) => ops[o].reply !== 'none') as ReplyingOp[]) {
    const layout = ops[op].reply as OpSpec['reply'];
    for (let k = 0; k < 3; k++) {
      let value: unknown;
      let requestedSize: number | undefined;
      if (typeof layout === 'object') value = randomStruct(layout, r);
      else if (layout === 'data') value = r.bytes(r.int(64));
      else if (layout === 'create') value = { entry: randomStruct(L.entryOut, r), open: randomStruct(L.openOut, r) };
      else if (layout === 'xattr') {
        requestedSize = k === 0 ? 0 : 100;
        value = k === 0 ? { size: r.u32() } : r.bytes(r.int(64));
      } else if (layout === 'ioctl') value = { out: randomStruct(L.ioctlOut, r), data: r.bytes(r.int(32)) };
      pool.push({ what: 'reply', frame: Buffer.concat(encodeReply(op, r.u32(), value as never)), op, requestedSize });
    }
  }
  for (const kind of Object.keys(notifications) as NotifyName[]) {
    const spec = notifications[kind] as { arg?: StructDef<Fields>; names?: readonly string[]; data?: true; items?: StructDef<Fields> };
    for (let k = 0; k < 3; k++) {
      const n: Record<string, unknown> = { kind };
      if (spec.arg) n.arg = randomStruct(spec.arg, r);
      for (const key of spec.names ?? []) n[key] = randomName(r);
      if (spec.data) n.data = r.bytes(r.int(64));
      if (spec.items) n.items = Array.from({ length: r.int(4) }, () => randomStruct(spec.items!, r));
      pool.push({ what: 'notification', frame: Buffer.concat(encodeNotification(n as never)) });
    }
  }
  for (const plus of [false, true]) {
    for (let k = 0; k < 3; k++) {
      const p = new DirentPacker(1024, plus);
      for (let e = r.int(5); e > 0; e--) p.add({ ino: r.u32(), off: r.u32(), type: r.int(16), name: randomName(r) || 'n', entry: randomStruct(L.entryOut, r) } as never);
      pool.push({ what: 'dirents', frame: Buffer.from(p.finish()), plus });
    }
  }
  return pool;
}

// ---- mutations ------------------------------------------------------------------------

const interesting32 = [0, 1, 2, 7, 8, 16, 40, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff];

function setU32(f: Buffer, at: number, v: number): void {
  if (at + 4 <= f.byteLength) f.writeUInt32LE(v >>> 0, at);
}

function mutate(s: Sample, r: Rng): Buffer {
  let f = Buffer.from(s.frame);
  const rounds = 1 + r.int(3);
  for (let m = 0; m < rounds; m++) {
    const any32 = () => (r.chance(0.5) ? r.pick(interesting32) : r.u32());
    switch (r.int(11)) {
      case 0: // truncate
        f = f.subarray(0, r.int(f.byteLength + 1));
        break;
      case 1: // extend
        f = Buffer.concat([f, r.bytes(1 + r.int(32))]);
        break;
      case 2: // flip bytes
        for (let k = 1 + r.int(4); k > 0 && f.byteLength; k--) f[r.int(f.byteLength)] = r.u32() & 0xff;
        break;
      case 3: // the length field
        setU32(f, 0, r.chance(0.5) ? f.byteLength + r.int(17) - 8 : any32());
        break;
      case 4: // opcode (requests) or error/notify code (replies, notifications)
        if (s.what === 'request') setU32(f, 4, r.chance(0.7) ? r.int(60) : any32());
        else setU32(f, 4, r.chance(0.7) ? r.int(21) - 10 : any32());
        break;
      case 5: // item counts: batch_forget/removemapping at 40, prune at 16
        setU32(f, s.what === 'request' ? 40 : 16, any32());
        break;
      case 6: // notification namelen (inval_entry at 24, delete at 32) / request size fields
        setU32(f, r.pick([24, 32, 40, 56]), any32());
        break;
      case 7: // total_extlen
        if (s.what === 'request' && f.byteLength >= 38) f.writeUInt16LE(r.chance(0.5) ? r.int(8) : r.int(0x10000), 36);
        break;
      case 8: // unique: high bits (FUSE_UNIQUE_RESEND) or zero
        if (f.byteLength >= 16) f.writeBigUInt64LE(r.pick([0n, 1n << 63n, (1n << 64n) - 1n, BigInt(r.u32()) << 32n]), 8);
        break;
      case 9: // an extension header in the tail
        if (f.byteLength >= 48) {
          const at = 40 + 8 * r.int((f.byteLength - 40) / 8);
          setU32(f, at, r.pick([0, 4, 8, 12, 16, 24, 0xffffffff]));
          setU32(f, at + 4, r.pick([32, 0, 31, 33]));
          setU32(f, at + 8, any32());
        }
        break;
      case 10: // a fresh extension area: headers of odd sizes and types, group counts, total_extlen
        if (s.what === 'request' && f.byteLength >= 40) {
          const units = 1 + r.int(4);
          const ext = r.bytes(units * 8);
          for (let at = 0; at + 8 <= ext.byteLength; at += 8) {
            if (!r.chance(0.6)) continue;
            setU32(ext, at, r.pick([0, 4, 8, 12, 16, 24, 32, units * 8 - at, 0xffffffff]));
            setU32(ext, at + 4, r.pick([32, 32, 0, 31, 33]));
            if (at + 12 <= ext.byteLength) setU32(ext, at + 8, r.pick([0, 1, 2, 3, 0xffffffff]));
          }
          f = Buffer.concat([f, ext]);
          f.writeUInt16LE(r.chance(0.8) ? units : r.int(8), 36);
        }
        break;
    }
  }
  // Mostly keep the length field honest, so the decoders get past the header check.
  if (r.chance(0.7) && f.byteLength >= 4) f.writeUInt32LE(f.byteLength, 0);
  return f;
}

// ---- the fuzz loop --------------------------------------------------------------------

const replyingOps = (Object.keys(ops) as OpName[]).filter((o) => ops[o].reply !== 'none') as ReplyingOp[];

test(`fuzz: ${ITERATIONS} mutated frames only ever yield a value or a ProtocolError (seed ${SEED})`, () => {
  const r = rng(SEED);
  const pool = buildPool(r);
  const outcomes = new Map<string, number>();
  const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);

  for (let i = 0; i < ITERATIONS; i++) {
    const s = r.pick(pool);
    // A buffer of exactly the frame's size, so a read past its end throws.
    const f = Buffer.from(new Uint8Array(mutate(s, r)).buffer);
    let call: () => unknown;
    let label: string;
    if (s.what === 'request') {
      const options = r.chance(0.8) ? s.options : { setxattrExt: !s.options?.setxattrExt };
      call = () => decodeRequest(f, options);
      label = `decodeRequest (from ${s.op})`;
    } else if (s.what === 'reply') {
      const op = r.chance(0.8) ? (s.op as ReplyingOp) : r.pick(replyingOps);
      const size = r.chance(0.8) ? s.requestedSize : r.pick([undefined, 0, 10]);
      call = () => decodeReply(op, f, size);
      label = `decodeReply(${op}, requestedSize ${size})`;
    } else if (s.what === 'notification') {
      call = () => decodeNotification(f);
      label = 'decodeNotification';
    } else {
      const plus = r.chance(0.8) ? s.plus! : !s.plus;
      call = () => decodeDirents(f, plus);
      label = `decodeDirents(plus ${plus})`;
    }
    // The same frame at the start of a larger buffer of garbage (as the device
    // reads it) must decode the same: no check may lean on the buffer's end.
    const outcome = (fn: () => unknown): string => {
      try {
        return JSON.stringify(fn(), (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
      } catch (e) {
        return e instanceof ProtocolError ? `ProtocolError:${e.kind}` : `other:${String(e)}`;
      }
    };
    if (s.what === 'request' && i % 4 === 0) {
      const big = Buffer.alloc(f.byteLength + 64 + (i % 13));
      for (let j = f.byteLength; j < big.byteLength; j++) big[j] = (j * 131 + i) & 0xff;
      f.copy(big);
      const embedded = big.subarray(0, f.byteLength);
      const options = s.options;
      assert.equal(outcome(() => decodeRequest(embedded, options)), outcome(() => decodeRequest(f, options)), `iteration ${i}: embedded frame decodes differently`);
    }
    try {
      call();
      count(`${s.what}:ok`);
    } catch (e) {
      if (!(e instanceof ProtocolError)) {
        assert.fail(
          `PUFFS_FUZZ_SEED=${SEED} iteration ${i}: ${label} threw ${(e as Error)?.constructor?.name} instead of ProtocolError\n` +
            `${(e as Error)?.stack ?? String(e)}\nframe (${f.byteLength} bytes): ${f.toString('hex')}`,
        );
      }
      count(`${s.what}:${e.kind}`);
    }
  }

  // The mutations reach every kind of refusal and still leave many frames decodable.
  const want: [string, ProtocolErrorKind | 'ok'][] = [
    ['request', 'ok'],
    ['request', 'short-frame'],
    ['request', 'bad-length'],
    ['request', 'unknown-opcode'],
    ['request', 'short-body'],
    ['request', 'bad-name'],
    ['request', 'bad-extension'],
    ['reply', 'ok'],
    ['reply', 'short-body'],
    ['reply', 'bad-length'],
    ['notification', 'ok'],
    ['notification', 'unknown-notification'],
    ['notification', 'short-body'],
    ['notification', 'bad-name'],
    ['dirents', 'ok'],
    ['dirents', 'short-body'],
  ];
  const seen = JSON.stringify(Object.fromEntries(outcomes));
  for (const [what, kind] of want) assert.ok((outcomes.get(`${what}:${kind}`) ?? 0) > 0, `seed ${SEED}: no ${what} ended in ${kind}; outcomes ${seen}`);
  assert.ok((outcomes.get('request:ok') ?? 0) > ITERATIONS / 20, `seed ${SEED}: too few requests survive mutation: ${seen}`);
});
