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
  {
    id: 'chown-noop-by-other',
    description:
      'chown(path, -1, -1) by a caller who does not own a set-id file: the kernel tmpfs answers EPERM (the mode change ' +
      'that would clear the bits needs ownership); puffs tmpfs answers 0 and changes nothing. Under ' +
      'FUSE_HANDLE_KILLPRIV_V2 the kernel drops that mode change and sends an empty SETATTR, the same as it sends ' +
      'before any write to a set-id file, so tmpfs cannot refuse it. Minimal case: mknod("a", S_IFIFO|04644); ' +
      'chown("a", -1, -1) as 1001:1000.',
    matches: (d) =>
      d.kind === 'result' &&
      d.op.k === 'chown' &&
      d.op.uid === -1 &&
      d.op.gid === -1 &&
      JSON.stringify(d.oracle) === JSON.stringify({ err: 'EPERM' }) &&
      JSON.stringify(d.subject) === JSON.stringify({ ok: null }),
  },
];

/** The known divergence this one is, if any. */
export function knownDivergence(d: Divergence, ops: readonly Op[]): KnownDivergence | undefined {
  return KNOWN_PUFFS_DIVERGENCES.find((k) => k.matches(d, ops));
}
