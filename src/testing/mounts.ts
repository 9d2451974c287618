/**
 * Test support for real kernel mounts: temp mount points, servers in child
 * processes, commands run from other processes (never from the process that
 * serves the mount), and a sweep that unmounts whatever a test left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
/** The shipped command (bin/puffs): the CLI under the environment it sets. Test servers start through it. */
export const LAUNCHER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'puffs');
/**
 * Every mount point a test process makes starts with this, so its sweep finds
 * them all and never touches another run's mounts. `.ci/run` checks that
 * nothing under `puffs-test-` is left at the end.
 */
export const MOUNT_PREFIX = join(tmpdir(), `puffs-test-${process.pid}-`);

export function mountPoint(): Promise<string> {
  return mkdtemp(MOUNT_PREFIX);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a command in a child process and collect its output (async: safe while this process serves a mount). */
export function run(cmd: string, args: readonly string[], options: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out\n${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // a command that exits without reading its input
      child.stdin.end(options.input);
    }
  });
}

/** Fuse mounts (type fuse or fuse.*) currently listed in /proc/mounts under `prefix`. */
export async function fuseMountsUnder(prefix: string): Promise<string[]> {
  const text = await readFile('/proc/mounts', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length > 2 && /^fuse(\.|$|blk)/.test(f[2]!))
    .map((f) => f[1]!.replace(/\\040/g, ' '))
    .filter((m) => m.startsWith(prefix));
}

export async function isMounted(path: string): Promise<boolean> {
  return (await fuseMountsUnder(path)).includes(path);
}

/** Unmount (lazily) every fuse mount a test left under the prefix, and remove the directories. */
export async function sweepMounts(prefix = MOUNT_PREFIX): Promise<string[]> {
  const left = await fuseMountsUnder(prefix);
  for (const m of left) await run('umount', ['-l', m]).catch(() => undefined);
  return left;
}

export async function removeMountPoint(dir: string): Promise<void> {
  if (await isMounted(dir)) await run('umount', ['-l', dir]);
  await rm(dir, { recursive: true, force: true }).catch(() => undefined);
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  stderr(): string;
  /** Resolves with the exit code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL if still running, then sweep its mount point. */
  kill(): Promise<void>;
}

/**
 * Start `puffs mount <args>` in a child process, through bin/puffs as users
 * run it (the launcher execs Node, so the pid is the server's), and wait
 * until it says it is mounted.
 */
export async function startServer(args: readonly string[], mountpoint: string, timeoutMs = 10_000, env?: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const child = spawn(LAUNCHER, ['mount', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let done = false;
  void exited.then(() => (done = true));
  const server: ServerProcess = {
    child,
    pid: child.pid!,
    stderr: () => err,
    exited,
    async kill() {
      if (!done) child.kill('SIGKILL');
      await exited;
      await removeMountPoint(mountpoint);
    },
  };
  try {
    await waitFor(() => done || err.includes('mounted on'), timeoutMs, `server to mount ${mountpoint}`);
  } catch (e) {
    await server.kill();
    throw e;
  }
  if (done) throw new Error(`server exited before mounting: ${err}`);
  return server;
}
