#!/usr/bin/env node
/**
 * The differential test without FUSE: the same seeded op sequences as the
 * kernel-mount harness (generator and shrinker from ops.ts), run in lockstep
 * against two node:fs/promises-shaped targets in this process:
 *
 *   oracle:  real node:fs/promises on a fresh directory of a kernel tmpfs
 *            (mkdtemp under /dev/shm, or --base DIR; must be tmpfs);
 *   subject: attach(new Tmpfs({ checkPermissions: true })), the puffs client
 *            speaking FUSE to puffs tmpfs in-process.
 *
 * After every op: the results (value or errno) must agree, and so must the
 * state of the paths it touched (type, mode bits, nlink, size, blocks,
 * uid/gid, contents, symlink targets, listings), whether mtime/ctime changed,
 * and every 8 ops (and at the end) the whole tree. On the first divergence
 * the sequence is shrunk (delta debugging; every replay on a fresh directory
 * and a fresh Tmpfs) and printed with its seed.
 *
 *   node dist/difftest/client-diff.js --seeds N --ops M [--seed S] [--fault stat-size-odd]
 *
 * Op kinds left out (node:fs/promises cannot express them; the kernel-mount
 * harness needs its C helper for them): rename2 (renameat2 flags), mknod
 * (FIFOs, sockets, devices), setxattr/getxattr/listxattr/removexattr,
 * fallocate, seek (SEEK_DATA/SEEK_HOLE). `truncate` is Node's (open 'r+' +
 * ftruncate) on both sides, not truncate(2).
 *
 * Credentials: ops marked `as` (another uid/gid) run only when this process
 * is root: the oracle switches its effective ids around the call (seteuid;
 * safe because the oracle's call is the only thing running), the subject uses
 * fs.withCredentials. Not root: the generator makes no such ops and both sides
 * act as this process's uid/gid (chown to other ids then fails with EPERM on
 * both).
 */
import * as fsp from 'node:fs/promises';
import * as nodeFs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { attach } from '../client/index.js';
import { Tmpfs } from '../fs/tmpfs/index.js';
import { describe, signature, type Divergence, type Entry, type NormStat, type Result } from './executor.js';
import { formatOp, generate, HELPER_KINDS, nameReplacements, opPaths, pattern, simplifyOp, SLOTS, type As, type GenOptions, type Op, type OpKind } from './ops.js';
import { normStat, hash, same, entryDiff, relation, relationsAgree, RECENT_NS } from './compare.js';

const C = nodeFs.constants;

/** The op kinds this harness runs: all but those needing the C helper. */
export const CLIENT_EXCLUDE: ReadonlySet<OpKind> = new Set<OpKind>(HELPER_KINDS);

type Fsp = typeof fsp;
type Handle = fsp.FileHandle;

/** Injected faults in the subject (self-test). */
export const CLIENT_FAULTS: Record<string, string> = {
  'stat-size-odd': "the subject's stat/lstat/fstat report an odd size one larger",
};

export interface ClientDiffOptions {
  /** Directory on a kernel tmpfs under which run directories are made. */
  base: string;
  /** Compare whole trees every this many ops (and after the last). Default 8. */
  snapEvery?: number;
  /** Fields left out: blocks, dirsize, dirblocks, nlink, times. */
  ignore?: string[];
  fault?: string;
  /** Before each op, wait until the affected paths' times are old enough for "unchanged" to be exact. */
  settle?: boolean;
}

export interface ClientRunReport {
  opsRun: number;
  divergence: Divergence | null;
}

// ---------------------------------------------------------------- normalizing (as executor.ts)




function errCode(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string') return code === 'EOPNOTSUPP' ? 'ENOTSUP' : code === 'EWOULDBLOCK' ? 'EAGAIN' : code;
  // Not an errno error: keep it visible as a divergence rather than crashing the run.
  return `throw ${(e as Error)?.message ?? String(e)}`;
}

async function attempt(f: () => Promise<unknown>): Promise<Result> {
  try {
    return { ok: (await f()) ?? null };
  } catch (e) {
    return { err: errCode(e) };
  }
}

async function readAll(h: Handle, cap = 4 << 20): Promise<{ n: number; h: string }> {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(1 << 16);
  while (total < cap) {
    const { bytesRead } = await h.read(buf, 0, Math.min(buf.length, cap - total), null);
    if (bytesRead === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
    total += bytesRead;
  }
  return { n: total, h: hash(Buffer.concat(chunks)) };
}


// ---------------------------------------------------------------- the two sides

interface Side {
  name: 'oracle' | 'subject';
  fs: Fsp;
  /** fs for an op run as another user. */
  as(as: As | undefined): Fsp;
  /** Run f with the side's credentials switched (the oracle switches the process's euid). */
  cred<T>(as: As | undefined, f: (fs: Fsp) => Promise<T>): Promise<T>;
  /** Absolute path of p (relative to the run root). Plain concatenation: keeps '..' and trailing '/'. */
  abs(p: string): string;
  fds: (Handle | null)[];
  fdPaths: (string | null)[];
  /** Who opened each slot: the kernel checks an fd op against the caller, who is the opener here. */
  fdAs: (As | undefined)[];
  close(): Promise<void>;
}

const isRoot = process.getuid?.() === 0;

async function oracleSide(base: string): Promise<Side> {
  const root = await fsp.mkdtemp(`${base}/run-`);
  await fsp.chmod(root, 0o1777);
  const side: Side = {
    name: 'oracle',
    fs: fsp,
    as: () => fsp,
    async cred(as, f) {
      if (!as) return f(fsp);
      process.setegid!(as[1]);
      process.seteuid!(as[0]);
      try {
        return await f(fsp);
      } finally {
        process.seteuid!(0);
        process.setegid!(0);
      }
    },
    abs: (p) => `${root}/${p}`,
    fds: new Array<Handle | null>(SLOTS).fill(null),
    fdPaths: new Array<string | null>(SLOTS).fill(null),
    fdAs: new Array<As | undefined>(SLOTS).fill(undefined),
    async close() {
      await closeAll(side);
      if (!isRoot) await makeRemovable(root);
      await fsp.rm(root, { recursive: true, force: true, maxRetries: 2 });
    },
  };
  return side;
}

/** Not root: ops may have left directories without read/search/write permission; give them back (owner rwx). */
async function makeRemovable(dir: string): Promise<void> {
  await fsp.chmod(dir, 0o700).catch(() => undefined);
  let names: nodeFs.Dirent[];
  try {
    names = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const d of names) if (d.isDirectory()) await makeRemovable(`${dir}/${d.name}`);
}

async function subjectSide(fault: string | undefined): Promise<Side> {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const pfs = await attach(new Tmpfs({ checkPermissions: true }), { uid, gid, groups: [], umask: 0o022 });
  const wrap = (x: unknown): Fsp => (fault ? injectFault(x as Fsp, fault) : (x as Fsp));
  const base = wrap(pfs);
  const side: Side = {
    name: 'subject',
    fs: base,
    as: (as) => (as ? wrap(pfs.withCredentials({ uid: as[0], gid: as[1], groups: [] })) : base),
    cred: (as, f) => f(side.as(as)),
    abs: (p) => `/${p}`,
    fds: new Array<Handle | null>(SLOTS).fill(null),
    fdPaths: new Array<string | null>(SLOTS).fill(null),
    fdAs: new Array<As | undefined>(SLOTS).fill(undefined),
    async close() {
      await closeAll(side);
      await pfs.close();
    },
  };
  return side;
}

/** The fault: a wrapper around the subject whose stats report an odd size one larger. */
function injectFault(target: Fsp, fault: string): Fsp {
  if (fault !== 'stat-size-odd') throw new Error(`unknown fault ${fault} (known: ${Object.keys(CLIENT_FAULTS).join(', ')})`);
  const bump = <T>(st: T): T => {
    const s = st as unknown as { size: bigint | number };
    if (typeof s.size === 'bigint' && s.size % 2n === 1n) s.size += 1n;
    else if (typeof s.size === 'number' && s.size % 2 === 1) s.size += 1;
    return st;
  };
  const wrapHandle = (h: Handle): Handle =>
    new Proxy(h, {
      get(t, k) {
        const v = Reflect.get(t, k) as unknown;
        if (k === 'stat') return async (...a: unknown[]) => bump(await (v as (...a: unknown[]) => Promise<unknown>).apply(t, a));
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
  return new Proxy(target, {
    get(t, k) {
      const v = Reflect.get(t, k) as unknown;
      if (k === 'stat' || k === 'lstat') return async (...a: unknown[]) => bump(await (v as (...a: unknown[]) => Promise<unknown>).apply(t, a));
      if (k === 'open') return async (...a: unknown[]) => wrapHandle((await (v as (...a: unknown[]) => Promise<Handle>).apply(t, a)));
      return v;
    },
  });
}

async function closeSlot(s: Side, slot: number): Promise<void> {
  const h = s.fds[slot];
  s.fds[slot] = null;
  s.fdPaths[slot] = null;
  if (h) await h.close().catch(() => undefined);
}

async function closeAll(s: Side): Promise<void> {
  for (let i = 0; i < SLOTS; i++) await closeSlot(s, i);
}

function handleOf(s: Side, slot: number): Handle {
  const h = s.fds[slot];
  if (!h) throw Object.assign(new Error('no fd in slot'), { code: 'EBADF' });
  return h;
}

// ---------------------------------------------------------------- executing

/** Execute one op on one side. */
export async function execOp(s: Side, op: Op, ignore: ReadonlySet<string>): Promise<Result> {
  if (op.k !== 'open' && op.k !== 'close' && 'slot' in op) {
    // fd ops run as whoever opened the slot: a client handle keeps its opener's
    // credentials, so the oracle's process takes the same ids for the call.
    return s.cred(s.fdAs[op.slot], () => execPlain(s, s.fs, op, ignore));
  }
  if (op.k === 'open') s.fdAs[op.slot] = op.as;
  // access(2) checks the real uid, which seteuid leaves at root: both sides ask as root.
  if (op.k === 'access') return s.cred(undefined, (fs) => execPlain(s, fs, op, ignore));
  return s.cred(op.as, (fs) => execPlain(s, fs, op, ignore));
}

async function execPlain(s: Side, fs: Fsp, op: Op, ignore: ReadonlySet<string>): Promise<Result> {
  const a = (p: string) => s.abs(p);
  switch (op.k) {
    case 'open': {
      await closeSlot(s, op.slot);
      let flags = 0;
      for (const f of op.flags) flags |= C[f];
      return attempt(async () => {
        s.fds[op.slot] = await fs.open(a(op.p), flags, op.mode);
        s.fdPaths[op.slot] = op.p;
      });
    }
    case 'close':
      return attempt(async () => {
        const h = handleOf(s, op.slot);
        s.fds[op.slot] = null;
        s.fdPaths[op.slot] = null;
        await h.close();
      });
    case 'write':
      return attempt(async () => (await handleOf(s, op.slot).write(pattern(op.fill, op.len), 0, op.len, op.off)).bytesWritten);
    case 'read':
      return attempt(async () => {
        const buf = Buffer.alloc(op.len);
        const { bytesRead: n } = await handleOf(s, op.slot).read(buf, 0, op.len, op.off);
        return { n, h: hash(buf.subarray(0, n)) };
      });
    case 'ftruncate':
      return attempt(() => handleOf(s, op.slot).truncate(op.len));
    case 'fsync':
      return attempt(() => (op.data ? handleOf(s, op.slot).datasync() : handleOf(s, op.slot).sync()));
    case 'fstat':
      return attempt(async () => normStat(await handleOf(s, op.slot).stat({ bigint: true }), ignore));
    case 'fchmod':
      return attempt(() => handleOf(s, op.slot).chmod(op.mode));
    case 'put':
      return attempt(async () => {
        const h = await fs.open(a(op.p), C.O_WRONLY | C.O_CREAT, 0o644);
        try {
          return (await h.write(pattern(op.fill, op.len), 0, op.len, op.off)).bytesWritten;
        } finally {
          await h.close();
        }
      });
    case 'get':
      return attempt(async () => {
        const h = await fs.open(a(op.p), C.O_RDONLY);
        try {
          return await readAll(h);
        } finally {
          await h.close();
        }
      });
    case 'truncate':
      return attempt(() => fs.truncate(a(op.p), op.len));
    case 'unlink':
      return attempt(() => fs.unlink(a(op.p)));
    case 'mkdir':
      return attempt(async () => void (await fs.mkdir(a(op.p), { mode: op.mode })));
    case 'rmdir':
      return attempt(() => fs.rmdir(a(op.p)));
    case 'rename':
      return attempt(() => fs.rename(a(op.from), a(op.to)));
    case 'link':
      return attempt(() => fs.link(a(op.from), a(op.to)));
    case 'symlink':
      return attempt(() => fs.symlink(op.target, a(op.p)));
    case 'readlink':
      return attempt(() => fs.readlink(a(op.p)));
    case 'chmod':
      return attempt(() => fs.chmod(a(op.p), op.mode));
    case 'chown':
      return attempt(() => (op.nofollow ? fs.lchown(a(op.p), op.uid, op.gid) : fs.chown(a(op.p), op.uid, op.gid)));
    case 'utimes':
      return attempt(async () => {
        await fs.utimes(a(op.p), op.atime, op.mtime);
        const st = await fs.stat(a(op.p), { bigint: true });
        return { atimeNs: String(st.atimeNs), mtimeNs: String(st.mtimeNs) };
      });
    case 'stat':
      return attempt(async () => normStat(await fs.stat(a(op.p), { bigint: true }), ignore));
    case 'lstat':
      return attempt(async () => normStat(await fs.lstat(a(op.p), { bigint: true }), ignore));
    case 'readdir':
      return attempt(async () => (await fs.readdir(a(op.p))).sort());
    case 'access':
      return attempt(() => fs.access(a(op.p), op.mode));
    case 'copyFile':
      return attempt(async () => {
        const st = await fs.stat(a(op.from));
        if (!st.isFile()) return 'skipped: source is not a regular file';
        await fs.copyFile(a(op.from), a(op.to), op.excl ? C.COPYFILE_EXCL : 0);
      });
    default:
      return { err: 'ENOSYS' };
  }
}

// ---------------------------------------------------------------- snapshots

async function entryOf(s: Side, p: string, ignore: ReadonlySet<string>): Promise<Entry> {
  const path = s.abs(p);
  let st: nodeFs.BigIntStats;
  try {
    st = await s.fs.lstat(path, { bigint: true });
  } catch (e) {
    return { st: { err: errCode(e) } };
  }
  const e: Entry = { st: normStat(st, ignore) };
  const type = (e.st as NormStat).type;
  if (type === 'file') {
    try {
      const h = await s.fs.open(path, C.O_RDONLY);
      try {
        e.content = await readAll(h);
      } finally {
        await h.close();
      }
    } catch (err) {
      e.content = { err: errCode(err) };
    }
  } else if (type === 'symlink') {
    try {
      e.target = await s.fs.readlink(path);
    } catch (err) {
      e.target = `error ${errCode(err)}`;
    }
  } else if (type === 'dir') {
    try {
      e.entries = (await s.fs.readdir(path)).sort();
    } catch (err) {
      e.entries = { err: errCode(err) };
    }
  }
  return e;
}

const MAX_TREE = 4000;

async function walk(s: Side): Promise<string[]> {
  const out: string[] = ['.'];
  const queue = ['.'];
  while (queue.length && out.length < MAX_TREE) {
    const dir = queue.shift()!;
    let names: string[];
    try {
      if (!(await s.fs.lstat(s.abs(dir))).isDirectory()) continue;
      names = (await s.fs.readdir(s.abs(dir))).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      const p = dir === '.' ? n : `${dir}/${n}`;
      out.push(p);
      queue.push(p);
    }
  }
  return out;
}

async function snapshot(s: Side, paths: string[] | undefined, ignore: ReadonlySet<string>): Promise<Map<string, Entry>> {
  const list = paths ?? (await walk(s));
  const snap = new Map<string, Entry>();
  for (const p of list) snap.set(p, await entryOf(s, p, ignore));
  return snap;
}

function affected(op: Op, sides: Side[]): string[] {
  const set = new Set<string>();
  const add = (p: string | null | undefined) => {
    if (p === null || p === undefined) return;
    const clean = p.replace(/\/+$/, '') || '.';
    set.add(clean);
    const i = clean.lastIndexOf('/');
    set.add(i < 0 ? '.' : clean.slice(0, i));
  };
  for (const p of opPaths(op)) add(p);
  if ('slot' in op) for (const s of sides) add(s.fdPaths[op.slot]);
  return [...set].sort();
}


// ---------------------------------------------------------------- time relations (as executor.ts)

interface Times {
  ino: bigint;
  m: bigint;
  c: bigint;
}

async function timesOf(s: Side, paths: string[]): Promise<(Times | null)[]> {
  const out: (Times | null)[] = [];
  for (const p of paths) {
    try {
      const st = await s.fs.lstat(s.abs(p), { bigint: true });
      out.push({ ino: st.ino, m: st.mtimeNs, c: st.ctimeNs });
    } catch {
      out.push(null);
    }
  }
  return out;
}

/** A time set less than this long before an op may legitimately stay the same (coarse kernel clock). */



async function settle(sides: Side[], paths: string[]): Promise<void> {
  let newest = 0n;
  for (const s of sides) for (const x of await timesOf(s, paths)) if (x) newest = [newest, x.m, x.c].reduce((a, b) => (b > a ? b : a));
  const waitNs = newest + RECENT_NS + 1_000_000n - BigInt(Date.now()) * 1_000_000n;
  if (waitNs > 0n && waitNs < 100_000_000n) await new Promise((r) => setTimeout(r, Number(waitNs / 1_000_000n) + 1));
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

// ---------------------------------------------------------------- a run

/** Run ops on a fresh oracle directory and a fresh Tmpfs; stop at the first divergence. */
export async function runClientOps(ops: readonly Op[], options: ClientDiffOptions): Promise<ClientRunReport> {
  const ignore = new Set(options.ignore ?? []);
  const snapEvery = options.snapEvery ?? 8;
  const O = await oracleSide(options.base);
  let S: Side;
  try {
    S = await subjectSide(options.fault);
  } catch (e) {
    await O.close();
    throw e;
  }
  const sides = [O, S];
  const fail = (d: Divergence): ClientRunReport => ({ opsRun: d.index + 1, divergence: d });
  try {
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.as && !isRoot) throw new Error(`op #${i} runs as another user: needs root (generate with asUserRate 0)`);
      const paths = affected(op, sides);
      if (options.settle) await settle(sides, paths);
      const before = [await timesOf(O, paths), await timesOf(S, paths)];
      const start0 = nowNs();
      const ro = await execOp(O, op, ignore);
      const start1 = nowNs();
      const rs = await execOp(S, op, ignore);
      if (!same(ro, rs)) return fail({ index: i, op, kind: 'result', oracle: ro, subject: rs });
      if (!ignore.has('times')) {
        const after = [await timesOf(O, paths), await timesOf(S, paths)];
        for (let j = 0; j < paths.length; j++) {
          const a = relation(before[0]![j]!, after[0]![j]!, start0);
          const b = relation(before[1]![j]!, after[1]![j]!, start1);
          if (!relationsAgree(a, b)) return fail({ index: i, op, kind: 'times', path: paths[j], field: 'mtime/ctime', oracle: a, subject: b });
        }
      }
      const [so, ss] = [await snapshot(O, paths, ignore), await snapshot(S, paths, ignore)];
      for (const p of paths) {
        const d = entryDiff(so.get(p)!, ss.get(p)!);
        if (d) return fail({ index: i, op, kind: 'paths', path: p, ...d });
      }
      if ((i + 1) % snapEvery === 0 || i === ops.length - 1) {
        const d = await compareTrees(O, S, ignore);
        if (d) return fail({ index: i, op, kind: 'tree', ...d });
      }
    }
    return { opsRun: ops.length, divergence: null };
  } finally {
    await S.close().catch(() => undefined);
    await O.close();
  }
}

async function compareTrees(O: Side, S: Side, ignore: ReadonlySet<string>): Promise<{ path?: string; field: string; oracle: unknown; subject: unknown } | null> {
  const a = await snapshot(O, undefined, ignore);
  const b = await snapshot(S, undefined, ignore);
  const pa = [...a.keys()];
  const pb = [...b.keys()];
  if (!same(pa, pb)) {
    const onlyO = pa.filter((p) => !b.has(p));
    const onlyS = pb.filter((p) => !a.has(p));
    return { path: onlyO[0] ?? onlyS[0], field: 'paths', oracle: onlyO, subject: onlyS };
  }
  for (const p of pa) {
    const d = entryDiff(a.get(p)!, b.get(p)!);
    if (d) return { path: p, ...d };
  }
  return null;
}

/**
 * Whether an op names a path above the run root (the shrinker's simplified
 * paths can: 'a/..' becomes '..'): such a candidate would change the oracle's
 * base directory, so it is never run.
 */
function escapes(op: Op): boolean {
  return opPaths(op).some((p) => {
    let depth = 0;
    for (const c of p.split('/')) {
      if (c === '..') depth--;
      else if (c !== '' && c !== '.') depth++;
      if (depth < 0) return true;
    }
    return false;
  });
}

// ---------------------------------------------------------------- shrinking (the algorithm of runner.ts, replays in-process)

export interface ClientShrinkResult {
  ops: Op[];
  divergence: Divergence;
  replays: number;
  confirmed: boolean;
}

/** Shrink a diverging sequence to a minimal one that diverges the same way (same signature). */
export async function shrinkClient(ops: readonly Op[], div: Divergence, options: ClientDiffOptions, budgetMs = 60_000): Promise<ClientShrinkResult> {
  const start = Date.now();
  const sig = signature(div);
  const opts: ClientDiffOptions = { ...options, settle: options.settle || div.kind === 'times' };
  let replays = 0;
  let cur = ops.slice(0, div.index + 1);
  let curDiv = div;
  const timeLeft = () => Date.now() - start < budgetMs;
  const firstFailing = async (cands: Op[][]): Promise<{ ops: Op[]; divergence: Divergence } | null> => {
    for (const c of cands) {
      if (!timeLeft()) return null;
      if (c.some(escapes)) continue;
      replays++;
      const r = await runClientOps(c, opts);
      const d = r.divergence;
      if (d && signature(d) === sig) return { ops: c.slice(0, d.index + 1), divergence: d };
    }
    return null;
  };
  const accept = (r: { ops: Op[]; divergence: Divergence }) => {
    cur = r.ops;
    curDiv = r.divergence;
  };
  const removals = async () => {
    let n = 2;
    while (cur.length >= 2 && timeLeft()) {
      const chunk = Math.ceil(cur.length / n);
      const cands: Op[][] = [];
      for (let i = 0; i < cur.length; i += chunk) cands.push([...cur.slice(0, i), ...cur.slice(i + chunk)]);
      const found = await firstFailing(cands);
      if (found) {
        accept(found);
        n = Math.max(n - 1, 2);
      } else {
        if (chunk === 1) break;
        n = Math.min(cur.length, n * 2);
      }
    }
  };
  await removals();
  let renamed = false;
  for (let again = true; again && timeLeft(); ) {
    again = false;
    const cands = nameReplacements(cur);
    if (!cands.length) break;
    const found = await firstFailing(cands);
    if (found) {
      accept(found);
      renamed = again = true;
    }
  }
  if (renamed) await removals();
  let changed = true;
  while (changed && timeLeft()) {
    changed = false;
    for (let i = 0; i < cur.length && timeLeft(); i++) {
      for (;;) {
        const variants = simplifyOp(cur[i]!);
        if (!variants.length) break;
        const found = await firstFailing(variants.map((v) => [...cur.slice(0, i), v, ...cur.slice(i + 1)]));
        if (!found || found.ops.length < i + 1) {
          if (found) {
            accept(found);
            changed = true;
          }
          break;
        }
        accept(found);
        changed = true;
      }
    }
    if (changed) await removals();
  }
  replays++;
  const again = await runClientOps(cur, opts);
  const confirmed = again.divergence !== null && signature(again.divergence) === sig;
  return { ops: cur, divergence: confirmed ? again.divergence! : curDiv, replays, confirmed };
}

// ---------------------------------------------------------------- the oracle's file system

/** The file system type of a path, from /proc/self/mountinfo (longest mount point prefix). */
function fsTypeOf(path: string): string | null {
  let text: string;
  try {
    text = nodeFs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return null;
  }
  const real = nodeFs.realpathSync(path);
  let best: { mp: string; type: string } | null = null;
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mp = left.split(' ')[4]!.replace(/\\040/g, ' ');
    const type = right.split(' ')[0]!;
    if ((real === mp || real.startsWith(mp === '/' ? '/' : `${mp}/`)) && (!best || mp.length >= best.mp.length)) best = { mp, type };
  }
  return best?.type ?? null;
}

export interface OracleBase {
  /** A fresh directory on a kernel tmpfs, or null with the reason. */
  dir: string | null;
  reason?: string;
  /** Remove the directory (and unmount what was mounted for it). */
  cleanup(): Promise<void>;
}

/**
 * A directory on a kernel tmpfs for the oracle: under `preferred` (default
 * /dev/shm) when that is a tmpfs; else, as root, a tmpfs mounted on a fresh
 * directory; else none (with the reason).
 */
export async function oracleBase(preferred = '/dev/shm'): Promise<OracleBase> {
  if (nodeFs.existsSync(preferred) && fsTypeOf(preferred) === 'tmpfs') {
    const dir = await fsp.mkdtemp(`${preferred}/puffs-client-diff-`);
    await fsp.chmod(dir, 0o755); // other users must reach the run directories
    return { dir, cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
  }
  if (!isRoot) return { dir: null, reason: `${preferred} is not a kernel tmpfs and mounting one needs root`, cleanup: async () => undefined };
  const dir = await fsp.mkdtemp(`${tmpdir()}/puffs-client-diff-`);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256m,mode=755', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    await fsp.rmdir(dir).catch(() => undefined);
    return { dir: null, reason: `could not mount a tmpfs: ${(e as Error).message}`, cleanup: async () => undefined };
  }
  return {
    dir,
    cleanup: async () => {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
        await fsp.rmdir(dir);
      } catch {
        // leave it
      }
    },
  };
}

/** Process-wide settings both sides assume: umask 022, and (as root) no supplementary groups. */
export function prepareProcess(): void {
  process.umask(0o022);
  if (isRoot) process.setgroups!([]);
}

/** Generator options for this harness: no helper kinds; no other users unless root. */
export function clientGenOptions(): GenOptions {
  return { exclude: CLIENT_EXCLUDE, asUserRate: isRoot ? undefined : 0 };
}

/** A printable account of a shrunk divergence. */
export function formatCase(seed: number, nOps: number, r: ClientShrinkResult): string {
  const lines = [`divergence (seed ${seed}, ${nOps} ops), shrunk to ${r.ops.length} ops${r.confirmed ? '' : ' (not confirmed on replay)'} in ${r.replays} replays:`];
  r.ops.forEach((op, i) => lines.push(`  ${i}: ${formatOp(op)}`));
  lines.push(`  => ${describe(r.divergence)}`);
  lines.push(`  replay: node dist/difftest/client-diff.js --seed ${seed} --ops ${nOps}`);
  lines.push(`  ops: ${JSON.stringify(r.ops)}`);
  return lines.join('\n');
}

export interface SeedOutcome {
  seed: number;
  opsRun: number;
  shrunk?: ClientShrinkResult;
}

/** Run one seed; on a divergence, shrink it. */
export async function runSeed(seed: number, nOps: number, options: ClientDiffOptions, shrinkBudgetMs = 60_000): Promise<SeedOutcome> {
  const ops = generate(seed, nOps, clientGenOptions());
  const r = await runClientOps(ops, options);
  if (!r.divergence) return { seed, opsRun: r.opsRun };
  return { seed, opsRun: r.opsRun, shrunk: await shrinkClient(ops, r.divergence, options, shrinkBudgetMs) };
}

// ---------------------------------------------------------------- CLI

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '20' },
      ops: { type: 'string', default: '200' },
      seed: { type: 'string' },
      fault: { type: 'string' },
      ignore: { type: 'string' },
      base: { type: 'string' },
      'keep-going': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: client-diff.js [--seeds N] [--ops M] [--seed S] [--fault stat-size-odd] [--ignore f,g] [--base DIR] [--keep-going]\n' +
        '  Runs seeded op sequences on a kernel tmpfs (node:fs/promises) and on puffs tmpfs through the in-process client.\n' +
        '  --seed S: only seed S (else seeds 1..N). Exit 1 on a divergence (printed shrunk).\n',
    );
    return;
  }
  prepareProcess();
  const base = await oracleBase(values.base);
  if (!base.dir) {
    process.stderr.write(`client-diff: skipped: ${base.reason}\n`);
    process.exitCode = 77;
    return;
  }
  const nOps = Number(values.ops);
  const seeds = values.seed !== undefined ? [Number(values.seed)] : Array.from({ length: Number(values.seeds) }, (_, i) => i + 1);
  const options: ClientDiffOptions = { base: base.dir, fault: values.fault, ignore: values.ignore ? values.ignore.split(',') : [] };
  let failures = 0;
  let total = 0;
  try {
    for (const seed of seeds) {
      const o = await runSeed(seed, nOps, options);
      total += o.opsRun;
      if (o.shrunk) {
        failures++;
        process.stdout.write(`${formatCase(seed, nOps, o.shrunk)}\n`);
        if (!values['keep-going']) break;
      }
    }
  } finally {
    await base.cleanup();
  }
  process.stdout.write(`${failures ? `${failures} diverging seed(s)` : 'no divergence'}: ${total} ops run over ${seeds.length} seed(s) of ${nOps}\n`);
  if (failures) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 2;
  });
}
