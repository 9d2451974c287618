/**
 * What happens when a file system leaves an operation out: the one place
 * these defaults live (no op re-implements "not supported"). Each matches the
 * documentation in ops.ts. A mutating operation never succeeds silently.
 */
import { FsError } from '../errors.js';
import type { FileSystem, MaybePromise } from './ops.js';
import { ROOT_ID, type AttrReply, type OpenReply, type StatFs, type Timespec } from './types.js';

const fail = (code: string) => (): never => {
  throw new FsError(code);
};
const ok = (): void => undefined;
const handleZero = (): OpenReply => ({ fh: 0 });

const bootTime: Timespec = { sec: Math.floor(Date.now() / 1000), nsec: 0 };

/** A file system with no getattr still needs a root the kernel can stat. */
function rootOnlyGetattr(_ctx: unknown, ino: number): AttrReply {
  if (ino !== ROOT_ID) throw new FsError('ENOSYS');
  return {
    attr: {
      ino: ROOT_ID,
      mode: 0o40755,
      nlink: 2,
      uid: 0,
      gid: 0,
      rdev: 0,
      size: 0,
      blocks: 0,
      blksize: 4096,
      atime: bootTime,
      mtime: bootTime,
      ctime: bootTime,
    },
  };
}

const emptyStatfs = (): StatFs => ({ blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, bsize: 512, namelen: 255, frsize: 512 });

/** Every FileSystem method, with its default. */
export const defaults: Required<Omit<FileSystem, 'features'>> = {
  init: ok,
  destroy: ok,
  statfs: emptyStatfs,
  syncfs: ok,
  lookup: fail('ENOENT'),
  forget: ok,
  mknod: fail('ENOSYS'),
  mkdir: fail('ENOSYS'),
  symlink: fail('ENOSYS'),
  link: fail('ENOSYS'),
  unlink: fail('ENOSYS'),
  rmdir: fail('ENOSYS'),
  rename: fail('ENOSYS'),
  getattr: rootOnlyGetattr,
  setattr: fail('ENOSYS'),
  readlink: fail('ENOSYS'),
  access: fail('ENOSYS'),
  setxattr: fail('ENOSYS'),
  getxattr: fail('ENOSYS'),
  listxattr: fail('ENOSYS'),
  removexattr: fail('ENOSYS'),
  open: handleZero,
  create: fail('ENOSYS'),
  tmpfile: fail('EOPNOTSUPP'),
  read: fail('ENOSYS'),
  write: fail('ENOSYS'),
  flush: ok,
  release: ok,
  fsync: ok,
  fallocate: fail('EOPNOTSUPP'),
  lseek: fail('ENOSYS'),
  copyFileRange: fail('ENOSYS'),
  getlk: fail('ENOSYS'),
  setlk: fail('ENOSYS'),
  opendir: handleZero,
  readdir: fail('ENOSYS'),
  releasedir: ok,
  fsyncdir: ok,
  bmap: fail('ENOSYS'),
  poll: fail('ENOSYS'),
  ioctl: fail('ENOTTY'),
};

/** A file system's ops with the defaults filled in, bound to it, built once per session. */
export type OpVector = { [K in keyof typeof defaults]: NonNullable<FileSystem[K]> } & {
  /** Which ops the file system itself provides (capabilities are offered on that basis). */
  readonly provided: ReadonlySet<keyof FileSystem>;
};

export function opVector(fs: FileSystem): OpVector {
  const provided = new Set<keyof FileSystem>();
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(defaults) as (keyof typeof defaults)[]) {
    const own = fs[key] as ((...args: unknown[]) => MaybePromise<unknown>) | undefined;
    if (typeof own === 'function') {
      provided.add(key);
      out[key] = own.bind(fs);
    } else {
      out[key] = defaults[key];
    }
  }
  out.provided = provided;
  return out as unknown as OpVector;
}
