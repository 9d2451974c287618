#!/usr/bin/env node
/**
 * Data-integrity exerciser, in the manner of fsx: a long seeded run of
 * writes, reads, truncates, appends, hole punches, mmap'd reads and writes,
 * close/reopen and page-cache drops on one file, every answer checked against
 * an in-memory model of the file. Runs in its own process (it makes blocking
 * calls on the mount):
 *
 *   node dist/difftest/integrity.js --file PATH [--seed S] [--ops N] [--time-budget SEC]
 *                                   [--max-len BYTES] [--no-mmap] [--verbose]
 *
 * mmap, fallocate and posix_fadvise go through the C helper (helper.ts); with
 * no C compiler those ops are left out and the run says so. Prints one JSON
 * line with the outcome; exit 1 on a mismatch.
 */
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { callHelper, ensureHelper, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from './helper.js';
import { Rng } from './ops.js';

export const INTEGRITY = join(dirname(fileURLToPath(import.meta.url)), 'integrity.js');

export interface IntegrityOptions {
  file: string;
  seed: number;
  /** Stop after this many ops (default 10000). */
  ops?: number;
  /** Stop after this many seconds, whichever comes first. */
  timeBudgetSec?: number;
  /** Largest file size the run makes (default 1 MiB + 3). */
  maxLen?: number;
  /** Leave mmap ops out even if the helper is there. */
  noMmap?: boolean;
  verbose?: boolean;
  /** Self-test: after this op, change one byte of the file behind the model's back (must be caught). */
  corruptAt?: number;
}

export interface IntegrityReport {
  ok: boolean;
  seed: number;
  opsRun: number;
  counts: Record<string, number>;
  /** Why some op kinds were not run. */
  skipped: string[];
  failure?: { index: number; op: string; message: string; recent: string[] };
  ms: number;
}

type IOp =
  | { k: 'write'; off: number; len: number }
  | { k: 'append'; len: number }
  | { k: 'read'; off: number; len: number }
  | { k: 'truncate'; len: number }
  | { k: 'mapread'; off: number; len: number }
  | { k: 'mapwrite'; off: number; len: number }
  | { k: 'punch'; off: number; len: number }
  | { k: 'falloc'; off: number; len: number; keep: boolean }
  | { k: 'reopen' }
  | { k: 'dropcache' }
  | { k: 'fsync' }
  | { k: 'verify' };

function fmt(op: IOp): string {
  const { k, ...rest } = op;
  return `${k} ${Object.entries(rest).map(([a, b]) => `${a}=${String(b)}`).join(' ')}`.trim();
}

class Mismatch extends Error {}

/** Run the exerciser in this process (which must not serve the mount). */
export function runIntegrity(o: IntegrityOptions): IntegrityReport {
  const started = Date.now();
  const r = new Rng(o.seed);
  const maxLen = o.maxLen ?? (1 << 20) + 3;
  const total = o.ops ?? 10_000;
  const deadline = o.timeBudgetSec ? started + o.timeBudgetSec * 1000 : Infinity;
  const h = ensureHelper();
  const helper = h.path;
  const skipped: string[] = [];
  if (!helper) skipped.push(`mapread, mapwrite, punch, falloc, dropcache: no C helper (${h.why})`);
  else if (o.noMmap) skipped.push('mapread, mapwrite: --no-mmap');
  const useMmap = !!helper && !o.noMmap;

  let model = Buffer.alloc(0);
  const counts: Record<string, number> = {};
  const recent: string[] = [];
  const C = fs.constants;
  const file = o.file;
  fs.rmSync(file, { force: true });
  let fdw = fs.openSync(file, C.O_RDWR | C.O_CREAT | C.O_EXCL, 0o644);
  let fdr = fs.openSync(file, C.O_RDONLY);
  let fda = fs.openSync(file, C.O_WRONLY | C.O_APPEND);

  const setSize = (n: number) => {
    if (n <= model.length) model = Buffer.from(model.subarray(0, n));
    else model = Buffer.concat([model, Buffer.alloc(n - model.length)]);
  };
  const bytes = (n: number) => {
    const b = Buffer.allocUnsafe(n);
    let w = 0;
    for (let i = 0; i < n; i++) {
      if ((i & 3) === 0) w = (r.next() * 4294967296) >>> 0;
      b[i] = w & 0xff;
      w >>>= 8;
    }
    return b;
  };
  const check = (what: string, off: number, got: Buffer, want: Buffer) => {
    if (got.equals(want)) return;
    let i = 0;
    while (i < Math.min(got.length, want.length) && got[i] === want[i]) i++;
    const ctx = (b: Buffer) => b.subarray(Math.max(0, i - 4), i + 12).toString('hex');
    throw new Mismatch(
      `${what}: ${got.length} bytes read, ${want.length} expected; first difference at file offset ${off + i} ` +
        `(page ${Math.floor((off + i) / 4096)}, +${(off + i) % 4096}): got ${ctx(got)}, want ${ctx(want)} (from offset ${off + Math.max(0, i - 4)})`,
    );
  };
  const checkSize = (what: string) => {
    const st = fs.fstatSync(fdw);
    if (st.size !== model.length) throw new Mismatch(`${what}: size is ${st.size}, model says ${model.length}`);
  };
  const pread = (fd: number, off: number, len: number) => {
    const b = Buffer.alloc(len);
    let n = 0;
    while (n < len) {
      const k = fs.readSync(fd, b, n, len - n, off + n);
      if (k === 0) break;
      n += k;
    }
    return b.subarray(0, n);
  };
  const helperOk = (args: string[], input?: Buffer) => {
    const res = callHelper(helper!, args, { input });
    if (res.err) throw new Mismatch(`${args[0]} failed: ${res.err}`);
    return res.stdout;
  };

  const pickOff = (limit: number) => {
    const x = r.next();
    if (x < 0.1) return 0;
    if (x < 0.3) return Math.max(0, Math.min(limit - 1, r.pick([4095, 4096, 8191, 8192, 65535, 65536]) + r.range(-3, 3)));
    return r.int(Math.max(1, limit));
  };
  const pickLen = () => {
    const x = r.next();
    if (x < 0.4) return r.range(1, 512);
    if (x < 0.8) return r.range(512, 16384);
    return r.range(16384, 131072);
  };

  const gen = (): IOp => {
    const size = model.length;
    const k = r.weighted({
      write: 20,
      append: 4,
      read: 20,
      truncate: 6,
      mapread: useMmap ? 10 : 0,
      mapwrite: useMmap ? 10 : 0,
      punch: helper ? 4 : 0,
      falloc: helper ? 3 : 0,
      reopen: 2,
      dropcache: helper ? 2 : 0,
      fsync: 2,
      verify: 1,
    });
    switch (k) {
      case 'write': {
        const off = pickOff(maxLen);
        return { k, off, len: Math.min(pickLen(), maxLen - off) };
      }
      case 'append':
        return { k, len: Math.max(0, Math.min(pickLen(), maxLen - size)) };
      case 'read': {
        const off = pickOff(size + 100);
        return { k, off, len: pickLen() };
      }
      case 'truncate':
        return { k, len: r.chance(0.2) ? 0 : r.chance(0.5) ? pickOff(size + 1) : pickOff(maxLen) };
      case 'mapread': {
        if (size === 0) return { k: 'verify' };
        const off = pickOff(size);
        return { k, off, len: Math.max(1, Math.min(pickLen(), size - off)) };
      }
      case 'mapwrite': {
        const off = pickOff(maxLen);
        return { k, off, len: Math.max(1, Math.min(pickLen(), maxLen - off)) };
      }
      case 'punch':
        return { k, off: pickOff(size + 1), len: pickLen() };
      case 'falloc': {
        const off = pickOff(maxLen);
        return { k, off, len: Math.max(1, Math.min(pickLen(), maxLen - off)), keep: r.chance(0.5) };
      }
      default:
        return { k } as IOp;
    }
  };

  const exec = (op: IOp) => {
    switch (op.k) {
      case 'write': {
        const data = bytes(op.len);
        const n = fs.writeSync(fdw, data, 0, op.len, op.off);
        if (n !== op.len) throw new Mismatch(`short write: ${n} of ${op.len}`);
        if (op.off + op.len > model.length) setSize(op.off + op.len);
        data.copy(model, op.off);
        break;
      }
      case 'append': {
        const data = bytes(op.len);
        const at = model.length;
        const n = fs.writeSync(fda, data, 0, op.len);
        if (n !== op.len) throw new Mismatch(`short append: ${n} of ${op.len}`);
        setSize(at + op.len);
        data.copy(model, at);
        break;
      }
      case 'read': {
        const got = pread(r.chance(0.5) ? fdr : fdw, op.off, op.len);
        const want = model.subarray(Math.min(op.off, model.length), Math.min(op.off + op.len, model.length));
        check('read', op.off, got, want);
        break;
      }
      case 'truncate':
        if (r.chance(0.5)) fs.ftruncateSync(fdw, op.len);
        else fs.truncateSync(file, op.len);
        setSize(op.len);
        break;
      case 'mapread': {
        const got = helperOk(['mapread', file, String(op.off), String(op.len)]);
        check('mapread', op.off, got, model.subarray(op.off, op.off + op.len));
        break;
      }
      case 'mapwrite': {
        // Like fsx: a mapped write past the end first extends the file.
        if (op.off + op.len > model.length) {
          fs.ftruncateSync(fdw, op.off + op.len);
          setSize(op.off + op.len);
        }
        const data = bytes(op.len);
        helperOk(['mapwrite', file, String(op.off), String(op.len)], data);
        data.copy(model, op.off);
        break;
      }
      case 'punch': {
        helperOk(['falloc', file, String(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE), String(op.off), String(op.len)]);
        const end = Math.min(op.off + op.len, model.length);
        if (op.off < end) model.fill(0, op.off, end);
        break;
      }
      case 'falloc':
        helperOk(['falloc', file, String(op.keep ? FALLOC_FL_KEEP_SIZE : 0), String(op.off), String(op.len)]);
        if (!op.keep && op.off + op.len > model.length) setSize(op.off + op.len);
        break;
      case 'reopen':
        fs.closeSync(fdw);
        fs.closeSync(fdr);
        fs.closeSync(fda);
        fdw = fs.openSync(file, C.O_RDWR);
        fdr = fs.openSync(file, C.O_RDONLY);
        fda = fs.openSync(file, C.O_WRONLY | C.O_APPEND);
        break;
      case 'dropcache':
        fs.fsyncSync(fdw);
        helperOk(['fadvise', file]);
        break;
      case 'fsync':
        if (r.chance(0.5)) fs.fsyncSync(fdw);
        else fs.fdatasyncSync(fdw);
        break;
      case 'verify': {
        const fd = fs.openSync(file, C.O_RDONLY);
        try {
          check('verify (whole file, fresh fd)', 0, pread(fd, 0, model.length + 4096), model);
        } finally {
          fs.closeSync(fd);
        }
        break;
      }
    }
    checkSize(op.k);
  };

  let i = 0;
  let current: IOp | undefined;
  try {
    for (; i < total && Date.now() < deadline; i++) {
      current = gen();
      recent.push(`#${i} ${fmt(current)}`);
      if (recent.length > 25) recent.shift();
      if (o.verbose) process.stderr.write(`${recent[recent.length - 1]}\n`);
      exec(current);
      counts[current.k] = (counts[current.k] ?? 0) + 1;
      if (i === o.corruptAt) {
        // Make sure there is something to corrupt, then flip one byte through a separate fd.
        if (model.length === 0) {
          fs.writeSync(fdw, Buffer.from([1]), 0, 1, 0);
          setSize(1);
          model[0] = 1;
        }
        const at = r.int(model.length);
        const fd = fs.openSync(file, C.O_WRONLY);
        fs.writeSync(fd, Buffer.from([model[at]! ^ 0x5a]), 0, 1, at);
        fs.closeSync(fd);
        recent.push(`(corrupted the byte at offset ${at} behind the model's back)`);
        current = { k: 'verify' };
        exec(current);
      }
    }
    current = { k: 'verify' };
    exec(current);
    return { ok: true, seed: o.seed, opsRun: i, counts, skipped, ms: Date.now() - started };
  } catch (e) {
    const message = e instanceof Mismatch ? e.message : `${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message}`.trim();
    return { ok: false, seed: o.seed, opsRun: i, counts, skipped, failure: { index: i, op: current ? fmt(current) : '?', message, recent }, ms: Date.now() - started };
  } finally {
    for (const fd of [fdw, fdr, fda]) {
      try {
        fs.closeSync(fd);
      } catch {
        // closed
      }
    }
    fs.rmSync(file, { force: true });
  }
}

/** Run the exerciser in a child process; resolves with its report. */
export function spawnIntegrity(o: IntegrityOptions, timeoutMs: number): Promise<IntegrityReport> {
  const args = [INTEGRITY, '--file', o.file, '--seed', String(o.seed)];
  if (o.ops !== undefined) args.push('--ops', String(o.ops));
  if (o.timeBudgetSec !== undefined) args.push('--time-budget', String(o.timeBudgetSec));
  if (o.maxLen !== undefined) args.push('--max-len', String(o.maxLen));
  if (o.noMmap) args.push('--no-mmap');
  if (o.corruptAt !== undefined) args.push('--corrupt-at', String(o.corruptAt));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
    const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as IntegrityReport);
      } catch {
        reject(new Error(`integrity exerciser ended (${code ?? signal}) without a report: ${err}`));
      }
    });
  });
}

export function formatIntegrity(rep: IntegrityReport, replay: string): string {
  const counts = Object.entries(rep.counts)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lines = [`integrity: seed ${rep.seed}: ${rep.opsRun} ops in ${(rep.ms / 1000).toFixed(1)} s: ${rep.ok ? 'OK' : 'MISMATCH'} (${counts})`];
  for (const s of rep.skipped) lines.push(`  skipped ${s}`);
  if (rep.failure) {
    lines.push(`  at op #${rep.failure.index} ${rep.failure.op}: ${rep.failure.message}`, '  recent ops:', ...rep.failure.recent.map((l) => `    ${l}`));
    lines.push(`  replay: ${replay}`);
  }
  return lines.join('\n');
}

function main(): void {
  const { values } = parseArgs({
    options: {
      file: { type: 'string' },
      seed: { type: 'string' },
      ops: { type: 'string' },
      'time-budget': { type: 'string' },
      'max-len': { type: 'string' },
      'no-mmap': { type: 'boolean' },
      verbose: { type: 'boolean' },
      'corrupt-at': { type: 'string' },
    },
  });
  if (!values.file) {
    process.stderr.write('usage: integrity.js --file PATH [--seed S] [--ops N] [--time-budget SEC] [--max-len BYTES] [--no-mmap] [--verbose]\n');
    process.exit(2);
  }
  const rep = runIntegrity({
    file: values.file,
    seed: values.seed !== undefined ? Number(values.seed) : (Date.now() >>> 0),
    ops: values.ops !== undefined ? Number(values.ops) : undefined,
    timeBudgetSec: values['time-budget'] !== undefined ? Number(values['time-budget']) : undefined,
    maxLen: values['max-len'] !== undefined ? Number(values['max-len']) : undefined,
    noMmap: values['no-mmap'],
    verbose: values.verbose,
    corruptAt: values['corrupt-at'] !== undefined ? Number(values['corrupt-at']) : undefined,
  });
  process.stdout.write(`${JSON.stringify(rep)}\n`);
  if (!rep.ok) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
