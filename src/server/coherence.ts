/**
 * Cache coherence between sessions that serve one FileSystem object (two
 * mounts of the same tmpfs, or a mount plus an in-process client). Each
 * kernel caches names, attributes and pages with the timeouts the server
 * gave; a change made through one session is announced to every other one
 * as invalidation notifications, derived here from the request that made it.
 *
 * A file system that changes on its own (a remote store) calls the
 * session's notification methods itself; this covers changes that come in
 * through puffs.
 */
import type { Request } from '../protocol/index.js';
import { FATTR_SIZE } from '../protocol/index.js';
import type { FileSystem } from './ops.js';

/** What a session must offer to be told about others' changes. */
export interface CoherentPeer {
  invalInode(ino: number, offset?: number, length?: number): Promise<boolean>;
  invalEntry(parent: number, name: string): Promise<boolean>;
}

const peersByFs = new WeakMap<FileSystem, Set<CoherentPeer>>();
const aliases = new WeakMap<FileSystem, FileSystem>();

/**
 * Sessions serving `view` (a per-session view of a shared file system, as
 * puffs serve makes) take part in the coherence of `fs`.
 */
export function coherentAs(view: FileSystem, fs: FileSystem): void {
  aliases.set(view, fs);
}

/**
 * Join the sessions of `view`'s file system. Returns the group (read-only,
 * live: a session checks its size before each reply) and how to leave it.
 */
export function joinCoherence(view: FileSystem, peer: CoherentPeer): { peers: ReadonlySet<CoherentPeer>; leave: () => void } {
  const fs = aliases.get(view) ?? view;
  let set = peersByFs.get(fs);
  if (!set) peersByFs.set(fs, (set = new Set()));
  set.add(peer);
  const peers = set;
  return { peers, leave: () => peers.delete(peer) };
}

/** Invalidations another kernel needs after `req` succeeded; [] for reads. */
export function invalidationsFor(req: Request): ((peer: CoherentPeer) => Promise<boolean>)[] {
  const parentAttrs = (p: number) => (peer: CoherentPeer) => peer.invalInode(p, -1, 0);
  const name = (p: number, n: string) => (peer: CoherentPeer) => peer.invalEntry(p, n);
  const node = req.header.nodeid;
  switch (req.op) {
    case 'write':
      return [(peer) => peer.invalInode(node, req.arg.offset, req.data.byteLength)];
    case 'setattr':
      // A size change drops cached pages; anything else only the attributes.
      return [(peer) => peer.invalInode(node, req.arg.valid & FATTR_SIZE ? 0 : -1, 0)];
    case 'fallocate':
      return [(peer) => peer.invalInode(node, 0, 0)];
    case 'copyFileRange':
    case 'copyFileRange64':
      return [(peer) => peer.invalInode(req.arg.nodeidOut, req.arg.offOut, req.arg.len)];
    case 'setxattr':
    case 'removexattr':
      return [parentAttrs(node)];
    case 'create':
    case 'mknod':
    case 'mkdir':
    case 'symlink':
    case 'unlink':
    case 'rmdir':
      return [name(node, req.name), parentAttrs(node)];
    case 'link':
      return [name(node, req.name), parentAttrs(node), parentAttrs(req.arg.oldnodeid)];
    case 'rename':
    case 'rename2':
      return [name(node, req.name), name(req.arg.newdir, req.newName), parentAttrs(node), parentAttrs(req.arg.newdir)];
    default:
      return [];
  }
}

/**
 * Tell every session in `peers` (the group joinCoherence gave `origin`) but
 * `origin` what `req` changed. Called on every reply: a group of one costs a
 * size check, no lookup.
 */
export function announce(peers: ReadonlySet<CoherentPeer>, origin: CoherentPeer, req: Request): void {
  if (peers.size < 2) return;
  const work = invalidationsFor(req);
  if (work.length === 0) return;
  for (const peer of peers) {
    if (peer === origin) continue;
    for (const w of work) void w(peer);
  }
}
