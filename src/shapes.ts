/**
 * Hidden classes that outlive their objects.
 *
 * V8 gives the objects a constructor makes a chain of hidden classes (maps),
 * one per field added, and links the chain from the constructor only
 * weakly. When no object of a class is alive at a full collection, V8
 * drops the chain and throws away every function it optimized for it; the
 * next object gets a new chain and those functions are compiled again.
 * Per-request objects (a request's context, a readdir packer, a listing)
 * are all gone between bursts of one kind of request, so a server that
 * spent a while writing recompiled its whole lookup and readdir path at
 * the next listing: 10–15 ms of TurboFan on the serving CPU, measured.
 *
 * An exemplar kept here holds its chain alive for the life of the process.
 */
const kept: object[] = [];

/**
 * Keeps `exemplar` alive for good and returns it. Give it an object made
 * the way the hot path makes them (same constructor, same fields in the same
 * order) and holding nothing large.
 */
export function keepShape<T extends object>(exemplar: T): T {
  kept.push(exemplar);
  return exemplar;
}
