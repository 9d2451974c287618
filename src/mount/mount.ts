/**
 * Mounting and unmounting FUSE file systems without libfuse or fusermount:
 * open /dev/fuse, hand the descriptor to mount(8) (`mount -i`, so no helper
 * program runs) and let the kernel queue FUSE_INIT on it.
 *
 * Hazard: a process serving a mount must never block its event loop on that
 * mount. Everything here is asynchronous, and unmounting runs umount(8) with
 * `-c` so it does not even stat the mount point.
 */
import { open as openCallback, close as closeCallback, stat as statCallback, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import { FsError } from '../errors.js';
import { runCommand, type CommandResult } from './exec.js';
import { isFuseType, readMountInfo, resolveMountPath, topMountAt, type MountInfo } from './mountinfo.js';
import { spawnWatchdog, type WatchdogHandle } from './watchdog.js';

// Callback forms: fs/promises would wrap the fd in a FileHandle that closes it on GC.
const openFd = promisify(openCallback);
const closeFd = promisify(closeCallback);
const statPath = promisify(statCallback) as (path: string) => Promise<Stats>;

/** How to mount. Every field is optional. */
export interface MountOptions {
  /** Mount source shown in /proc/mounts and df. Default `'puffs'`. */
  fsname?: string;
  /** Type suffix: the mount's type is `fuse.<subtype>` (plain `fuse` if empty). Default `'puffs'`. */
  subtype?: string;
  /** Let users other than the mounting one access the file system (`allow_other`). */
  allowOther?: boolean;
  /** Let the kernel check permissions from file modes (`default_permissions`). */
  defaultPermissions?: boolean;
  /** Mount read-only (`ro`). */
  readOnly?: boolean;
  /** Largest read request the kernel sends (`max_read`). */
  maxRead?: number;
  /** Mode of the root before the first GETATTR answers; must be a directory. Default `0o40000`. */
  rootMode?: number;
  /** Owner the kernel records for the mount (`user_id`). Default: this process's uid. */
  uid?: number;
  /** Group the kernel records for the mount (`group_id`). Default: this process's gid. */
  gid?: number;
  /** More `-o` options, passed verbatim; each must be one option (no comma). */
  extraOptions?: readonly string[];
  /**
   * Start a watchdog process that unmounts if this process dies without
   * unmounting (even by SIGKILL). Default true.
   */
  watchdog?: boolean;
}

/** {@link MountOptions} with defaults applied. */
export interface ResolvedMountOptions {
  readonly fsname: string;
  readonly subtype: string;
  readonly allowOther: boolean;
  readonly defaultPermissions: boolean;
  readonly readOnly: boolean;
  readonly maxRead: number | undefined;
  readonly rootMode: number;
  readonly uid: number;
  readonly gid: number;
  readonly extraOptions: readonly string[];
  readonly watchdog: boolean;
}

/** How to unmount. */
export interface UnmountOptions {
  /**
   * `true`: detach now, release when no longer busy (`umount -l`). `false`:
   * fail with EBUSY if busy. Undefined: try a normal unmount, fall back to lazy.
   */
  lazy?: boolean;
}

/** A live FUSE mount: the kernel end of it is `fd`. */
export interface FuseMount {
  /** The open /dev/fuse descriptor: read requests from it, write replies to it. The caller closes it. */
  readonly fd: number;
  /** Canonical absolute mount point. */
  readonly mountpoint: string;
  /** `major:minor` of the mount, as in /proc/self/mountinfo. */
  readonly dev: string;
  /** Mount id in /proc/self/mountinfo. */
  readonly mountId: number;
  readonly options: ResolvedMountOptions;
  /** Process id of the watchdog, if one runs. */
  readonly watchdogPid: number | undefined;
  /**
   * Ends a blocking read of the device that no request would end: after
   * `hot()` the watchdog makes a request if `cold()` (or another `hot()`)
   * does not come within its WAKE_MS. Undefined without a watchdog.
   */
  readonly waker: { hot(): void; cold(): void } | undefined;
  /**
   * Unmount (asynchronously; the server must keep answering requests
   * meanwhile). Resolves at once if the mount is already gone. On success the
   * watchdog is detached. Does not close {@link fd}: reads on it then fail
   * with ENODEV, which is how the serving loop learns the mount ended.
   */
  unmount(options?: UnmountOptions): Promise<void>;
  /** Tell the watchdog the mount ended cleanly, so it exits without acting. Idempotent. */
  detachWatchdog(): void;
}

/** Apply defaults and validate; throws EINVAL naming the bad option. */
export function resolveMountOptions(options: MountOptions = {}): ResolvedMountOptions {
  const invalid = (message: string): FsError => new FsError('EINVAL', { syscall: 'mount', message });
  const fsname = options.fsname ?? 'puffs';
  if (typeof fsname !== 'string' || fsname === '' || fsname.includes('\0')) {
    throw invalid('fsname must be a non-empty string without NUL');
  }
  const subtype = options.subtype ?? 'puffs';
  if (typeof subtype !== 'string' || !/^[A-Za-z0-9_+.-]*$/.test(subtype)) {
    throw invalid(`subtype ${JSON.stringify(subtype)} may contain only letters, digits and _ + . -`);
  }
  const rootMode = options.rootMode ?? 0o40000;
  if (!Number.isInteger(rootMode) || rootMode < 0 || (rootMode & 0o170000) !== 0o40000 || rootMode > 0o177777) {
    throw invalid(`rootMode ${formatOctal(rootMode)} must be a directory mode (S_IFDIR, 0o40000)`);
  }
  const maxRead = options.maxRead;
  if (maxRead !== undefined && (!Number.isInteger(maxRead) || maxRead <= 0 || maxRead > 0xffffffff)) {
    throw invalid(`maxRead ${String(maxRead)} must be a positive 32-bit integer`);
  }
  const uid = options.uid ?? process.getuid?.() ?? 0;
  const gid = options.gid ?? process.getgid?.() ?? 0;
  for (const [name, id] of [['uid', uid], ['gid', gid]] as const) {
    if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) throw invalid(`${name} ${String(id)} is not a valid id`);
  }
  const extraOptions = [...(options.extraOptions ?? [])];
  for (const option of extraOptions) {
    if (typeof option !== 'string' || option === '' || option.includes(',') || /[\0\n]/.test(option)) {
      throw invalid(`extra mount option ${JSON.stringify(option)} must be a single non-empty option without commas`);
    }
    // These are ours: a second fd= would silently point the kernel at another descriptor.
    const key = option.split('=')[0];
    if (key === 'fd' || key === 'rootmode' || key === 'user_id' || key === 'group_id') {
      throw invalid(`extra mount option ${JSON.stringify(option)} is set by mountFuse itself; use the matching MountOptions field`);
    }
  }
  return {
    fsname,
    subtype,
    allowOther: options.allowOther ?? false,
    defaultPermissions: options.defaultPermissions ?? false,
    readOnly: options.readOnly ?? false,
    maxRead,
    rootMode,
    uid,
    gid,
    extraOptions,
    watchdog: options.watchdog ?? true,
  };
}

/** File system type the kernel will report: `fuse.<subtype>` or `fuse`. */
export function fuseType(options: Pick<ResolvedMountOptions, 'subtype'>): string {
  return options.subtype === '' ? 'fuse' : `fuse.${options.subtype}`;
}

/** The `-o` option string for mount(8); the /dev/fuse descriptor is `fd` in mount(8)'s process. */
export function mountOptionString(options: ResolvedMountOptions, fd = 3): string {
  const parts = [`fd=${fd}`, `rootmode=${options.rootMode.toString(8)}`, `user_id=${options.uid}`, `group_id=${options.gid}`];
  if (options.allowOther) parts.push('allow_other');
  if (options.defaultPermissions) parts.push('default_permissions');
  if (options.maxRead !== undefined) parts.push(`max_read=${options.maxRead}`);
  if (options.readOnly) parts.push('ro');
  parts.push(...options.extraOptions);
  return parts.join(',');
}

/** Arguments for mount(8), which receives /dev/fuse as its fd 3. */
export function mountArgs(mountpoint: string, options: ResolvedMountOptions): string[] {
  // -i: never run a mount.fuse helper; -c: paths are already canonical, and the
  // source is a name, not a path. --source/--target: an fsname may start with '-'.
  return ['-i', '-c', '-t', fuseType(options), '-o', mountOptionString(options), '--source', options.fsname, '--target', mountpoint];
}

/**
 * Mount a FUSE file system at `mountpoint` and return the open /dev/fuse
 * descriptor on which the kernel has queued FUSE_INIT. Nothing answers
 * requests yet: the caller must start serving `fd` promptly, since any access
 * to the mount blocks until INIT is answered.
 *
 * Refuses, naming the path: a missing mount point (ENOENT), a non-directory
 * (ENOTDIR), a path that is already a mount point (EBUSY), bad options
 * (EINVAL). A failure of mount(8) is thrown with its message.
 */
export async function mountFuse(mountpoint: string, options: MountOptions = {}): Promise<FuseMount> {
  const resolved = resolveMountOptions(options);
  const before = await readMountInfo();
  const target = await resolveMountPath(mountpoint, before);
  const busy = topMountAt(before, target);
  if (busy) {
    throw new FsError('EBUSY', {
      syscall: 'mount',
      path: target,
      message: `something is already mounted there (${busy.fstype} from ${busy.source}); unmount it first`,
    });
  }
  let st: Stats;
  try {
    st = await statPath(target);
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT') throw new FsError('ENOENT', { syscall: 'mount', path: target, message: 'mount point does not exist' });
    throw new FsError(knownCode(code, 'EIO'), { syscall: 'mount', path: target, message: `cannot stat mount point: ${errMessage(err)}` });
  }
  if (!st.isDirectory()) {
    throw new FsError('ENOTDIR', { syscall: 'mount', path: target, message: 'mount point is not a directory' });
  }

  const fd = await openFuseDevice();
  let watchdog: WatchdogHandle | undefined;
  try {
    // Started before mount(8): if we die while it runs, the watchdog can still find the mount.
    if (resolved.watchdog) {
      watchdog = await spawnWatchdog({
        mountpoint: target,
        fstype: fuseType(resolved),
        source: resolved.fsname,
        knownMountIds: before.filter((m) => m.mountpoint === target).map((m) => m.mountId),
      });
    }
    let result: CommandResult;
    try {
      result = await runCommand('mount', mountArgs(target, resolved), { fuseFd: fd, timeoutMs: 30_000 });
    } catch (err) {
      throw new FsError(errCode(err) === 'ENOENT' ? 'ENOENT' : 'EIO', {
        syscall: 'mount',
        path: target,
        message: `cannot run mount(8): ${errMessage(err)}`,
      });
    }
    if (result.code !== 0) {
      const text = (result.stderr.trim() || result.stdout.trim() || `exit ${result.code ?? result.signal}`).replace(/\s*\n\s*/g, ' ');
      throw new FsError(mountErrorCode(text), { syscall: 'mount', path: target, message: `mount(8) failed: ${text}` });
    }
    const isNew = (m: MountInfo | undefined): m is MountInfo =>
      m !== undefined && m.fstype === fuseType(resolved) && !before.some((b) => b.mountId === m.mountId && b.dev === m.dev);
    let mine = topMountAt(await readMountInfo(), target);
    // mountinfo is read in pieces; while other mounts come and go at the same
    // time (tests, other servers) a read can miss a line. Look again before
    // calling a mount that succeeded a failure.
    for (let attempt = 0; attempt < 10 && !isNew(mine); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 10 * (attempt + 1)));
      mine = topMountAt(await readMountInfo(), target);
    }
    if (!isNew(mine)) {
      throw new FsError('EIO', {
        syscall: 'mount',
        path: target,
        message: 'mount(8) succeeded but the new FUSE mount is not in /proc/self/mountinfo',
      });
    }
    watchdog?.mounted({ mountId: mine.mountId, dev: mine.dev });
    return new Mount(fd, target, mine, resolved, watchdog);
  } catch (err) {
    watchdog?.detach();
    await closeFd(fd).catch(() => {});
    throw err;
  }
}

class Mount implements FuseMount {
  readonly fd: number;
  readonly mountpoint: string;
  readonly dev: string;
  readonly mountId: number;
  readonly options: ResolvedMountOptions;
  readonly watchdogPid: number | undefined;
  readonly waker: { hot(): void; cold(): void } | undefined;
  private readonly watchdog: WatchdogHandle | undefined;
  private pending: Promise<void> | undefined;

  constructor(fd: number, mountpoint: string, info: MountInfo, options: ResolvedMountOptions, watchdog: WatchdogHandle | undefined) {
    this.fd = fd;
    this.mountpoint = mountpoint;
    this.dev = info.dev;
    this.mountId = info.mountId;
    this.options = options;
    this.watchdog = watchdog;
    this.watchdogPid = watchdog?.pid;
    this.waker = watchdog && { hot: () => watchdog.hot(), cold: () => watchdog.cold() };
  }

  unmount(options: UnmountOptions = {}): Promise<void> {
    // Concurrent calls share one umount(8).
    if (!this.pending) {
      this.pending = this.doUnmount(options).finally(() => (this.pending = undefined));
    }
    return this.pending;
  }

  private async doUnmount(options: UnmountOptions): Promise<void> {
    const mounts = await readMountInfo();
    const ours = mounts.find((m) => m.mountId === this.mountId && m.dev === this.dev);
    if (!ours) {
      this.detachWatchdog();
      return;
    }
    const top = topMountAt(mounts, this.mountpoint);
    if (top !== ours) {
      throw new FsError('EBUSY', {
        syscall: 'umount',
        path: this.mountpoint,
        message: `mount point is covered by another mount (${top?.fstype ?? 'unknown'}); unmount that first`,
      });
    }
    await umountWithFallback(this.mountpoint, options.lazy);
    this.detachWatchdog();
  }

  detachWatchdog(): void {
    this.watchdog?.detach();
  }
}

/**
 * Unmount the FUSE file system at `mountpoint` (for `puffs umount <dir>`).
 * Refuses with EINVAL a path that is not a mount point or whose mount is not
 * FUSE; ENOENT if the path does not exist. See {@link UnmountOptions} for `lazy`.
 */
export async function unmount(mountpoint: string, options: UnmountOptions = {}): Promise<void> {
  const mounts = await readMountInfo();
  const target = await resolveMountPath(mountpoint, mounts);
  const top = topMountAt(mounts, target);
  if (!top) {
    try {
      await statPath(target);
    } catch (err) {
      if (errCode(err) === 'ENOENT') throw new FsError('ENOENT', { syscall: 'umount', path: target, message: 'no such file or directory' });
    }
    throw new FsError('EINVAL', { syscall: 'umount', path: target, message: 'not a mount point' });
  }
  if (!isFuseType(top.fstype)) {
    throw new FsError('EINVAL', {
      syscall: 'umount',
      path: target,
      message: `not a FUSE mount (it is ${top.fstype} from ${top.source}); refusing to unmount it`,
    });
  }
  await umountWithFallback(target, options.lazy);
}

async function umountWithFallback(mountpoint: string, lazy: boolean | undefined): Promise<void> {
  if (lazy !== undefined) return umountOnce(mountpoint, lazy);
  try {
    await umountOnce(mountpoint, false);
  } catch (err) {
    if (errCode(err) !== 'EBUSY') throw err;
    await umountOnce(mountpoint, true);
  }
}

async function umountOnce(mountpoint: string, lazy: boolean): Promise<void> {
  // -c: never stat the mount point (it may be dead, or served by this very process).
  const args = ['-i', '-c', ...(lazy ? ['-l'] : []), mountpoint];
  let result: CommandResult;
  try {
    result = await runCommand('umount', args, { timeoutMs: 30_000 });
  } catch (err) {
    throw new FsError(errCode(err) === 'ENOENT' ? 'ENOENT' : 'EIO', {
      syscall: 'umount',
      path: mountpoint,
      message: `cannot run umount(8): ${errMessage(err)}`,
    });
  }
  if (result.code === 0) return;
  const text = (result.stderr.trim() || `exit ${result.code ?? result.signal}`).replace(/\s*\n\s*/g, ' ');
  if (/busy/i.test(text)) {
    throw new FsError('EBUSY', {
      syscall: 'umount',
      path: mountpoint,
      message: `mount point is busy: a process has a file open or its working directory inside (${text}); unmount lazily with { lazy: true } to detach it now`,
    });
  }
  let code = 'EIO';
  if (/not mounted|no mount point specified|not a mount point/i.test(text)) code = 'EINVAL';
  else if (/permission denied|must be superuser|not permitted/i.test(text)) code = 'EPERM';
  else if (/no such file/i.test(text)) code = 'ENOENT';
  throw new FsError(code, { syscall: 'umount', path: mountpoint, message: `umount(8) failed: ${text}` });
}

async function openFuseDevice(): Promise<number> {
  try {
    return await openFd('/dev/fuse', 'r+');
  } catch (err) {
    const code = errCode(err);
    const hint =
      code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO'
        ? 'the FUSE device is missing: load the fuse kernel module (modprobe fuse) or, in a container, expose /dev/fuse'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied opening the FUSE device: mounting without fusermount needs root (CAP_SYS_ADMIN)'
          : `cannot open the FUSE device: ${errMessage(err)}`;
    throw new FsError(knownCode(code, 'EIO'), { syscall: 'open', path: '/dev/fuse', message: hint });
  }
}

function mountErrorCode(text: string): string {
  if (/permission denied|must be superuser|not permitted|only root/i.test(text)) return 'EPERM';
  if (/busy/i.test(text)) return 'EBUSY';
  if (/does not exist|no such file/i.test(text)) return 'ENOENT';
  if (/not a directory/i.test(text)) return 'ENOTDIR';
  if (/unknown filesystem type|no such device/i.test(text)) return 'ENODEV';
  if (/bad option|wrong fs type|invalid argument/i.test(text)) return 'EINVAL';
  return 'EIO';
}

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function knownCode(code: string | undefined, fallback: string): string {
  if (!code) return fallback;
  try {
    new FsError(code);
    return code;
  } catch {
    return fallback;
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function formatOctal(n: number): string {
  return Number.isInteger(n) ? `0o${n.toString(8)}` : String(n);
}
