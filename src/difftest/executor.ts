#!/usr/bin/env node
/**
 * The executor: runs op sequences with real, blocking system calls against
 * two trees in lockstep (the oracle's and the subject's) and reports the
 * first divergence. It must run in its own process: never in a process that
 * serves one of the mounts.
 *
 *   node dist/difftest/executor.js --oracle DIR --subject DIR [--ops FILE|-] [--fault NAME] [--ignore f,g]
 *       one run of the ops in FILE (a JSON array of ops, or {"ops": [...]}; '-' or none: stdin);
 *       prints the result as JSON; exit 1 on a divergence.
 *   node dist/difftest/executor.js --serve
 *       jobs as JSON lines on stdin, results as JSON lines on stdout (used by runner.ts).
 *
 * Each run gets a fresh directory `run-<pid>-<n>` under both roots (mode
 * 0777), removed again afterwards.
 */
import * as fs from 'node:fs';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { formatOp, opPaths, pattern, SLOTS, type Op } from './ops.js';
import { callHelper, ensureHelper, HelperServer, type HelperResult, errnoName, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, RENAME_EXCHANGE, RENAME_NOREPLACE } from './helper.js';
import { normStat, hash, same, entryDiff, relation, relationsAgree, RECENT_NS } from './compare.js';

const C = fs.constants;

/** The result of one op on one tree: a value, or an errno code. */
export type Result = { ok: unknown } | { err: string };

export interface Divergence {
  /** Index of the op after which the trees differ. */
  index: number;
  op: Op;
  /** What differed: the op's result, a time relation, the affected paths, the whole tree, or the executor hung/crashed. */
  kind: 'result' | 'times' | 'paths' | 'tree' | 'hang' | 'crash';
  /** The path (relative to the run root) and field that differ, when known. */
  path?: string;
  field?: string;
  oracle: unknown;
  subject: unknown;
}

export interface ExecOptions {
  oracle: string;
  subject: string;
  /** The compiled C helper (null: ops that need it report ENOSYS on both sides). */
  helper?: string | null;
  /** Compare whole trees every this many ops (and after the last). Default 8. */
  snapEvery?: number;
  /** Fields left out of comparisons: blocks, dirsize, dirblocks, nlink, times, xattr, rdev, ctime>=mtime. */
  ignore?: string[];
  /** Name of an injected fault in the subject's answers (self-test of the harness). */
  fault?: string;
  /** Keep the run directories (default: removed after each run). */
  keep?: boolean;
  /** Return each op's (oracle) result in the report. */
  log?: boolean;
  /**
   * The subject is a FUSE mount: tolerate the differences that come from the
   * kernel's FUSE layer itself (no FUSE server could change them); they are
   * counted in the report instead. See FUSE_INHERENT.
   */
  fuseSubject?: boolean;
  /**
   * Before each op, wait until the times of the paths it affects are old
   * enough that "unchanged" is meaningful (makes time relations exact; slow,
   * so used for replays of short sequences while shrinking).
   */
  settle?: boolean;
}

export interface RunReport {
  run: string;
  opsRun: number;
  divergence: Divergence | null;
  /** With options.log: one line per op, its text and the oracle's result. */
  log?: string[];
  /** Differences tolerated as inherent to FUSE (options.fuseSubject), by rule. */
  tolerated?: Record<string, number>;
}

interface Tree {
  root: string;
  fds: (number | null)[];
  fdPaths: (string | null)[];
}

// ---------------------------------------------------------------- normalizing


export interface NormStat {
  type: string;
  mode: string;
  nlink?: number;
  size?: number;
  uid: number;
  gid: number;
  blocks?: number;
  rdev?: string;
  'ctime>=mtime'?: boolean;
}



function errCode(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code === 'EOPNOTSUPP' ? 'ENOTSUP' : code === 'EWOULDBLOCK' ? 'EAGAIN' : code;
  throw e;
}

function attempt(f: () => unknown): Result {
  try {
    return { ok: f() ?? null };
  } catch (e) {
    return { err: errCode(e) };
  }
}

/** Read an open file to its end, at most `cap` bytes: length and hash. */
function readAll(fd: number, cap = 4 << 20): { n: number; h: string } {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(1 << 16);
  while (total < cap) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, cap - total), null);
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    total += n;
  }
  return { n: total, h: hash(Buffer.concat(chunks)) };
}

// ---------------------------------------------------------------- executing

function abs(t: Tree, p: string): string {
  // Plain concatenation: path.join would resolve '..' and drop a trailing '/'.
  return `${t.root}/${p}`;
}

function fdOf(t: Tree, slot: number): number {
  const fd = t.fds[slot];
  if (fd === null || fd === undefined) throw Object.assign(new Error('no fd in slot'), { code: 'EBADF' });
  return fd;
}

function asUser<T>(op: Op, f: () => T): T {
  if (!op.as) return f();
  process.setegid!(op.as[1]);
  process.seteuid!(op.as[0]);
  try {
    return f();
  } finally {
    process.seteuid!(0);
    process.setegid!(0);
  }
}

let server: { helper: string; srv: HelperServer | null } | undefined;

/** Call the helper: through the coprocess when it could be started, else one spawn per call. */
function helperRun(helper: string, args: string[], as?: [number, number]): HelperResult {
  if (!server || server.helper !== helper) {
    server?.srv?.close();
    server = { helper, srv: HelperServer.start(helper) };
  }
  return server.srv ? server.srv.call(args, as) : callHelper(helper, args, { as });
}

function helperCall(helper: string | null | undefined, op: Op, args: string[]): string {
  if (!helper) throw Object.assign(new Error('no helper'), { code: 'ENOSYS' });
  const r = helperRun(helper, args, op.as);
  if (r.err) throw Object.assign(new Error(r.err), { code: r.err });
  return r.stdout.toString('latin1').trim();
}

/** Execute one op on one tree. */
export function execOp(t: Tree, op: Op, helper: string | null | undefined, ignore: ReadonlySet<string>): Result {
  // Ops that go through the helper switch user in the helper process, not here.
  const h = (args: string[]) => helperCall(helper, op, args);
  switch (op.k) {
    case 'mknod':
      return attempt(() => void h(['mknod', abs(t, op.p), op.type, String(op.mode), String(op.major), String(op.minor)]));
    case 'rename2':
      return attempt(() => void h(['rename2', abs(t, op.from), abs(t, op.to), String(op.flag === 'noreplace' ? RENAME_NOREPLACE : RENAME_EXCHANGE)]));
    case 'setxattr':
      return attempt(() => void h(['setx', abs(t, op.p), op.name, Buffer.from(op.value).toString('hex'), String(op.flags)]));
    case 'getxattr':
      return attempt(() => h(['getx', abs(t, op.p), op.name]));
    case 'listxattr':
      return attempt(() => h(['listx', abs(t, op.p)]).split('\n').filter(Boolean).sort());
    case 'removexattr':
      return attempt(() => void h(['rmx', abs(t, op.p), op.name]));
    case 'fallocate': {
      const mode = { alloc: 0, keep: FALLOC_FL_KEEP_SIZE, punch: FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE }[op.mode];
      return attempt(() => void h(['falloc', abs(t, op.p), String(mode), String(op.off), String(op.len)]));
    }
    case 'seek':
      return attempt(() => Number(h(['seek', abs(t, op.p), op.whence, String(op.off)])));
    case 'truncate':
      if (helper) return attempt(() => void h(['truncate', abs(t, op.p), String(op.len)]));
      break;
    default:
      break;
  }
  return asUser(op, () => execPlain(t, op, ignore));
}

function execPlain(t: Tree, op: Op, ignore: ReadonlySet<string>): Result {
  switch (op.k) {
    case 'open': {
      closeSlot(t, op.slot);
      let flags = C.O_NONBLOCK; // a FIFO must never block the executor
      for (const f of op.flags) flags |= C[f];
      return attempt(() => {
        t.fds[op.slot] = fs.openSync(abs(t, op.p), flags, op.mode);
        t.fdPaths[op.slot] = op.p;
      });
    }
    case 'close':
      return attempt(() => {
        const fd = fdOf(t, op.slot);
        t.fds[op.slot] = null;
        t.fdPaths[op.slot] = null;
        fs.closeSync(fd);
      });
    case 'write':
      return attempt(() => fs.writeSync(fdOf(t, op.slot), pattern(op.fill, op.len), 0, op.len, op.off));
    case 'read':
      return attempt(() => {
        const buf = Buffer.alloc(op.len);
        const n = fs.readSync(fdOf(t, op.slot), buf, 0, op.len, op.off);
        return { n, h: hash(buf.subarray(0, n)) };
      });
    case 'ftruncate':
      return attempt(() => fs.ftruncateSync(fdOf(t, op.slot), op.len));
    case 'fsync':
      return attempt(() => (op.data ? fs.fdatasyncSync(fdOf(t, op.slot)) : fs.fsyncSync(fdOf(t, op.slot))));
    case 'fstat':
      return attempt(() => normStat(fs.fstatSync(fdOf(t, op.slot), { bigint: true }), ignore));
    case 'fchmod':
      return attempt(() => fs.fchmodSync(fdOf(t, op.slot), op.mode));
    case 'put':
      return attempt(() => {
        const fd = fs.openSync(abs(t, op.p), C.O_WRONLY | C.O_CREAT | C.O_NONBLOCK, 0o644);
        try {
          return fs.writeSync(fd, pattern(op.fill, op.len), 0, op.len, op.off);
        } finally {
          fs.closeSync(fd);
        }
      });
    case 'get':
      return attempt(() => {
        const fd = fs.openSync(abs(t, op.p), C.O_RDONLY | C.O_NONBLOCK);
        try {
          return readAll(fd);
        } finally {
          fs.closeSync(fd);
        }
      });
    case 'truncate':
      // Without the helper: Node's truncate is open('r+') + ftruncate, not truncate(2).
      return attempt(() => fs.truncateSync(abs(t, op.p), op.len));
    case 'unlink':
      return attempt(() => fs.unlinkSync(abs(t, op.p)));
    case 'mkdir':
      return attempt(() => void fs.mkdirSync(abs(t, op.p), { mode: op.mode }));
    case 'rmdir':
      return attempt(() => fs.rmdirSync(abs(t, op.p)));
    case 'rename':
      return attempt(() => fs.renameSync(abs(t, op.from), abs(t, op.to)));
    case 'link':
      return attempt(() => fs.linkSync(abs(t, op.from), abs(t, op.to)));
    case 'symlink':
      return attempt(() => fs.symlinkSync(op.target, abs(t, op.p)));
    case 'readlink':
      return attempt(() => fs.readlinkSync(abs(t, op.p)));
    case 'chmod':
      return attempt(() => fs.chmodSync(abs(t, op.p), op.mode));
    case 'chown':
      return attempt(() => (op.nofollow ? fs.lchownSync : fs.chownSync)(abs(t, op.p), op.uid, op.gid));
    case 'utimes':
      return attempt(() => {
        fs.utimesSync(abs(t, op.p), op.atime, op.mtime);
        const st = fs.statSync(abs(t, op.p), { bigint: true });
        return { atimeNs: String(st.atimeNs), mtimeNs: String(st.mtimeNs) };
      });
    case 'stat':
      return attempt(() => normStat(fs.statSync(abs(t, op.p), { bigint: true }), ignore));
    case 'lstat':
      return attempt(() => normStat(fs.lstatSync(abs(t, op.p), { bigint: true }), ignore));
    case 'readdir':
      return attempt(() => fs.readdirSync(abs(t, op.p)).sort());
    case 'access':
      return attempt(() => fs.accessSync(abs(t, op.p), op.mode));
    case 'copyFile':
      return attempt(() => {
        // Copying a FIFO would block and a character device may never end: regular files only.
        const st = fs.statSync(abs(t, op.from));
        if (!st.isFile()) return `skipped: source is not a regular file`;
        // Opening a FIFO for writing (without O_NONBLOCK, as copyFile does) waits for a reader.
        if (fs.statSync(abs(t, op.to), { throwIfNoEntry: false })?.isFIFO()) return 'skipped: destination is a FIFO';
        fs.copyFileSync(abs(t, op.from), abs(t, op.to), op.excl ? C.COPYFILE_EXCL : 0);
      });
    default:
      throw new Error(`op ${op.k} needs the helper`);
  }
}

function closeSlot(t: Tree, slot: number): void {
  const fd = t.fds[slot];
  if (fd !== null && fd !== undefined) {
    try {
      fs.closeSync(fd);
    } catch {
      // already gone
    }
  }
  t.fds[slot] = null;
  t.fdPaths[slot] = null;
}

// ---------------------------------------------------------------- snapshots

export interface Entry {
  st: NormStat | { err: string };
  content?: { n: number; h: string } | { err: string };
  target?: string;
  entries?: string[] | { err: string };
  xattrs?: Record<string, string> | { err: string };
}

/** What one path looks like: stat, and contents, target or listing. */
function entryOf(t: Tree, p: string, ignore: ReadonlySet<string>): Entry {
  const path = abs(t, p);
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(path, { bigint: true });
  } catch (e) {
    return { st: { err: errCode(e) } };
  }
  const e: Entry = { st: normStat(st, ignore) };
  const type = (e.st as NormStat).type;
  if (type === 'file') {
    try {
      const fd = fs.openSync(path, C.O_RDONLY | C.O_NONBLOCK);
      try {
        e.content = readAll(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      e.content = { err: errCode(err) };
    }
  } else if (type === 'symlink') {
    try {
      e.target = fs.readlinkSync(path);
    } catch (err) {
      e.target = `error ${errCode(err)}`;
    }
  } else if (type === 'dir') {
    try {
      e.entries = fs.readdirSync(path).sort();
    } catch (err) {
      e.entries = { err: errCode(err) };
    }
  }
  return e;
}

const MAX_TREE = 4000;

/** Every path of the tree (relative; '.' is the root), walked without following symlinks. */
function walk(t: Tree): string[] {
  const out: string[] = ['.'];
  const queue = ['.'];
  while (queue.length && out.length < MAX_TREE) {
    const dir = queue.shift()!;
    let names: string[];
    try {
      if (!fs.lstatSync(abs(t, dir)).isDirectory()) continue;
      names = fs.readdirSync(abs(t, dir)).sort();
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

function xattrsOf(helper: string, t: Tree, paths: string[]): Entry['xattrs'][] {
  const out: Entry['xattrs'][] = paths.map(() => ({}));
  for (let start = 0; start < paths.length; start += 200) {
    const batch = paths.slice(start, start + 200);
    const r = helperRun(helper, ['dumpx', ...batch.map((p) => abs(t, p))]);
    let cur = -1;
    for (const line of r.stdout.toString('latin1').split('\n')) {
      if (line.startsWith('P ')) cur = start + Number(line.slice(2));
      else if (line.startsWith('E ')) out[cur] = { err: errnoFrom(line) };
      else if (line.startsWith('N ')) {
        const [, name, value] = line.split(' ');
        (out[cur] as Record<string, string>)[name!] = value ?? '';
      } else if (line.startsWith('X ')) {
        const [, name, n] = line.split(' ');
        (out[cur] as Record<string, string>)[name!] = `error ${errnoFrom(`E ${n}`)}`;
      }
    }
  }
  return out;
}

function errnoFrom(line: string): string {
  return errnoName(Number(line.split(' ')[1]));
}

/** Snapshot of the named paths, or of the whole tree when paths is undefined. */
function snapshot(t: Tree, paths: string[] | undefined, helper: string | null | undefined, ignore: ReadonlySet<string>): Map<string, Entry> {
  const list = paths ?? walk(t);
  const snap = new Map<string, Entry>();
  for (const p of list) snap.set(p, entryOf(t, p, ignore));
  if (paths === undefined && helper && !ignore.has('xattr')) {
    // Only paths that exist; a symlink's xattrs are those of the link itself.
    const present = list.filter((p) => !('err' in snap.get(p)!.st));
    const xs = xattrsOf(helper, t, present);
    present.forEach((p, i) => {
      const x = xs[i]!;
      if ('err' in x || Object.keys(x).length) snap.get(p)!.xattrs = x;
    });
  }
  return snap;
}

/** Paths an op may change, with their parents ('.' is the run root). */
function affected(op: Op, trees: Tree[]): string[] {
  const set = new Set<string>();
  const add = (p: string | null | undefined) => {
    if (p === null || p === undefined) return;
    const clean = p.replace(/\/+$/, '') || '.';
    set.add(clean);
    const i = clean.lastIndexOf('/');
    set.add(i < 0 ? '.' : clean.slice(0, i));
  };
  for (const p of opPaths(op)) add(p);
  if ('slot' in op) for (const t of trees) add(t.fdPaths[op.slot]);
  return [...set].sort();
}

export interface Times {
  ino: bigint;
  m: bigint;
  c: bigint;
}

function timesOf(t: Tree, paths: string[]): (Times | null)[] {
  return paths.map((p) => {
    try {
      const st = fs.lstatSync(abs(t, p), { bigint: true });
      return { ino: st.ino, m: st.mtimeNs, c: st.ctimeNs };
    } catch {
      return null;
    }
  });
}

/**
 * A time that was set less than this long before an op may legitimately stay
 * the same when the op sets it to "now": the kernel's clock for timestamps is
 * coarse (a jiffy; multigrain timestamps only refine it for inodes queried
 * since their last change), so "unchanged" is then no evidence.
 */

/**
 * Whether an op changed a path's mtime and ctime ('same?' when unchanged but
 * too recent to tell); only meaningful when the path names the same inode
 * before and after.
 */


/** Sleep (synchronously) until no affected path's mtime or ctime is recent. */
function settle(trees: Tree[], paths: string[]): void {
  let newest = 0n;
  for (const t of trees) for (const x of timesOf(t, paths)) if (x) newest = [newest, x.m, x.c].reduce((a, b) => (b > a ? b : a));
  const waitNs = newest + RECENT_NS + 1_000_000n - BigInt(Date.now()) * 1_000_000n;
  if (waitNs > 0n && waitNs < 100_000_000n) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(waitNs / 1_000_000n) + 1);
}

// ---------------------------------------------------------------- comparing



// ---------------------------------------------------------------- FUSE-inherent differences

/**
 * Differences between a FUSE mount and tmpfs that the kernel's FUSE layer
 * makes, whatever the server answers. Each rule says whether a result
 * difference is one of them.
 */
export const FUSE_INHERENT: Record<string, string> = {
  'seek-dir':
    'lseek(SEEK_DATA/SEEK_HOLE) on a directory: FUSE directories use generic_file_llseek (offset, or ENXIO past i_size); tmpfs directories refuse with EINVAL. The server never sees the call.',
  'fifo-times':
    "a write to a FIFO: the kernel's pipe code updates mtime/ctime of a tmpfs FIFO, but on FUSE the data never reaches the server and the times it reports stay as they were.",
};

/** A difference in time relations that FUSE itself makes (see FUSE_INHERENT). */
function toleratedTimes(op: Op, path: string, oracle: Tree): string | null {
  if (op.k === 'write' || op.k === 'put') {
    const p = op.k === 'put' ? op.p : oracle.fdPaths[op.slot];
    if (p !== null && p !== undefined && p.replace(/\/+$/, '') === path && fs.statSync(abs(oracle, p), { throwIfNoEntry: false })?.isFIFO()) return 'fifo-times';
  }
  return null;
}

function tolerated(op: Op, ro: Result, rs: Result, oracle: Tree): string | null {
  if (op.k === 'seek' && 'err' in ro && ro.err === 'EINVAL') {
    const st = fs.statSync(abs(oracle, op.p), { throwIfNoEntry: false });
    if (st?.isDirectory()) return 'seek-dir';
  }
  void rs;
  return null;
}

// ---------------------------------------------------------------- faults

/** Injected faults: they alter the subject's answers so that the harness's own detection and shrinking can be tested. */
export const FAULTS: Record<string, string> = {
  'stat-size-odd': 'stat/lstat/fstat results of the subject report an odd size one larger',
  'hide-c': "the subject's directory listings (readdir results and snapshots) leave out the name c",
};

function faultResult(fault: string | undefined, op: Op, r: Result): Result {
  if (!fault || !('ok' in r)) return r;
  if (fault === 'stat-size-odd' && (op.k === 'stat' || op.k === 'lstat' || op.k === 'fstat')) {
    const st = r.ok as NormStat;
    if (st.size !== undefined && st.size % 2 === 1) return { ok: { ...st, size: st.size + 1 } };
  }
  if (fault === 'hide-c' && op.k === 'readdir') return { ok: (r.ok as string[]).filter((n) => n !== 'c') };
  return r;
}

function faultSnapshot(fault: string | undefined, snap: Map<string, Entry>): void {
  if (fault !== 'hide-c') return;
  for (const e of snap.values()) if (Array.isArray(e.entries)) e.entries = e.entries.filter((n) => n !== 'c');
}

// ---------------------------------------------------------------- a run

let runCounter = 0;

/** Execute ops against fresh run directories of both roots; stop at the first divergence. */
export function runOps(ops: Op[], options: ExecOptions, onProgress?: (i: number) => void): RunReport {
  const ignore = new Set(options.ignore ?? []);
  const snapEvery = options.snapEvery ?? 8;
  const helper = options.helper;
  const run = `run-${process.pid}-${++runCounter}`;
  const trees: Tree[] = [options.oracle, options.subject].map((r) => ({
    root: `${r}/${run}`,
    fds: new Array<number | null>(SLOTS).fill(null),
    fdPaths: new Array<string | null>(SLOTS).fill(null),
  }));
  const [O, S] = trees as [Tree, Tree];
  for (const t of trees) {
    fs.mkdirSync(t.root);
    fs.chmodSync(t.root, 0o777);
  }
  const log: string[] | undefined = options.log ? [] : undefined;
  const tol: Record<string, number> = {};
  const fail = (d: Divergence): RunReport => ({ run, opsRun: d.index + 1, divergence: d, log, tolerated: tol });
  try {
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      onProgress?.(i);
      const paths = affected(op, trees);
      if (options.settle) settle(trees, paths);
      const before = trees.map((t) => timesOf(t, paths));
      const start0 = BigInt(Date.now()) * 1_000_000n;
      const ro = execOp(O, op, helper, ignore);
      const start1 = BigInt(Date.now()) * 1_000_000n;
      const rs = faultResult(options.fault, op, execOp(S, op, helper, ignore));
      log?.push(`${formatOp(op)} => ${JSON.stringify(ro)}`);
      if (!same(ro, rs)) {
        const rule = options.fuseSubject ? tolerated(op, ro, rs, O) : null;
        if (!rule) return fail({ index: i, op, kind: 'result', oracle: ro, subject: rs });
        tol[rule] = (tol[rule] ?? 0) + 1;
      }
      if (!ignore.has('times')) {
        const after = trees.map((t) => timesOf(t, paths));
        for (let j = 0; j < paths.length; j++) {
          const a = relation(before[0]![j]!, after[0]![j]!, start0);
          const b = relation(before[1]![j]!, after[1]![j]!, start1);
          if (!relationsAgree(a, b)) {
            const rule = options.fuseSubject ? toleratedTimes(op, paths[j]!, O) : null;
            if (!rule) return fail({ index: i, op, kind: 'times', path: paths[j], field: 'mtime/ctime', oracle: a, subject: b });
            tol[rule] = (tol[rule] ?? 0) + 1;
          }
        }
      }
      const snaps = trees.map((t) => snapshot(t, paths, null, ignore));
      faultSnapshot(options.fault, snaps[1]!);
      for (const p of paths) {
        const d = entryDiff(snaps[0]!.get(p)!, snaps[1]!.get(p)!);
        if (d) return fail({ index: i, op, kind: 'paths', path: p, ...d });
      }
      if ((i + 1) % snapEvery === 0 || i === ops.length - 1) {
        const d = compareTrees(trees, helper, ignore, options.fault);
        if (d) return fail({ index: i, op, kind: 'tree', ...d });
      }
    }
    return { run, opsRun: ops.length, divergence: null, log, tolerated: tol };
  } finally {
    for (const t of trees) for (let s = 0; s < SLOTS; s++) closeSlot(t, s);
    if (!options.keep) for (const t of trees) fs.rmSync(t.root, { recursive: true, force: true, maxRetries: 2 });
  }
}

function compareTrees(trees: Tree[], helper: string | null | undefined, ignore: ReadonlySet<string>, fault: string | undefined): { path?: string; field: string; oracle: unknown; subject: unknown } | null {
  const [a, b] = trees.map((t) => snapshot(t, undefined, helper, ignore)) as [Map<string, Entry>, Map<string, Entry>];
  faultSnapshot(fault, b);
  const pa = [...a.keys()];
  const pb = [...b.keys()];
  if (fault === 'hide-c') {
    // The hidden names are still walked: compare what the fault lets through.
    const hidden = (p: string) => p.split('/').includes('c');
    pa.splice(0, pa.length, ...pa.filter((p) => !hidden(p)));
    pb.splice(0, pb.length, ...pb.filter((p) => !hidden(p)));
  }
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

/** A short human description of a divergence. */
export function describe(d: Divergence): string {
  const where = d.path !== undefined ? ` at ${JSON.stringify(d.path)}` : '';
  const field = d.field ? ` (${d.field})` : '';
  return `op #${d.index} ${formatOp(d.op)}: ${d.kind}${where}${field} differs: oracle ${JSON.stringify(d.oracle)}, subject ${JSON.stringify(d.subject)}`;
}

/** What a divergence is about, to tell whether a shrunk sequence still shows the same problem. */
export function signature(d: Divergence): string {
  return `${d.kind}:${d.op.k}:${d.field ?? ''}`;
}

// ---------------------------------------------------------------- the process

export interface Job {
  id: number;
  options: ExecOptions;
  /** Candidate sequences, run in order. */
  runs: Op[][];
  /** Stop at the first run whose divergence has this signature ('*': any divergence). */
  stopAt?: string;
}

export interface JobReply {
  id: number;
  reports: RunReport[];
  error?: string;
}

function prepare(): void {
  process.umask(0o022);
  // No supplementary groups: an op run as another user must not keep root's group.
  if (process.getuid?.() === 0) process.setgroups!([]);
}

/** Stop the helper coprocess, if any, and wait for it. */
export async function stopHelper(): Promise<void> {
  const s = server;
  server = undefined;
  await s?.srv?.shutdown();
}

function serve(): void {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('close', () => void stopHelper());
  rl.on('line', (line) => {
    if (!line.trim()) return;
    const job = JSON.parse(line) as Job;
    const reply: JobReply = { id: job.id, reports: [] };
    try {
      for (let r = 0; r < job.runs.length; r++) {
        const report = runOps(job.runs[r]!, job.options, (i) => process.stdout.write(`${JSON.stringify({ id: job.id, progress: [r, i] })}\n`));
        reply.reports.push(report);
        const d = report.divergence;
        if (d && job.stopAt && (job.stopAt === '*' || signature(d) === job.stopAt)) break;
      }
    } catch (e) {
      reply.error = (e as Error).stack ?? String(e);
    }
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  });
}

function main(): void {
  const { values } = parseArgs({
    options: {
      serve: { type: 'boolean' },
      oracle: { type: 'string' },
      subject: { type: 'string' },
      ops: { type: 'string' },
      fault: { type: 'string' },
      ignore: { type: 'string' },
      helper: { type: 'string' },
      'snap-every': { type: 'string' },
      keep: { type: 'boolean' },
      log: { type: 'boolean' },
    },
  });
  prepare();
  if (values.serve) return serve();
  if (!values.oracle || !values.subject) {
    process.stderr.write('usage: executor.js --oracle DIR --subject DIR [--ops FILE|-] [--fault NAME] [--ignore f,g] [--helper PATH]\n       executor.js --serve\n');
    process.exit(2);
  }
  const text = fs.readFileSync(!values.ops || values.ops === '-' ? 0 : values.ops, 'utf8');
  const parsed = JSON.parse(text) as Op[] | { ops: Op[] };
  const ops = Array.isArray(parsed) ? parsed : parsed.ops;
  const helper = values.helper ?? ensureHelper().path;
  const report = runOps(ops, {
    oracle: values.oracle,
    subject: values.subject,
    helper,
    fault: values.fault,
    ignore: values.ignore ? values.ignore.split(',') : [],
    snapEvery: values['snap-every'] ? Number(values['snap-every']) : undefined,
    keep: values.keep,
    log: values.log,
  });
  void stopHelper();
  process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
  if (report.divergence) {
    process.stderr.write(`divergence: ${describe(report.divergence)}\n`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
