/**
 * A tiny struct description language. Each FUSE struct is an ordered field
 * list; from it we derive the byte size, a decoder and an encoder, so no
 * offset is ever written by hand in a handler.
 *
 * Field kinds: u16/u32/i32, u64/i64 read as JS numbers (exact below 2^53,
 * which covers sizes, offsets and the ids puffs hands out), u64n as bigint
 * (lock owners: kernel pointers), `padN` for N bytes of padding, or a nested
 * struct.
 */

export type Scalar = 'u16' | 'u32' | 'i32' | 'u64' | 'i64' | 'u64n';
export type Pad = `pad${number}`;
export type FieldSpec = Scalar | Pad | StructDef<Fields>;
export type Fields = { readonly [name: string]: FieldSpec };

type FieldValue<S> = S extends 'u64n' ? bigint : S extends StructDef<infer G> ? StructValue<G> : number;

/** The JS value of a struct: padding left out. */
export type StructValue<F extends Fields> = {
  -readonly [K in keyof F as F[K] extends Pad ? never : K]: FieldValue<F[K]>;
};

export interface StructDef<F extends Fields> {
  readonly name: string;
  readonly size: number;
  readonly fields: F;
  decode(view: DataView, offset: number): StructValue<F>;
  /** Writes every field; a missing field is written as zero. */
  encode(view: DataView, offset: number, value: Partial<StructValue<F>>): void;
}

export type ValueOf<S> = S extends StructDef<infer F> ? StructValue<F> : never;

const TWO32 = 2 ** 32;

/** u64 as a JS number. Values above 2^53 lose low bits; callers that need them use u64n. */
export function getU64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * TWO32;
}

export function getI64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getInt32(offset + 4, true) * TWO32;
}

export function setU64(view: DataView, offset: number, value: number): void {
  if (value < 0 || !Number.isFinite(value)) {
    // NaN is 0, +Infinity the largest u64, -Infinity the smallest i64; BigInt() throws on non-finite values.
    const big = value === Infinity ? -1n : value === -Infinity ? -(2n ** 63n) : BigInt(Math.trunc(value) || 0);
    view.setBigInt64(offset, big, true);
    return;
  }
  view.setUint32(offset, value % TWO32, true);
  view.setUint32(offset + 4, Math.min(Math.floor(value / TWO32), 0xffffffff), true);
}

interface CompiledField {
  name: string;
  offset: number;
  kind: Scalar | 'pad' | 'struct';
  size: number;
  struct?: StructDef<Fields>;
}

function sizeOf(spec: FieldSpec): number {
  if (typeof spec === 'object') return spec.size;
  switch (spec) {
    case 'u16':
      return 2;
    case 'u32':
    case 'i32':
      return 4;
    case 'u64':
    case 'i64':
    case 'u64n':
      return 8;
    default:
      return Number(spec.slice(3));
  }
}

/** Define a struct. Field order is the wire order; sizes must match the kernel header exactly. */
export function struct<const F extends Fields>(name: string, fields: F): StructDef<F> {
  const compiled: CompiledField[] = [];
  let offset = 0;
  for (const [fieldName, spec] of Object.entries(fields)) {
    const size = sizeOf(spec);
    if (typeof spec === 'object') {
      compiled.push({ name: fieldName, offset, kind: 'struct', size, struct: spec });
    } else if (spec.startsWith('pad')) {
      compiled.push({ name: fieldName, offset, kind: 'pad', size });
    } else {
      compiled.push({ name: fieldName, offset, kind: spec as Scalar, size });
    }
    offset += size;
  }

  const { decode, encode } = compile<F>(compiled);
  return { name, size: offset, fields, decode, encode };
}

/**
 * Turn a field list into straight-line decode and encode functions, once per
 * struct: every request and reply goes through these, and a loop over field
 * descriptors costs several times more. The source is built only from our own
 * layout tables.
 */
function compile<F extends Fields>(fields: readonly CompiledField[]): Pick<StructDef<F>, 'decode' | 'encode'> {
  const subs: StructDef<Fields>[] = [];
  const get: string[] = [];
  const set: string[] = ['let x;'];
  for (const f of fields) {
    const key = JSON.stringify(f.name);
    const at = `base + ${f.offset}`;
    if (f.kind === 'pad') {
      for (let i = 0; i + 4 <= f.size; i += 4) set.push(`view.setUint32(base + ${f.offset + i}, 0, true);`);
      for (let i = f.size - (f.size % 4); i < f.size; i++) set.push(`view.setUint8(base + ${f.offset + i}, 0);`);
      continue;
    }
    set.push(`x = v[${key}];`);
    switch (f.kind) {
      case 'u16':
        get.push(`${key}: view.getUint16(${at}, true)`);
        set.push(`view.setUint16(${at}, x === undefined ? 0 : x, true);`);
        break;
      case 'u32':
        get.push(`${key}: view.getUint32(${at}, true)`);
        set.push(`view.setUint32(${at}, x === undefined ? 0 : x >>> 0, true);`);
        break;
      case 'i32':
        get.push(`${key}: view.getInt32(${at}, true)`);
        set.push(`view.setInt32(${at}, x === undefined ? 0 : x, true);`);
        break;
      case 'u64':
        get.push(`${key}: getU64(view, ${at})`);
        set.push(`setU64(view, ${at}, x === undefined ? 0 : x);`);
        break;
      case 'i64':
        get.push(`${key}: getI64(view, ${at})`);
        set.push(`setU64(view, ${at}, x === undefined ? 0 : x);`);
        break;
      case 'u64n':
        get.push(`${key}: view.getBigUint64(${at}, true)`);
        set.push(`view.setBigUint64(${at}, x === undefined ? 0n : x, true);`);
        break;
      case 'struct': {
        const i = subs.push(f.struct!) - 1;
        get.push(`${key}: subs[${i}].decode(view, ${at})`);
        set.push(`subs[${i}].encode(view, ${at}, x === undefined ? {} : x);`);
        break;
      }
    }
  }
  const make = new Function(
    'getU64',
    'getI64',
    'setU64',
    'subs',
    `return {
      decode(view, base) { return { ${get.join(', ')} }; },
      encode(view, base, v) { ${set.join(' ')} },
    };`,
  ) as (...args: unknown[]) => Pick<StructDef<F>, 'decode' | 'encode'>;
  return make(getU64, getI64, setU64, subs);
}

/** One field of a struct as laid out on the wire (padding included). */
export interface FieldLayout {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly spec: FieldSpec;
}

/** A struct's fields in wire order with their byte offsets and sizes. */
export function layoutOf(def: StructDef<Fields>): FieldLayout[] {
  const out: FieldLayout[] = [];
  let offset = 0;
  for (const [name, spec] of Object.entries(def.fields)) {
    const size = sizeOf(spec);
    out.push({ name, offset, size, spec });
    offset += size;
  }
  return out;
}

/** Byte offset of a field (like C's offsetof); throws for an unknown field. */
export function offsetOf<F extends Fields>(def: StructDef<F>, field: keyof F & string): number {
  const f = layoutOf(def as StructDef<Fields>).find((x) => x.name === field);
  if (!f) throw new RangeError(`${def.name} has no field ${field}`);
  return f.offset;
}
