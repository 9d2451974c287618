/**
 * Memory of the puffs tmpfs server: resident set size (VmRSS in
 * /proc/<pid>/status) after writing 1 GiB into one file, and, in a fresh
 * server, after creating 100,000 empty files. Read right after the load and
 * again after `settleMs` idle; the targets are checked on the second.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { must, sleep } from './proc.mjs';

function status(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : null;
  };
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
}

export async function memoryTest(lc, { puffs, repo, pbench, dataBytes, files, timeoutMs, settleMs = 2000 }) {
  const out = { available: true };
  /** `puffs mount tmpfs DIR [opts]` through the command under test, pinned. */
  const mountTmpfs = (dir, ...opts) => lc.startServer('puffs-mem', puffs[0], [...puffs.slice(1), 'mount', 'tmpfs', dir, ...opts], dir, { pin: true, cwd: repo });
  const pb = async (...args) => JSON.parse((await must('taskset', ['-c', '0', pbench, ...args.map(String)], { timeoutMs })).trim());

  // 1 GiB of data in one file.
  {
    const dir = lc.dir('mem-data');
    const size = Math.ceil((dataBytes * 1.25) / 1024 ** 2) + 'm';
    let s;
    try {
      s = await mountTmpfs(dir, '-o', `size=${size}`);
      const before = status(s.pid);
      const w = await pb('seqwrite', join(dir, 'big'), dataBytes, 1024 * 1024);
      const right = status(s.pid);
      await sleep(settleMs); // let garbage from the writes be collected: what it holds, not what it churned
      const after = status(s.pid);
      out.data = { bytes: dataBytes, baseRssBytes: before.rssBytes, rightAfterRssBytes: right.rssBytes, settleMs, ...after, writeSec: w.sec };
    } catch (err) {
      out.data = { bytes: dataBytes, error: String(err.message ?? err).slice(0, 500) };
    } finally {
      if (s) await lc.stopServer(s);
    }
  }

  // 100,000 empty files in one directory.
  {
    const dir = lc.dir('mem-files');
    let s;
    try {
      s = await mountTmpfs(dir);
      const before = status(s.pid);
      await must('mkdir', [join(dir, 'many')], { timeoutMs: 10_000 });
      const c = await pb('create', join(dir, 'many'), files);
      const right = status(s.pid);
      await sleep(settleMs);
      const after = status(s.pid);
      out.files = { count: files, baseRssBytes: before.rssBytes, rightAfterRssBytes: right.rssBytes, settleMs, ...after, createSec: c.sec };
    } catch (err) {
      out.files = { count: files, error: String(err.message ?? err).slice(0, 500) };
    } finally {
      if (s) await lc.stopServer(s);
    }
  }
  return out;
}
