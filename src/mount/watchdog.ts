/**
 * The mount watchdog: a small detached process that releases a FUSE mount
 * when the process serving it dies, even by SIGKILL. Without it the mount
 * point stays behind as "Transport endpoint is not connected" until someone
 * unmounts it by hand.
 *
 * The server holds the write end of a pipe on the watchdog's stdin. Only the
 * kernel closing that pipe (the server is gone) makes the watchdog act; a
 * `clean` line first (see {@link WatchdogHandle.detach}) makes it exit quietly.
 * Protocol, one line each:
 *
 *   mounted <mountId> <major:minor>   the mount exists; this is how to recognize it
 *   hot                               the server reads with blocking read(2) now:
 *                                     make a request if no `hot` or `cold` follows
 *                                     within WAKE_MS (and again every WAKE_MS)
 *   cold                              the server is back on its event loop
 *   clean                             the server ended the mount itself; exit
 *
 * `hot`/`cold` serve the device channel's hot reader: a server blocked in
 * read(2) runs no timers or signal handlers until a request comes, and the
 * watchdog, a process of its own, can make one (a statfs of the mount point).
 *
 * Before unmounting, the watchdog makes sure the mount is still ours: the
 * mount at the mount point must have the recorded mount id, device and type,
 * must not be covered by a later mount, and must not answer a statfs (a dead
 * connection fails at once with ENOTCONN; ids and device numbers alone are
 * reused by the kernel as soon as a mount goes away).
 *
 * Run as a script (`node dist/mount/watchdog.js --puffs-watchdog <json>`) this
 * module is the watchdog; imported, it is the server's side.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import { FsError } from '../errors.js';
import { runCommand } from './exec.js';
import { isCovered, readMountInfo, topMountAt, type MountInfo } from './mountinfo.js';

/** What the watchdog guards, known before the mount exists. */
export interface WatchdogTarget {
  /** Canonical mount point. */
  readonly mountpoint: string;
  /** Expected file system type, e.g. `fuse.puffs`. */
  readonly fstype: string;
  /** Expected mount source (the fsname). */
  readonly source: string;
  /** Mount ids already at the mount point before we mounted (not ours). */
  readonly knownMountIds?: readonly number[];
}

/** The identity of a mount once it exists: both must still match before the watchdog unmounts. */
export interface MountIdentity {
  readonly mountId: number;
  /** `major:minor`. */
  readonly dev: string;
}

/** What the watchdog does once the server is gone. */
export type WatchdogDecision =
  | { readonly action: 'unmount'; readonly mount: MountInfo }
  | { readonly action: 'leave'; readonly reason: string };

/**
 * The first guard, on the mount table alone: the mount a lookup of the mount
 * point reaches must still look like the one we made (same mount id, device
 * and type). A mount that differs, or covers ours, is left alone. An
 * `unmount` verdict still needs {@link probeLiveness} to say the mount does
 * not answer, since the kernel reuses ids and device numbers.
 */
export function decideOnServerDeath(
  mounts: readonly MountInfo[],
  target: WatchdogTarget,
  identity: MountIdentity,
): WatchdogDecision {
  const ours = mounts.find(
    (m) => m.mountpoint === target.mountpoint && m.mountId === identity.mountId && m.dev === identity.dev,
  );
  if (!ours) {
    const top = topMountAt(mounts, target.mountpoint);
    return {
      action: 'leave',
      reason: top ? `a different mount (${top.fstype} ${top.dev}) is at the mount point` : 'the mount is already gone',
    };
  }
  if (ours.fstype !== target.fstype) return { action: 'leave', reason: `type changed to ${ours.fstype}` };
  if (isCovered(mounts, ours)) return { action: 'leave', reason: 'our mount is covered by a later mount' };
  return { action: 'unmount', mount: ours };
}

/**
 * For a server that died while mount(8) ran (no `mounted` line arrived): the
 * mount at the mount point that could be ours, judged by type and source.
 * The caller still checks that it is dead before unmounting it.
 */
export function findUnannouncedMount(mounts: readonly MountInfo[], target: WatchdogTarget): MountInfo | undefined {
  const top = topMountAt(mounts, target.mountpoint);
  if (!top || top.fstype !== target.fstype || top.source !== target.source) return undefined;
  if (target.knownMountIds?.includes(top.mountId)) return undefined;
  return top;
}

/** The server's side of a running watchdog. */
export interface WatchdogHandle {
  /** Process id of the watchdog. */
  readonly pid: number | undefined;
  /** Tell the watchdog which mount to guard. */
  mounted(identity: MountIdentity): void;
  /** Tell the watchdog the mount ended cleanly: it exits without acting. Idempotent. */
  detach(): void;
  /** The server blocks in read(2) from now on: wake it with a request if it stays so (see `hot` above). */
  hot(): void;
  /** The server is back on its event loop. */
  cold(): void;
}

/** argv marker that makes this module run as the watchdog. */
export const WATCHDOG_FLAG = '--puffs-watchdog';

/** Environment variable naming a file the watchdog appends its log to. */
export const WATCHDOG_LOG_ENV = 'PUFFS_WATCHDOG_LOG';

/** Path of the watchdog script: this very module (`.js` when built). */
export function watchdogScriptPath(): string {
  return fileURLToPath(import.meta.url);
}

/**
 * Start a watchdog for `target`. It runs detached (own session: a terminal's
 * Ctrl-C or hangup does not reach it), with cwd `/` (it pins no directory),
 * holding nothing of ours but its stdin pipe: no /dev/fuse descriptor. The
 * child and the pipe are unref'd, so they never keep the server alive.
 */
export async function spawnWatchdog(target: WatchdogTarget): Promise<WatchdogHandle> {
  const script = watchdogScriptPath();
  try {
    await access(script);
  } catch {
    throw new FsError('ENOENT', { syscall: 'spawn', path: script, message: 'the mount watchdog script is missing' });
  }
  // Built code runs as plain JS; from sources, keep the loader flags (not debugger or test ones).
  const execArgv =
    extname(script) === '.js' ? [] : process.execArgv.filter((a) => !/^--(inspect|debug|test|watch)/.test(a));
  const child = spawn(process.execPath, [...execArgv, script, WATCHDOG_FLAG, JSON.stringify(target)], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    cwd: '/',
  });
  await new Promise<void>((resolvePromise, reject) => {
    child.once('spawn', () => resolvePromise());
    child.once('error', (err) =>
      reject(new FsError('EIO', { syscall: 'spawn', path: script, message: `cannot start the mount watchdog: ${err.message}` })),
    );
  });
  return new Handle(child);
}

class Handle implements WatchdogHandle {
  readonly pid: number | undefined;
  private readonly stdin: Writable & { unref?: () => void };
  private ended = false;

  constructor(child: ChildProcess) {
    this.pid = child.pid;
    this.stdin = child.stdin!;
    // A dead watchdog must not crash the server with EPIPE.
    this.stdin.on('error', () => {});
    child.on('error', () => {});
    child.unref();
    this.stdin.unref?.();
  }

  mounted(identity: MountIdentity): void {
    if (!this.ended) this.stdin.write(`mounted ${identity.mountId} ${identity.dev}\n`);
  }

  hot(): void {
    if (!this.ended) this.stdin.write('hot\n');
  }

  cold(): void {
    if (!this.ended) this.stdin.write('cold\n');
  }

  detach(): void {
    if (this.ended) return;
    this.ended = true;
    // A short write to an empty pipe completes at once, so this holds even if the server exits next.
    this.stdin.end('clean\n');
  }
}

// ---------------------------------------------------------------------------
// The watchdog process itself.

/** After SIGTERM, how long to wait for the server's pipe to close before exiting without acting. */
const SIGTERM_GRACE_MS = 250;
/** How long to look for the mount of a server that died during mount(8). */
const UNANNOUNCED_WAIT_MS = 2000;
const POLL_MS = 20;
/** A dead connection answers at once; this long without an answer means nobody serves it. */
const PROBE_MS = 400;
/** For a mount whose identity we never learned, only a clearly dead one is released. */
const UNANNOUNCED_PROBE_MS = 2000;
/** A server that said `hot` and nothing since gets a request after this long. */
export const WAKE_MS = 20;

async function runWatchdog(target: WatchdogTarget): Promise<void> {
  const logFile = process.env[WATCHDOG_LOG_ENV];
  const log = (message: string): void => {
    if (!logFile) return;
    try {
      appendFileSync(logFile, `${new Date().toISOString()} watchdog[${process.pid}] ${target.mountpoint}: ${message}\n`);
    } catch {
      // Logging is best effort.
    }
  };

  let identity: MountIdentity | undefined;
  let acting = false;
  let settled = false;
  const exit = (message: string): void => {
    if (settled) return;
    settled = true;
    log(message);
    // A statfs still stuck in libuv's thread pool would make exit() hang
    // (libuv joins its threads at exit); a killed process does not wait.
    if (probesInFlight > 0) process.kill(process.pid, 'SIGKILL');
    process.exit(0);
  };

  // Terminal signals are not meant for us: the server handles its own Ctrl-C and unmounts.
  process.on('SIGINT', () => log('ignoring SIGINT'));
  process.on('SIGHUP', () => log('ignoring SIGHUP'));
  // SIGTERM is obeyed, but if the server is being killed at the same moment
  // (a whole service stopped at once), its pipe closes within the grace period
  // and we still clean up first.
  process.on('SIGTERM', () => {
    log('SIGTERM: exiting unless the server is gone');
    setTimeout(() => {
      if (!acting) exit('exiting on SIGTERM; server still alive, mount left to it');
    }, SIGTERM_GRACE_MS);
  });

  const serverGone = async (): Promise<void> => {
    if (acting || settled) return;
    acting = true;
    try {
      if (identity) {
        const decision = decideOnServerDeath(await readMountInfo(), target, identity);
        if (decision.action === 'leave') return exit(`server gone; leaving: ${decision.reason}`);
        // Mount ids and anonymous device numbers are reused at once after an
        // unmount, so a mount that replaced ours can look identical in
        // mountinfo. Ours has lost its server; one that answers is not ours.
        const state = await probeLiveness(target.mountpoint, PROBE_MS);
        if (state === 'alive') return exit('server gone; leaving: the mount at the mount point answers, so it is not ours');
        await lazyUnmount(target.mountpoint, log);
        return exit(`server gone; mount released (it was ${state})`);
      }
      await reapUnannounced(target, log);
      exit('server gone before announcing the mount; done');
    } catch (err) {
      exit(`error while cleaning up: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  // Waking a server blocked in read(2): any request ends the read; STATFS is
  // never answered from the kernel's caches. One at a time, and not once the
  // server is gone.
  let wakeTimer: NodeJS.Timeout | undefined;
  let waking = false;
  const armWake = (): void => {
    clearTimeout(wakeTimer);
    wakeTimer = setTimeout(() => {
      if (acting || settled) return;
      if (!waking) {
        waking = true;
        probesInFlight++;
        statfs(target.mountpoint)
          .catch(() => undefined)
          .finally(() => {
            probesInFlight--;
            waking = false;
          });
      }
      armWake();
    }, WAKE_MS);
  };

  log(`watching (${target.fstype} ${target.source})`);
  const stdin = process.stdin;
  stdin.setEncoding('utf8');
  let buffered = '';
  stdin.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      const words = line.split(' ');
      if (words[0] === 'hot') {
        armWake();
        continue;
      }
      if (words[0] === 'cold') {
        clearTimeout(wakeTimer);
        continue;
      }
      if (words[0] === 'clean') return exit('clean detach; exiting');
      if (words[0] === 'mounted' && words.length === 3 && /^\d+$/.test(words[1]!) && /^\d+:\d+$/.test(words[2]!)) {
        identity = { mountId: Number(words[1]), dev: words[2]! };
        log(`guarding mount ${identity.mountId} (${identity.dev})`);
      } else if (line !== '') {
        log(`ignoring unknown message ${JSON.stringify(line)}`);
      }
    }
  });
  stdin.on('end', () => {
    clearTimeout(wakeTimer);
    void serverGone();
  });
  stdin.on('close', () => void serverGone());
  stdin.on('error', () => void serverGone());
}

async function lazyUnmount(mountpoint: string, log: (message: string) => void): Promise<void> {
  // -c: no canonicalization, so umount never stats the dead mount.
  const result = await runCommand('umount', ['-i', '-c', '-l', mountpoint], { timeoutMs: 10_000 });
  if (result.code !== 0) log(`umount -l failed (${result.code ?? result.signal}): ${result.stderr.trim()}`);
}

/**
 * The server died before it could say `mounted`: mount(8) may still be
 * finishing. Wait a little for a mount of our type and source to appear, and
 * release it only if it is dead, so a live mount someone else made at the
 * same time is never touched.
 */
async function reapUnannounced(target: WatchdogTarget, log: (message: string) => void): Promise<void> {
  const deadline = Date.now() + UNANNOUNCED_WAIT_MS;
  for (;;) {
    const candidate = findUnannouncedMount(await readMountInfo(), target);
    if (candidate) {
      // While mount(8) still holds the descriptor the probe waits; once it exits the connection aborts.
      const state = await probeLiveness(target.mountpoint, UNANNOUNCED_PROBE_MS);
      if (state !== 'dead') return log(`unannounced mount ${candidate.dev} is ${state}; leaving it`);
      const again = topMountAt(await readMountInfo(), target.mountpoint);
      if (again?.mountId !== candidate.mountId || again.dev !== candidate.dev) return log('mount changed; leaving it');
      await lazyUnmount(target.mountpoint, log);
      return log(`released dead unannounced mount ${candidate.dev}`);
    }
    if (Date.now() >= deadline) return log('no mount appeared');
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * What a statfs of a FUSE mount point, made from outside the server, says:
 * `dead` (the connection is aborted: ENOTCONN and kin), `alive` (somebody
 * answered, even with an error), `unresponsive` (no answer in time) or
 * `unknown` (the kernel would not ask the server on our behalf: without
 * allow_other only the mount's owner may).
 */
export type Liveness = 'dead' | 'alive' | 'unresponsive' | 'unknown';

const DEAD_CODES = new Set(['ENOTCONN', 'ECONNABORTED', 'ECONNREFUSED']);
/** statfs calls not yet returned; each holds a thread-pool thread. */
let probesInFlight = 0;
const FUSE_SUPER_MAGIC = 0x65735546;

/**
 * Probe a mount point with statfs. Never call this from the process serving
 * the mount. STATFS is never answered from a cache, unlike GETATTR, so a dead
 * connection shows at once.
 */
export async function probeLiveness(mountpoint: string, timeoutMs: number): Promise<Liveness> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Liveness>((r) => (timer = setTimeout(() => r('unresponsive'), timeoutMs)));
  probesInFlight++;
  const call = statfs(mountpoint).finally(() => probesInFlight--);
  const probed = call.then(
    // A caller the kernel does not let through gets a zeroed answer with only the type set.
    (st): Liveness => (st.bsize === 0 && st.type === FUSE_SUPER_MAGIC ? 'unknown' : 'alive'),
    (err: NodeJS.ErrnoException): Liveness => (DEAD_CODES.has(err.code ?? '') ? 'dead' : 'alive'),
  );
  try {
    return await Promise.race([probed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function parseTarget(json: string | undefined): WatchdogTarget | undefined {
  try {
    const value = JSON.parse(json ?? '') as Partial<WatchdogTarget>;
    if (typeof value.mountpoint !== 'string' || !value.mountpoint.startsWith('/')) return undefined;
    if (typeof value.fstype !== 'string' || typeof value.source !== 'string') return undefined;
    const knownMountIds = Array.isArray(value.knownMountIds)
      ? value.knownMountIds.filter((n): n is number => Number.isInteger(n))
      : [];
    return { mountpoint: value.mountpoint, fstype: value.fstype, source: value.source, knownMountIds };
  } catch {
    return undefined;
  }
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  if (!entry || process.argv[2] !== WATCHDOG_FLAG) return false;
  const self = fileURLToPath(import.meta.url);
  return resolve(entry) === self || basename(entry) === basename(self);
}

if (isMainModule()) {
  const target = parseTarget(process.argv[3]);
  if (!target) {
    process.stderr.write('puffs watchdog: bad arguments\n');
    process.exit(2);
  }
  void runWatchdog(target);
}
