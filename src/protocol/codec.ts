/**
 * Encode and decode FUSE messages in both directions, driven by the opcode
 * table: requests (kernel or client → server), replies (server → kernel or
 * client) and notifications (server → kernel or client). Pure functions over
 * bytes; bad wire data throws ProtocolError, a bug throws anything else.
 */
import * as L from './layouts.js';
import { ops, opName, opSpec, notifications, notifyName, type OpName, type NotifyName, type OpSpec } from './opcodes.js';
import { layoutOf, offsetOf, setU64, type StructDef, type StructValue, type Fields } from './struct.js';
import { FUSE_EXT_GROUPS } from './constants.js';
import { FrameSlab, PayloadReader, PayloadSlab } from '../slab.js';
import { keepShape } from '../shapes.js';

export type InHeader = StructValue<typeof L.inHeader.fields>;
export type OutHeader = StructValue<typeof L.outHeader.fields>;

type Spec<K extends OpName> = (typeof ops)[K];
type ArgPart<S> = S extends { arg: StructDef<infer F> } ? { arg: StructValue<F> } : unknown;
type NamePart<S> = S extends { names: readonly (infer N extends string)[] } ? { [P in N]: string } : unknown;
type DataPart<S> = S extends { data: true } ? { data: Uint8Array } : unknown;
type ItemsPart<S> = S extends { items: StructDef<infer F> } ? { items: StructValue<F>[] } : unknown;

/** A decoded request of one op: header, argument struct, names, payload, items. */
export type RequestOf<K extends OpName> = {
  op: K;
  header: InHeader;
  /** Supplementary groups, when the kernel sent the FUSE_EXT_GROUPS extension. */
  groups?: number[];
} & ArgPart<Spec<K>> &
  NamePart<Spec<K>> &
  DataPart<Spec<K>> &
  ItemsPart<Spec<K>>;

/** Any decoded request, discriminated by `op`. */
export type Request = { [K in OpName]: RequestOf<K> }[OpName];

type ReplyLayoutOf<K extends OpName> = Spec<K>['reply'];
type ReplyValueFor<R> = R extends StructDef<infer F>
  ? StructValue<F>
  : R extends 'data'
    ? Uint8Array | readonly Uint8Array[]
    : R extends 'empty'
      ? undefined
      : R extends 'create'
        ? { entry: StructValue<typeof L.entryOut.fields>; open: StructValue<typeof L.openOut.fields> }
        : R extends 'xattr'
          ? { size: number } | Uint8Array
          : R extends 'ioctl'
            ? { out: StructValue<typeof L.ioctlOut.fields>; data?: Uint8Array }
            : never;

/** The value a successful reply to op K carries. */
export type ReplyOf<K extends OpName> = ReplyValueFor<ReplyLayoutOf<K>>;

/** What encodeReply takes: as ReplyOf, but struct fields left out are sent as zero. */
export type ReplyInputOf<K extends OpName> = ReplyLayoutOf<K> extends StructDef<infer F> ? Partial<StructValue<F>> : ReplyOf<K>;

/** Ops the kernel expects an answer to. */
export type ReplyingOp = { [K in OpName]: ReplyLayoutOf<K> extends 'none' ? never : K }[OpName];

type NSpec<N extends NotifyName> = (typeof notifications)[N];
/** A notification's content: its argument struct, name, payload or items as the table says. */
export type NotificationOf<N extends NotifyName> = { kind: N } & ArgPart<NSpec<N>> &
  NamePart<NSpec<N>> &
  DataPart<NSpec<N>> &
  ItemsPart<NSpec<N>>;
export type Notification = { [N in NotifyName]: NotificationOf<N> }[NotifyName];

export type ProtocolErrorKind =
  | 'short-frame'
  | 'bad-length'
  | 'unknown-opcode'
  | 'short-body'
  | 'bad-name'
  | 'bad-extension'
  | 'unknown-notification';

/** Malformed wire data. `header` is set when the frame had a readable header (so a reply can still be sent). */
export class ProtocolError extends Error {
  readonly code = 'EPROTO';
  constructor(
    readonly kind: ProtocolErrorKind,
    message: string,
    readonly header?: InHeader,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** Settings agreed at INIT that change layouts. */
export interface CodecOptions {
  /** FUSE_SETXATTR_EXT in force: setxattr carries the 16-byte argument. */
  setxattrExt: boolean;
  /**
   * Payloads of at least this many bytes are copied into room of their own
   * in a SharedArrayBuffer slab (slab.ts PayloadSlab) instead of an
   * ArrayBuffer: memory V8 leaves out of its external-memory count (see
   * server/memory.ts). Unset: never.
   */
  uncountedPayloadMin?: number;
}

export const defaultCodecOptions: CodecOptions = { setxattrExt: false };

let viewBufferA: ArrayBufferLike | undefined;
let viewA: DataView | undefined;
let viewBufferB: ArrayBufferLike | undefined;
let viewB: DataView | undefined;

/**
 * A DataView over all of `bytes`' buffer: offsets are absolute
 * (bytes.byteOffset + n). Frames come from a few buffers (the device's read
 * buffer, Node's small-buffer pool, a channel's slab), so the views of the
 * last two are kept rather than made per message. A view may reach past the
 * frame: every decode checks lengths first.
 */
function viewOf(bytes: Uint8Array): DataView {
  const buffer = bytes.buffer;
  if (buffer === viewBufferA) return viewA!;
  // Frames read into payload slabs (PayloadReader): a view kept here would keep a slab.
  if (buffer instanceof SharedArrayBuffer) return sharedViewOf(buffer);
  if (buffer !== viewBufferB) {
    viewBufferB = buffer;
    viewB = new DataView(buffer);
  }
  // Most recent first.
  const tb = viewBufferA;
  const tv = viewA;
  viewBufferA = viewBufferB;
  viewA = viewB;
  viewBufferB = tb;
  viewB = tv;
  return viewA!;
}

/** Views of payload slabs, held no longer than their slabs are. */
const sharedViews = new WeakMap<SharedArrayBuffer, DataView>();

function sharedViewOf(buffer: SharedArrayBuffer): DataView {
  let view = sharedViews.get(buffer);
  if (view === undefined) {
    view = new DataView(buffer);
    sharedViews.set(buffer, view);
  }
  return view;
}

/** Where a WRITE request's data starts in its frame: after the header and fuse_write_in. */
export const WRITE_DATA_OFFSET = L.inHeader.size + L.writeIn.size;

const slab = new FrameSlab();
/** Room for payloads kept in uncounted memory (CodecOptions.uncountedPayloadMin). */
const payloads = new PayloadSlab();

/**
 * Where the last outgoing frame was cut: the view to write it through (the
 * slab's own, kept, so no view is made and no typed array's `.buffer` looked
 * up per frame: V8 does that lookup out of line) and the frame's offset in it.
 * Valid until the next cut.
 */
let cutView: DataView = slab.view;
let cutAt = 0;

/**
 * Room for an outgoing frame of `size` bytes, not zeroed (callers write every
 * byte), from the slab shared by requests and replies, or a buffer of its
 * own when large. A Buffer where the caller writes strings into it (requests),
 * else a plain Uint8Array: Buffer.from's checks cost more than a reply header.
 */
function cutFrame(size: number, asBuffer: boolean): Uint8Array {
  if (size > FrameSlab.FRAME_MAX) {
    const b = Buffer.allocUnsafe(size);
    cutView = new DataView(b.buffer, b.byteOffset, size);
    cutAt = 0;
    return b;
  }
  cutAt = slab.take(size);
  cutView = slab.view;
  return asBuffer ? Buffer.from(slab.buffer, cutAt, size) : new Uint8Array(slab.buffer, cutAt, size);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Buffer's own UTF-8 decoder (what toString('utf8') ends in), called on the
 * frame directly: no Buffer made per name and none of toString's argument
 * handling, about half the cost of a lookup's name. Internal to Node, so
 * checked for, with the public route as the fallback.
 */
const utf8Slice = (Buffer.prototype as unknown as { utf8Slice?: (this: Uint8Array, start: number, end: number) => string }).utf8Slice;

function readName(bytes: Uint8Array, pos: number, end: number, header: InHeader | undefined): [string, number] {
  const nul = bytes.indexOf(0, pos);
  if (nul < 0 || nul >= end) throw new ProtocolError('bad-name', 'name is not NUL-terminated', header);
  let s = utf8Slice ? utf8Slice.call(bytes, pos, nul) : Buffer.from(bytes.buffer, bytes.byteOffset + pos, nul - pos).toString('utf8');
  // Invalid UTF-8 would be replaced by U+FFFD and two names would collide: refuse it.
  if (s.includes('\uFFFD')) {
    try {
      s = strictUtf8.decode(bytes.subarray(pos, nul));
    } catch {
      throw new ProtocolError('bad-name', 'name is not valid UTF-8', header);
    }
  }
  return [s, nul + 1];
}

/** Read the fixed header of a request frame; checks the frame's size and its length field. */
export function decodeInHeader(frame: Uint8Array): InHeader {
  return inHeaderAt(frame, viewOf(frame));
}

/** decodeInHeader with the frame's view already in hand (`.buffer` is looked up out of line by V8: once per frame is enough). */
function inHeaderAt(frame: Uint8Array, view: DataView): InHeader {
  if (frame.byteLength < L.inHeader.size) {
    throw new ProtocolError('short-frame', `request frame of ${frame.byteLength} bytes is shorter than its ${L.inHeader.size}-byte header`);
  }
  const header = L.inHeader.decode(view, frame.byteOffset);
  if (header.len !== frame.byteLength) {
    throw new ProtocolError('bad-length', `request length field ${header.len} does not match frame size ${frame.byteLength}`, header);
  }
  return header;
}

/**
 * Decode one request frame. Unknown opcodes throw ProtocolError('unknown-opcode')
 * with the header, so the caller can answer ENOSYS.
 */
export function decodeRequest(frame: Uint8Array, options: CodecOptions = defaultCodecOptions): Request {
  const view = viewOf(frame);
  const header = inHeaderAt(frame, view);
  const name = opName(header.opcode);
  if (name === undefined) throw new ProtocolError('unknown-opcode', `unknown opcode ${header.opcode}`, header);
  const spec: OpSpec = opSpec(header.opcode)!;
  const base = frame.byteOffset;
  let end = frame.byteLength;
  const out: Record<string, unknown> = { op: name, header };

  if (header.totalExtlen) {
    const extBytes = header.totalExtlen * 8;
    if (extBytes > end - L.inHeader.size) throw new ProtocolError('bad-extension', 'extensions longer than the frame', header);
    end -= extBytes;
    decodeExtensions(view, base, end, frame.byteLength, header, out);
  }

  let pos = L.inHeader.size;
  if (spec.arg) {
    let arg: StructDef<Fields> = spec.arg;
    if (name === 'setxattr' && !options.setxattrExt) arg = L.setxattrInCompat;
    const avail = end - pos;
    if (name === 'init' && avail >= L.INIT_IN_COMPAT_SIZE && avail < arg.size) {
      // Kernels before 7.36 send only major, minor, max_readahead and flags.
      const padded = new Uint8Array(arg.size);
      padded.set(frame.subarray(pos, end));
      out.arg = arg.decode(viewOf(padded), padded.byteOffset);
      pos = end;
    } else {
      if (avail < arg.size) {
        throw new ProtocolError('short-body', `${name}: ${avail} argument bytes, expected ${arg.size}`, header);
      }
      const value = arg.decode(view, base + pos) as Record<string, unknown>;
      if (arg === L.setxattrInCompat) value.setxattrFlags = 0;
      out.arg = value;
      pos += arg.size;
    }
  }
  if (spec.names) {
    for (const key of spec.names) {
      const [s, next] = readName(frame, pos, end, header);
      // Named stores: a store keyed by a variable is megamorphic.
      if (key === 'name') out.name = s;
      else out[key] = s;
      pos = next;
    }
  }
  if (spec.items) {
    const count = (out.arg as { count: number }).count;
    const need = count * spec.items.size;
    if (end - pos < need) throw new ProtocolError('short-body', `${name}: ${count} items do not fit in the frame`, header);
    const items = new Array<unknown>(count);
    for (let i = 0; i < count; i++) items[i] = spec.items.decode(view, base + pos + i * spec.items.size);
    out.items = items;
    pos += need;
  }
  if (spec.data) {
    // The payload is copied: the frame's buffer is reused for the next read, and
    // a file system may keep the data (ops.ts promises it can).
    let size = end - pos;
    const declared = (out.arg as { size?: number } | undefined)?.size;
    if (declared !== undefined && name !== 'ioctl') {
      if (declared > size) throw new ProtocolError('short-body', `${name}: payload of ${size} bytes, header says ${declared}`, header);
      size = declared;
    }
    const min = options.uncountedPayloadMin;
    if (min !== undefined && size >= min) {
      // Read straight into a payload slab (slab.ts PayloadReader): kept as it lies.
      const view = frame.subarray(pos, pos + size);
      out.data = PayloadReader.adopt(view) ?? payloads.copy(view);
    } else {
      out.data = Buffer.from(frame.subarray(pos, pos + size));
    }
  }
  const variant = header.opcode * 2 + (header.totalExtlen ? 1 : 0);
  if (variant < requestShapeKept.length && requestShapeKept[variant] === 0) keepRequestShape(variant, out);
  return out as Request;
}

/**
 * Requests are built field by field, a hidden class per op and field set,
 * which V8 forgets once no request of that kind is alive (see shapes.ts).
 * The first request of each kind, with and without extensions, leaves a
 * twin that holds the same fields in the same order, minus the payload.
 */
const requestShapeKept = new Uint8Array(2 * 256);
function keepRequestShape(variant: number, out: Record<string, unknown>): void {
  requestShapeKept[variant] = 1;
  const twin: Record<string, unknown> = { op: out.op, header: out.header };
  for (const key of Object.keys(out)) {
    if (key === 'op' || key === 'header') continue;
    const value = out[key];
    twin[key] = key === 'data' ? Buffer.alloc(0) : key === 'items' ? (value as unknown[]).slice(0, 0) : value;
  }
  keepShape(twin);
}

/** Extensions from `start` to `end` (frame offsets; `base` is the frame's offset in the view). */
function decodeExtensions(
  view: DataView,
  base: number,
  start: number,
  end: number,
  header: InHeader,
  out: Record<string, unknown>,
): void {
  let pos = start;
  while (pos + L.extHeader.size <= end) {
    const ext = L.extHeader.decode(view, base + pos);
    if (ext.size < L.extHeader.size || pos + ext.size > end) {
      throw new ProtocolError('bad-extension', `extension of size ${ext.size} overruns the frame`, header);
    }
    if (ext.type === FUSE_EXT_GROUPS) {
      if (ext.size < L.extHeader.size + L.suppGroups.size) throw new ProtocolError('bad-extension', 'group extension too short for its count', header);
      const nr = view.getUint32(base + pos + L.extHeader.size, true);
      if (L.extHeader.size + 4 + nr * 4 > ext.size) throw new ProtocolError('bad-extension', 'group list overruns its extension', header);
      const groups: number[] = [];
      for (let i = 0; i < nr; i++) groups.push(view.getUint32(base + pos + L.extHeader.size + 4 + i * 4, true));
      out.groups = groups;
    }
    pos += ext.size;
  }
}

/** Bytes of an encoded request body (without header). */
function requestBodySize(op: OpName, spec: OpSpec, req: Record<string, unknown>, options: CodecOptions): number {
  let size = 0;
  if (spec.arg) size += op === 'setxattr' && !options.setxattrExt ? L.setxattrInCompat.size : spec.arg.size;
  for (const key of spec.names ?? []) size += Buffer.byteLength(req[key] as string) + 1;
  if (spec.items) size += (req.items as unknown[]).length * spec.items.size;
  if (spec.data) size += (req.data as Uint8Array).byteLength;
  return size;
}

/** What a requester fills in: the header without `len` and `opcode` (derived). */
export type RequestInput<K extends OpName> = Omit<RequestOf<K>, 'header' | 'groups'> & {
  header: Omit<InHeader, 'len' | 'opcode' | 'totalExtlen'>;
  /** Supplementary groups, sent as a FUSE_EXT_GROUPS request extension (7.38) when given. */
  groups?: readonly number[];
};

/** Bytes of the FUSE_EXT_GROUPS extension for `n` groups: header, count, ids, padded to 8. */
function groupsExtSize(n: number): number {
  return (L.extHeader.size + L.suppGroups.size + 4 * n + 7) & ~7;
}

const u32Offsets = new Map<StructDef<Fields>, Map<string, number>>();

/** Offset of the u32 field `name` of `def`, cached. */
function u32Offset(def: StructDef<Fields>, name: string): number {
  let m = u32Offsets.get(def);
  if (!m) u32Offsets.set(def, (m = new Map()));
  let off = m.get(name);
  if (off === undefined) {
    const f = layoutOf(def).find((x) => x.name === name);
    if (!f || f.spec !== 'u32') throw new TypeError(`${def.name}.${name} is not a u32 field`);
    m.set(name, (off = f.offset));
  }
  return off;
}

/** Byte offsets in fuse_in_header of the fields encodeRequest derives. */
const IN_LEN = offsetOf(L.inHeader, 'len');
const IN_OPCODE = offsetOf(L.inHeader, 'opcode');
const IN_TOTAL_EXTLEN = offsetOf(L.inHeader, 'totalExtlen');

/** Encode a request (the client's side of the wire). Returns one frame. */
export function encodeRequest<K extends OpName>(req: RequestInput<K>, options: CodecOptions = defaultCodecOptions): Uint8Array {
  return encodeRequestOf(req.op, req.header, req as unknown as RequestBody<K>, req.groups, options);
}

/** The body of a request of op K: its argument, names, payload or items (as RequestInput without op, header and groups). */
export type RequestBody<K extends OpName> = Omit<RequestInput<K>, 'op' | 'header' | 'groups'>;

/**
 * encodeRequest with the parts given separately, so a requester need not
 * join them into one object per request.
 */
export function encodeRequestOf<K extends OpName>(
  op: K,
  header: Omit<InHeader, 'len' | 'opcode' | 'totalExtlen'>,
  body: RequestBody<K>,
  groups: readonly number[] | undefined,
  options: CodecOptions = defaultCodecOptions,
): Uint8Array {
  const spec: OpSpec = ops[op];
  const r = body as unknown as Record<string, unknown>;
  const extSize = groups ? groupsExtSize(groups.length) : 0;
  const len = L.inHeader.size + requestBodySize(op, spec, r, options) + extSize;
  // Not zeroed: every byte is written below, padding included.
  const frame = cutFrame(len, true) as Buffer;
  const view = cutView;
  const base = cutAt;
  L.inHeader.encode(view, base, header);
  view.setUint32(base + IN_LEN, len, true);
  view.setUint32(base + IN_OPCODE, spec.opcode, true);
  view.setUint16(base + IN_TOTAL_EXTLEN, extSize / 8, true);
  let pos = L.inHeader.size;
  if (spec.arg) {
    const arg = op === 'setxattr' && !options.setxattrExt ? L.setxattrInCompat : spec.arg;
    const value = r.arg as Record<string, unknown>;
    arg.encode(view, base + pos, value as never);
    // Lengths are derived from what is sent, never taken from the caller: written over the encoded fields.
    if (spec.items) view.setUint32(base + pos + u32Offset(arg, 'count'), (r.items as unknown[]).length, true);
    if (spec.data && 'size' in value && op !== 'ioctl') view.setUint32(base + pos + u32Offset(arg, 'size'), (r.data as Uint8Array).byteLength, true);
    pos += arg.size;
  }
  for (const key of spec.names ?? []) {
    pos += frame.write(r[key] as string, pos, 'utf8');
    frame[pos++] = 0;
  }
  if (spec.items) {
    for (const item of r.items as Record<string, never>[]) {
      spec.items.encode(view, base + pos, item);
      pos += spec.items.size;
    }
  }
  if (spec.data) {
    frame.set(r.data as Uint8Array, pos);
    pos += (r.data as Uint8Array).byteLength;
  }
  if (groups) {
    // Extensions follow everything else; the padding is zero.
    L.extHeader.encode(view, base + pos, { size: extSize, type: FUSE_EXT_GROUPS });
    view.setUint32(base + pos + L.extHeader.size, groups.length, true);
    for (let i = 0; i < groups.length; i++) view.setUint32(base + pos + L.extHeader.size + 4 + 4 * i, groups[i]!, true);
    for (let i = pos + L.extHeader.size + 4 + 4 * groups.length; i < len; i++) frame[i] = 0;
  }
  return frame;
}

/** A reply frame of `extra` body bytes with its header written; the caller writes the body through cutView at cutAt + 16. */
function headerOnly(unique: number, error: number, extra: number): Uint8Array {
  const size = L.outHeader.size + extra;
  const b = cutFrame(size, false);
  const view = cutView;
  const at = cutAt;
  view.setUint32(at, size, true);
  view.setInt32(at + 4, error, true);
  view.setUint32(at + 8, unique >>> 0, true);
  view.setUint32(at + 12, (unique / 2 ** 32) >>> 0, true);
  return b;
}

/** An error reply: `errno` positive (ENOENT = 2); sent on the wire negated. */
export function encodeError(unique: number, errno: number): Uint8Array {
  if (!Number.isInteger(errno) || errno <= 0 || errno > 4095) throw new RangeError(`bad errno ${errno}`);
  return headerOnly(unique, -errno, 0);
}

function totalLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  return n;
}

/**
 * Encode a successful reply as the parts of one frame (for writev). Data
 * payloads are not copied: the parts reference the caller's buffers.
 */
export function encodeReply<K extends ReplyingOp>(op: K, unique: number, value: ReplyInputOf<K>): Uint8Array[] {
  return encodeReplyOf(ops[op], op, unique, value);
}

/**
 * encodeReply with the op's spec given (`opSpec(opcode)`, an element load):
 * a server answering every op would otherwise look the spec up by name, a
 * megamorphic load per reply.
 */
export function encodeReplyOf<K extends ReplyingOp>(spec: OpSpec, op: K, unique: number, value: ReplyInputOf<K>): Uint8Array[] {
  const layout = spec.reply;
  if (typeof layout === 'object') {
    const b = headerOnly(unique, 0, layout.size);
    layout.encode(cutView, cutAt + L.outHeader.size, value as never);
    return [b];
  }
  switch (layout) {
    case 'empty':
      return [headerOnly(unique, 0, 0)];
    case 'data': {
      const parts = value instanceof Uint8Array ? [value] : (value as readonly Uint8Array[]);
      const n = totalLength(parts);
      const h = headerOnly(unique, 0, 0);
      cutView.setUint32(cutAt, L.outHeader.size + n, true);
      return parts.length === 1 ? [h, parts[0]!] : [h, ...parts];
    }
    case 'create': {
      const v = value as ReplyValueFor<'create'>;
      const b = headerOnly(unique, 0, L.entryOut.size + L.openOut.size);
      const view = cutView;
      const at = cutAt;
      L.entryOut.encode(view, at + L.outHeader.size, v.entry);
      L.openOut.encode(view, at + L.outHeader.size + L.entryOut.size, v.open);
      return [b];
    }
    case 'xattr': {
      if (value instanceof Uint8Array) {
        const h = headerOnly(unique, 0, 0);
        cutView.setUint32(cutAt, L.outHeader.size + value.byteLength, true);
        return [h, value];
      }
      const b = headerOnly(unique, 0, L.getxattrOut.size);
      L.getxattrOut.encode(cutView, cutAt + L.outHeader.size, value as { size: number });
      return [b];
    }
    case 'ioctl': {
      const v = value as ReplyValueFor<'ioctl'>;
      const n = v.data?.byteLength ?? 0;
      const b = headerOnly(unique, 0, L.ioctlOut.size);
      const view = cutView;
      const at = cutAt;
      view.setUint32(at, L.outHeader.size + L.ioctlOut.size + n, true);
      L.ioctlOut.encode(view, at + L.outHeader.size, v.out);
      return v.data ? [b, v.data] : [b];
    }
    case 'none':
      throw new TypeError(`${op} takes no reply`);
  }
}

/** Read a reply or notification header; checks the frame's size and length field. */
export function decodeOutHeader(frame: Uint8Array): OutHeader {
  if (frame.byteLength < L.outHeader.size) {
    throw new ProtocolError('short-frame', `reply frame of ${frame.byteLength} bytes is shorter than its ${L.outHeader.size}-byte header`);
  }
  const header = L.outHeader.decode(viewOf(frame), frame.byteOffset);
  if (header.len !== frame.byteLength) {
    throw new ProtocolError('bad-length', `reply length field ${header.len} does not match frame size ${frame.byteLength}`);
  }
  return header;
}

/** A decoded reply: `error` is 0 or a positive errno; `value` is set on success. */
export type DecodedReply<K extends ReplyingOp> =
  | { unique: number; error: 0; value: ReplyOf<K> }
  | { unique: number; error: number; value?: undefined };

/**
 * Decode a reply to op K (the client's side). `requestedSize` is the size the
 * getxattr/listxattr request asked for (0 = "how big is it?").
 */
export function decodeReply<K extends ReplyingOp>(op: K, frame: Uint8Array, requestedSize?: number, header?: OutHeader): DecodedReply<K> {
  // `header`: what decodeOutHeader already returned for this frame, to skip reading it twice.
  header ??= decodeOutHeader(frame);
  if (header.error !== 0) {
    if (header.error > 0 || header.error < -4095) throw new ProtocolError('bad-length', `reply error ${header.error} out of range`);
    return { unique: header.unique, error: -header.error };
  }
  const layout = ops[op].reply as OpSpec['reply'];
  const view = viewOf(frame);
  const at = frame.byteOffset + L.outHeader.size;
  const bodySize = frame.byteLength - L.outHeader.size;
  let value: unknown;
  if (typeof layout === 'object') {
    needBody(op, bodySize, layout.size);
    value = layout.decode(view, at);
  } else {
    switch (layout) {
      case 'empty':
        value = undefined;
        break;
      case 'data':
        value = frame.subarray(L.outHeader.size);
        break;
      case 'create':
        needBody(op, bodySize, L.entryOut.size + L.openOut.size);
        value = {
          entry: L.entryOut.decode(view, at),
          open: L.openOut.decode(view, at + L.entryOut.size),
        };
        break;
      case 'xattr':
        if (requestedSize === 0) {
          needBody(op, bodySize, L.getxattrOut.size);
          value = L.getxattrOut.decode(view, at);
        } else value = frame.subarray(L.outHeader.size);
        break;
      case 'ioctl':
        needBody(op, bodySize, L.ioctlOut.size);
        value = { out: L.ioctlOut.decode(view, at), data: frame.subarray(L.outHeader.size + L.ioctlOut.size) };
        break;
      default:
        throw new TypeError(`${op} takes no reply`);
    }
  }
  return { unique: header.unique, error: 0, value: value as ReplyOf<K> };
}

function needBody(op: string, have: number, size: number): void {
  if (have < size) throw new ProtocolError('short-body', `${op} reply: ${have} bytes, expected ${size}`);
}

/** Encode a server-to-kernel notification (unique 0, error = notify code) as frame parts. */
export function encodeNotification(n: Notification): Uint8Array[] {
  const spec = notifications[n.kind] as { code: number; arg?: StructDef<Fields>; names?: readonly string[]; data?: true; items?: StructDef<Fields> };
  const r = n as unknown as Record<string, unknown>;
  const argSize = spec.arg?.size ?? 0;
  let nameBytes = 0;
  for (const key of spec.names ?? []) nameBytes += Buffer.byteLength(r[key] as string) + 1;
  const items = (r.items as Record<string, never>[] | undefined) ?? [];
  const itemBytes = spec.items ? items.length * spec.items.size : 0;
  const data = spec.data ? (r.data as Uint8Array) : undefined;
  const head = headerOnly(0, spec.code, argSize + nameBytes + itemBytes);
  const view = cutView;
  const base = cutAt;
  view.setUint32(base, head.byteLength + (data?.byteLength ?? 0), true);
  let pos = L.outHeader.size;
  if (spec.arg) {
    const value = { ...(r.arg as Record<string, unknown>) };
    // Lengths are derived from what is sent, never trusted from the caller.
    if (spec.names) value.namelen = Buffer.byteLength(r[spec.names[0]!] as string);
    if (data) value.size = data.byteLength;
    if (spec.items) value.count = items.length;
    spec.arg.encode(view, base + pos, value as never);
    pos += spec.arg.size;
  }
  for (const key of spec.names ?? []) {
    pos += Buffer.from(head.buffer, head.byteOffset, head.byteLength).write(r[key] as string, pos, 'utf8');
    head[pos++] = 0;
  }
  for (const item of items) {
    spec.items!.encode(view, base + pos, item);
    pos += spec.items!.size;
  }
  return data ? [head, data] : [head];
}

/** Decode a notification frame (unique 0); the client's side. */
export function decodeNotification(frame: Uint8Array): Notification {
  const header = decodeOutHeader(frame);
  const kind = notifyName(header.error);
  if (header.unique !== 0 || kind === undefined) {
    throw new ProtocolError('unknown-notification', `unknown notification code ${header.error}`);
  }
  const spec = notifications[kind] as { code: number; arg?: StructDef<Fields>; names?: readonly string[]; data?: true; items?: StructDef<Fields> };
  const view = viewOf(frame);
  const out: Record<string, unknown> = { kind };
  let pos = L.outHeader.size;
  if (spec.arg) {
    if (frame.byteLength - pos < spec.arg.size) throw new ProtocolError('short-body', `${kind} notification too short`);
    out.arg = spec.arg.decode(view, frame.byteOffset + pos);
    pos += spec.arg.size;
  }
  for (const key of spec.names ?? []) {
    const [s, next] = readName(frame, pos, frame.byteLength, undefined);
    out[key] = s;
    pos = next;
  }
  if (spec.items) {
    const count = (out.arg as { count: number }).count;
    if (frame.byteLength - pos < count * spec.items.size) throw new ProtocolError('short-body', `${kind} items overrun the frame`);
    const items: unknown[] = [];
    for (let i = 0; i < count; i++) items.push(spec.items.decode(view, frame.byteOffset + pos + i * spec.items.size));
    out.items = items;
    pos += count * spec.items.size;
  }
  if (spec.data) out.data = Buffer.from(frame.subarray(pos));
  return out as Notification;
}

// ---- directory listings ------------------------------------------------------------

export interface DirentRecord {
  ino: number;
  /** Cookie resuming after this entry. */
  off: number;
  /** DT_* type (mode >> 12). */
  type: number;
  name: string;
}

export interface DirentPlusRecord extends DirentRecord {
  entry: StructValue<typeof L.entryOut.fields>;
}

const align8 = (n: number) => (n + 7) & ~7;

const TWO32 = 2 ** 32;

/** The attributes of a readdirplus entry for DirentPacker.pushPlus, in the server's shape. */
export interface DirentAttr {
  ino: number;
  size: number;
  blocks: number;
  atime: { sec: number; nsec: number };
  mtime: { sec: number; nsec: number };
  ctime: { sec: number; nsec: number };
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
}
const DIRENT_SIZE = L.dirent.size; // 24: ino, off, namelen, type
const ENTRY_OUT_SIZE = L.entryOut.size; // 128, before the dirent in a direntplus

/** Where pushPlus writes each field of fuse_entry_out (and of its fuse_attr), from the layouts. */
const EO = (() => {
  const e = (f: keyof typeof L.entryOut.fields & string) => offsetOf(L.entryOut, f);
  const base = e('attr');
  const a = (f: keyof typeof L.attr.fields & string) => base + offsetOf(L.attr, f);
  return {
    nodeid: e('nodeid'), generation: e('generation'), entryValid: e('entryValid'), attrValid: e('attrValid'),
    entryValidNsec: e('entryValidNsec'), attrValidNsec: e('attrValidNsec'),
    ino: a('ino'), size: a('size'), blocks: a('blocks'), atime: a('atime'), mtime: a('mtime'), ctime: a('ctime'),
    atimensec: a('atimensec'), mtimensec: a('mtimensec'), ctimensec: a('ctimensec'), mode: a('mode'),
    nlink: a('nlink'), uid: a('uid'), gid: a('gid'), rdev: a('rdev'), blksize: a('blksize'),
  };
})();

/**
 * Packs readdir or readdirplus records into a buffer of at most `maxSize`
 * bytes, as the kernel's size argument allows.
 *
 * This runs once per entry listed, often in a server whose listing code is
 * not yet optimized by V8 (a directory is listed once, then served from the
 * kernel's cache), so it writes the fixed part through a Uint32Array instead
 * of the generic struct encoder and copies ASCII names without a call into
 * the runtime. The records are byte-for-byte those of the struct layouts.
 */
export class DirentPacker {
  private readonly buf: Buffer;
  private readonly u32: Uint32Array;
  private readonly view: DataView;
  private readonly fixed: number;
  private pos = 0;

  constructor(
    maxSize: number,
    readonly plus: boolean,
  ) {
    // Zero-filled, so name padding needs no writes; offset 0 of its own buffer, so 4-byte aligned.
    const ab = new ArrayBuffer((maxSize + 7) & ~7);
    this.buf = Buffer.from(ab, 0, maxSize);
    this.u32 = new Uint32Array(ab);
    this.view = new DataView(ab);
    this.fixed = plus ? ENTRY_OUT_SIZE + DIRENT_SIZE : DIRENT_SIZE;
  }

  /** Adds a record; false (and nothing written) when it does not fit. */
  add(rec: DirentRecord | DirentPlusRecord): boolean {
    return this.push(rec.ino, rec.off, rec.type, rec.name, (rec as Partial<DirentPlusRecord>).entry);
  }

  /**
   * add() without a record object. `entry` is the fuse_entry_out of a
   * readdirplus record (all zeros when left out: "no entry", as for . and ..).
   */
  push(ino: number, off: number, type: number, name: string, entry?: StructValue<typeof L.entryOut.fields>): boolean {
    const len = name.length;
    // UTF-8 is one byte per UTF-16 unit exactly when every unit is ASCII.
    let nameLen = len;
    for (let i = 0; i < len; i++) {
      if (name.charCodeAt(i) > 0x7f) {
        nameLen = Buffer.byteLength(name, 'utf8');
        break;
      }
    }
    let at = this.pos;
    const size = (this.fixed + nameLen + 7) & ~7;
    if (at + size > this.buf.byteLength) return false;
    if (this.plus) {
      if (entry !== undefined) L.entryOut.encode(this.view, at, entry);
      at += ENTRY_OUT_SIZE;
    }
    const u32 = this.u32;
    const w = at >>> 2;
    if (ino >= 0 && ino < TWO32) u32[w] = ino;
    else this.u64(at, ino);
    if (off >= 0 && off < TWO32) u32[w + 2] = off;
    else this.u64(at + 8, off);
    u32[w + 4] = nameLen;
    u32[w + 5] = type;
    const buf = this.buf;
    const nameAt = at + DIRENT_SIZE;
    if (nameLen === len) for (let i = 0; i < len; i++) buf[nameAt + i] = name.charCodeAt(i);
    else buf.write(name, nameAt, nameLen, 'utf8');
    this.pos += size;
    return true;
  }

  /**
   * A readdirplus record whose fuse_entry_out is written straight from the
   * entry's fields (no intermediate objects): what push() with the encoded
   * EntryOut writes. `attr` has the server's shape (times as sec and nsec).
   */
  pushPlus(
    ino: number,
    off: number,
    type: number,
    name: string,
    nodeid: number,
    generation: number,
    entryValid: number,
    entryValidNsec: number,
    attrValid: number,
    attrValidNsec: number,
    attr: DirentAttr,
  ): boolean {
    const at = this.pos;
    if (!this.push(ino, off, type, name)) return false;
    // fuse_entry_out at `at`, which push() left zeroed (w64 writes high words only when nonzero).
    const u32 = this.u32;
    this.w64(at + EO.nodeid, nodeid);
    this.w64(at + EO.generation, generation);
    this.w64(at + EO.entryValid, entryValid);
    this.w64(at + EO.attrValid, attrValid);
    u32[(at + EO.entryValidNsec) >>> 2] = entryValidNsec;
    u32[(at + EO.attrValidNsec) >>> 2] = attrValidNsec;
    this.w64(at + EO.ino, attr.ino);
    this.w64(at + EO.size, attr.size);
    this.w64(at + EO.blocks, attr.blocks);
    this.w64(at + EO.atime, attr.atime.sec);
    this.w64(at + EO.mtime, attr.mtime.sec);
    this.w64(at + EO.ctime, attr.ctime.sec);
    u32[(at + EO.atimensec) >>> 2] = attr.atime.nsec;
    u32[(at + EO.mtimensec) >>> 2] = attr.mtime.nsec;
    u32[(at + EO.ctimensec) >>> 2] = attr.ctime.nsec;
    u32[(at + EO.mode) >>> 2] = attr.mode;
    u32[(at + EO.nlink) >>> 2] = attr.nlink;
    u32[(at + EO.uid) >>> 2] = attr.uid;
    u32[(at + EO.gid) >>> 2] = attr.gid;
    u32[(at + EO.rdev) >>> 2] = attr.rdev;
    u32[(at + EO.blksize) >>> 2] = attr.blksize;
    return true;
  }

  /** A u64 field of a record being written (its bytes are still zero). */
  private w64(at: number, value: number): void {
    if (value >= 0 && value < TWO32) this.u32[at >>> 2] = value;
    else this.u64(at, value);
  }

  /** Rare: a value outside 0..2^32 (written as the struct encoder would). */
  private u64(at: number, value: number): void {
    setU64(this.view, at, value);
  }

  get size(): number {
    return this.pos;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
keepShape(new DirentPacker(0, false));

/** Decode a readdir (plus = false) or readdirplus reply body. */
export function decodeDirents(data: Uint8Array, plus: boolean): (DirentRecord | DirentPlusRecord)[] {
  const view = viewOf(data);
  const out: (DirentRecord | DirentPlusRecord)[] = [];
  const fixed = plus ? L.direntplus.size : L.dirent.size;
  let pos = 0;
  while (pos < data.byteLength) {
    if (data.byteLength - pos < fixed) throw new ProtocolError('short-body', 'truncated directory entry');
    const entry = plus ? L.entryOut.decode(view, data.byteOffset + pos) : undefined;
    const d = L.dirent.decode(view, data.byteOffset + pos + (plus ? L.entryOut.size : 0));
    const nameAt = pos + fixed;
    if (nameAt + d.namelen > data.byteLength) throw new ProtocolError('short-body', 'directory entry name overruns the reply');
    const name = Buffer.from(data.buffer, data.byteOffset + nameAt, d.namelen).toString('utf8');
    out.push(entry ? { ino: d.ino, off: d.off, type: d.type, name, entry } : { ino: d.ino, off: d.off, type: d.type, name });
    pos += align8(fixed + d.namelen);
  }
  return out;
}

export { ops, opName, notifications };
export type { OpName, NotifyName };
