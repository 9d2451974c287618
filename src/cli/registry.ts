/** The file systems the CLI can mount, by name. */
import { HelloFs } from '../fs/hello/index.js';
import { Tmpfs, parseTmpfsOptions } from '../fs/tmpfs/index.js';
import type { FileSystem } from '../server/ops.js';
import type { PuffsMountOptions } from '../server/mount.js';

export interface FsFactory {
  description: string;
  /** Help lines for the file system's own -o options. */
  options?: string;
  /** Mount options this file system recommends; the user's -o options override them. */
  defaults?: PuffsMountOptions;
  /** Build the file system from its own options, knowing the final mount options. */
  create(options: string[], mount: PuffsMountOptions): FileSystem;
}

/**
 * Whether only root can reach a mount made with these options. Without
 * allow_other the kernel lets in only processes whose uids and gids all equal
 * the mount's owner (fuse_allow_current_process), the user mounting it.
 */
export function onlyRootReaches(mount: PuffsMountOptions): boolean {
  return !mount.allowOther && (mount.uid ?? process.getuid?.() ?? 0) === 0 && (mount.gid ?? process.getgid?.() ?? 0) === 0;
}

export const fileSystems: Record<string, FsFactory> = {
  hello: {
    description: 'one read-only file, hello, with a greeting',
    create(options) {
      if (options.length) throw new Error(`hello takes no options (got ${options.join(',')})`);
      return new HelloFs();
    },
  },
  tmpfs: {
    description: 'a POSIX memory file system with the semantics and limits of Linux tmpfs',
    options: [
      '      size=N[k|m|g|%]    bytes of data it may hold (default 50% of RAM; 0 = unlimited)',
      '      nr_inodes=N[k|m|g] files it may hold (default: half the RAM pages; 0 = unlimited)',
      '      mode=OCTAL         mode of the root (default 1777)',
      '      uid=N, gid=N       owner of the root (default: the mounting user)',
      '      tmpfs checks permissions itself when the kernel does not (see',
      '      default_permissions below)',
    ].join('\n'),
    // Every change reaches tmpfs through a puffs session, and sessions keep
    // each other's kernels coherent, so names and attributes can be cached long.
    defaults: { entryTimeout: 60, attrTimeout: 60, negativeTimeout: 60 },
    create(options, mount) {
      return new Tmpfs({
        ...parseTmpfsOptions(options.join(',')),
        checkPermissions: !mount.defaultPermissions,
        checkOpendir: !onlyRootReaches(mount),
      });
    },
  },
};
