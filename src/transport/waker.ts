/**
 * The waker of the device channel's hot loop.
 *
 * In the hot loop the JS thread blocks in read(2) on /dev/fuse, which is the
 * cheapest way to take the next request (no epoll_wait, no trip through the
 * event loop), but while it blocks nothing else in the process runs: not
 * timers, not signal handlers, not callbacks. The loop gives the event loop a
 * turn on its own whenever requests keep coming; what it cannot see is the
 * moment they stop. The waker is a small worker thread that watches from the
 * side: when the JS thread has been blocked in read for `afterMs` with no
 * request, it makes one, a statfs(2) of the mount point, which the kernel
 * hands to the blocked reader. The loop answers it and, having waited long,
 * goes back to the event loop.
 *
 * The two threads share a few counters and talk with futexes (Atomics), so
 * the JS thread's cost per request is two plain stores.
 */
import { Worker } from 'node:worker_threads';

/** Slots of the shared Int32Array. */
const HOT = 0; // 1 while the JS thread is in the hot loop
const BLOCKED = 1; // 1 while it is blocked in read(2)
const SEQ = 2; // requests taken in the hot loop (wraps)

// The worker's code, kept in this module so that the package has no extra
// entry point to resolve. CommonJS, evaluated by the worker.
const source = `
const { workerData } = require('node:worker_threads');
const { statfsSync } = require('node:fs');
const state = new Int32Array(workerData.shared);
const afterMs = workerData.afterMs;
for (;;) {
  Atomics.wait(state, ${HOT}, 0);
  if (Atomics.load(state, ${HOT}) === 2) break;
  let seen = Atomics.load(state, ${SEQ});
  while (Atomics.load(state, ${HOT}) === 1) {
    Atomics.wait(state, ${HOT}, 1, afterMs);
    const seq = Atomics.load(state, ${SEQ});
    if (Atomics.load(state, ${HOT}) === 1 && Atomics.load(state, ${BLOCKED}) === 1 && seq === seen) {
      try { statfsSync(workerData.path); } catch {}
    }
    seen = Atomics.load(state, ${SEQ});
  }
  if (Atomics.load(state, ${HOT}) === 2) break;
}
`;

export class Waker {
  private readonly state: Int32Array;
  private worker?: Worker;
  private readonly path: string;
  private readonly afterMs: number;

  /** `path`: a path whose statfs(2) becomes a request on this channel (the mount point). */
  constructor(path: string, afterMs: number) {
    this.state = new Int32Array(new SharedArrayBuffer(3 * 4));
    this.path = path;
    this.afterMs = afterMs;
  }

  /** The JS thread enters the hot loop. The worker starts on first use. */
  enter(): void {
    this.worker ??= this.spawn();
    Atomics.store(this.state, HOT, 1);
    Atomics.notify(this.state, HOT);
  }

  /** About to block in read(2). */
  blocking(): void {
    Atomics.store(this.state, BLOCKED, 1);
  }

  /** read(2) returned. */
  unblocked(): void {
    Atomics.store(this.state, BLOCKED, 0);
    Atomics.add(this.state, SEQ, 1);
  }

  /** The JS thread is back on the event loop. */
  leave(): void {
    Atomics.store(this.state, BLOCKED, 0);
    Atomics.store(this.state, HOT, 0);
    Atomics.notify(this.state, HOT);
  }

  /** Stop the worker for good. */
  stop(): void {
    Atomics.store(this.state, HOT, 2);
    Atomics.notify(this.state, HOT);
    // The worker may be inside statfs of a mount that is going away; don't wait for it.
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private spawn(): Worker {
    const worker = new Worker(source, {
      eval: true,
      workerData: { shared: this.state.buffer, path: this.path, afterMs: this.afterMs },
      // It needs little: keep its heap small.
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1 },
      stdout: false,
      stderr: false,
    });
    worker.unref();
    worker.on('error', () => undefined);
    return worker;
  }
}
