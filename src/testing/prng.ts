/**
 * mulberry32: a tiny, fast, seedable 32-bit PRNG for tests and the
 * differential harness. Same seed, same stream, so a failure can be replayed.
 */

/** Uniform 32-bit unsigned integers. */
export function prngU32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Uniform numbers in [0, 1). */
export function prng(seed: number): () => number {
  const u32 = prngU32(seed);
  return () => u32() / 4294967296;
}
