/**
 * Reading /proc/self/mountinfo, and naming mount points without touching them.
 *
 * A process that serves a FUSE mount must never wait on its own mount, and a
 * dead mount answers every lookup with ENOTCONN. So nothing here stats the
 * final component of a path that mountinfo already lists as a mount point:
 * paths are canonicalized through their parent directory instead.
 */
import { lstat, readFile, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { FsError } from '../errors.js';

/** One line of /proc/self/mountinfo, with octal escapes (`\040`) decoded. */
export interface MountInfo {
  /** Unique (while mounted) id of the mount; ids are reused after unmount. */
  readonly mountId: number;
  readonly parentId: number;
  /** `major:minor` of the file system's device (anonymous for FUSE, e.g. `0:52`). */
  readonly dev: string;
  /** Root of the mount inside its file system. */
  readonly root: string;
  /** Absolute path of the mount point, as the kernel reports it. */
  readonly mountpoint: string;
  /** Per-mount options (`rw,nosuid,relatime`). */
  readonly mountOptions: string;
  /** Optional fields such as `shared:1`. */
  readonly optionalFields: readonly string[];
  /** File system type, e.g. `fuse.puffs`. */
  readonly fstype: string;
  /** Mount source (for FUSE: the fsname). */
  readonly source: string;
  /** Per-superblock options (`rw,user_id=0,group_id=0,allow_other`). */
  readonly superOptions: string;
}

/** Where the kernel lists this namespace's mounts. */
export const MOUNTINFO_PATH = '/proc/self/mountinfo';

/** Decode the kernel's `\ooo` octal escapes (space, tab, newline, backslash). */
export function decodeMountField(field: string): string {
  if (!field.includes('\\')) return field;
  // Decode to bytes first: a UTF-8 name may also arrive escaped byte by byte.
  const bytes: number[] = [];
  const raw = Buffer.from(field, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === 0x5c && i + 3 < raw.length && isOctal(raw[i + 1]) && isOctal(raw[i + 2]) && isOctal(raw[i + 3])) {
      bytes.push(((raw[i + 1]! - 48) << 6) | ((raw[i + 2]! - 48) << 3) | (raw[i + 3]! - 48));
      i += 3;
    } else {
      bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function isOctal(b: number | undefined): boolean {
  return b !== undefined && b >= 48 && b <= 55;
}

/** Parse the text of a mountinfo file; malformed lines are skipped. */
export function parseMountInfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (fields.length < 10 || dash < 0 || fields.length < dash + 4) continue;
    const mountId = Number(fields[0]);
    const parentId = Number(fields[1]);
    if (!Number.isInteger(mountId) || !Number.isInteger(parentId)) continue;
    mounts.push({
      mountId,
      parentId,
      dev: fields[2]!,
      root: decodeMountField(fields[3]!),
      mountpoint: decodeMountField(fields[4]!),
      mountOptions: fields[5]!,
      optionalFields: fields.slice(6, dash),
      fstype: decodeMountField(fields[dash + 1]!),
      source: decodeMountField(fields[dash + 2]!),
      superOptions: fields.slice(dash + 3).join(' '),
    });
  }
  return mounts;
}

/** Read and parse this process's mount table (asynchronously: never blocks the event loop). */
export async function readMountInfo(file: string = MOUNTINFO_PATH): Promise<MountInfo[]> {
  return parseMountInfo(await readFile(file, 'utf8'));
}

/**
 * The mount a lookup of `mountpoint` reaches: the last (topmost) entry with
 * exactly that mount point. `mountpoint` must already be canonical.
 */
export function topMountAt(mounts: readonly MountInfo[], mountpoint: string): MountInfo | undefined {
  for (let i = mounts.length - 1; i >= 0; i--) {
    if (mounts[i]!.mountpoint === mountpoint) return mounts[i];
  }
  return undefined;
}

/**
 * Whether `mount` is hidden by a mount made after it on the same path or on an
 * ancestor of it: then a path lookup (and umount) would reach the other mount.
 */
export function isCovered(mounts: readonly MountInfo[], mount: MountInfo): boolean {
  const at = mounts.indexOf(mount);
  if (at < 0) return false;
  for (let i = at + 1; i < mounts.length; i++) {
    const m = mounts[i]!.mountpoint;
    if (m === mount.mountpoint || isAncestor(m, mount.mountpoint)) return true;
  }
  return false;
}

function isAncestor(dir: string, path: string): boolean {
  if (dir === '/') return path !== '/';
  return path.startsWith(dir + sep);
}

/** `fuse`, `fuseblk` and their `.subtype` forms. */
export function isFuseType(fstype: string): boolean {
  return /^fuse(blk)?(\..*)?$/.test(fstype);
}

const MAX_SYMLINKS = 40;

/**
 * Canonical absolute form of a mount point path, found without touching the
 * path's final component if that is a mount point (it might be a dead or
 * self-served FUSE mount). Parent directories are resolved with realpath;
 * a final symlink is followed by reading the link, never by stat.
 *
 * Throws ENOENT (with the given path) when a parent directory is missing.
 */
export async function resolveMountPath(path: string, mounts?: readonly MountInfo[]): Promise<string> {
  const table = mounts ?? (await readMountInfo());
  let current = resolve(path);
  for (let hops = 0; hops <= MAX_SYMLINKS; hops++) {
    let parent: string;
    try {
      parent = await realpath(dirname(current));
    } catch (err) {
      const code = codeOr(err, 'ENOENT');
      throw new FsError(code, {
        path,
        message:
          code === 'ENOENT'
            ? `mount point does not exist (no directory '${dirname(current)}')`
            : `cannot resolve the mount point's directory '${dirname(current)}' (${describe(err)})`,
      });
    }
    const name = basename(current);
    const candidate = name === '' ? parent : join(parent, name);
    if (topMountAt(table, candidate)) return candidate;
    let link: string;
    try {
      const st = await lstat(candidate);
      if (!st.isSymbolicLink()) return candidate;
      link = await readlink(candidate);
    } catch {
      return candidate; // missing: the caller reports ENOENT in its own words
    }
    current = resolve(parent, link);
  }
  throw new FsError('ELOOP', { syscall: 'realpath', path });
}

/**
 * The mount whose mount point is exactly `path` (the topmost one if mounts are
 * stacked), or undefined. `path` is canonicalized as by {@link resolveMountPath};
 * a missing path simply has no mount.
 */
export async function findMount(path: string): Promise<MountInfo | undefined> {
  const mounts = await readMountInfo();
  let canonical: string;
  try {
    canonical = await resolveMountPath(path, mounts);
  } catch {
    canonical = resolve(path);
  }
  return topMountAt(mounts, canonical);
}

/** Whether `path` is a mount point (listed in /proc/self/mountinfo). */
export async function isMountPoint(path: string): Promise<boolean> {
  return (await findMount(path)) !== undefined;
}

function codeOr(err: unknown, fallback: string): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? safeCode(code, fallback) : fallback;
}

function safeCode(code: string, fallback: string): string {
  try {
    new FsError(code);
    return code;
  } catch {
    return fallback;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
