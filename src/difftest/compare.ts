/**
 * Normalizing and comparing file-system state: shared by the kernel-mount
 * executor (executor.ts) and the client harness (client-diff.ts), so both
 * judge divergence the same way.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { Entry, NormStat, Times } from './executor.js';

const C = fs.constants;

/** An unchanged time this recent may only look unchanged (coarse clocks): inconclusive. */
export const RECENT_NS = 15_000_000n;

export function typeOf(mode: number): string {
  switch (mode & C.S_IFMT) {
    case C.S_IFREG:
      return 'file';
    case C.S_IFDIR:
      return 'dir';
    case C.S_IFLNK:
      return 'symlink';
    case C.S_IFIFO:
      return 'fifo';
    case C.S_IFCHR:
      return 'chr';
    case C.S_IFBLK:
      return 'blk';
    case C.S_IFSOCK:
      return 'sock';
    default:
      return `type#${mode & C.S_IFMT}`;
  }
}

export function normStat(st: fs.BigIntStats, ignore: ReadonlySet<string>): NormStat {
  const mode = Number(st.mode);
  const type = typeOf(mode);
  const out: NormStat = { type, mode: (mode & 0o7777).toString(8), uid: Number(st.uid), gid: Number(st.gid) };
  if (!ignore.has('nlink') && !(type === 'dir' && ignore.has('dirnlink'))) out.nlink = Number(st.nlink);
  if (!(type === 'dir' && ignore.has('dirsize'))) out.size = Number(st.size);
  if (!ignore.has('blocks') && !(type === 'dir' && ignore.has('dirblocks'))) out.blocks = Number(st.blocks);
  if (!ignore.has('rdev') && (type === 'chr' || type === 'blk')) out.rdev = `${Number(st.rdev) >> 8}:${Number(st.rdev) & 0xff}`;
  if (!ignore.has('times') && !ignore.has('ctime>=mtime')) out['ctime>=mtime'] = st.ctimeNs >= st.mtimeNs;
  return out;
}

export function hash(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex').slice(0, 16);
}

export function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The first field of two entries that differs. */
export function entryDiff(a: Entry, b: Entry): { field: string; oracle: unknown; subject: unknown } | null {
  if ('err' in a.st || 'err' in b.st) {
    if (!same(a.st, b.st)) return { field: 'exists', oracle: a.st, subject: b.st };
  } else {
    for (const k of new Set([...Object.keys(a.st), ...Object.keys(b.st)])) {
      const x = (a.st as unknown as Record<string, unknown>)[k];
      const y = (b.st as unknown as Record<string, unknown>)[k];
      if (!same(x, y)) return { field: k, oracle: x, subject: y };
    }
  }
  for (const k of ['content', 'target', 'entries', 'xattrs'] as const) {
    if (!same(a[k], b[k])) return { field: k, oracle: a[k], subject: b[k] };
  }
  return null;
}

export function relation(before: Times | null, after: Times | null, opStart: bigint): string {
  if (!before || !after) return 'n/a';
  if (before.ino !== after.ino) return 'another inode';
  const one = (b: bigint, a: bigint) => (a !== b ? 'changed' : b >= opStart - RECENT_NS ? 'same?' : 'same');
  return `mtime ${one(before.m, after.m)}, ctime ${one(before.c, after.c)}`;
}

/** Two relations agree when equal, or when one side's 'same?' stands against 'same' or 'changed'. */
export function relationsAgree(a: string, b: string): boolean {
  const wa = a.split(/[ ,]+/);
  const wb = b.split(/[ ,]+/);
  if (wa.length !== wb.length) return false;
  return wa.every((w, i) => w === wb[i] || w === 'same?' || wb[i] === 'same?');
}
