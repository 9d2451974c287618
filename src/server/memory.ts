/**
 * Write payloads a file system keeps, in memory V8 does not count
 * (FsFeatures.accountsWriteData), and the collections that still free it.
 *
 * V8 counts ArrayBuffer memory as external memory and starts a major
 * collection for every 64 MiB of it allocated since the last one. A file
 * system that keeps its writes (tmpfs keeps each 1 MiB write as a chunk of
 * the file) grows by exactly that memory, so writing 1 GiB cost about 15
 * major collections, each marking the whole heap, for data that stays live.
 * A SharedArrayBuffer is not counted. Its memory is still freed when its
 * wrapper is collected, but nothing starts that collection: the file system,
 * which knows when data goes (unlink, truncate), reports it here, and after
 * every RECLAIM_BYTES reported an incremental collection starts, as V8's own
 * count would have started one.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { payloadSlabs } from '../slab.js';

type Collect = ((options: { type: 'major'; execution: 'async' }) => Promise<void>) & ((options: { type: 'minor' }) => void);

let collect: Collect | null | undefined;

/** V8's gc(), exposed once; null where the runtime refuses (then payloads stay ArrayBuffers). */
function collector(): Collect | null {
  if (collect === undefined) {
    try {
      // The flag makes gc() a global of contexts made after it.
      setFlagsFromString('--expose-gc');
      const gc: unknown = runInNewContext('gc');
      collect = typeof gc === 'function' ? (gc as Collect) : null;
    } catch {
      collect = null;
    }
  }
  return collect;
}

/** Whether payloads may go uncounted: only when this process can start collections itself. */
export function canKeepUncounted(): boolean {
  return collector() !== null;
}

/** Uncounted bytes released before a collection starts: V8's own step for external memory. */
export const RECLAIM_BYTES = 64 << 20;

let released = 0;
let scheduled = false;

/**
 * `bytes` of uncounted memory (SharedArrayBuffers from write payloads) are
 * no longer referenced. After every RECLAIM_BYTES an incremental major
 * collection starts, once the current request has been answered.
 */
export function releasedUncounted(bytes: number): void {
  released += bytes;
  if (released >= RECLAIM_BYTES) collectSoon();
}

/** Start an incremental major collection once the current request has been answered. */
function collectSoon(): void {
  if (scheduled) return;
  const gc = collector();
  if (gc === null) return;
  released = 0;
  scheduled = true;
  setImmediate(() => {
    scheduled = false;
    gc({ type: 'major', execution: 'async' }).catch(() => undefined);
  });
}

// Free slabs the pool lets go hold no views (slab.ts SlabPool): their memory goes at the next collection, so start one.
payloadSlabs.onDropped = collectSoon;

/** Whether `data` is uncounted memory (a payload copied into a SharedArrayBuffer). */
export function isUncounted(data: Uint8Array): boolean {
  return data.buffer instanceof SharedArrayBuffer;
}

/**
 * Requests resumed after a pause: keep V8 from giving the young generation
 * back, over and over, for seconds afterwards.
 *
 * At each scavenge V8 estimates the allocation rate from its last ten
 * collections; below 1 KB per ms it shrinks the young generation and
 * uncommits its spare semi-space, which the next scavenge takes back as
 * fresh pages (about 10 µs per 4 KiB page on the VMs we measure on). After
 * a pause, the collection that spans it reads as a low rate, and so does
 * every estimate until ten more collections have pushed it out: measured,
 * caching off, pinned, after 40 s idle, 2,800 to 7,700 page faults in the
 * next 1.5 s of fstat, each request 18-22 µs against 17 in steady state.
 * Ten minor collections at once, when requests resume, push the pause out
 * of that record in a millisecond or two, so only the first of them shrinks.
 * That pays only with a small young generation (bin/puffs runs Node with
 * --max-semi-space-size=1): with 16 MiB semi-spaces it made things worse
 * (10,300 faults against 3,400), so it is off unless a process turns it on.
 */
const QUIET_TICK_MS = 1000;
/** Ticks without a request after which the next one counts as resuming (1 to 2 s). */
const QUIET_TICKS = 2;
let quietTicks = 0;
let quietClock: ReturnType<typeof setInterval> | null = null;

/** Refresh V8's allocation-rate estimate when requests resume after a pause (see above). */
export function refreshAfterPauses(): void {
  if (quietClock !== null || collector() === null) return;
  quietClock = setInterval(() => quietTicks++, QUIET_TICK_MS);
  quietClock.unref(); // never holds a process open
}

/** Called for every request a session receives. */
export function requestArrived(): void {
  if (quietTicks >= QUIET_TICKS) refreshAllocationRate();
  quietTicks = 0;
}

/** Only reached once refreshAfterPauses found a collector. */
function refreshAllocationRate(): void {
  const gc = collector()!;
  for (let i = 0; i < 10; i++) gc({ type: 'minor' });
}
