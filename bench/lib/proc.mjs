/**
 * Processes and mounts for the benchmark: run a command with a timeout,
 * start a server as a child (pid recorded), wait for its mount in
 * /proc/mounts, and take everything down again in any case (finally, on
 * SIGINT/SIGTERM/SIGHUP, on the watchdog timer, and, for what a killed
 * earlier run left, at the next start).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every bench run works under /tmp/puffs-bench-<pid>/; nothing else is touched. */
export const WORK_PREFIX = '/tmp/puffs-bench-';

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);
export { log };

/**
 * Run a command to completion. Resolves { code, signal, stdout, stderr, ms };
 * never rejects on a non-zero exit (the caller decides), but kills the
 * command (its whole process group) after timeoutMs.
 */
const active = new Set();

/** Kill (by process group) every command run() still has running. */
export function killActive() {
  for (const pid of active) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
}

export function run(cmd, args, { timeoutMs = 120_000, cwd, env, input } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd, env, stdio: [input == null ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached: true });
    if (child.pid) active.add(child.pid);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      active.delete(child.pid);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      active.delete(child.pid);
      resolve({ code, signal, stdout, stderr, timedOut, ms: performance.now() - t0 });
    });
    if (input != null) {
      child.stdin.on('error', () => {}); // a command that exits without reading its input is not an error here
      child.stdin.end(input);
    }
  });
}

/** Run and require exit 0; returns stdout. */
export async function must(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${opts?.timeoutMs ?? 120_000} ms` : `exit ${r.code ?? r.signal}`;
    throw new Error(`${cmd} ${args.join(' ')}: ${why}: ${(r.stderr || r.stdout).trim().slice(-800)}`);
  }
  return r.stdout;
}

/** Mount points in /proc/mounts (octal escapes decoded). */
export function mountPoints() {
  const text = readFileSync('/proc/mounts', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [source, target, type] = line.split(' ');
      const dec = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
      return { source: dec(source), target: dec(target), type };
    });
}

export function isMounted(dir) {
  return mountPoints().some((m) => m.target === dir);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep };

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Everything this run started or mounted, so it can all be undone. Servers
 * are stopped by pid (SIGTERM, then SIGKILL), never by name.
 */
export class Lifecycle {
  constructor() {
    this.root = `${WORK_PREFIX}${process.pid}`;
    mkdirSync(this.root, { recursive: true });
    /** @type {{name:string, pid:number, child:import('node:child_process').ChildProcess, dir:string, exited:boolean, stderr:string}[]} */
    this.servers = [];
    /** Mount points in mount order (kernel tmpfs and FUSE). */
    this.mounts = [];
    this.closing = null;
    this.n = 0;
  }

  /** A fresh empty directory under this run's root. */
  dir(name) {
    const d = join(this.root, `${String(this.n++).padStart(2, '0')}-${name}`);
    mkdirSync(d, { recursive: true });
    return d;
  }

  /** Record state on disk so a later run can clean up after a SIGKILLed one. */
  persist() {
    const state = { pid: process.pid, servers: this.servers.map((s) => ({ pid: s.pid, cmd: s.cmd })), mounts: this.mounts };
    try {
      writeFileSync(join(this.root, 'state.json'), JSON.stringify(state));
    } catch {}
  }

  async mountTmpfs(dir, size) {
    await must('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'puffs-bench', dir], { timeoutMs: 10_000 });
    this.mounts.push(dir);
    this.persist();
  }

  /**
   * Start a FUSE server as a child and wait until `dir` shows in
   * /proc/mounts. `pin` prefixes the command with `taskset -c 0`, so every
   * thread the server ever makes runs on CPU 0.
   */
  async startServer(name, cmd, args, dir, { pin = false, env, cwd, timeoutMs = 15_000 } = {}) {
    const argv = pin ? ['taskset', ['-c', '0', cmd, ...args]] : [cmd, args];
    const child = spawn(argv[0], argv[1], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const s = { name, pid: child.pid, child, dir, exited: false, stderr: '', cmd: [cmd, ...args].join(' ') };
    child.stdout.on('data', (d) => (s.stderr = (s.stderr + d).slice(-4000)));
    child.stderr.on('data', (d) => (s.stderr = (s.stderr + d).slice(-4000)));
    child.on('exit', () => (s.exited = true));
    child.on('error', (err) => {
      s.exited = true;
      s.stderr += String(err);
    });
    this.servers.push(s);
    this.mounts.push(dir);
    this.persist();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (isMounted(dir)) return s;
      if (s.exited) break;
      await sleep(25);
    }
    const why = s.exited ? 'exited before mounting' : `not mounted after ${timeoutMs} ms`;
    await this.stopServer(s);
    throw new Error(`${name}: ${why}: ${s.stderr.trim().slice(-600)}`);
  }

  /** SIGTERM the server (its own unmount path), then make sure the mount and the process are gone. */
  async stopServer(s, graceMs = 5_000) {
    if (!s.exited) {
      try {
        process.kill(s.pid, 'SIGTERM');
      } catch {}
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && (!s.exited || isMounted(s.dir))) await sleep(25);
    if (isMounted(s.dir)) {
      await run('umount', [s.dir], { timeoutMs: 5_000 });
      if (isMounted(s.dir)) await run('umount', ['-l', s.dir], { timeoutMs: 5_000 });
    }
    if (!s.exited && alive(s.pid)) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {}
      const d2 = Date.now() + 2_000;
      while (Date.now() < d2 && !s.exited) await sleep(25);
    }
    this.mounts = this.mounts.filter((m) => m !== s.dir);
    this.servers = this.servers.filter((x) => x !== s);
    this.persist();
  }

  async unmountTmpfs(dir) {
    if (isMounted(dir)) {
      const r = await run('umount', [dir], { timeoutMs: 10_000 });
      if (r.code !== 0 && isMounted(dir)) await run('umount', ['-l', dir], { timeoutMs: 10_000 });
    }
    this.mounts = this.mounts.filter((m) => m !== dir);
    this.persist();
  }

  /** Stop every server, unmount every mount (innermost first), remove the work directory. Idempotent. */
  close() {
    this.closing ??= (async () => {
      killActive();
      for (const s of [...this.servers].reverse()) await this.stopServer(s).catch((e) => log(`stop ${s.name}: ${e.message}`));
      for (const dir of [...this.mounts].reverse()) await this.unmountTmpfs(dir).catch((e) => log(`umount ${dir}: ${e.message}`));
      const left = mountPoints().filter((m) => m.target.startsWith(this.root + '/'));
      for (const m of left.reverse()) await run('umount', ['-l', m.target], { timeoutMs: 5_000 });
      if (!mountPoints().some((m) => m.target.startsWith(this.root + '/'))) {
        rmSync(this.root, { recursive: true, force: true });
      } else {
        log(`left mounts under ${this.root}; not removing it`);
      }
    })();
    return this.closing;
  }
}

/**
 * Undo what an earlier run that was killed outright left behind: its mounts
 * under /tmp/puffs-bench-<pid>/ and the servers it recorded, if that run's
 * pid is gone. Servers are killed by recorded pid only, and only if their
 * command line still is what was recorded.
 */
export async function sweepStale() {
  let entries = [];
  try {
    entries = readdirSync('/tmp').filter((n) => n.startsWith('puffs-bench-'));
  } catch {}
  for (const name of entries) {
    const pid = Number(name.slice('puffs-bench-'.length));
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    const root = `/tmp/${name}`;
    const statePath = join(root, 'state.json');
    if (existsSync(statePath)) {
      try {
        const state = JSON.parse(readFileSync(statePath, 'utf8'));
        for (const s of state.servers ?? []) {
          let cmdline = '';
          try {
            cmdline = readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').split('\0').join(' ');
          } catch {}
          if (cmdline && s.cmd && cmdline.includes(s.cmd.split(' ').slice(-3).join(' '))) {
            log(`stale server from run ${pid}: killing pid ${s.pid}`);
            try {
              process.kill(s.pid, 'SIGKILL');
            } catch {}
          }
        }
      } catch {}
    }
    const left = mountPoints().filter((m) => m.target.startsWith(root + '/'));
    for (const m of left.reverse()) {
      log(`stale mount from run ${pid}: ${m.target}`);
      await run('umount', ['-l', m.target], { timeoutMs: 5_000 });
    }
    if (!mountPoints().some((m) => m.target.startsWith(root + '/'))) rmSync(root, { recursive: true, force: true });
  }
}
