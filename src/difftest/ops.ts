/**
 * Operations of the differential test: their JSON form, a seeded generator
 * that draws them in a small name space (so that collisions and error cases
 * are frequent), simplification candidates for the shrinker, and printing.
 *
 * Everything here is pure data: the ops are executed by executor.ts in a
 * child process, against two directory trees at once.
 */
import { prngU32 } from '../testing/prng.js';

/** Seeded draws over mulberry32 (testing/prng.ts). Same seed, same stream. */
export class Rng {
  private readonly u32: () => number;
  constructor(seed: number) {
    this.u32 = prngU32(seed);
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** Pick a key by weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    let total = 0;
    for (const [, w] of entries) total += w;
    let r = this.next() * total;
    for (const [k, w] of entries) {
      if ((r -= w) < 0) return k;
    }
    return entries[entries.length - 1]![0];
  }
}

export const OPEN_FLAGS = ['O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_CREAT', 'O_EXCL', 'O_TRUNC', 'O_APPEND', 'O_DIRECTORY', 'O_NOFOLLOW'] as const;
export type OpenFlag = (typeof OPEN_FLAGS)[number];

/** Run the op with this effective [uid, gid] instead of root's. */
export type As = [number, number];

export type Op = (
  | { k: 'open'; p: string; flags: OpenFlag[]; mode: number; slot: number }
  | { k: 'close'; slot: number }
  /** write(2) at the file position (off null) or pwrite(2) at off; bytes are pattern(fill, len). */
  | { k: 'write'; slot: number; off: number | null; len: number; fill: number }
  | { k: 'read'; slot: number; off: number | null; len: number }
  | { k: 'ftruncate'; slot: number; len: number }
  | { k: 'fsync'; slot: number; data: boolean }
  | { k: 'fstat'; slot: number }
  | { k: 'fchmod'; slot: number; mode: number }
  /** open(O_WRONLY|O_CREAT, 0644) + pwrite at off + close. */
  | { k: 'put'; p: string; off: number; len: number; fill: number }
  /** open + read to the end (at most 4 MiB) + close: length and hash. */
  | { k: 'get'; p: string }
  | { k: 'truncate'; p: string; len: number }
  | { k: 'unlink'; p: string }
  | { k: 'mkdir'; p: string; mode: number }
  | { k: 'rmdir'; p: string }
  | { k: 'rename'; from: string; to: string }
  /** renameat2 with RENAME_NOREPLACE or RENAME_EXCHANGE (needs the C helper). */
  | { k: 'rename2'; from: string; to: string; flag: 'noreplace' | 'exchange' }
  | { k: 'link'; from: string; to: string }
  | { k: 'symlink'; target: string; p: string }
  | { k: 'readlink'; p: string }
  | { k: 'chmod'; p: string; mode: number }
  /** chown (follows symlinks) or lchown (nofollow). -1 leaves an id as it is. */
  | { k: 'chown'; p: string; uid: number; gid: number; nofollow: boolean }
  /** utimes with explicit times (seconds, multiples of 1/4 so that they are exact in binary). */
  | { k: 'utimes'; p: string; atime: number; mtime: number }
  | { k: 'stat'; p: string }
  | { k: 'lstat'; p: string }
  | { k: 'readdir'; p: string }
  | { k: 'access'; p: string; mode: number }
  | { k: 'copyFile'; from: string; to: string; excl: boolean }
  /** mknod(2) of a FIFO, socket or device node (needs the C helper). */
  | { k: 'mknod'; p: string; type: 'fifo' | 'chr' | 'blk' | 'sock'; mode: number; major: number; minor: number }
  /** lsetxattr etc. (need the C helper); flags 0, 1 = XATTR_CREATE, 2 = XATTR_REPLACE. */
  | { k: 'setxattr'; p: string; name: string; value: string; flags: number }
  | { k: 'getxattr'; p: string; name: string }
  | { k: 'listxattr'; p: string }
  | { k: 'removexattr'; p: string; name: string }
  /** fallocate(2) on a file opened O_WRONLY (needs the C helper). */
  | { k: 'fallocate'; p: string; mode: 'alloc' | 'keep' | 'punch'; off: number; len: number }
  /** lseek SEEK_DATA / SEEK_HOLE on a file opened O_RDONLY (needs the C helper). */
  | { k: 'seek'; p: string; whence: 'data' | 'hole'; off: number }
) & { as?: As };

export type OpKind = Op['k'];

/** Op kinds that need the compiled C helper. */
export const HELPER_KINDS: ReadonlySet<OpKind> = new Set<OpKind>([
  'rename2',
  'mknod',
  'setxattr',
  'getxattr',
  'listxattr',
  'removexattr',
  'fallocate',
  'seek',
]);
export const XATTR_KINDS: ReadonlySet<OpKind> = new Set<OpKind>(['setxattr', 'getxattr', 'listxattr', 'removexattr']);

export const ALL_KINDS: readonly OpKind[] = [
  'open', 'close', 'write', 'read', 'ftruncate', 'fsync', 'fstat', 'fchmod', 'put', 'get', 'truncate', 'unlink',
  'mkdir', 'rmdir', 'rename', 'rename2', 'link', 'symlink', 'readlink', 'chmod', 'chown', 'utimes', 'stat', 'lstat',
  'readdir', 'access', 'copyFile', 'mknod', 'setxattr', 'getxattr', 'listxattr', 'removexattr', 'fallocate', 'seek',
];

/** Bytes written by a write/put op: position dependent, so misplaced data shows. */
export function pattern(fill: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (fill + i * 7 + (i >>> 8)) & 0xff;
  return b;
}

export const SLOTS = 3;
export const NAMES = ['a', 'b', 'c', 'd'] as const;
/** A name of 256 bytes (ENAMETOOLONG) and one of exactly 255 (valid). */
export const LONG_NAME = 'L'.repeat(256);
export const MAX_NAME = 'M'.repeat(255);
/** An absolute symlink target whose parent never exists: following it can't reach outside the tree. */
export const DANGLING_ABS = '/puffs-difftest-nonexistent/x';
export const USERS: readonly As[] = [
  [1000, 1000],
  [1001, 1001],
  [1001, 1000],
];

export interface GenOptions {
  /** Op kinds to leave out (e.g. the helper's when there is no C compiler). */
  exclude?: ReadonlySet<OpKind>;
  /** Probability that an op runs as a non-root user (0 disables). Default 0.15. */
  asUserRate?: number;
}

/** Relative weights of the op kinds. */
const WEIGHTS: Record<OpKind, number> = {
  open: 9, close: 3, write: 9, read: 5, ftruncate: 3, fsync: 1, fstat: 3, fchmod: 1, put: 10, get: 4, truncate: 4,
  unlink: 5, mkdir: 7, rmdir: 4, rename: 8, rename2: 2, link: 4, symlink: 4, readlink: 2, chmod: 4, chown: 3,
  utimes: 2, stat: 5, lstat: 4, readdir: 4, access: 2, copyFile: 2, mknod: 2, setxattr: 3, getxattr: 2,
  listxattr: 1, removexattr: 1, fallocate: 2, seek: 2,
};

function genName(r: Rng): string {
  return r.pick(NAMES);
}

/** A path relative to the run's root: mostly 1-2 components of a, b, c, d; sometimes a special case. */
export function genPath(r: Rng): string {
  const x = r.next();
  if (x < 0.015) return r.chance(0.5) ? LONG_NAME : `${genName(r)}/${LONG_NAME}`;
  if (x < 0.025) return MAX_NAME;
  if (x < 0.035) return '.';
  const depth = r.chance(0.6) ? 1 : r.chance(0.8) ? 2 : 3;
  const parts: string[] = [];
  for (let i = 0; i < depth; i++) parts.push(genName(r));
  let p = parts.join('/');
  const y = r.next();
  if (y < 0.03) p += '/';
  else if (y < 0.05) p += '/.';
  else if (y < 0.07) p += '/..';
  return p;
}

/** Symlink targets: relative names that only go deeper (never '..' or '.'), or a dangling absolute path. */
function genTarget(r: Rng): string {
  const x = r.next();
  if (x < 0.05) return DANGLING_ABS;
  if (x < 0.08) return 'T'.repeat(r.pick([130, 300, 1000])); // long targets (not inline in the kernel's inode)
  const depth = r.chance(0.7) ? 1 : 2;
  const parts: string[] = [];
  for (let i = 0; i < depth; i++) parts.push(r.chance(0.9) ? genName(r) : 'z');
  return parts.join('/');
}

function genOffset(r: Rng): number {
  const x = r.next();
  if (x < 0.35) return 0;
  if (x < 0.7) return r.int(5000);
  if (x < 0.85) return r.pick([4095, 4096, 4097, 8191, 8192, 65536]) + r.range(-2, 2) * (r.chance(0.5) ? 1 : 0);
  return r.range(100_000, 1_500_000); // far: leaves a hole
}

function genLen(r: Rng): number {
  const x = r.next();
  if (x < 0.05) return 0;
  if (x < 0.6) return r.range(1, 200);
  if (x < 0.9) return r.range(200, 9000);
  return r.range(9000, 70_000);
}

function genTruncLen(r: Rng): number {
  const x = r.next();
  if (x < 0.3) return 0;
  if (x < 0.7) return r.int(9000);
  if (x < 0.85) return r.pick([4096, 8192, 12288]);
  return r.range(100_000, 1_200_000);
}

const FILE_MODES = [0o644, 0o600, 0o755, 0o777, 0o666, 0o4755, 0o2755, 0o6777, 0o2775, 0o444, 0o000];
const DIR_MODES = [0o755, 0o777, 0o700, 0o1777, 0o2775, 0o3777, 0o555];
const CHMOD_MODES = [0o644, 0o755, 0o777, 0o000, 0o4755, 0o2755, 0o1777, 0o6711, 0o2070, 0o1000, 0o444, 0o555, 0o700];

function genFlags(r: Rng): OpenFlag[] {
  const acc = r.weighted({ O_RDONLY: 3, O_WRONLY: 3, O_RDWR: 5 });
  const flags: OpenFlag[] = [acc];
  if (r.chance(0.65)) flags.push('O_CREAT');
  if (r.chance(0.15)) flags.push('O_EXCL');
  if (r.chance(0.2)) flags.push('O_TRUNC');
  if (r.chance(0.2)) flags.push('O_APPEND');
  if (r.chance(0.05)) flags.push('O_DIRECTORY');
  if (r.chance(0.05)) flags.push('O_NOFOLLOW');
  return flags;
}

function genTime(r: Rng): number {
  // Integer seconds plus a quarter: exact in a double and in nanoseconds.
  return r.pick([0, 1, 1_000_000_000, 1_700_000_000, 2_000_000_000, 4_000_000_000]) + r.int(4) * 0.25;
}

/** What the generator remembers between ops: the slots it opened last (so fd ops mostly hit an open fd). */
export interface GenState {
  opened: number[];
}

/** Draw one op. */
export function genOp(r: Rng, opts: GenOptions = {}, state: GenState = { opened: [] }): Op {
  const exclude = opts.exclude;
  const weights: Partial<Record<OpKind, number>> = {};
  for (const k of ALL_KINDS) if (!exclude?.has(k)) weights[k] = WEIGHTS[k];
  const kind = r.weighted(weights as Record<OpKind, number>);
  const slot = state.opened.length && r.chance(0.85) ? r.pick(state.opened) : r.int(SLOTS);
  const op = genOfKind(r, kind, slot);
  if (op.k === 'open' && !state.opened.includes(slot)) state.opened.push(slot);
  if (op.k === 'close') state.opened = state.opened.filter((s) => s !== slot);
  const asRate = opts.asUserRate ?? 0.15;
  if (asRate > 0 && r.chance(asRate)) op.as = r.pick(USERS);
  return op;
}

function genOfKind(r: Rng, kind: OpKind, slot: number): Op {
  switch (kind) {
    case 'open':
      return { k: 'open', p: r.chance(0.5) ? genName(r) : genPath(r), flags: genFlags(r), mode: r.pick(FILE_MODES), slot };
    case 'close':
      return { k: 'close', slot };
    case 'write':
      return { k: 'write', slot, off: r.chance(0.4) ? null : genOffset(r), len: genLen(r), fill: r.int(256) };
    case 'read':
      return { k: 'read', slot, off: r.chance(0.4) ? null : genOffset(r), len: genLen(r) };
    case 'ftruncate':
      return { k: 'ftruncate', slot, len: genTruncLen(r) };
    case 'fsync':
      return { k: 'fsync', slot, data: r.chance(0.5) };
    case 'fstat':
      return { k: 'fstat', slot };
    case 'fchmod':
      return { k: 'fchmod', slot, mode: r.pick(CHMOD_MODES) };
    case 'put':
      return { k: 'put', p: genPath(r), off: genOffset(r), len: genLen(r), fill: r.int(256) };
    case 'get':
      return { k: 'get', p: genPath(r) };
    case 'truncate':
      return { k: 'truncate', p: genPath(r), len: genTruncLen(r) };
    case 'unlink':
      return { k: 'unlink', p: genPath(r) };
    case 'mkdir':
      return { k: 'mkdir', p: genPath(r), mode: r.pick(DIR_MODES) };
    case 'rmdir':
      return { k: 'rmdir', p: genPath(r) };
    case 'rename': {
      const from = genPath(r);
      const x = r.next();
      // Sometimes into its own subtree, sometimes onto itself.
      const to = x < 0.08 ? `${from}/${genName(r)}` : x < 0.13 ? from : genPath(r);
      return { k: 'rename', from, to };
    }
    case 'rename2':
      return { k: 'rename2', from: genPath(r), to: genPath(r), flag: r.chance(0.5) ? 'noreplace' : 'exchange' };
    case 'link':
      return { k: 'link', from: genPath(r), to: genPath(r) };
    case 'symlink':
      return { k: 'symlink', target: genTarget(r), p: genPath(r) };
    case 'readlink':
      return { k: 'readlink', p: genPath(r) };
    case 'chmod':
      return { k: 'chmod', p: genPath(r), mode: r.chance(0.8) ? r.pick(CHMOD_MODES) : r.int(0o10000) };
    case 'chown':
      return { k: 'chown', p: genPath(r), uid: r.pick([0, 1000, 1001, -1]), gid: r.pick([0, 1000, 1001, -1]), nofollow: r.chance(0.3) };
    case 'utimes':
      return { k: 'utimes', p: genPath(r), atime: genTime(r), mtime: genTime(r) };
    case 'stat':
      return { k: 'stat', p: genPath(r) };
    case 'lstat':
      return { k: 'lstat', p: genPath(r) };
    case 'readdir':
      return { k: 'readdir', p: r.chance(0.2) ? '.' : genPath(r) };
    case 'access':
      return { k: 'access', p: genPath(r), mode: r.pick([0, 1, 2, 4, 6, 7]) };
    case 'copyFile':
      return { k: 'copyFile', from: genPath(r), to: genPath(r), excl: r.chance(0.3) };
    case 'mknod': {
      const type = r.weighted({ fifo: 5, chr: 2, blk: 1, sock: 1 });
      // Character devices are only ever /dev/null, /dev/zero or /dev/full; the block device does not exist.
      const [major, minor] = type === 'chr' ? r.pick([[1, 3], [1, 5], [1, 7]] as const) : type === 'blk' ? [240, 7] : [0, 0];
      return { k: 'mknod', p: genPath(r), type, mode: r.pick([0o644, 0o600, 0o666, 0o4644]), major, minor };
    }
    case 'setxattr':
      return { k: 'setxattr', p: genPath(r), name: genXattrName(r), value: r.pick(['', 'v', 'value-2', 'x'.repeat(300)]), flags: r.pick([0, 0, 1, 2]) };
    case 'getxattr':
      return { k: 'getxattr', p: genPath(r), name: genXattrName(r) };
    case 'listxattr':
      return { k: 'listxattr', p: genPath(r) };
    case 'removexattr':
      return { k: 'removexattr', p: genPath(r), name: genXattrName(r) };
    case 'fallocate':
      return { k: 'fallocate', p: genPath(r), mode: r.weighted({ alloc: 2, keep: 1, punch: 2 }), off: genOffset(r), len: r.chance(0.1) ? 0 : genLen(r) };
    case 'seek':
      return { k: 'seek', p: genPath(r), whence: r.chance(0.5) ? 'data' : 'hole', off: genOffset(r) };
  }
}

function genXattrName(r: Rng): string {
  return r.pick(['user.a', 'user.b', 'user.a', 'trusted.t', 'user.' + 'n'.repeat(250)]);
}

/** A seeded op sequence: the same (seed, count, options) always gives the same ops. */
export function generate(seed: number, count: number, opts: GenOptions = {}): Op[] {
  const r = new Rng(seed);
  const ops: Op[] = [];
  const state: GenState = { opened: [] };
  for (let i = 0; i < count; i++) ops.push(genOp(r, opts, state));
  return ops;
}

/** The paths an op names (relative to the run root). */
export function opPaths(op: Op): string[] {
  const out: string[] = [];
  const o = op as Record<string, unknown>;
  for (const key of ['p', 'from', 'to'] as const) if (typeof o[key] === 'string') out.push(o[key] as string);
  return out;
}

/**
 * Simpler variants of one op, simplest first: the shrinker tries each in
 * place of the op and keeps the first that still fails.
 */
export function simplifyOp(op: Op): Op[] {
  const out: Op[] = [];
  const push = (o: Op) => {
    if (JSON.stringify(o) !== JSON.stringify(op)) out.push(o);
  };
  if (op.as) {
    const { as: _as, ...rest } = op;
    push(rest as Op);
  }
  const o = op as Op & Record<string, unknown>;
  const num = (key: string, values: number[]) => {
    const v = o[key];
    if (typeof v !== 'number') return;
    for (const c of values) if (Math.abs(c) < Math.abs(v)) push({ ...o, [key]: c } as Op);
  };
  const path = (key: 'p' | 'from' | 'to') => {
    const v = o[key];
    if (typeof v !== 'string') return;
    for (const c of simplerPaths(v)) push({ ...o, [key]: c } as Op);
  };
  switch (op.k) {
    case 'write':
    case 'read':
      if (op.off !== null && op.off !== 0) push({ ...op, off: 0 });
      if (op.off === null) push({ ...op, off: 0 });
      num('len', [0, 1, Math.floor(op.len / 2)]);
      if (op.k === 'write') num('fill', [0]);
      break;
    case 'put':
      num('off', [0, Math.floor(op.off / 2)]);
      num('len', [0, 1, Math.floor(op.len / 2)]);
      num('fill', [0]);
      break;
    case 'truncate':
    case 'ftruncate':
      num('len', [0, 1, Math.floor(op.len / 2)]);
      break;
    case 'fallocate':
      num('off', [0, Math.floor(op.off / 2)]);
      num('len', [1, Math.floor(op.len / 2)]);
      break;
    case 'seek':
      num('off', [0, Math.floor(op.off / 2)]);
      break;
    case 'open': {
      const access: readonly OpenFlag[] = ['O_RDONLY', 'O_WRONLY', 'O_RDWR'];
      const extra = op.flags.filter((f) => !access.includes(f));
      for (const f of extra) push({ ...op, flags: op.flags.filter((g) => g !== f) });
      if (op.mode !== 0o644) push({ ...op, mode: 0o644 });
      if (op.slot !== 0) push({ ...op, slot: 0 });
      break;
    }
    case 'close':
    case 'fsync':
    case 'fstat':
    case 'fchmod':
      if (op.slot !== 0) push({ ...op, slot: 0 });
      break;
    case 'mkdir':
      if (op.mode !== 0o755) push({ ...op, mode: 0o755 });
      break;
    case 'setxattr':
      if (op.value !== 'v') push({ ...op, value: 'v' });
      if (op.flags !== 0) push({ ...op, flags: 0 });
      break;
    default:
      break;
  }
  path('p');
  path('from');
  path('to');
  return out;
}

/**
 * Whole-sequence simplifications: one of the names b, c, d replaced by a
 * smaller one in every path and symlink target (so renames and links that
 * only existed to move a file under another name can go).
 */
export function nameReplacements(ops: readonly Op[]): Op[][] {
  const used = new Set<string>();
  const fields = ['p', 'from', 'to', 'target'] as const;
  for (const op of ops) for (const f of fields) {
    const v = (op as Record<string, unknown>)[f];
    if (typeof v === 'string') for (const part of v.split('/')) used.add(part);
  }
  const out: Op[][] = [];
  for (const from of ['d', 'c', 'b']) {
    if (!used.has(from)) continue;
    for (const to of NAMES) {
      if (to >= from) break;
      const swap = (v: string) => v.split('/').map((x) => (x === from ? to : x)).join('/');
      out.push(ops.map((op) => {
        const o: Record<string, unknown> = { ...op };
        for (const f of fields) if (typeof o[f] === 'string') o[f] = swap(o[f] as string);
        return o as Op;
      }));
    }
  }
  return out;
}

function simplerPaths(p: string): string[] {
  const out: string[] = [];
  if (p.endsWith('/')) out.push(p.slice(0, -1));
  const parts = p.split('/');
  if (parts.length > 1) out.push(parts.slice(1).join('/'), parts.slice(0, -1).join('/'));
  if (p !== 'a' && /^[a-d]$/.test(p)) out.push('a');
  return out.filter((x) => x !== '' && x !== p);
}

function octal(n: number): string {
  return '0' + n.toString(8);
}

function shortPath(p: string): string {
  return p.replace(/L{256}/g, 'L×256').replace(/M{255}/g, 'M×255').replace(/T{20,}/g, (m) => `T×${m.length}`).replace(/n{250}/g, 'n×250');
}

/** One line per op, close to the C call it makes. */
export function formatOp(op: Op): string {
  const as = op.as ? ` [as ${op.as[0]}:${op.as[1]}]` : '';
  const s = (x: string) => JSON.stringify(shortPath(x));
  let text: string;
  switch (op.k) {
    case 'open':
      text = `fd${op.slot} = open(${s(op.p)}, ${op.flags.join('|')}, ${octal(op.mode)})`;
      break;
    case 'close':
      text = `close(fd${op.slot})`;
      break;
    case 'write':
      text = op.off === null ? `write(fd${op.slot}, pattern(${op.fill}), ${op.len})` : `pwrite(fd${op.slot}, pattern(${op.fill}), ${op.len}, ${op.off})`;
      break;
    case 'read':
      text = op.off === null ? `read(fd${op.slot}, ${op.len})` : `pread(fd${op.slot}, ${op.len}, ${op.off})`;
      break;
    case 'ftruncate':
      text = `ftruncate(fd${op.slot}, ${op.len})`;
      break;
    case 'fsync':
      text = `${op.data ? 'fdatasync' : 'fsync'}(fd${op.slot})`;
      break;
    case 'fstat':
      text = `fstat(fd${op.slot})`;
      break;
    case 'fchmod':
      text = `fchmod(fd${op.slot}, ${octal(op.mode)})`;
      break;
    case 'put':
      text = `put(${s(op.p)}, pattern(${op.fill}), ${op.len}, at ${op.off})  # open O_WRONLY|O_CREAT 0644, pwrite, close`;
      break;
    case 'get':
      text = `get(${s(op.p)})  # open O_RDONLY, read all, close`;
      break;
    case 'truncate':
      text = `truncate(${s(op.p)}, ${op.len})`;
      break;
    case 'mkdir':
      text = `mkdir(${s(op.p)}, ${octal(op.mode)})`;
      break;
    case 'unlink':
    case 'rmdir':
    case 'readlink':
    case 'stat':
    case 'lstat':
    case 'readdir':
    case 'listxattr':
      text = `${op.k}(${s(op.p)})`;
      break;
    case 'rename':
    case 'link':
      text = `${op.k}(${s(op.from)}, ${s(op.to)})`;
      break;
    case 'rename2':
      text = `renameat2(${s(op.from)}, ${s(op.to)}, RENAME_${op.flag.toUpperCase()})`;
      break;
    case 'copyFile':
      text = `copyFile(${s(op.from)}, ${s(op.to)}${op.excl ? ', COPYFILE_EXCL' : ''})`;
      break;
    case 'symlink':
      text = `symlink(${s(op.target)}, ${s(op.p)})`;
      break;
    case 'chmod':
      text = `chmod(${s(op.p)}, ${octal(op.mode)})`;
      break;
    case 'chown':
      text = `${op.nofollow ? 'lchown' : 'chown'}(${s(op.p)}, ${op.uid}, ${op.gid})`;
      break;
    case 'utimes':
      text = `utimes(${s(op.p)}, ${op.atime}, ${op.mtime})`;
      break;
    case 'access':
      text = `access(${s(op.p)}, ${op.mode})`;
      break;
    case 'mknod':
      text = `mknod(${s(op.p)}, S_IF${op.type.toUpperCase()}|${octal(op.mode)}, ${op.major}:${op.minor})`;
      break;
    case 'setxattr':
      text = `lsetxattr(${s(op.p)}, ${s(op.name)}, ${s(op.value)}, ${['0', 'XATTR_CREATE', 'XATTR_REPLACE'][op.flags] ?? op.flags})`;
      break;
    case 'getxattr':
    case 'removexattr':
      text = `l${op.k}(${s(op.p)}, ${s(op.name)})`;
      break;
    case 'fallocate':
      text = `fallocate(${s(op.p)}, ${{ alloc: '0', keep: 'FALLOC_FL_KEEP_SIZE', punch: 'FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE' }[op.mode]}, ${op.off}, ${op.len})`;
      break;
    case 'seek':
      text = `lseek(${s(op.p)}, ${op.off}, SEEK_${op.whence.toUpperCase()})`;
      break;
  }
  return text + as;
}
