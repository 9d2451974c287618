/**
 * A RequestContext for calling file-system methods directly in tests.
 */
import type { RequestContext } from '../../server/types.js';
import type { Tmpfs } from './tmpfs.js';

/** Who is asking: defaults to root with umask 0. */
export interface TestContextOptions {
  uid?: number;
  gid?: number;
  groups?: readonly number[];
  umask?: number;
  pid?: number;
  signal?: AbortSignal;
}

let unique = 1;

/** A RequestContext as the session would build it. */
export function ctx(options: TestContextOptions = {}): RequestContext {
  const groups = options.groups ?? [];
  return {
    uid: options.uid ?? 0,
    gid: options.gid ?? 0,
    pid: options.pid ?? 4242,
    umask: options.umask ?? 0,
    signal: options.signal ?? new AbortController().signal,
    unique: unique++,
    groups: () => groups,
  };
}

/** Open flags (Linux values) for tests. */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;

/** Bytes of a string. */
export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** A string of bytes. */
export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

/** A Timespec as nanoseconds, for comparisons. */
export function ns(t: { sec: number; nsec: number }): bigint {
  return BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
}

/** Let the clock move on. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 2));
}

/** fs.read joined into one buffer: tmpfs answers reads with the pages themselves (a gather list). */
export function readBytes(fs: { read(...a: Parameters<Tmpfs['read']>): ReturnType<Tmpfs['read']> }, ...args: Parameters<Tmpfs['read']>): Uint8Array {
  const r = fs.read(...args);
  if (r instanceof Uint8Array) return r;
  const parts = r as readonly Uint8Array[];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
