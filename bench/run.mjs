#!/usr/bin/env node
/**
 * `npm run bench [-- --quick]`: the benchmark of puffs against kernel tmpfs,
 * bindfs and a fuse-native memory file system, plus the in-process and
 * memory checks. See bench/README.md.
 *
 * Flags:
 *   --quick          smaller workloads, fewer rounds: under 3 minutes
 *   --rounds N       at most N rounds (default 5, quick 3; fewer if time runs out)
 *   --no-setup       skip bench/setup.sh
 *   --no-build       skip `npm run build`
 *   --only IDS       only these workloads (comma-separated ids, e.g. seqWrite,seqReadCold);
 *                    skips the in-process and memory checks
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import { Lifecycle, log, must, run, sweepStale } from './lib/proc.mjs';
import { detectContenders, puffsCommand } from './lib/contenders.mjs';
import { WORKLOADS as ALL_WORKLOADS, makeFloorFile, resetMount, warmUp } from './lib/workloads.mjs';
import { memoryTest } from './lib/memory.mjs';
import { checkTargets, fmt, summarize } from './lib/report.mjs';
import { writeReport } from './lib/render.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');
const peers = join(here, '.peers');
const started = Date.now();

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'no-setup': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const quick = flags.quick;
const only = flags.only?.split(',').map((id) => id.trim()).filter(Boolean);
const unknown = only?.filter((id) => !ALL_WORKLOADS.some((w) => w.id === id)) ?? [];
if (unknown.length || only?.length === 0) {
  console.error(`--only: unknown workload ${unknown.join(', ') || '(none given)'}; the ids are ${ALL_WORKLOADS.map((w) => w.id).join(', ')}`);
  process.exit(2);
}
// With --only, a run to look at a few workloads: the checks that are not workloads are left out too.
const WORKLOADS = only ? ALL_WORKLOADS.filter((w) => only.includes(w.id)) : ALL_WORKLOADS;

const MiB = 1024 * 1024;
const CONFIG = quick
  ? {
      sizes: { files: 2000, treeFiles: 500, treeFileSize: 2048, seqBytes: 128 * MiB, floorSec: 0.2, fioSec: 0.2 },
      maxRounds: 3,
      loopBudgetSec: 150, // the measuring rounds must end by then (from the start)
      hardLimitSec: 175, // the watchdog: unmount everything and exit
      timeoutMs: 40_000,
      memory: { dataBytes: 1024 * MiB, files: 100_000, settleMs: 1000 }, // both at full size: a projection from 20k files overstated the growth (fixed costs counted 5 times)
    }
  : {
      sizes: { files: 10_000, treeFiles: 2000, treeFileSize: 2048, seqBytes: 1024 * MiB, floorSec: 0.5, fioSec: 1 },
      maxRounds: 5,
      loopBudgetSec: 800,
      hardLimitSec: 880,
      timeoutMs: 150_000,
      memory: { dataBytes: 1024 * MiB, files: 100_000 },
    };
/**
 * Untimed pause after the warm-up and after each group's clean-up. A server
 * may free what a delete released after the delete returns (puffs's
 * collection after rm of big files, about 80 ms of CPU for 1 GiB here;
 * fuse-native's garbage collector), and that work must not be billed to
 * whichever contender the next timed workload measures on the same CPU.
 */
const SETTLE_MS = 1000;
if (flags.rounds) CONFIG.maxRounds = Math.max(1, Number(flags.rounds));
const SIZE = '4g'; // tmpfs size of each kernel tmpfs and puffs tmpfs mount

const GROUPS = [
  { id: 'pinned/off', pin: true, cache: 'off', label: 'caching off, pinned (server threads and load on CPU 0)' },
  { id: 'pinned/shipped', pin: true, cache: 'shipped', label: 'as shipped, pinned (server threads and load on CPU 0)' },
  { id: 'unpinned/off', pin: false, cache: 'off', label: 'caching off, unpinned' },
  { id: 'unpinned/shipped', pin: false, cache: 'shipped', label: 'as shipped, unpinned' },
];

const human = (n) => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
const labelOf = (w) =>
  w.label.replace(' N ', ` ${human(CONFIG.sizes.files)} `) +
  (w.id === 'treeCreate' ? ` (${human(CONFIG.sizes.treeFiles)} files)` : '') +
  (w.id === 'seqWrite' ? ` ${CONFIG.sizes.seqBytes >= 1024 * MiB ? CONFIG.sizes.seqBytes / 1024 / MiB + ' GiB' : CONFIG.sizes.seqBytes / MiB + ' MiB'}` : '');

const lc = new Lifecycle();
let finished = false;

async function abort(why, code) {
  if (finished) return;
  finished = true;
  log(`${why}: unmounting everything`);
  await lc.close();
  process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => void abort(`got ${sig}`, 130));
process.on('uncaughtException', (err) => void abort(`uncaught exception: ${err.stack ?? err}`, 1));
process.on('unhandledRejection', (err) => void abort(`unhandled rejection: ${err?.stack ?? err}`, 1));
const watchdog = setTimeout(() => void abort(`watchdog: ${CONFIG.hardLimitSec} s passed`, 3), CONFIG.hardLimitSec * 1000);
watchdog.unref();

const elapsed = () => (Date.now() - started) / 1000;

async function main() {
  if (process.getuid?.() !== 0) throw new Error('the benchmark mounts file systems and drops caches: run it as root');
  if (!existsSync('/dev/fuse')) throw new Error('/dev/fuse is missing');
  await sweepStale();

  if (!flags['no-setup']) {
    log('setup (bench/setup.sh)');
    await must('bash', [join(here, 'setup.sh')], { timeoutMs: 300_000 }).catch((err) => log(`setup failed, going on with what is there: ${err.message}`));
  }
  if (!flags['no-build']) {
    log('building puffs (npm run build)');
    const b = await run('npm', ['run', 'build'], { cwd: repo, timeoutMs: 300_000 });
    if (b.code !== 0) {
      if (!existsSync(join(repo, 'dist', 'cli', 'main.js'))) throw new Error(`npm run build failed:\n${b.stdout}${b.stderr}`);
      log(`npm run build failed; using the dist/ that is there:\n${(b.stdout + b.stderr).trim().split('\n').slice(-8).join('\n')}`);
    }
  }
  const pbench = join(peers, 'bin', 'pbench');
  const src = join(here, 'c', 'pbench.c');
  if (!existsSync(pbench) || statSync(pbench).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(dirname(pbench), { recursive: true });
    await must('cc', ['-O2', '-Wall', '-o', pbench, src], { timeoutMs: 60_000 });
  }
  // Run puffs from a private copy of dist/ and bin/: others may rebuild dist/ while this runs.
  const dist = join(lc.root, 'dist');
  await must('cp', ['-a', join(repo, 'dist'), dist], { timeoutMs: 60_000 });
  await must('cp', ['-a', join(repo, 'bin'), join(lc.root, 'bin')], { timeoutMs: 60_000 });
  const contenders = await detectContenders(repo, peers, lc.root);
  for (const c of contenders) log(`contender ${c.label}: ${c.available ? (c.full ? 'ok' : `partial — ${c.reason}`) : `unavailable — ${c.reason}`}`);
  const puffs = contenders.find((c) => c.id === 'puffs');
  const c = (id) => contenders.find((x) => x.id === id)?.label ?? id;

  // In-process: attach vs memfs.
  let inprocess;
  if (only) {
    inprocess = { attach: { available: false, reason: 'left out (--only)' } };
  } else {
    log('in-process: puffs attach vs memfs');
    const r = await run(process.execPath, [join(here, 'inprocess.mjs'), ...(quick ? ['--quick'] : []), '--dist', dist], {
      cwd: repo,
      timeoutMs: quick ? 60_000 : 180_000,
    });
    try {
      inprocess = JSON.parse(r.stdout.trim().split('\n').pop());
    } catch {
      inprocess = { error: `inprocess.mjs failed (exit ${r.code ?? r.signal}): ${r.stderr.trim().slice(-500)}` };
    }
  }

  // Memory of the puffs tmpfs server.
  let memory;
  if (only) {
    memory = { available: false, reason: 'left out (--only)' };
  } else if (puffs.available && puffs.full) {
    log(`memory: puffs tmpfs with ${fmt(CONFIG.memory.dataBytes / MiB)} MiB of data, then ${CONFIG.memory.files} empty files`);
    memory = await memoryTest(lc, {
      puffs: puffsCommand(lc.root),
      repo,
      pbench,
      ...CONFIG.memory,
      timeoutMs: CONFIG.timeoutMs,
    }).catch((err) => ({ available: false, reason: `failed: ${err.message}` }));
  } else {
    memory = { available: false, reason: puffs.reason };
  }

  // Mount every contender in every group, side by side.
  log('mounting contenders');
  const instances = {};
  for (const g of GROUPS) {
    instances[g.id] = {};
    for (const c of contenders) {
      if (!c.available) continue;
      try {
        const inst = await c.start(lc, { pin: g.pin, cache: g.cache, size: SIZE });
        if (inst.full) await makeFloorFile(inst);
        instances[g.id][c.id] = inst;
      } catch (err) {
        instances[g.id][c.id] = { error: String(err.message ?? err) };
        log(`${g.id}: ${c.label} did not start: ${err.message}`);
      }
    }
  }

  // Warm-up: every contender, in every group, gets the same short unmeasured pass.
  log('warm-up (not measured)');
  for (const g of GROUPS) {
    const ctx = { pbench, pin: g.pin, cache: g.cache, sizes: CONFIG.sizes, timeoutMs: CONFIG.timeoutMs };
    for (const inst of Object.values(instances[g.id])) {
      if (inst.error) continue;
      await warmUp(ctx, inst).catch((err) => log(`${g.id}: warm-up failed: ${err.message}`));
    }
  }
  await sleep(SETTLE_MS);

  // Interleaved rounds: round → group → workload → every contender in turn.
  const results = {};
  for (const g of GROUPS) {
    results[g.id] = {};
    for (const w of WORKLOADS) {
      if (!w.modes.includes(g.cache)) continue;
      results[g.id][w.id] = {};
      for (const c of contenders) {
        if (!c.available) continue;
        if (w.needs === 'full' && !c.full) continue;
        results[g.id][w.id][c.id] = { values: [], errors: [] };
      }
    }
  }
  const roundSec = [];
  let stoppedEarly = '';
  for (let round = 0; round < CONFIG.maxRounds; round++) {
    const left = CONFIG.loopBudgetSec - elapsed();
    const need = round ? Math.max(...roundSec) * 1.1 : 0;
    if (round && need > left) {
      stoppedEarly = `stopped after ${round} rounds: another would take ~${need.toFixed(0)} s, ${left.toFixed(0)} s left in the budget`;
      log(stoppedEarly);
      break;
    }
    const t0 = Date.now();
    log(`round ${round + 1}/${CONFIG.maxRounds} (at ${elapsed().toFixed(0)} s)`);
    for (const g of GROUPS) {
      const ctx = { pbench, pin: g.pin, cache: g.cache, sizes: CONFIG.sizes, timeoutMs: CONFIG.timeoutMs };
      for (const w of WORKLOADS) {
        if (!w.modes.includes(g.cache)) continue;
        const row = results[g.id][w.id];
        const ids = Object.keys(row);
        const order = ids.map((_, i) => ids[(i + round) % ids.length]); // rotate who goes first
        for (const cid of order) {
          const cell = row[cid];
          const inst = instances[g.id][cid];
          if (!inst || inst.error) {
            cell.values[round] = null;
            if (inst?.error && !cell.errors.length) cell.errors.push(`did not start: ${inst.error}`);
            continue;
          }
          if (inst.hung) {
            cell.values[round] = null;
            cell.errors.push(`skipped: ${inst.hung}`);
            continue;
          }
          if (elapsed() > CONFIG.hardLimitSec - 25) {
            cell.values[round] = null;
            continue;
          }
          const t = performance.now();
          try {
            cell.values[round] = await w.run(ctx, inst);
          } catch (err) {
            cell.values[round] = null;
            const msg = String(err.message ?? err);
            cell.errors.push(msg.slice(0, 1000));
            // A server that stopped answering would stall every later workload until its timeout: leave it out.
            if (msg.includes('timed out')) {
              inst.hung = `${c(cid)} stopped answering during ${w.id} (round ${round + 1})`;
              log(`${g.id}: ${inst.hung}; leaving it out from now on`);
            }
          }
          (cell.wallMs ??= [])[round] = Math.round(performance.now() - t);
        }
      }
      for (const inst of Object.values(instances[g.id])) if (!inst.error && !inst.hung) await resetMount(inst);
      await sleep(SETTLE_MS);
    }
    roundSec.push((Date.now() - t0) / 1000);
    log(`round ${round + 1} took ${roundSec.at(-1).toFixed(1)} s`);
  }

  // Take everything down before reporting.
  log('unmounting');
  for (const g of GROUPS) for (const inst of Object.values(instances[g.id])) if (!inst.error) await inst.stop().catch((e) => log(`stop: ${e.message}`));
  await lc.close();

  summarize(results, WORKLOADS);
  const labeled = WORKLOADS.map(({ id, unit, better, modes, needs }, i) => ({ id, label: labelOf(WORKLOADS[i]), unit, better, modes, needs }));
  const targets = checkTargets({ results, workloads: labeled, contenders, inprocess, memory, quick });
  const total = elapsed();

  // Report.
  const stamp = new Date(started).toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const outDir = join(here, 'results');
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `${stamp}${quick ? '-quick' : ''}${only ? '-only' : ''}`);
  const json = {
    version: 1,
    date: new Date(started).toISOString(),
    quick,
    only,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, kernel: os.release(), node: process.version, memBytes: os.totalmem() },
    config: CONFIG,
    groups: GROUPS,
    contenders: contenders.map(({ id, label, lang, available, reason, full, note }) => ({ id, label, lang, available, reason, full, note })),
    workloads: labeled,
    results,
    inprocess,
    memory,
    targets,
    rounds: roundSec,
    stoppedEarly: stoppedEarly || undefined,
    totalSec: total,
  };
  const wrote = await writeReport(json, base, outDir);
  process.stdout.write(`\nwrote ${wrote.map((p) => p.slice(repo.length + 1)).join(', ')}\n`);
}

main()
  .then(() => {
    finished = true;
    clearTimeout(watchdog);
  })
  .catch(async (err) => {
    log(`failed: ${err.stack ?? err}`);
    if (!finished) {
      finished = true;
      await lc.close();
    }
    process.exitCode = 1;
  });
