/**
 * The differential test: puffs tmpfs against the kernel's tmpfs, plus the
 * harness's own checks (kernel against kernel shows nothing; an injected
 * fault is found and shrunk) and the data-integrity exerciser.
 *
 * This process only mounts, unmounts and starts children: the executor and
 * the integrity exerciser (the only processes that make blocking calls on
 * the mounts) and the puffs server are child processes. Every mount is under
 * `${tmpdir}/puffs-test-difftest-*`, taken down in finally, and after() sweeps
 * whatever a killed run left there.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { campaign, type CampaignResult } from './cli.js';
import { ensureHelper } from './helper.js';
import { spawnIntegrity } from './integrity.js';
import { knownDivergence } from './known.js';
import { HELPER_KINDS, formatOp, type GenOptions, type OpKind } from './ops.js';
import { Runner } from './runner.js';
import { DIFFTEST_PREFIX, mounts, puffsHasTmpfs, setupMounts, sweep, type Setup, type SubjectKind } from './setup.js';
import { describe as describeDivergence, type ExecOptions } from './executor.js';

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));
const isRoot = process.getuid?.() === 0;
const skipRoot = isRoot ? false : 'needs root (mounts kernel tmpfs)';
const skipFuse = !isRoot ? 'needs root' : !existsSync('/dev/fuse') ? 'needs /dev/fuse' : false;
const haveTmpfs = skipFuse ? false : await puffsHasTmpfs();
const skipPuffs = skipFuse || (haveTmpfs ? false : 'puffs tmpfs is not in the CLI yet (node dist/cli/main.js --help does not list it)');

const helper = ensureHelper();
const gen: GenOptions = { exclude: new Set<OpKind>(helper.path ? [] : [...HELPER_KINDS]) };
if (!helper.path) console.log(`# no C helper (${helper.why}): mknod, renameat2, xattr, fallocate, SEEK_DATA and mmap are left out`);

after(async () => {
  const left = await sweep(DIFFTEST_PREFIX);
  assert.deepEqual(left, [], 'no test may leave a mount behind');
});

/** Mount both trees, run `body` with a runner on them, take everything down. */
async function withTrees<T>(
  kind: SubjectKind,
  options: Partial<ExecOptions>,
  body: (runner: Runner, setup: Setup) => Promise<T>,
  rootOnly = false,
): Promise<T> {
  const setup = await setupMounts({ subjectKind: kind, size: '64m', prefix: DIFFTEST_PREFIX, rootOnly });
  const runner = new Runner({ oracle: setup.oracle, subject: setup.subject, helper: helper.path, fuseSubject: kind === 'puffs', ...options });
  try {
    return await body(runner, setup);
  } finally {
    await runner.close();
    const problems = await setup.cleanup();
    assert.deepEqual(problems, [], 'cleanup');
  }
}

function report(res: CampaignResult, lines: string[]): string {
  return `${lines.join('\n')}\n${res.seedsRun} seeds, ${res.opsRun} ops`;
}

test('harness self-test: kernel tmpfs against kernel tmpfs shows no divergence (20 seeds x 200 ops)', { skip: skipRoot, timeout: 120_000 }, async () => {
  await withTrees('kernel', {}, async (runner) => {
    const lines: string[] = [];
    const res = await campaign(runner, { seeds: 20, ops: 200, firstSeed: 1, gen, outDir: null, print: (l) => lines.push(l) });
    assert.equal(res.seedsRun, 20);
    assert.equal(res.opsRun, 20 * 200);
    assert.deepEqual(res.divergences, [], report(res, lines));
    if (res.flaky.length) console.log(`# flaky (not reproduced): ${res.flaky.map((f) => describeDivergence(f.original)).join('; ')}`);
  });
});

test('harness self-test: an injected fault is detected and shrunk to at most 3 ops', { skip: skipRoot, timeout: 120_000 }, async () => {
  for (const fault of ['stat-size-odd', 'hide-c']) {
    await withTrees('kernel', { fault }, async (runner) => {
      const lines: string[] = [];
      const res = await campaign(runner, { seeds: 20, ops: 200, firstSeed: 7, gen, outDir: null, maxDivergences: 1, print: (l) => lines.push(l) });
      assert.equal(res.divergences.length, 1, `fault ${fault} was not found\n${report(res, lines)}`);
      const f = res.divergences[0]!;
      assert.ok(f.minimal, 'shrunk');
      assert.ok(f.minimal.length <= 3, `fault ${fault}: minimal case has ${f.minimal.length} ops:\n${f.minimal.map(formatOp).join('\n')}`);
      assert.equal(f.confirmed, true, 'the minimal case diverges again when replayed');
      if (fault === 'stat-size-odd') assert.match(f.divergence.op.k, /^(stat|lstat|fstat)$/);
      console.log(`# ${fault}: ${f.minimal.map(formatOp).join('; ')} -> ${describeDivergence(f.divergence)}`);
    });
  }
});

/**
 * Seeds of 200 ops on puffs tmpfs against kernel tmpfs, which must show no
 * divergence but the known ones of known.ts (none tolerated for root alone,
 * where none is known).
 */
async function puffsCampaign(seeds: number, firstSeed: number, rootOnly: boolean): Promise<CampaignResult> {
  return withTrees(
    'puffs',
    {},
    async (runner, setup) => {
      const lines: string[] = [];
      const res = await campaign(runner, {
        seeds,
        ops: 200,
        firstSeed,
        gen: rootOnly ? { ...gen, asUserRate: 0 } : gen,
        outDir: null,
        shrinkBudgetSec: 30,
        known: rootOnly ? undefined : (d, ops) => knownDivergence(d, ops)?.id,
        subjectGone: () => (setup.serverExited() ? `the puffs server exited:\n${setup.serverLog()}` : null),
        print: (l) => lines.push(l),
      });
      assert.equal(res.subjectLost, undefined, report(res, lines));
      assert.deepEqual(res.divergences, [], report(res, lines));
      assert.ok(res.opsRun >= seeds * 100, `only ${res.opsRun} ops were checked`);
      return res;
    },
    rootOnly,
  );
}

test('puffs tmpfs against kernel tmpfs: no divergence beyond the known ones of known.ts (20 seeds x 200 ops)', { skip: skipPuffs, timeout: 180_000 }, async () => {
  const res = await puffsCampaign(20, 1, false);
  for (const k of res.known) console.log(`# known divergence (seed ${k.seed}): ${k.known}: ${describeDivergence(k.original)}`);
  for (const [rule, n] of Object.entries(res.tolerated)) console.log(`# tolerated ${n}x ${rule} (inherent to FUSE)`);
});

test('puffs tmpfs as the CLI mounts it for root alone (tmpfs checks permissions, not the kernel): no divergence in root\'s ops (10 seeds x 200 ops)', { skip: skipPuffs, timeout: 180_000 }, async () => {
  await puffsCampaign(10, 101, true);
});

test('integrity exerciser: kernel tmpfs passes; a byte changed behind its back is caught', { skip: skipRoot, timeout: 120_000 }, async () => {
  await withTrees('kernel', {}, async (_runner, setup) => {
    const ok = await spawnIntegrity({ file: join(setup.subject, 'integrity'), seed: 1, ops: 3000 }, 90_000);
    assert.equal(ok.ok, true, JSON.stringify(ok.failure));
    assert.equal(ok.opsRun, 3000);
    if (helper.path) assert.ok(ok.counts.mapread && ok.counts.mapwrite, 'mmap ops ran');
    const bad = await spawnIntegrity({ file: join(setup.subject, 'integrity'), seed: 2, ops: 3000, corruptAt: 100 }, 90_000);
    assert.equal(bad.ok, false, 'the corruption was noticed');
    assert.equal(bad.failure!.index, 100, `noticed at op ${bad.failure!.index}`);
    assert.match(bad.failure!.message, /first difference at file offset \d+/);
  });
});

test('integrity exerciser on puffs tmpfs (3 seeds x 3000 ops)', { skip: skipPuffs, timeout: 180_000 }, async () => {
  await withTrees('puffs', {}, async (_runner, setup) => {
    for (const seed of [1, 2, 3]) {
      const rep = await spawnIntegrity({ file: join(setup.subject, `integrity-${seed}`), seed, ops: 3000 }, 120_000);
      assert.equal(rep.ok, true, `seed ${seed}: ${JSON.stringify(rep.failure, null, 1)}`);
      assert.equal(setup.serverExited(), false, setup.serverLog());
    }
  });
});

function runCli(args: string[], onStdout?: (text: string, pid: number) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--mount-prefix', DIFFTEST_PREFIX, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const add = (d: string) => {
      out += d;
      onStdout?.(out, child.pid!);
    };
    child.stdout.setEncoding('utf8').on('data', add);
    child.stderr.setEncoding('utf8').on('data', add);
    const t = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, out });
    });
  });
}

test('the command line: exit 0 without divergence, 1 with one (and a minimal case and a replay line)', { skip: skipRoot, timeout: 120_000 }, async () => {
  const good = await runCli(['--subject-kind', 'kernel', '--seeds', '3', '--ops', '100', '--seed', '5']);
  assert.equal(good.code, 0, good.out);
  assert.match(good.out, /summary: seeds run 3, ops run 300, divergences 0/);
  const out = mkdtempSync(join(tmpdir(), 'puffs-difftest-cases-'));
  try {
    const bad = await runCli(['--subject-kind', 'kernel', '--seeds', '10', '--ops', '200', '--seed', '5', '--fault', 'stat-size-odd', '--max-divergences', '1', '--out', out]);
    assert.equal(bad.code, 1, bad.out);
    assert.match(bad.out, /minimal case \(\d op/);
    assert.match(bad.out, /replay: node \S*cli\.js --seed \d+ --seeds 1 --ops 200 --subject-kind kernel .*--fault stat-size-odd/);
    const [caseFile] = readdirSync(out);
    assert.ok(caseFile, 'the minimal case was written');
    // The case file replays on its own.
    const replay = await runCli(['--subject-kind', 'kernel', '--fault', 'stat-size-odd', '--replay', join(out, caseFile)]);
    assert.equal(replay.code, 1, replay.out);
    assert.match(replay.out, /DIVERGENCE: op #\d+ (stat|lstat|fstat)/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  assert.equal(mounts().filter(([m]) => m.startsWith(DIFFTEST_PREFIX)).length, 0);
});

test('the command line: SIGINT in the middle of a run unmounts both trees', { skip: skipRoot, timeout: 60_000 }, async () => {
  let sent = false;
  const res = await runCli(['--subject-kind', 'kernel', '--seeds', '100000', '--ops', '200', '--seed', '1'], (out, pid) => {
    if (!sent && /seed \d+: 200 ops/.test(out)) {
      sent = true;
      process.kill(pid, 'SIGINT');
    }
  });
  assert.ok(sent, res.out);
  assert.equal(res.code, 130, res.out);
  assert.match(res.out, /SIGINT: cleaning up/);
  assert.equal(mounts().filter(([m]) => m.startsWith(DIFFTEST_PREFIX)).length, 0, 'both trees unmounted');
});
