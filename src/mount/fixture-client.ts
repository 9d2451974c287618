/**
 * Test support for the mount tests: starting fixture servers as child
 * processes, polling the mount table, and sweeping leftovers. The test process
 * never serves a mount, and touches mounts only from child processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { runCommand, type CommandResult } from './exec.js';
import { readMountInfo, type MountInfo } from './mountinfo.js';
import type { MountOptions } from './mount.js';
import { WATCHDOG_FLAG } from './watchdog.js';

const FIXTURE = fileURLToPath(new URL('./fixture-server.js', import.meta.url));

/** One JSON line from the fixture. */
export interface FixtureEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

/** A running fixture server. */
export interface Fixture {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The first event: `mounted` or `error`. */
  readonly first: FixtureEvent;
  /** Resolves with the next event named `name` (including ones already received). */
  waitFor(name: string, timeoutMs?: number): Promise<FixtureEvent>;
  send(command: string): void;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL the fixture (by pid) if still running. */
  kill(): void;
}

/** Start fixture-server.js on `mountpoint` and wait for its first event. */
export async function startFixture(mountpoint: string, options: MountOptions = {}, env?: NodeJS.ProcessEnv): Promise<Fixture> {
  const child = spawn(process.execPath, [FIXTURE, JSON.stringify({ mountpoint, options })], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: env ?? process.env,
  });
  const events: FixtureEvent[] = [];
  const waiters: (() => void)[] = [];
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // 'close', not 'exit': every stdout line has been delivered by then.
    child.once('close', (code, signal) => {
      done = true;
      resolve({ code, signal });
      for (const w of waiters.splice(0)) w();
    }),
  );
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as FixtureEvent);
    } catch {
      return;
    }
    for (const w of waiters.splice(0)) w();
  });
  child.stdin!.on('error', () => {});
  const taken = new Set<FixtureEvent>();
  const waitFor = async (name: string, timeoutMs = 5000): Promise<FixtureEvent> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = events.find((e) => !taken.has(e) && (name === '*' ? e.event === 'mounted' || e.event === 'error' : e.event === name));
      if (found) {
        taken.add(found);
        return found;
      }
      if (done) throw new Error(`fixture exited before event ${name}; got ${JSON.stringify(events)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for fixture event ${name}; got ${JSON.stringify(events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  const kill = (): void => {
    if (!done && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  let first: FixtureEvent;
  try {
    first = await waitFor('*', 10_000);
  } catch (err) {
    kill();
    throw err;
  }
  return {
    child,
    pid: child.pid!,
    first,
    waitFor,
    send: (command) => child.stdin!.write(command + '\n'),
    exited,
    kill,
  };
}

/** A fresh base directory for one test file's mount points; sweep it with {@link sweepMounts}. */
export function makeBase(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `puffs-${name}-`));
}

/** A fresh mount point under `base`. */
export function makeMountpoint(base: string): Promise<string> {
  return mkdtemp(join(base, 'mp-'));
}

/** Mounts at or under `base`. */
export async function mountsUnder(base: string): Promise<MountInfo[]> {
  return (await readMountInfo()).filter((m) => m.mountpoint === base || m.mountpoint.startsWith(base + sep));
}

/** The topmost mount exactly at `path`, read from /proc/self/mountinfo. */
export async function mountAt(path: string): Promise<MountInfo | undefined> {
  const all = (await readMountInfo()).filter((m) => m.mountpoint === path);
  return all[all.length - 1];
}

/** Lazily unmount everything under `base` (deepest first), then remove it. */
export async function sweepMounts(base: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const left = await mountsUnder(base);
    if (left.length === 0) break;
    left.sort((a, b) => b.mountpoint.length - a.mountpoint.length);
    for (const m of left) await runCommand('umount', ['-i', '-c', '-l', m.mountpoint]);
  }
  if ((await mountsUnder(base)).length === 0) await rm(base, { recursive: true, force: true });
}

/** Unmount one path lazily, ignoring "not mounted". For `finally` blocks. */
export async function forceUnmount(path: string): Promise<void> {
  while ((await readMountInfo()).some((m) => m.mountpoint === path)) {
    const r = await runCommand('umount', ['-i', '-c', '-l', path]);
    if (r.code !== 0) break;
  }
}

/** Poll `check` every `intervalMs` until it returns true; false on timeout. */
export async function poll(check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Whether `pid` is gone (or a zombie nobody has reaped yet: it has exited all the same). */
export async function processGone(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

/**
 * SIGKILL a watchdog our fixture started, by pid, but only if that pid still
 * runs a puffs watchdog: it is no child of ours, so its pid may have been
 * reused since it exited.
 */
export async function killWatchdog(pid: number | undefined): Promise<void> {
  if (pid === undefined) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.split('\0').includes(WATCHDOG_FLAG)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** The session id of a process (field 6 of /proc/<pid>/stat). */
export async function sessionOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[3]);
}

/** `stat` the path from a child process, with a time limit, so the test never waits on a mount itself. */
export function statInChild(path: string, timeoutMs = 3000): Promise<CommandResult> {
  return runCommand('stat', ['-c', '%f %F', path], { timeoutMs });
}
