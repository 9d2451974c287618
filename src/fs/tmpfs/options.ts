/**
 * tmpfs mount options, parsed the way Linux parses `mount -t tmpfs -o ...`.
 */
import { totalmem } from 'node:os';
import { FsError } from '../../errors.js';
import { BOGO_INODE_SIZE, PAGE_SIZE } from './constants.js';

/** How a Tmpfs is configured. Every field is optional; defaults are the kernel's. */
export interface TmpfsOptions {
  /**
   * Bytes of data the file system may hold, rounded up to whole 4 KiB pages;
   * 0 means unlimited. Default: half of the machine's RAM, as Linux.
   */
  size?: number;
  /**
   * Inodes the file system may hold; 0 means unlimited. Default: half the
   * number of RAM pages, as Linux. As in Linux this is a budget of
   * nr_inodes * 1024 bytes that extended attributes also draw on.
   */
  nrInodes?: number;
  /** Permission bits (and sticky/setgid) of the root directory. Default 0o1777. */
  mode?: number;
  /** Owner of the root directory. Default: the process's uid. */
  uid?: number;
  /** Group of the root directory. Default: the process's gid. */
  gid?: number;
  /**
   * Enforce permissions (mode bits, ownership rules, sticky directories, root
   * privileges) inside tmpfs. Turn on for mounts without `default_permissions`
   * and for in-process use; leave off (default) when the kernel checks.
   */
  checkPermissions?: boolean;
  /**
   * With `checkPermissions`: have the kernel ask before it opens a directory
   * (OPENDIR), which is where tmpfs refuses an unreadable one. Default true.
   * Turn off when only root can reach the mount (no `allow_other`, mounted by
   * root): root may list any directory, and each listing is then served
   * without an OPENDIR and a RELEASEDIR round trip.
   */
  checkOpendir?: boolean;
}

/** TmpfsOptions with every default filled in; `size` is in pages here. */
export interface ResolvedTmpfsOptions {
  maxBlocks: number;
  maxInodes: number;
  mode: number;
  uid: number;
  gid: number;
  checkPermissions: boolean;
  checkOpendir: boolean;
}

function bad(name: string, value: string): FsError {
  return new FsError('EINVAL', { message: `tmpfs: bad value '${value}' for mount option '${name}'` });
}

const SUFFIX_SHIFT: Readonly<Record<string, bigint>> = {
  k: 10n, K: 10n, m: 20n, M: 20n, g: 30n, G: 30n, t: 40n, T: 40n, p: 50n, P: 50n, e: 60n, E: 60n,
};

/**
 * The kernel's memparse(): an integer in C notation (0x hex, leading 0 octal)
 * with an optional binary suffix. Returns the value and what is left.
 */
function memparse(s: string): { value: bigint; rest: string } | undefined {
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(s);
  if (!m) return undefined;
  const digits = m[1]!;
  let value = digits.length > 1 && digits[0] === '0' && digits[1] !== 'x' && digits[1] !== 'X'
    ? BigInt('0o' + digits.slice(1))
    : BigInt(digits);
  let rest = s.slice(digits.length);
  const shift = SUFFIX_SHIFT[rest[0] ?? ''];
  if (shift !== undefined) {
    value <<= shift;
    rest = rest.slice(1);
  }
  return { value, rest };
}

function toNumber(name: string, raw: string, v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(name, raw);
  return Number(v);
}

function parseId(name: string, raw: string): number {
  const p = memparse(raw);
  if (!p || p.rest !== '' || p.value >= 0xffffffffn) throw bad(name, raw);
  return Number(p.value);
}

/**
 * Parse a tmpfs option string such as `size=50%,nr_inodes=10k,mode=700`.
 *
 * Understood, as Linux: `size=` (bytes with k/m/g/t/p/e suffix, or `N%` of
 * RAM), `nr_blocks=` (pages), `nr_inodes=` (with suffix), `mode=` (octal),
 * `uid=`, `gid=`. Accepted and ignored: `huge=`, `mpol=`, `inode32`,
 * `inode64`, `noswap` (they change nothing visible here). Extra:
 * `check_permissions` sets {@link TmpfsOptions.checkPermissions}.
 * Anything else throws an FsError EINVAL, as the kernel refuses the mount.
 */
export function parseTmpfsOptions(str: string): TmpfsOptions {
  const out: TmpfsOptions = {};
  for (const item of str.split(',')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    const raw = eq < 0 ? undefined : item.slice(eq + 1);
    const need = (): string => {
      if (raw === undefined || raw === '') throw bad(name, raw ?? '');
      return raw;
    };
    switch (name) {
      case 'size': {
        const v = need();
        const p = memparse(v);
        if (!p) throw bad(name, v);
        let bytes = p.value;
        let rest = p.rest;
        if (rest[0] === '%') {
          // As shmem_parse_one: percent of total RAM, in bytes.
          bytes = (bytes * BigInt(totalmem())) / 100n;
          rest = rest.slice(1);
        }
        if (rest !== '') throw bad(name, v);
        out.size = toNumber(name, v, bytes);
        break;
      }
      case 'nr_blocks': {
        const v = need();
        const p = memparse(v);
        if (!p || p.rest !== '') throw bad(name, v);
        out.size = toNumber(name, v, p.value * BigInt(PAGE_SIZE));
        break;
      }
      case 'nr_inodes': {
        const v = need();
        const p = memparse(v);
        if (!p || p.rest !== '') throw bad(name, v);
        out.nrInodes = toNumber(name, v, p.value);
        if (out.nrInodes * BOGO_INODE_SIZE > Number.MAX_SAFE_INTEGER) throw bad(name, v);
        break;
      }
      case 'mode': {
        const v = need();
        if (!/^[0-7]+$/.test(v)) throw bad(name, v);
        out.mode = parseInt(v, 8) & 0o7777;
        break;
      }
      case 'uid':
        out.uid = parseId(name, need());
        break;
      case 'gid':
        out.gid = parseId(name, need());
        break;
      case 'check_permissions':
        if (raw !== undefined) throw bad(name, raw);
        out.checkPermissions = true;
        break;
      case 'huge':
      case 'mpol':
        need();
        break;
      case 'inode32':
      case 'inode64':
      case 'noswap':
        if (raw !== undefined) throw bad(name, raw);
        break;
      default:
        throw new FsError('EINVAL', { message: `tmpfs: unknown mount option '${name}'` });
    }
  }
  return out;
}

function checkCount(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new FsError('EINVAL', { message: `tmpfs: bad ${name} ${v}` });
  return v;
}

/** Fill in the kernel's defaults (shmem_default_max_blocks / _max_inodes). */
export function resolveTmpfsOptions(options: TmpfsOptions): ResolvedTmpfsOptions {
  const ramPages = Math.floor(totalmem() / PAGE_SIZE);
  const maxBlocks = options.size === undefined
    ? Math.floor(ramPages / 2)
    : Math.ceil(checkCount('size', options.size) / PAGE_SIZE);
  const maxInodes = options.nrInodes === undefined ? Math.floor(ramPages / 2) : checkCount('nr_inodes', options.nrInodes);
  return {
    maxBlocks,
    maxInodes,
    mode: (options.mode ?? 0o1777) & 0o7777,
    uid: options.uid ?? process.getuid?.() ?? 0,
    gid: options.gid ?? process.getgid?.() ?? 0,
    checkPermissions: options.checkPermissions ?? false,
    checkOpendir: options.checkOpendir ?? true,
  };
}
