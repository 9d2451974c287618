/**
 * Wall-clock time with nanosecond resolution. Date.now() only has
 * milliseconds, so the time is the wall clock at a base instant plus the
 * monotonic clock since; the base is re-taken when the two drift apart
 * (clock set, NTP step) so timestamps follow the real-time clock as the
 * kernel's do.
 */
import type { Timespec } from '../../server/types.js';

let baseSec = 0;
let baseNsec = 0;
let baseMono = 0;

function rebase(): void {
  const mono = performance.now();
  const wall = Date.now();
  baseSec = Math.floor(wall / 1000);
  baseNsec = (wall - baseSec * 1000) * 1_000_000;
  baseMono = mono;
}
rebase();

/** Drift tolerated before re-basing on Date.now(), in ms. */
const MAX_DRIFT_MS = 20;

/** The current real time. */
export function now(): Timespec {
  const elapsed = performance.now() - baseMono;
  const whole = Math.floor(elapsed);
  let sec = baseSec + Math.floor(whole / 1000);
  let nsec = baseNsec + (whole % 1000) * 1_000_000 + Math.floor((elapsed - whole) * 1_000_000);
  while (nsec >= 1_000_000_000) {
    nsec -= 1_000_000_000;
    sec++;
  }
  const drift = Date.now() - (sec * 1000 + nsec / 1_000_000);
  if (drift > MAX_DRIFT_MS || drift < -MAX_DRIFT_MS) {
    rebase();
    return now();
  }
  // An int32 operation keeps nsec a small integer (Smi) in V8 whichever tier computed it; a float
  // here made every Timespec reader (the bridge's attribute encoder) deoptimize again and again.
  return { sec, nsec: nsec | 0 };
}
