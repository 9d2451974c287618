#!/usr/bin/env node
/**
 * The differential test of puffs tmpfs against the kernel's tmpfs, and the
 * data-integrity exerciser, from the command line. See USAGE below.
 *
 * This process only sets up mounts and starts children: the puffs server is
 * one child, the executor (which makes the blocking calls) another.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { describe, FAULTS, FUSE_INHERENT, signature, type Divergence } from './executor.js';
import { ensureHelper } from './helper.js';
import { formatIntegrity, spawnIntegrity, type IntegrityReport } from './integrity.js';
import { formatOp, generate, HELPER_KINDS, XATTR_KINDS, type GenOptions, type Op, type OpKind } from './ops.js';
import { knownDivergence, KNOWN_PUFFS_DIVERGENCES } from './known.js';
import { Runner, type RunnerOptions } from './runner.js';
import { CLI_PREFIX, mounts, setupMounts, type Setup, type SubjectKind } from './setup.js';

const USAGE = `puffs difftest: puffs tmpfs against the kernel's tmpfs, op by op

Usage:
  node dist/difftest/cli.js [--seeds N] [--ops M] [--seed S] [options]
  node dist/difftest/cli.js --replay CASE.json [options]
  node dist/difftest/cli.js --integrity [--seeds N] [--ops M] [--seed S] [options]

Trees (default: both set up here, under ${CLI_PREFIX}*):
  --oracle DIR --subject DIR   compare two existing directories instead
  --subject-kind puffs|kernel  the subject: puffs tmpfs (default), or a second
                               kernel tmpfs (to test the harness itself)
  --subject-options OPTS       extra -o options for the puffs server
  --root-only                  mount puffs as the CLI does by default for root
                               alone (no allow_other: tmpfs checks permissions,
                               not the kernel); implies --no-users
  --size SIZE                  tmpfs size of both (default 64m)
  --mount-prefix PREFIX        prefix of the temp dir of the mounts (default
                               ${CLI_PREFIX}; the tests use
                               ${tmpdir()}/puffs-test-difftest-)

Runs:
  --seeds N                    sequences to run (default 10), seeds S, S+1, ...
  --ops M                      ops per sequence (default 200)
  --seed S                     first seed (default: from the clock; printed)
  --time-budget SEC            start no new sequence after SEC seconds
  --shrink-budget SEC          time to shrink one divergence (default 60)
  --max-divergences N          stop after N divergences (default 5)
  --snap-every K               compare whole trees every K ops (default 8)
  --ignore F[,F...]            leave fields out: blocks dirsize dirblocks nlink
                               dirnlink rdev times ctime>=mtime xattr
  --no-xattr                   generate no xattr ops
  --no-users                   run every op as root (default: some as uid 1000/1001)
  --no-tolerate                report also the differences that FUSE itself makes
                               (tolerated and counted by default when the subject
                               is a FUSE mount):
${Object.entries(FUSE_INHERENT).map(([k, v]) => `                                 ${k}: ${v}`).join('\n')}
  --fault NAME                 inject a fault in the subject's answers (self-test):
${Object.entries(FAULTS).map(([k, v]) => `                                 ${k}: ${v}`).join('\n')}
  --allow-known                count the known divergences of puffs tmpfs (known.ts)
                               apart instead of failing on them:
${KNOWN_PUFFS_DIVERGENCES.map((k) => `                                 ${k.id}`).join('\n')}
  --out DIR                    where minimal cases are written (default ${tmpdir()})
  --replay FILE                run the ops of a case file (JSON) once, no generation
  --json                       print the summary as one JSON line at the end
  --verbose                    print the puffs server's output

Integrity (--integrity): a seeded fsx-like run on one file of the subject
(writes, reads, truncates, appends, mmap'd reads/writes, hole punches...)
checked against an in-memory model; --ops is the op count per seed
(default 10000), --time-budget bounds the whole run.

Exit status: 0 no divergence, 1 divergence (or integrity mismatch), 2 usage or
set-up error, 3 watchdog.
`;

export interface CampaignOptions {
  seeds: number;
  ops: number;
  firstSeed: number;
  gen: GenOptions;
  timeBudgetSec?: number;
  shrinkBudgetSec?: number;
  maxDivergences?: number;
  /** Recognises known divergences (their id): counted apart, not shrunk. */
  known?: (d: Divergence, ops: readonly Op[]) => string | undefined;
  /** Replays that confirm a divergence before it is shrunk (default 2). */
  confirmTries?: number;
  /**
   * Checked after every run: a message when the subject is gone (the puffs
   * server died, the mount was taken away); the campaign then stops, since
   * whatever ran after that did not run on the subject.
   */
  subjectGone?: () => string | null;
  /** Where to write the minimal cases (null: don't). */
  outDir?: string | null;
  /** The command line that replays one seed, given the seed (printed with each divergence). */
  replayCommand?: (seed: number, caseFile?: string) => string;
  print?: (line: string) => void;
}

export interface Found {
  seed: number;
  /** Where the unshrunk sequence diverged. */
  original: Divergence;
  /** The minimal case (absent when the signature was already shrunk for an earlier seed). */
  minimal?: Op[];
  divergence: Divergence;
  confirmed?: boolean;
  replays?: number;
  caseFile?: string;
  sameAs?: number;
  /** Id of the known divergence it is. */
  known?: string;
}

export interface CampaignResult {
  seedsRun: number;
  opsRun: number;
  divergences: Found[];
  /** Divergences that did not happen again when their prefix was replayed. */
  flaky: Found[];
  /** Divergences that CampaignOptions.known recognised (not counted in divergences). */
  known: Found[];
  /** Differences tolerated as inherent to FUSE, by rule (see FUSE_INHERENT). */
  tolerated: Record<string, number>;
  /** Set when the subject went away (server died): the campaign stopped there. */
  subjectLost?: string;
  ms: number;
}

function crashAt(ops: Op[], opsRun: number): Divergence {
  const i = Math.max(0, Math.min(opsRun, ops.length) - 1);
  return { index: i, op: ops[i]!, kind: 'crash', oracle: 'n/a', subject: 'the subject went away' };
}

/** Generate, run and (on a divergence) shrink `seeds` sequences. */
export async function campaign(runner: Runner, o: CampaignOptions): Promise<CampaignResult> {
  const print = o.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const start = Date.now();
  const found: Found[] = [];
  const flaky: Found[] = [];
  const known: Found[] = [];
  const tolerated: Record<string, number> = {};
  let subjectLost: string | undefined;
  const shrunk = new Map<string, number>();
  let seedsRun = 0;
  let opsRun = 0;
  for (let k = 0; k < o.seeds; k++) {
    if (o.timeBudgetSec !== undefined && Date.now() - start > o.timeBudgetSec * 1000) {
      print(`time budget of ${o.timeBudgetSec} s used up after ${seedsRun} seeds`);
      break;
    }
    const seed = (o.firstSeed + k) >>> 0;
    const ops = generate(seed, o.ops, o.gen);
    const rep = await runner.runOne(ops);
    const gone = o.subjectGone?.();
    if (gone) {
      print(`seed ${seed}: THE SUBJECT IS GONE during this run: ${gone}`);
      if (rep.divergence) print(`  (the run's first divergence, op #${rep.divergence.index}: ${describe(rep.divergence)})`);
      print(`  replay: ${o.replayCommand?.(seed) ?? `seed ${seed}`}`);
      found.push({ seed, original: rep.divergence ?? crashAt(ops, rep.opsRun), divergence: rep.divergence ?? crashAt(ops, rep.opsRun) });
      subjectLost = gone;
      seedsRun++;
      opsRun += rep.opsRun;
      break;
    }
    seedsRun++;
    opsRun += rep.opsRun;
    for (const [rule, n] of Object.entries(rep.tolerated ?? {})) tolerated[rule] = (tolerated[rule] ?? 0) + n;
    const d = rep.divergence;
    if (!d) {
      print(`seed ${seed}: ${ops.length} ops, no divergence`);
      continue;
    }
    print(`seed ${seed}: DIVERGENCE after ${rep.opsRun} ops: ${describe(d)}`);
    const sig = signature(d);
    const isKnown = o.known?.(d, ops);
    if (isKnown) {
      known.push({ seed, original: d, divergence: d, known: isKnown });
      print(`  known divergence ${isKnown}: not counted`);
      continue;
    }
    // Confirm: the same prefix, replayed on fresh directories, must diverge the same way again.
    let confirmed = false;
    for (let tries = 0; tries < (o.confirmTries ?? 2) && !confirmed; tries++) {
      const again = await runner.runOne(ops.slice(0, d.index + 1), Runner.replayOptions(d));
      confirmed = again.divergence !== null && signature(again.divergence) === sig;
    }
    if (!confirmed) {
      flaky.push({ seed, original: d, divergence: d });
      print(`  not reproduced in ${o.confirmTries ?? 2} replays: counted as flaky, not as a divergence`);
      if (o.replayCommand) print(`  replay: ${o.replayCommand(seed)}`);
      continue;
    }
    const f: Found = { seed, original: d, divergence: d };
    found.push(f);
    if (shrunk.has(sig)) {
      f.sameAs = shrunk.get(sig);
      print(`  same kind of divergence as seed ${f.sameAs}: not shrunk again`);
    } else {
      shrunk.set(sig, seed);
      const s = await runner.shrink(ops, d, (o.shrinkBudgetSec ?? 60) * 1000);
      Object.assign(f, { minimal: s.ops, divergence: s.divergence, confirmed: s.confirmed, replays: s.replays });
      if (o.outDir !== null) {
        const dir = o.outDir ?? tmpdir();
        mkdirSync(dir, { recursive: true });
        f.caseFile = join(dir, `puffs-difftest-case-${seed}.json`);
        writeFileSync(f.caseFile, `${JSON.stringify({ seed, ops: o.ops, divergence: s.divergence, minimal: s.ops }, null, 1)}\n`);
      }
      print(`  minimal case (${s.ops.length} op${s.ops.length === 1 ? '' : 's'}, ${s.replays} replays, ${s.confirmed ? 'reproduced' : 'NOT reproduced on the last replay: flaky?'}):`);
      s.ops.forEach((op, i) => print(`    ${i + 1}. ${formatOp(op)}`));
      print(`  divergence: ${describe(s.divergence)}`);
    }
    if (o.replayCommand) print(`  replay: ${o.replayCommand(seed, f.caseFile)}`);
    if (found.length >= (o.maxDivergences ?? 5)) {
      print(`stopping after ${found.length} divergences`);
      break;
    }
  }
  return { seedsRun, opsRun, divergences: found, flaky, known, tolerated, subjectLost, ms: Date.now() - start };
}

interface Args {
  seeds: number;
  ops?: number;
  seed?: number;
  oracle?: string;
  subject?: string;
  subjectKind: SubjectKind;
  subjectOptions?: string;
  rootOnly: boolean;
  size: string;
  mountPrefix: string;
  timeBudget?: number;
  shrinkBudget?: number;
  maxDivergences?: number;
  snapEvery?: number;
  ignore: string[];
  noXattr: boolean;
  noUsers: boolean;
  noTolerate: boolean;
  allowKnown: boolean;
  fault?: string;
  out?: string;
  replay?: string;
  integrity: boolean;
  json: boolean;
  verbose: boolean;
}

function usageError(msg: string): never {
  process.stderr.write(`difftest: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

function parse(argv: string[]): Args {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        seeds: { type: 'string' },
        ops: { type: 'string' },
        seed: { type: 'string' },
        oracle: { type: 'string' },
        subject: { type: 'string' },
        'subject-kind': { type: 'string' },
        'subject-options': { type: 'string' },
        'root-only': { type: 'boolean' },
        size: { type: 'string' },
        'mount-prefix': { type: 'string' },
        'time-budget': { type: 'string' },
        'shrink-budget': { type: 'string' },
        'max-divergences': { type: 'string' },
        'snap-every': { type: 'string' },
        ignore: { type: 'string' },
        'no-xattr': { type: 'boolean' },
        'no-users': { type: 'boolean' },
        'no-tolerate': { type: 'boolean' },
        'allow-known': { type: 'boolean' },
        fault: { type: 'string' },
        out: { type: 'string' },
        replay: { type: 'string' },
        integrity: { type: 'boolean' },
        json: { type: 'boolean' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    usageError((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const int = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) usageError(`--${name} needs a non-negative number`);
    return n;
  };
  const kind = values['subject-kind'] ?? 'puffs';
  if (kind !== 'puffs' && kind !== 'kernel') usageError('--subject-kind is puffs or kernel');
  if (!!values.oracle !== !!values.subject) usageError('--oracle and --subject go together');
  if (values.fault && !FAULTS[values.fault]) usageError(`unknown fault ${values.fault}; known: ${Object.keys(FAULTS).join(', ')}`);
  return {
    seeds: int('seeds', values.seeds) ?? 10,
    ops: int('ops', values.ops),
    seed: int('seed', values.seed),
    oracle: values.oracle,
    subject: values.subject,
    subjectKind: kind,
    subjectOptions: values['subject-options'],
    rootOnly: !!values['root-only'],
    size: values.size ?? '64m',
    mountPrefix: values['mount-prefix'] ?? CLI_PREFIX,
    timeBudget: int('time-budget', values['time-budget']),
    shrinkBudget: int('shrink-budget', values['shrink-budget']),
    maxDivergences: int('max-divergences', values['max-divergences']),
    snapEvery: int('snap-every', values['snap-every']),
    ignore: values.ignore ? values.ignore.split(',').filter(Boolean) : [],
    noXattr: !!values['no-xattr'],
    noUsers: !!values['no-users'] || !!values['root-only'],
    noTolerate: !!values['no-tolerate'],
    allowKnown: !!values['allow-known'],
    fault: values.fault,
    out: values.out,
    replay: values.replay,
    integrity: !!values.integrity,
    json: !!values.json,
    verbose: !!values.verbose,
  };
}

/** Type of the file system a path is on (the longest mount point that contains it). */
function mountTypeOf(path: string): string | undefined {
  let best: [string, string] | undefined;
  for (const [m, t] of mounts()) if ((path === m || path.startsWith(m.endsWith('/') ? m : `${m}/`)) && (!best || m.length >= best[0].length)) best = [m, t];
  return best?.[1];
}

/** The command line that re-runs one seed the same way. */
function replayLine(a: Args, seed: number, ops: number, caseFile?: string): string {
  const cli = relative(process.cwd(), fileURLToPath(import.meta.url)) || fileURLToPath(import.meta.url);
  const common: string[] = [];
  if (a.oracle) common.push(`--oracle ${a.oracle} --subject ${a.subject}`);
  else if (a.subjectKind !== 'puffs') common.push(`--subject-kind ${a.subjectKind}`);
  if (a.subjectOptions) common.push(`--subject-options ${a.subjectOptions}`);
  if (a.rootOnly) common.push('--root-only');
  if (a.ignore.length) common.push(`--ignore ${a.ignore.join(',')}`);
  if (a.noXattr) common.push('--no-xattr');
  if (a.noUsers && !a.rootOnly) common.push('--no-users');
  if (a.mountPrefix !== CLI_PREFIX) common.push(`--mount-prefix ${a.mountPrefix}`);
  if (a.fault) common.push(`--fault ${a.fault}`);
  if (a.snapEvery) common.push(`--snap-every ${a.snapEvery}`);
  const rest = common.length ? ` ${common.join(' ')}` : '';
  const bySeed = `node ${cli} --seed ${seed} --seeds 1 --ops ${ops}${rest}`;
  return caseFile ? `${bySeed}   (minimal case only: node ${cli} --replay ${caseFile}${rest})` : bySeed;
}

async function main(): Promise<void> {
  const a = parse(process.argv.slice(2));
  if (process.getuid?.() !== 0 && !a.oracle) usageError('mounting needs root (or give --oracle and --subject)');
  const firstSeed = a.seed ?? (Date.now() ^ (process.pid << 16)) >>> 0;
  const print = (l: string) => process.stdout.write(`${l}\n`);

  const helper = ensureHelper();
  const exclude = new Set<OpKind>();
  if (!helper.path) {
    for (const k of HELPER_KINDS) exclude.add(k);
    print(`note: no C helper (${helper.why}): mknod, renameat2, xattr, fallocate and SEEK_DATA ops are left out${a.integrity ? ', and mmap in --integrity' : ''}`);
  }
  if (a.noXattr) for (const k of XATTR_KINDS) exclude.add(k);

  let setup: Setup | undefined;
  let settingUp: Promise<Setup> | undefined;
  let runner: Runner | undefined;
  let finishing = false;
  const teardown = async (emergency: boolean): Promise<void> => {
    // The executor may be blocked on the mount: kill it; the server gets SIGTERM (then SIGKILL) from cleanup().
    if (emergency) runner?.kill();
    await runner?.close().catch(() => undefined);
    // Mounts still being set up are taken down once they are up.
    const s = setup ?? (await settingUp?.catch(() => undefined));
    const problems = (await s?.cleanup()) ?? [];
    for (const p of problems) process.stderr.write(`difftest: cleanup: ${p}\n`);
  };
  const emergency = (why: string, code: number) => {
    if (finishing) return;
    finishing = true;
    process.stderr.write(`difftest: ${why}: cleaning up\n`);
    void teardown(true).finally(() => process.exit(code));
  };
  process.on('SIGINT', () => emergency('SIGINT', 130));
  process.on('SIGTERM', () => emergency('SIGTERM', 143));
  // Watchdog: the whole run, shrinking included, gets a hard limit.
  const opsPerSeed = a.ops ?? (a.integrity ? 10_000 : 200);
  const limitSec =
    (a.timeBudget ?? a.seeds * (a.integrity ? 120 : 30)) + (a.integrity ? 120 : (a.maxDivergences ?? 5) * (a.shrinkBudget ?? 60)) + 120;
  const watchdog = setTimeout(() => emergency(`watchdog: still running after ${limitSec} s`, 3), Math.min(limitSec * 1000, 2 ** 31 - 1));
  watchdog.unref();

  let exitCode = 0;
  try {
    let oracle = a.oracle;
    let subject = a.subject;
    if (!oracle || !subject) {
      settingUp = setupMounts({ subjectKind: a.subjectKind, size: a.size, subjectOptions: a.subjectOptions, rootOnly: a.rootOnly, verbose: a.verbose, prefix: a.mountPrefix });
      setup = await settingUp;
      if (finishing) return; // a signal came during the set-up: teardown() has it
      oracle = setup.oracle;
      subject = setup.subject;
      print(`oracle: kernel tmpfs on ${oracle}`);
      print(`subject: ${a.subjectKind === 'puffs' ? `puffs tmpfs (pid ${setup.serverPid})` : 'kernel tmpfs'} on ${subject}`);
    }

    if (a.integrity) {
      const reports: IntegrityReport[] = [];
      const start = Date.now();
      for (let k = 0; k < a.seeds; k++) {
        const left = a.timeBudget !== undefined ? a.timeBudget - (Date.now() - start) / 1000 : undefined;
        if (left !== undefined && left <= 0) break;
        const seed = (firstSeed + k) >>> 0;
        const rep = await spawnIntegrity({ file: join(subject, `integrity-${seed}`), seed, ops: opsPerSeed, timeBudgetSec: left }, (left ?? 600) * 1000 + 60_000);
        reports.push(rep);
        const replay = `node ${relative(process.cwd(), fileURLToPath(import.meta.url))} --integrity --seed ${seed} --seeds 1 --ops ${opsPerSeed}${a.subjectKind === 'kernel' ? ' --subject-kind kernel' : ''}`;
        print(formatIntegrity(rep, replay));
        if (!rep.ok) exitCode = 1;
      }
      const total = reports.reduce((n, r) => n + r.opsRun, 0);
      print(`summary: integrity seeds run ${reports.length}, ops run ${total}, mismatches ${reports.filter((r) => !r.ok).length}`);
      if (a.json) print(JSON.stringify({ integrity: reports }));
      return;
    }

    const options: RunnerOptions = {
      oracle,
      subject,
      helper: helper.path,
      snapEvery: a.snapEvery,
      ignore: a.ignore,
      fault: a.fault,
      fuseSubject: !a.noTolerate && (setup ? setup.subjectKind === 'puffs' : /^fuse/.test(mountTypeOf(subject) ?? '')),
    };
    runner = new Runner(options);
    if (a.replay) {
      const text = JSON.parse(readFileSync(a.replay, 'utf8')) as Op[] | { minimal?: Op[]; ops?: Op[] };
      const ops = Array.isArray(text) ? text : (text.minimal ?? (Array.isArray(text.ops) ? text.ops : []));
      ops.forEach((op, i) => print(`  ${i + 1}. ${formatOp(op)}`));
      const rep = await runner.runOne(ops);
      print(rep.divergence ? `DIVERGENCE: ${describe(rep.divergence)}` : `${ops.length} ops, no divergence`);
      if (rep.divergence) exitCode = 1;
      return;
    }
    const gen: GenOptions = { exclude, asUserRate: a.noUsers ? 0 : undefined };
    print(`seeds ${firstSeed}..${(firstSeed + a.seeds - 1) >>> 0}, ${opsPerSeed} ops each`);
    const res = await campaign(runner, {
      seeds: a.seeds,
      ops: opsPerSeed,
      firstSeed,
      gen,
      timeBudgetSec: a.timeBudget,
      shrinkBudgetSec: a.shrinkBudget,
      maxDivergences: a.maxDivergences,
      known: a.allowKnown ? (d, ops) => knownDivergence(d, ops)?.id : undefined,
      outDir: a.out,
      replayCommand: (seed, caseFile) => replayLine(a, seed, opsPerSeed, caseFile),
      subjectGone: () => {
        if (setup?.serverExited()) return `the puffs server exited; its last output:\n${setup.serverLog().trim()}`;
        if (setup && setup.subjectKind === 'puffs' && !/^fuse/.test(mountTypeOf(subject) ?? '')) return `${subject} is no longer a FUSE mount`;
        if (setup && setup.subjectKind === 'kernel' && mountTypeOf(subject) !== 'tmpfs') return `${subject} is no longer a tmpfs mount`;
        return null;
      },
      print,
    });
    for (const k of res.known) print(`known divergence (seed ${k.seed}): ${k.known}`);
    for (const [rule, n] of Object.entries(res.tolerated)) print(`tolerated ${n}× ${rule}: ${FUSE_INHERENT[rule] ?? ''}`);
    print(`summary: seeds run ${res.seedsRun}, ops run ${res.opsRun}, divergences ${res.divergences.length}, known ${res.known.length}, flaky ${res.flaky.length}, ${(res.ms / 1000).toFixed(1)} s`);
    if (a.json) print(JSON.stringify(res));
    if (res.divergences.length) exitCode = 1;
  } catch (e) {
    process.stderr.write(`difftest: ${(e as Error).stack ?? String(e)}\n`);
    exitCode = 2;
  } finally {
    if (!finishing) {
      finishing = true;
      await teardown(false);
      clearTimeout(watchdog);
      process.exitCode = exitCode;
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
