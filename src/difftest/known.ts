/**
 * Divergences of puffs tmpfs from the kernel's tmpfs that are known and not
 * fixed yet. The test (and the CLI with --allow-known) count a divergence
 * that matches one of these as known instead of failing; anything else
 * fails. Delete an entry once puffs tmpfs behaves like the kernel there.
 */
import type { Divergence } from './executor.js';
import type { Op } from './ops.js';

export interface KnownDivergence {
  id: string;
  /** What differs, and the minimal case the difftest found. */
  description: string;
  /** Whether a divergence (with the ops up to it) is this one. */
  matches(d: Divergence, ops: readonly Op[]): boolean;
}

export const KNOWN_PUFFS_DIVERGENCES: readonly KnownDivergence[] = [
  // None known: both found so far (truncate(2) to the same size, copy_file_range over holes) are fixed.
];

/** The known divergence this one is, if any. */
export function knownDivergence(d: Divergence, ops: readonly Op[]): KnownDivergence | undefined {
  return KNOWN_PUFFS_DIVERGENCES.find((k) => k.matches(d, ops));
}
