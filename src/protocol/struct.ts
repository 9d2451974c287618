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

/** Each struct's compiled field list, for inlining it into the structs that contain it. */
const compiledFields = new WeakMap<StructDef<Fields>, readonly CompiledField[]>();

function compiledOf(def: StructDef<Fields>): readonly CompiledField[] {
  const list = compiledFields.get(def);
  if (!list) throw new TypeError(`${def.name} was not made by struct()`);
  return list;
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
  const def: StructDef<F> = { name, size: offset, fields, decode, encode };
  compiledFields.set(def as StructDef<Fields>, compiled);
  return def;
}

/**
 * Turn a field list into straight-line decode and encode functions, once per
 * struct: every request and reply goes through these, and a loop over field
 * descriptors costs several times more. Nested structs are written inline
 * (no call per nested struct), and a u64 in the safe-integer range is
 * written with two u32 stores (the rare other values take setU64). The
 * source is built only from our own layout tables.
 */
function compile<F extends Fields>(fields: readonly CompiledField[]): Pick<StructDef<F>, 'decode' | 'encode'> {
  let vars = 0;
  const set: string[] = [];

  /** The decoder of `list` at byte `at` (an expression): an object literal. */
  function decoder(list: readonly CompiledField[], at: number): string {
    const get: string[] = [];
    for (const f of list) {
      const key = JSON.stringify(f.name);
      const pos = `base + ${at + f.offset}`;
      switch (f.kind) {
        case 'pad':
          break;
        case 'u16':
          get.push(`${key}: view.getUint16(${pos}, true)`);
          break;
        case 'u32':
          get.push(`${key}: view.getUint32(${pos}, true)`);
          break;
        case 'i32':
          get.push(`${key}: view.getInt32(${pos}, true)`);
          break;
        case 'u64':
          get.push(`${key}: getU64(view, ${pos})`);
          break;
        case 'i64':
          get.push(`${key}: getI64(view, ${pos})`);
          break;
        case 'u64n':
          get.push(`${key}: view.getBigUint64(${pos}, true)`);
          break;
        case 'struct':
          get.push(`${key}: ${decoder(compiledOf(f.struct!), at + f.offset)}`);
          break;
      }
    }
    return `{ ${get.join(', ')} }`;
  }

  /** Statements that write `list` from the object in variable `src` at byte `at`. */
  function encoder(list: readonly CompiledField[], src: string, at: number): void {
    for (const f of list) {
      const pos = `base + ${at + f.offset}`;
      if (f.kind === 'pad') {
        for (let i = 0; i + 4 <= f.size; i += 4) set.push(`view.setUint32(base + ${at + f.offset + i}, 0, true);`);
        for (let i = f.size - (f.size % 4); i < f.size; i++) set.push(`view.setUint8(base + ${at + f.offset + i}, 0);`);
        continue;
      }
      const x = `x${vars++}`;
      set.push(`const ${x} = ${src}[${JSON.stringify(f.name)}];`);
      switch (f.kind) {
        // A missing field converts to 0 by itself (undefined >>> 0 === 0). A
        // `x === undefined ? 0 : x` here would make V8 box every value it
        // stores: seven times slower per field.
        case 'u16':
          set.push(`view.setUint16(${pos}, ${x} & 0xffff, true);`);
          break;
        case 'u32':
          set.push(`view.setUint32(${pos}, ${x} >>> 0, true);`);
          break;
        case 'i32':
          set.push(`view.setInt32(${pos}, ${x} | 0, true);`);
          break;
        case 'u64':
        case 'i64':
          // The high word by a multiplication with 2^-32 (exact), not a division.
          set.push(
            `if (${x} >= 0 && ${x} <= ${Number.MAX_SAFE_INTEGER}) { view.setUint32(${pos}, ${x} >>> 0, true); view.setUint32(${pos} + 4, (${x} * ${2 ** -32}) >>> 0, true); }`,
            `else if (${x} === undefined) { view.setUint32(${pos}, 0, true); view.setUint32(${pos} + 4, 0, true); }`,
            `else setU64(view, ${pos}, ${x});`,
          );
          break;
        case 'u64n':
          set.push(`view.setBigUint64(${pos}, ${x} === undefined ? 0n : ${x}, true);`);
          break;
        case 'struct': {
          const sub = `s${vars++}`;
          set.push(`const ${sub} = ${x} === undefined ? EMPTY : ${x};`);
          encoder(compiledOf(f.struct!), sub, at + f.offset);
          break;
        }
      }
    }
  }

  const decode = decoder(fields, 0);
  encoder(fields, 'v', 0);
  const make = new Function(
    'getU64',
    'getI64',
    'setU64',
    'EMPTY',
    `return {
      decode(view, base) { return ${decode}; },
      encode(view, base, v) { ${set.join(' ')} },
    };`,
  ) as (...args: unknown[]) => Pick<StructDef<F>, 'decode' | 'encode'>;
  return make(getU64, getI64, setU64, Object.freeze({}));
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
