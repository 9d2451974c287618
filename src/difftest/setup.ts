/**
 * The two trees the differential test compares: a kernel tmpfs (the oracle)
 * and the subject, either puffs tmpfs served by a child process
 * (`node dist/cli/main.js mount tmpfs DIR -o ...`) or, to test the harness
 * itself, a second kernel tmpfs. Everything is mounted under a temp dir
 * `${tmpdir}/puffs-test-difftest-XXXXXX` and taken down again by cleanup(),
 * which is idempotent; sweep() takes down what a killed run left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PUFFS_CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
/** Every mount the difftest's tests make is under a directory starting with this (and swept by their after()). */
export const DIFFTEST_PREFIX = join(tmpdir(), 'puffs-test-difftest-');
/**
 * The command line's default: outside puffs-test-*, because other test
 * suites sweep every FUSE mount under that prefix when they end, which on a
 * shared machine would unmount the subject under a long run.
 */
export const CLI_PREFIX = join(tmpdir(), 'puffs-difftest-mnt-');

export type SubjectKind = 'puffs' | 'kernel';

/** Run a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(cmd: string, args: readonly string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + e.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Mounts listed in /proc/mounts: [mount point, fs type]. */
export function mounts(): [string, string][] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length > 2)
    .map((f) => [f[1]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), f[2]!]);
}

export function mountType(dir: string): string | undefined {
  let type: string | undefined;
  for (const [m, t] of mounts()) if (m === dir) type = t; // the last one is on top
  return type;
}

/** Whether `node dist/cli/main.js --help` lists a tmpfs file system. */
export async function puffsHasTmpfs(): Promise<boolean> {
  if (!existsSync(PUFFS_CLI)) return false;
  const r = await run(process.execPath, [PUFFS_CLI, '--help'], 20_000);
  return /^\s+tmpfs\s/m.test(r.stdout + r.stderr);
}

export interface SetupOptions {
  subjectKind: SubjectKind;
  /** tmpfs size (both trees). Default 64m. */
  size?: string;
  /** Extra -o options for the puffs server. */
  subjectOptions?: string;
  /** Mount the subject for root alone, with the CLI's defaults (see subjectMountOptions); ops must run as root. */
  rootOnly?: boolean;
  /** How long to wait for the puffs mount to appear. Default 15 s. */
  mountTimeoutMs?: number;
  /** Print the server's stderr as it comes. */
  verbose?: boolean;
  /** Prefix of the temp directory everything is mounted under (default DIFFTEST_PREFIX). */
  prefix?: string;
}

export interface Setup {
  base: string;
  oracle: string;
  subject: string;
  subjectKind: SubjectKind;
  /** Pid of the puffs server child, if any. */
  serverPid?: number;
  /** The server's stderr so far (last 8 kB). */
  serverLog(): string;
  /** Whether the server exited (it must not while the test runs). */
  serverExited(): boolean;
  /** Unmount both, stop the server, remove the directories. Idempotent. */
  cleanup(): Promise<string[]>;
}

/**
 * The mount options the puffs subject gets: those of the kernel oracle, plus
 * what FUSE needs to act like it; or, `rootOnly`, none but the size: the
 * CLI's default for root, who alone can reach the mount, and tmpfs checks
 * permissions itself.
 */
export function subjectMountOptions(size: string, extra?: string, rootOnly = false): string {
  // allow_other: ops run as other users (seteuid) must reach the mount at all;
  // default_permissions: the kernel checks modes, as it does for tmpfs.
  const access = rootOnly ? [] : ['default_permissions', 'allow_other'];
  return [`size=${size}`, ...access, extra].filter(Boolean).join(',');
}

async function mountKernelTmpfs(dir: string, size: string): Promise<void> {
  const r = await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'none', dir]);
  if (r.code !== 0) throw new Error(`mount -t tmpfs on ${dir} failed: ${r.stderr.trim()}`);
}

async function unmount(dir: string): Promise<void> {
  for (let i = 0; i < 5 && mountType(dir); i++) {
    const r = await run('umount', [dir], 10_000);
    if (r.code !== 0) await run('umount', ['-l', dir], 10_000);
  }
}

export async function setupMounts(options: SetupOptions): Promise<Setup> {
  const size = options.size ?? '64m';
  const base = mkdtempSync(options.prefix ?? DIFFTEST_PREFIX);
  chmodSync(base, 0o755); // ops run as other users must be able to get through
  const oracle = join(base, 'oracle');
  const subject = join(base, 'subject');
  mkdirSync(oracle);
  mkdirSync(subject);
  let server: ChildProcess | undefined;
  let serverExit: Promise<void> | undefined;
  let exited = false;
  let log = '';
  let cleaning: Promise<string[]> | undefined;

  const cleanup = (): Promise<string[]> =>
    (cleaning ??= (async () => {
      const problems: string[] = [];
      if (server?.pid && !exited) {
        // SIGTERM: the server unmounts and exits; SIGKILL if it does not.
        process.kill(server.pid, 'SIGTERM');
        const t = setTimeout(() => !exited && server?.pid && process.kill(server.pid, 'SIGKILL'), 5000);
        await serverExit;
        clearTimeout(t);
      }
      for (const dir of [subject, oracle]) {
        await unmount(dir);
        if (mountType(dir)) problems.push(`${dir} is still mounted`);
      }
      for (const dir of [subject, oracle, base]) {
        try {
          rmdirSync(dir);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`rmdir ${dir}: ${(e as Error).message}`);
        }
      }
      return problems;
    })());

  try {
    await mountKernelTmpfs(oracle, size);
    if (options.subjectKind === 'kernel') {
      await mountKernelTmpfs(subject, size);
    } else {
      const args = [PUFFS_CLI, 'mount', 'tmpfs', subject, '-o', subjectMountOptions(size, options.subjectOptions, options.rootOnly)];
      server = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const onData = (d: string) => {
        log = (log + d).slice(-8000);
        if (options.verbose) process.stderr.write(d);
      };
      server.stdout!.setEncoding('utf8').on('data', onData);
      server.stderr!.setEncoding('utf8').on('data', onData);
      serverExit = new Promise((resolve) =>
        server!.on('exit', () => {
          exited = true;
          resolve();
        }),
      );
      server.on('error', (e) => {
        log += String(e);
      });
      const deadline = Date.now() + (options.mountTimeoutMs ?? 15_000);
      // Poll /proc/mounts for the FUSE mount (the server may also die first).
      while (!/^fuse/.test(mountType(subject) ?? '')) {
        if (exited) throw new Error(`puffs server exited before mounting: node ${args.slice(1).join(' ')}\n${log.trim()}`);
        if (Date.now() > deadline) throw new Error(`puffs server did not mount ${subject} in time\n${log.trim()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  return {
    base,
    oracle,
    subject,
    subjectKind: options.subjectKind,
    serverPid: server?.pid,
    serverLog: () => log,
    serverExited: () => exited,
    cleanup,
  };
}

/** Unmount (lazily) every mount under the difftest prefix, deepest first; returns what was found. */
export async function sweep(prefix = DIFFTEST_PREFIX): Promise<string[]> {
  const left = mounts()
    .map(([m]) => m)
    .filter((m) => m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const m of left) await run('umount', ['-l', m]);
  // Then the (empty) directories a killed run left: rmdir only, never a recursive remove.
  const dir = dirname(prefix);
  const stem = basename(prefix);
  for (const name of readdirSync(dir).filter((n) => n.startsWith(stem))) {
    for (const sub of ['subject', 'oracle', '']) {
      try {
        rmdirSync(join(dir, name, sub));
      } catch {
        // not empty, still mounted, or gone
      }
    }
  }
  return left;
}
