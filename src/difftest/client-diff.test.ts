/**
 * The differential test through the in-process client: puffs tmpfs (via
 * attach()) against the kernel's tmpfs (/dev/shm, via node:fs/promises),
 * without FUSE and without root. See client-diff.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { clientGenOptions, formatCase, oracleBase, prepareProcess, runClientOps, runSeed, shrinkClient, type ClientDiffOptions, type OracleBase } from './client-diff.js';
import { describe as describeDiv } from './executor.js';
import { generate } from './ops.js';

const SEEDS = Number(process.env.CLIENT_DIFF_SEEDS ?? 30);
const OPS = Number(process.env.CLIENT_DIFF_OPS ?? 200);
/** Divergences shrunk and printed before the rest are only counted. */
const SHRINK_AT_MOST = 5;

let base: OracleBase;

before(async () => {
  prepareProcess();
  base = await oracleBase();
});

after(async () => {
  await base?.cleanup();
});

test(`client + tmpfs agrees with kernel tmpfs: ${SEEDS} seeds x ${OPS} ops`, { timeout: 120_000 }, async (t) => {
  if (!base.dir) return t.skip(base.reason);
  const options: ClientDiffOptions = { base: base.dir };
  const cases: string[] = [];
  let diverging = 0;
  let total = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    if (cases.length < SHRINK_AT_MOST) {
      const o = await runSeed(seed, OPS, options, 10_000);
      total += o.opsRun;
      if (o.shrunk) {
        diverging++;
        cases.push(formatCase(seed, OPS, o.shrunk));
      }
    } else {
      const r = await runClientOps(generate(seed, OPS, clientGenOptions()), options);
      total += r.opsRun;
      if (r.divergence) diverging++;
    }
  }
  t.diagnostic(`${total} ops run over ${SEEDS} seeds`);
  assert.equal(diverging, 0, `${diverging} of ${SEEDS} seeds diverge; the first ${cases.length}, shrunk:\n${cases.join('\n')}`);
});

test('self-check: an injected fault in the subject (stat size) is detected and shrunk to <= 3 ops', { timeout: 60_000 }, async (t) => {
  if (!base.dir) return t.skip(base.reason);
  const clean: ClientDiffOptions = { base: base.dir };
  const faulty: ClientDiffOptions = { base: base.dir, fault: 'stat-size-odd' };
  for (let seed = 1; seed <= 50; seed++) {
    // Only the part of the sequence that agrees without the fault: what diverges then is the fault's doing.
    let ops = generate(seed, OPS, clientGenOptions());
    const plain = await runClientOps(ops, clean);
    if (plain.divergence) ops = ops.slice(0, plain.divergence.index);
    const r = await runClientOps(ops, faulty);
    if (!r.divergence) continue;
    const s = await shrinkClient(ops, r.divergence, faulty, 20_000);
    t.diagnostic(formatCase(seed, OPS, s));
    assert.ok(s.confirmed, 'the shrunk case diverges again on replay');
    assert.ok(s.ops.length <= 3, `shrunk to ${s.ops.length} ops: ${describeDiv(s.divergence)}`);
    assert.match(String(s.divergence.field ?? ''), /size/, describeDiv(s.divergence));
    // And the shrunk case is the fault's: without it, it agrees.
    assert.equal((await runClientOps(s.ops, clean)).divergence, null);
    return;
  }
  assert.fail('the injected fault was never detected in 50 seeds');
});
