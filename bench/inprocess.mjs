#!/usr/bin/env node
/**
 * The in-process path: puffs `attach(new Tmpfs())` (no kernel, no mount)
 * against memfs from npm, per operation, in one Node process.
 *
 *   node bench/inprocess.mjs [--quick] [--dist DIR]   prints one JSON object
 *
 * DIR is the puffs build to load (default: dist/).
 *
 * Measures stat, a small readFile and a small writeFile (µs per op, promise
 * APIs on both sides, one at a time), and appending 100 MB in 4 KiB writes
 * through one open handle, with the time at 25, 50, 75 and 100 MB, so
 * linear and quadratic growth can be told apart.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');
const quick = process.argv.includes('--quick');
const OP_MS = quick ? 300 : 1000;
const SMALL = 4096;
const APPEND_BYTES = 100 * 1000 * 1000;
const APPEND_CHUNK = 4096;
const APPEND_LIMIT_MS = quick ? 20_000 : 60_000;

/**
 * Warm-up before each measurement, the same for every contender: long
 * enough that the JIT has compiled the op's path (puffs's readFile takes
 * about half a second of calls to settle; 200 calls were far from enough).
 */
const WARM_MS = quick ? 600 : 1000;

/** Run `op` for about `ms`, after a warm-up; µs per op. */
async function perOp(op, ms = OP_MS) {
  const warmEnd = performance.now() + WARM_MS;
  for (let i = 0; i < 200 || performance.now() < warmEnd; i++) await op();
  let n = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  let t = t0;
  while (t < end) {
    for (let i = 0; i < 100; i++) await op();
    n += 100;
    t = performance.now();
  }
  return ((t - t0) * 1000) / n;
}

/**
 * A node:fs/promises-like API: stat, readFile, writeFile, and open() whose
 * handle has write() and close() (or appendFile as a fallback).
 */
async function measure(api) {
  const res = { perOpUs: {}, errors: {} };
  const payload = Buffer.alloc(SMALL, 0x61);
  try {
    await api.writeFile('/small', payload);
  } catch (err) {
    res.errors.setup = String(err?.stack ?? err);
    return res;
  }
  const ops = {
    stat: () => api.stat('/small'),
    readFile: async () => {
      const b = await api.readFile('/small');
      if (b.length !== SMALL) throw new Error(`readFile returned ${b.length} bytes`);
    },
    writeFile: () => api.writeFile('/small', payload),
  };
  for (const [name, op] of Object.entries(ops)) {
    try {
      res.perOpUs[name] = await perOp(op);
    } catch (err) {
      res.errors[name] = String(err?.message ?? err);
    }
  }
  // Appending.
  const chunk = Buffer.alloc(APPEND_CHUNK, 0x62);
  const quarters = [1, 2, 3, 4].map((q) => (APPEND_BYTES * q) / 4);
  const sec = [];
  let done = 0;
  try {
    let write;
    let close = async () => {};
    if (typeof api.open === 'function') {
      const fh = await api.open('/append', 'a');
      if (typeof fh?.write === 'function') {
        write = () => fh.write(chunk);
        close = () => fh.close?.();
      }
    }
    write ??= () => api.appendFile('/append', chunk);
    const t0 = performance.now();
    let qi = 0;
    while (done < APPEND_BYTES) {
      await write();
      done += APPEND_CHUNK;
      if (done >= quarters[qi]) {
        sec.push((performance.now() - t0) / 1000);
        qi++;
      }
      if ((done & 0xfffff) === 0 && performance.now() - t0 > APPEND_LIMIT_MS) break;
    }
    await close();
    const st = await api.stat('/append');
    if (Number(st.size) !== done) throw new Error(`appended ${done} bytes but size is ${st.size}`);
    res.append = { bytes: done, chunk: APPEND_CHUNK, quartersBytes: quarters, sec, complete: done >= APPEND_BYTES };
    if (!res.append.complete) res.append.error = `stopped after ${APPEND_LIMIT_MS / 1000} s at ${done} bytes`;
  } catch (err) {
    res.append = { bytes: done, sec, complete: false, error: String(err?.message ?? err) };
  }
  return res;
}

const out = { quick, node: process.version };

// memfs from npm (bench/.peers).
try {
  const require = createRequire(join(here, '.peers', 'package.json'));
  const { Volume } = require('memfs');
  const version = require('memfs/package.json').version;
  const vol = new Volume();
  out.memfs = { available: true, version, ...(await measure(vol.promises)) };
} catch (err) {
  out.memfs = { available: false, reason: `memfs not loadable from bench/.peers: ${err?.message ?? err}` };
}

// puffs attach + Tmpfs, once they are built.
const distArg = process.argv.indexOf('--dist');
const dist = distArg > 0 ? process.argv[distArg + 1] : join(repo, 'dist');
const clientJs = join(dist, 'client', 'index.js');
const tmpfsJs = join(dist, 'fs', 'tmpfs', 'index.js');
if (!existsSync(clientJs) || !existsSync(tmpfsJs)) {
  const missing = [clientJs, tmpfsJs].filter((p) => !existsSync(p)).map((p) => 'dist/' + p.slice(dist.length + 1));
  out.attach = { available: false, reason: `not built yet: ${missing.join(', ')} missing (src/client or src/fs/tmpfs not written yet)` };
} else {
  let handle;
  try {
    const client = await import(pathToFileURL(clientJs).href);
    const tmpfs = await import(pathToFileURL(tmpfsJs).href);
    if (typeof client.attach !== 'function') throw new Error(`dist/client exports no attach() (exports: ${Object.keys(client).join(', ')})`);
    if (typeof tmpfs.Tmpfs !== 'function') throw new Error(`dist/fs/tmpfs exports no Tmpfs (exports: ${Object.keys(tmpfs).join(', ')})`);
    handle = await client.attach(new tmpfs.Tmpfs());
    const cands = [handle?.promises, handle?.fs?.promises, handle?.fs, handle];
    const api = cands.find((a) => a && ['stat', 'readFile', 'writeFile'].every((m) => typeof a[m] === 'function'));
    if (!api) throw new Error(`attach() returned no stat/readFile/writeFile API (keys: ${Object.keys(handle ?? {}).join(', ')})`);
    out.attach = { available: true, ...(await measure(api)) };
  } catch (err) {
    out.attach = { available: false, reason: String(err?.message ?? err) };
  } finally {
    try {
      await (handle?.close ?? handle?.detach ?? handle?.unmount)?.call(handle);
    } catch {}
  }
}

process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);
