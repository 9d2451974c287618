/**
 * The contenders: how to tell whether each can run here, and how to start
 * one in a given mode (caching off or as shipped) and placement (pinned to
 * CPU 0 or not).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc.mjs';

export const NOCACHE = { entry_timeout: 0, attr_timeout: 0, negative_timeout: 0 };
const nocacheOpts = Object.entries(NOCACHE).map(([k, v]) => `${k}=${v}`).join(',');

/**
 * @typedef {{ dir: string, floorFile: string|undefined, full: boolean, stop: () => Promise<void>, pid?: number, note?: string }} Instance
 * @typedef {{ id: string, label: string, lang: string, available: boolean, reason?: string, note?: string,
 *   full: boolean, start: (lc: any, opts: { pin: boolean, cache: 'off'|'shipped', size: string }) => Promise<Instance> }} Contender
 */

/**
 * The puffs command to benchmark, as [command, ...leading args]:
 * $PUFFS_BENCH_CLI (another build's bin/puffs, or its cli/main.js, run by
 * this Node), else bin/puffs of the snapshot this run took (see run.mjs):
 * the command as shipped, which starts Node with glibc's huge pages.
 */
export function puffsCommand(root) {
  const other = process.env.PUFFS_BENCH_CLI;
  if (other) return other.endsWith('.js') ? [process.execPath, other] : [other];
  return [join(root, 'bin', 'puffs')];
}

/** Find out what can run and build the contender list (all five, some maybe unavailable). */
export async function detectContenders(repo, peers, root) {
  /** @type {Contender[]} */
  const list = [];

  list.push({
    id: 'kernel',
    label: 'kernel tmpfs',
    lang: 'C, in kernel',
    available: true,
    full: true,
    async start(lc, { size }) {
      const dir = lc.dir('kernel');
      await lc.mountTmpfs(dir, size);
      return { dir, floorFile: undefined, full: true, stop: () => lc.unmountTmpfs(dir) };
    },
  });

  const bindfs = await run('bindfs', ['--version'], { timeoutMs: 5_000 }).catch((e) => ({ code: -1, stderr: String(e) }));
  list.push({
    id: 'bindfs',
    label: 'bindfs',
    lang: 'C, libfuse 2, single-threaded',
    available: bindfs.code === 0,
    reason: bindfs.code === 0 ? undefined : 'bindfs is not installed (bench/setup.sh installs it from Debian)',
    note: bindfs.code === 0 ? bindfs.stdout.trim() : undefined,
    full: true,
    async start(lc, { pin, cache, size }) {
      const src = lc.dir('bindfs-src');
      await lc.mountTmpfs(src, size);
      const dir = lc.dir('bindfs');
      const args = ['-f', ...(cache === 'off' ? ['-o', nocacheOpts] : []), src, dir];
      try {
        const s = await lc.startServer('bindfs', 'bindfs', args, dir, { pin });
        return {
          dir,
          floorFile: undefined,
          full: true,
          pid: s.pid,
          async stop() {
            await lc.stopServer(s);
            await lc.unmountTmpfs(src);
          },
        };
      } catch (err) {
        await lc.unmountTmpfs(src);
        throw err;
      }
    },
  });

  // fuse-native: a prebuilt N-API addon that links Debian's libfuse.so.2.
  const fnScript = join(repo, 'bench', 'peers', 'fuse-native-memfs.mjs');
  let fnReason;
  if (!existsSync(join(peers, 'node_modules', 'fuse-native', 'package.json'))) {
    fnReason = 'fuse-native is not installed in bench/.peers (bench/setup.sh installs it)';
  } else {
    const probe = await run(process.execPath, ['-e', `require(${JSON.stringify(join(peers, 'node_modules', 'fuse-native'))})`], {
      timeoutMs: 10_000,
    });
    if (probe.code !== 0) fnReason = `fuse-native does not load: ${probe.stderr.trim().split('\n').slice(-3).join(' ')}`;
  }
  list.push({
    id: 'fuse-native',
    label: 'fuse-native memfs',
    lang: 'JS on fuse-native (libfuse 2 high level)',
    available: !fnReason,
    reason: fnReason,
    full: true,
    async start(lc, { pin, cache }) {
      const dir = lc.dir('fuse-native');
      const s = await lc.startServer('fuse-native', process.execPath, [fnScript, dir, ...(cache === 'off' ? ['nocache'] : [])], dir, { pin });
      return { dir, floorFile: undefined, full: true, pid: s.pid, stop: () => lc.stopServer(s) };
    },
  });

  // puffs: tmpfs once the CLI knows it; until then hello, for the fstat floor only.
  const [cmd, ...pre] = puffsCommand(root);
  const help = await run(cmd, [...pre, '--help'], { timeoutMs: 10_000 }).catch((e) => ({ code: -1, stdout: '', stderr: String(e) }));
  const knows = (name) => help.code === 0 && new RegExp(`^\\s+${name}\\s`, 'm').test(help.stdout);
  const hasTmpfs = knows('tmpfs');
  const hasHello = knows('hello');
  list.push({
    id: 'puffs',
    label: hasTmpfs ? 'puffs tmpfs' : 'puffs (hello)',
    lang: 'TypeScript, /dev/fuse (hot reader: blocking reads while answers are synchronous, epoll otherwise); bin/puffs: glibc huge pages',
    available: hasTmpfs || hasHello,
    full: hasTmpfs,
    reason: hasTmpfs
      ? undefined
      : hasHello
        ? "the puffs CLI has no tmpfs yet (`puffs --help` lists no 'tmpfs'): the read-only hello fs stands in for the fstat floor only"
        : `the puffs CLI does not run: ${(help.stderr || '').trim().slice(-300)}`,
    async start(lc, { pin, cache, size }) {
      const dir = lc.dir(hasTmpfs ? 'puffs-tmpfs' : 'puffs-hello');
      const opts = [];
      if (hasTmpfs) opts.push(`size=${size}`);
      if (cache === 'off') opts.push(nocacheOpts);
      const args = [...pre, 'mount', hasTmpfs ? 'tmpfs' : 'hello', dir, ...(opts.length ? ['-o', opts.join(',')] : [])];
      const s = await lc.startServer('puffs', cmd, args, dir, { pin, cwd: repo });
      return {
        dir,
        floorFile: hasTmpfs ? undefined : join(dir, 'hello'),
        full: hasTmpfs,
        pid: s.pid,
        stop: () => lc.stopServer(s),
      };
    },
  });

  return list;
}
