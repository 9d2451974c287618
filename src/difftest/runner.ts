/**
 * Runs op sequences through the executor (a child process: the only process
 * that makes blocking calls on the mounts), and shrinks a diverging sequence
 * to a minimal one by delta debugging: drop chunks, then single ops, then
 * simplify the ops' arguments; every attempt replays on fresh directories.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Divergence, ExecOptions, Job, JobReply, RunReport } from './executor.js';
import { signature } from './executor.js';
import { nameReplacements, simplifyOp, type Op } from './ops.js';

export const EXECUTOR = join(dirname(fileURLToPath(import.meta.url)), 'executor.js');

class HangError extends Error {
  constructor(
    message: string,
    readonly progress: [number, number] | null,
  ) {
    super(message);
  }
}

/** One executor child in --serve mode: jobs in, replies out, one at a time. */
class ExecutorProcess {
  private readonly child: ChildProcess;
  private waiting: { id: number; resolve: (r: JobReply) => void; reject: (e: Error) => void } | null = null;
  private progress: [number, number] | null = null;
  private nextId = 1;
  private stderr = '';
  private exited = false;
  readonly done: Promise<void>;

  constructor() {
    this.child = spawn(process.execPath, [EXECUTOR, '--serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-8000);
    });
    this.child.stdin!.on('error', () => undefined);
    const rl = createInterface({ input: this.child.stdout!, crlfDelay: Infinity });
    rl.on('line', (line) => {
      let msg: JobReply & { progress?: [number, number] };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      if (!this.waiting || msg.id !== this.waiting.id) return;
      if (msg.progress) {
        this.progress = msg.progress;
        return;
      }
      const w = this.waiting;
      this.waiting = null;
      w.resolve(msg);
    });
    this.done = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.exited = true;
        const w = this.waiting;
        this.waiting = null;
        w?.reject(new Error(`executor exited (${code ?? signal}) during a job: ${this.stderr}`));
        resolve();
      }),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  run(job: Omit<Job, 'id'>, timeoutMs: number): Promise<JobReply> {
    if (this.exited) return Promise.reject(new Error(`executor is gone: ${this.stderr}`));
    const id = this.nextId++;
    this.progress = null;
    return new Promise<JobReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        const progress = this.progress;
        this.waiting = null;
        this.kill();
        reject(new HangError(`executor gave no answer in ${timeoutMs} ms`, progress));
      }, timeoutMs);
      this.waiting = {
        id,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.child.stdin!.write(`${JSON.stringify({ ...job, id })}\n`);
    });
  }

  /** SIGKILL, by pid, if still running. */
  kill(): void {
    if (!this.exited && this.child.pid) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }

  async close(): Promise<void> {
    if (this.exited) return;
    this.child.stdin!.end();
    const t = setTimeout(() => this.kill(), 3000);
    await this.done;
    clearTimeout(t);
  }
}

export interface RunnerOptions extends ExecOptions {
  /** Time allowed per op before the executor counts as hung (default 250 ms, plus 15 s per job). */
  opTimeoutMs?: number;
}

export interface ShrinkResult {
  ops: Op[];
  divergence: Divergence;
  /** Replays the shrinking took. */
  replays: number;
  /** Whether the minimal sequence diverged again when replayed once more at the end. */
  confirmed: boolean;
}

/** Runs sequences, restarting the executor after a hang. */
export class Runner {
  private exec: ExecutorProcess | null = null;
  replays = 0;

  constructor(readonly options: RunnerOptions) {}

  private executor(): ExecutorProcess {
    this.exec ??= new ExecutorProcess();
    return this.exec;
  }

  /** Pids of the children this runner started (to be killed by pid on an emergency exit). */
  pids(): number[] {
    return this.exec?.pid ? [this.exec.pid] : [];
  }

  /**
   * Run the candidates in order; stop at the first whose divergence matches
   * `stopAt` (a signature, or '*'). Returns the reports of the runs made.
   */
  async runMany(runs: Op[][], stopAt?: string, override: Partial<ExecOptions> = {}): Promise<RunReport[]> {
    const total = runs.reduce((n, r) => n + r.length, 0);
    const perOp = (this.options.opTimeoutMs ?? 100) + (override.settle ? 40 : 0);
    const timeout = 10_000 + total * perOp;
    const exec = this.executor();
    this.replays += runs.length;
    try {
      const reply = await exec.run({ options: { ...this.options, ...override }, runs, stopAt }, timeout);
      if (reply.error) throw new Error(`executor failed: ${reply.error}`);
      return reply.reports;
    } catch (e) {
      if (!(e instanceof HangError)) {
        if (this.exec === exec) this.exec = null;
        exec.kill();
        throw e;
      }
      // The executor was killed: what ran before the hang is lost except its position.
      this.exec = null;
      const [r, i] = e.progress ?? [0, 0];
      const ops = runs[r] ?? [];
      const reports: RunReport[] = runs.slice(0, r).map((ops) => ({ run: '?', opsRun: ops.length, divergence: null }));
      reports.push({
        run: '?',
        opsRun: i + 1,
        divergence: { index: i, op: ops[i] ?? ({ k: 'close', slot: 0 } as Op), kind: 'hang', oracle: 'n/a', subject: e.message },
      });
      return reports;
    }
  }

  async runOne(ops: Op[], override: Partial<ExecOptions> = {}): Promise<RunReport> {
    return (await this.runMany([ops], undefined, override))[0]!;
  }

  /** Options that make a divergence of this kind reproducible: exact time relations for 'times'. */
  static replayOptions(d: Divergence): Partial<ExecOptions> {
    return d.kind === 'times' ? { settle: true } : {};
  }

  /** The first candidate that shows a divergence with this signature: its index and (truncated) ops. */
  private async firstFailing(cands: Op[][], sig: string, override: Partial<ExecOptions>): Promise<{ ops: Op[]; divergence: Divergence } | null> {
    // Batches keep a single hang from costing every candidate.
    for (let start = 0; start < cands.length; start += 16) {
      const batch = cands.slice(start, start + 16);
      const reports = await this.runMany(batch, sig, override);
      for (let j = 0; j < reports.length; j++) {
        const d = reports[j]!.divergence;
        if (d && signature(d) === sig) return { ops: batch[j]!.slice(0, d.index + 1), divergence: d };
      }
    }
    return null;
  }

  /**
   * Shrink a diverging sequence: the result diverges the same way (same
   * signature: kind, op kind and field) with as few and as simple ops as
   * delta debugging finds within the time budget.
   */
  async shrink(ops: Op[], div: Divergence, budgetMs = 60_000): Promise<ShrinkResult> {
    const start = Date.now();
    const replays0 = this.replays;
    const sig = signature(div);
    const override = Runner.replayOptions(div);
    let cur = ops.slice(0, div.index + 1);
    let curDiv = div;
    const timeLeft = () => Date.now() - start < budgetMs;
    const accept = (r: { ops: Op[]; divergence: Divergence }) => {
      cur = r.ops;
      curDiv = r.divergence;
    };

    // 1. ddmin: drop chunks of decreasing size (down to single ops).
    const removals = async () => {
      let n = 2;
      while (cur.length >= 2 && timeLeft()) {
        const chunk = Math.ceil(cur.length / n);
        const cands: Op[][] = [];
        for (let i = 0; i < cur.length; i += chunk) cands.push([...cur.slice(0, i), ...cur.slice(i + chunk)]);
        const found = await this.firstFailing(cands, sig, override);
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

    // 2. Use fewer names: a name replaced by a smaller one everywhere (paths and symlink targets).
    const renames = async () => {
      let any = false;
      for (let again = true; again && timeLeft(); ) {
        again = false;
        const cands = nameReplacements(cur);
        if (!cands.length) break;
        const found = await this.firstFailing(cands, sig, override);
        if (found) {
          accept(found);
          any = again = true;
        }
      }
      return any;
    };
    if (await renames()) await removals();

    // 3. Simplify each op's arguments, then drop again what became unnecessary.
    let changed = true;
    while (changed && timeLeft()) {
      changed = false;
      for (let i = 0; i < cur.length && timeLeft(); i++) {
        for (;;) {
          const variants = simplifyOp(cur[i]!);
          if (!variants.length) break;
          const found = await this.firstFailing(variants.map((v) => [...cur.slice(0, i), v, ...cur.slice(i + 1)]), sig, override);
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

    const again = await this.runOne(cur, override);
    const confirmed = again.divergence !== null && signature(again.divergence) === sig;
    return { ops: cur, divergence: confirmed ? again.divergence! : curDiv, replays: this.replays - replays0, confirmed };
  }

  async close(): Promise<void> {
    const e = this.exec;
    this.exec = null;
    await e?.close();
  }

  /** Kill the executor at once (emergency exit). */
  kill(): void {
    this.exec?.kill();
  }
}
