/**
 * The workloads. Each runs the C load generator (bench/c/pbench.c) or fio
 * against one contender's mount and returns one number. Workloads run in
 * this order, each on every contender in turn before the next starts, so
 * state carries from one to the next (create, then stat, then unlink...).
 */
import { join } from 'node:path';
import { must, run } from './proc.mjs';

/**
 * @typedef {{ pbench: string, pin: boolean, cache: 'off'|'shipped', sizes: Sizes, timeoutMs: number }} Ctx
 * @typedef {{ files: number, treeFiles: number, treeFileSize: number, seqBytes: number, floorSec: number, fioSec: number }} Sizes
 * @typedef {{ id: string, label: string, unit: string, better: 'lower'|'higher', modes: ('off'|'shipped')[],
 *   needs: 'floor'|'full', run: (ctx: Ctx, inst: any) => Promise<number> }} Workload
 */

const MiB = 1024 * 1024;

function pinned(ctx, cmd, args) {
  return ctx.pin ? ['taskset', ['-c', '0', cmd, ...args]] : [cmd, args];
}

/** Run pbench (pinned to CPU 0 if the group is) and parse its JSON line. */
async function pb(ctx, ...args) {
  const [cmd, argv] = pinned(ctx, ctx.pbench, args.map(String));
  const out = await must(cmd, argv, { timeoutMs: ctx.timeoutMs });
  return JSON.parse(out.trim().split('\n').pop());
}

/** Drop the page, dentry and inode caches (FUSE mounts then ask their servers again). */
export async function dropCaches() {
  await must('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches'], { timeoutMs: 60_000 });
}

/** A shell step inside a mount, run as a child so a stuck server cannot block the harness. */
export async function sh(script, timeoutMs = 60_000) {
  await must('sh', ['-c', script], { timeoutMs });
}

async function fio(ctx, inst, rw, direct) {
  const file = join(inst.dir, 'big');
  const args = [
    '--name=bench',
    `--filename=${file}`,
    `--rw=${rw}`,
    '--bs=4k',
    `--size=${ctx.sizes.seqBytes}`,
    `--runtime=${Math.round(ctx.sizes.fioSec * 1000)}ms`, // fio reads a bare '0.3' as 0 s
    '--time_based=1',
    '--ioengine=psync',
    `--direct=${direct ? 1 : 0}`,
    '--output-format=json',
  ];
  const [cmd, argv] = pinned(ctx, 'fio', args);
  const out = await must(cmd, argv, { timeoutMs: ctx.timeoutMs });
  const json = JSON.parse(out.slice(out.indexOf('{')));
  const job = json.jobs[0];
  if (job.error) throw new Error(`fio error ${job.error}`);
  const side = rw.includes('read') ? job.read : job.write;
  if (!(side.iops > 0) || job.job_runtime < ctx.sizes.fioSec * 900) throw new Error(`fio ran ${job.job_runtime} ms, ${side.iops} IOPS`);
  return side.iops;
}

const usPerOp = (r) => (r.sec / r.ops) * 1e6;
const ms = (r) => r.sec * 1e3;
const mibps = (r) => r.bytes / MiB / r.sec;

/** @type {Workload[]} */
export const WORKLOADS = [
  {
    id: 'floor1',
    label: 'fstat floor, 1 proc',
    unit: 'µs/op',
    better: 'lower',
    modes: ['off', 'shipped'],
    needs: 'floor',
    run: async (ctx, inst) => usPerOp(await pb(ctx, 'floor', inst.floorFile, ctx.sizes.floorSec, 1)),
  },
  {
    id: 'floor2',
    label: 'fstat floor, 2 procs',
    unit: 'µs/op',
    better: 'lower',
    modes: ['off', 'shipped'],
    needs: 'floor',
    run: async (ctx, inst) => usPerOp(await pb(ctx, 'floor', inst.floorFile, ctx.sizes.floorSec, 2)),
  },
  {
    id: 'statsame',
    label: 'stat unchanged file',
    unit: 'µs/op',
    better: 'lower',
    modes: ['off', 'shipped'],
    needs: 'full',
    run: async (ctx, inst) => usPerOp(await pb(ctx, 'statloop', inst.floorFile, ctx.sizes.floorSec, 1)),
  },
  {
    id: 'create',
    label: 'create N files',
    unit: 'µs/file',
    better: 'lower',
    modes: ['off', 'shipped'],
    needs: 'full',
    async run(ctx, inst) {
      await sh(`rm -rf '${inst.dir}/many' && mkdir '${inst.dir}/many'`);
      return usPerOp(await pb(ctx, 'create', join(inst.dir, 'many'), ctx.sizes.files));
    },
  },
  {
    id: 'stat',
    label: 'stat N files',
    unit: 'µs/file',
    better: 'lower',
    modes: ['off', 'shipped'],
    needs: 'full',
    run: async (ctx, inst) => usPerOp(await pb(ctx, 'stat', join(inst.dir, 'many'), ctx.sizes.files)),
  },
  {
    id: 'readdir',
    label: 'readdir N files',
    unit: 'ms',
    better: 'lower',
    modes: ['off', 'shipped'],
    needs: 'full',
    async run(ctx, inst) {
      const r = await pb(ctx, 'readdir', join(inst.dir, 'many'));
      if (r.ops !== ctx.sizes.files + 2) throw new Error(`readdir saw ${r.ops} entries, expected ${ctx.sizes.files + 2}`);
      return ms(r);
    },
  },
  {
    id: 'unlink',
    label: 'unlink N files',
    unit: 'µs/file',
    better: 'lower',
    modes: ['off', 'shipped'],
    needs: 'full',
    async run(ctx, inst) {
      const r = await pb(ctx, 'unlink', join(inst.dir, 'many'), ctx.sizes.files);
      await sh(`rmdir '${inst.dir}/many'`);
      return usPerOp(r);
    },
  },
  {
    id: 'treeCreate',
    label: 'tree: create',
    unit: 'ms',
    better: 'lower',
    modes: ['off', 'shipped'],
    needs: 'full',
    async run(ctx, inst) {
      await sh(`rm -rf '${inst.dir}/tree'`);
      return ms(await pb(ctx, 'mktree', join(inst.dir, 'tree'), ctx.sizes.treeFiles, ctx.sizes.treeFileSize));
    },
  },
  {
    id: 'treeWalkCold',
    label: 'tree: walk, cold',
    unit: 'ms',
    better: 'lower',
    modes: ['off', 'shipped'],
    needs: 'full',
    async run(ctx, inst) {
      await dropCaches();
      return ms(await pb(ctx, 'walk', join(inst.dir, 'tree')));
    },
  },
  {
    id: 'treeReadCold',
    label: 'tree: read, cold',
    unit: 'ms',
    better: 'lower',
    modes: ['off', 'shipped'],
    needs: 'full',
    async run(ctx, inst) {
      await dropCaches();
      const r = await pb(ctx, 'readtree', join(inst.dir, 'tree'));
      if (r.bytes !== ctx.sizes.treeFiles * ctx.sizes.treeFileSize) throw new Error(`read ${r.bytes} bytes of the tree`);
      return ms(r);
    },
  },
  {
    id: 'treeWalkCached',
    label: 'tree: walk, cached',
    unit: 'ms',
    better: 'lower',
    modes: ['off', 'shipped'],
    needs: 'full',
    async run(ctx, inst) {
      await pb(ctx, 'walk', join(inst.dir, 'tree')); // warm up, untimed
      return ms(await pb(ctx, 'walk', join(inst.dir, 'tree')));
    },
  },
  {
    id: 'treeRm',
    label: 'tree: remove',
    unit: 'ms',
    better: 'lower',
    modes: ['off', 'shipped'],
    needs: 'full',
    run: async (ctx, inst) => ms(await pb(ctx, 'rmtree', join(inst.dir, 'tree'))),
  },
  {
    id: 'seqWrite',
    label: 'seq write',
    unit: 'MiB/s',
    better: 'higher',
    modes: ['shipped'],
    needs: 'full',
    async run(ctx, inst) {
      // Untimed: see the note on memory in bench/README.md.
      await dropCaches();
      const r = await pb(ctx, 'seqwrite', join(inst.dir, 'big'), ctx.sizes.seqBytes, MiB);
      return mibps(r);
    },
  },
  {
    id: 'seqReadCached',
    label: 'seq read, cached',
    unit: 'MiB/s',
    better: 'higher',
    modes: ['shipped'],
    needs: 'full',
    async run(ctx, inst) {
      await dropCaches(); // untimed: see the note on memory in bench/README.md
      await pb(ctx, 'seqread', join(inst.dir, 'big'), MiB); // warm up, untimed
      const r = await pb(ctx, 'seqread', join(inst.dir, 'big'), MiB);
      if (r.bytes !== ctx.sizes.seqBytes) throw new Error(`read ${r.bytes} bytes, expected ${ctx.sizes.seqBytes}`);
      return mibps(r);
    },
  },
  {
    id: 'seqReadCold',
    label: 'seq read, cold',
    unit: 'MiB/s',
    better: 'higher',
    modes: ['shipped'],
    needs: 'full',
    async run(ctx, inst) {
      await dropCaches();
      const r = await pb(ctx, 'seqread', join(inst.dir, 'big'), MiB);
      if (r.bytes !== ctx.sizes.seqBytes) throw new Error(`read ${r.bytes} bytes, expected ${ctx.sizes.seqBytes}`);
      return mibps(r);
    },
  },
  {
    id: 'randRead',
    label: '4K rand read',
    unit: 'IOPS',
    better: 'higher',
    modes: ['shipped'],
    needs: 'full',
    run: (ctx, inst) => fio(ctx, inst, 'randread', false),
  },
  {
    id: 'randWrite',
    label: '4K rand write',
    unit: 'IOPS',
    better: 'higher',
    modes: ['shipped'],
    needs: 'full',
    run: (ctx, inst) => fio(ctx, inst, 'randwrite', false),
  },
  {
    id: 'randReadDirect',
    label: '4K rand read, O_DIRECT',
    unit: 'IOPS',
    better: 'higher',
    modes: ['shipped'],
    needs: 'full',
    run: (ctx, inst) => fio(ctx, inst, 'randread', true),
  },
  {
    id: 'randWriteDirect',
    label: '4K rand write, O_DIRECT',
    unit: 'IOPS',
    better: 'higher',
    modes: ['shipped'],
    needs: 'full',
    run: (ctx, inst) => fio(ctx, inst, 'randwrite', true),
  },
];

/** Put a contender's mount back to empty (plus the floor file) after a round; untimed. */
export async function resetMount(inst) {
  if (!inst.full) return;
  await run('sh', ['-c', `rm -rf '${inst.dir}/big' '${inst.dir}/many' '${inst.dir}/tree'`], { timeoutMs: 120_000 });
}

/** The file the floor and stat-loop workloads use on a writable contender. */
export async function makeFloorFile(inst) {
  if (inst.floorFile) return;
  const f = join(inst.dir, 'floor');
  await sh(`printf 'floor\\n' > '${f}'`);
  inst.floorFile = f;
}

/**
 * An unmeasured pass over every kind of request the workloads make, so that
 * rounds 1 and 2 do not time JIT compilation (puffs, fuse-native) or cold
 * code paths (every contender gets the same pass). With 3 rounds a cold
 * round moves the median. The directory and tree passes run at full size:
 * at 500 files, a listing is too short for V8 to optimize it, and puffs'
 * first two rounds compiled on the pinned CPU while they were timed
 * (readdir of 10k: 9 ms in rounds 1 and 2, 4 ms from round 3 on). The
 * fstat loops come last, as round 1 begins with them.
 */
export async function warmUp(ctx, inst) {
  if (!inst.full) return;
  const d = join(inst.dir, 'warmup');
  const { files, treeFiles, treeFileSize } = ctx.sizes;
  await sh(`mkdir -p '${d}'`);
  await pb(ctx, 'create', d, files);
  await pb(ctx, 'stat', d, files);
  // Twice: a JIT compiles listing code during the first, and a path the first
  // reaches only once (its start, its end) may send it back; the second leaves
  // it settled. puffs's round 1 timed such a recompile (10k: 13-15 ms, then 4).
  await pb(ctx, 'readdir', d);
  await pb(ctx, 'readdir', d);
  await pb(ctx, 'unlink', d, files);
  await pb(ctx, 'mktree', join(d, 'tree'), treeFiles, treeFileSize);
  await pb(ctx, 'walk', join(d, 'tree'));
  await pb(ctx, 'readtree', join(d, 'tree'));
  await pb(ctx, 'rmtree', join(d, 'tree'));
  await pb(ctx, 'seqwrite', join(d, 'big'), 16 * MiB, MiB);
  await pb(ctx, 'seqread', join(d, 'big'), MiB);
  await run('sh', ['-c', `rm -rf '${d}'`], { timeoutMs: 60_000 });
  // Last: round 1 starts with these loops. The other requests above (writes
  // with payloads, reads) leave the shared request path deoptimized, and puffs
  // spent about 60 ms of TurboFan on the pinned CPU in round 1's fstat loop.
  await pb(ctx, 'floor', inst.floorFile, 0.3, 1);
  await pb(ctx, 'floor', inst.floorFile, 0.2, 2);
  await pb(ctx, 'statloop', inst.floorFile, 0.2, 1);
}
