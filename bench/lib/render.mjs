/**
 * Turn a result object (the JSON the benchmark writes) into the text report
 * and the chart, and write them next to the JSON.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc.mjs';
import { failures, fmt, svgChart, tables, targetLines } from './report.mjs';

const MiB = 1024 * 1024;

export function renderText(json) {
  const { quick, config, contenders, groups, workloads, results, inprocess, memory, targets, rounds, machine } = json;
  const labelOf = (w) => w.label;
  const s = config.sizes;
  const text = [];
  text.push(`puffs benchmark${quick ? ' (--quick)' : ''}${json.only ? ` (--only ${json.only.join(',')})` : ''}: ${json.date}, ${machine.cpus} CPUs (${machine.model ?? '?'}), Linux ${machine.kernel}, Node ${machine.node}`);
  text.push(`sizes: ${s.files} files in one directory; a tree of ${s.treeFiles} files of ${s.treeFileSize} B; sequential ${s.seqBytes / MiB} MiB in 1 MiB calls; fio 4 KiB psync for ${s.fioSec} s on that file; fstat/stat loops ${s.floorSec} s`);
  text.push('contenders:');
  for (const c of contenders) text.push(`  ${c.label.padEnd(18)} ${c.lang}${c.note ? ` (${c.note})` : ''}${c.available ? (c.full ? '' : ` — PARTIAL: ${c.reason}`) : ` — UNAVAILABLE: ${c.reason}`}`);
  text.push('each contender: median value; ÷kernel = its speed ÷ kernel tmpfs; ÷puffs = its speed ÷ puffs (each ratio taken within one round, then the median over rounds; > 1 = faster).');
  text.push('caching off = entry/attr/negative timeouts 0 on every FUSE contender; as shipped = each with its own defaults. Sequential and random I/O run as shipped only.');
  text.push(tables({ results, groups, workloads, contenders, labelOf }));
  text.push('');
  text.push('== in-process (one Node process, promise APIs, µs per op) ==');
  const ip = inprocess ?? {};
  if (ip.error) text.push(`  ${ip.error}`);
  for (const [name, side] of [
    ['memfs', ip.memfs],
    ['puffs attach(new Tmpfs())', ip.attach],
  ]) {
    if (!side) continue;
    if (!side.available) {
      text.push(`  ${name.padEnd(26)} unavailable: ${side.reason}`);
      continue;
    }
    const p = side.perOpUs ?? {};
    const ap = side.append;
    const apText = ap ? (ap.sec?.length ? `append 100 MB in 4 KiB writes: ${ap.sec.map((x) => fmt(x)).join(' / ')} s at 25/50/75/100 MB${ap.complete ? '' : ` (${ap.error})`}` : `append: ${ap.error}`) : '';
    text.push(`  ${name.padEnd(26)} stat ${fmt(p.stat)}  readFile 4K ${fmt(p.readFile)}  writeFile 4K ${fmt(p.writeFile)}   ${apText}`);
    for (const [k, v] of Object.entries(side.errors ?? {})) text.push(`    error in ${k}: ${v.slice(0, 300)}`);
  }
  text.push('');
  text.push('== memory of the puffs tmpfs server (VmRSS) ==');
  if (!memory?.available) text.push(`  unavailable: ${memory?.reason}`);
  else {
    const d = memory.data;
    const f = memory.files;
    const after = (x) => (x.rightAfterRssBytes != null ? `${fmt(x.rightAfterRssBytes / 1e6)} MB right after, ` : '');
    const settled = (x) => (x.settleMs ? ` after ${x.settleMs / 1000} s idle` : '');
    text.push(d?.error ? `  data: failed: ${d.error}` : `  ${fmt(d.bytes / MiB)} MiB in one file: RSS ${fmt(d.rssBytes / 1e6)} MB${settled(d)} (${after(d)}peak ${fmt(d.hwmBytes / 1e6)} MB; ${fmt(d.baseRssBytes / 1e6)} MB before)`);
    text.push(f?.error ? `  files: failed: ${f.error}` : `  ${f.count} empty files: RSS ${fmt(f.rssBytes / 1e6)} MB${settled(f)} (${after(f)}peak ${fmt(f.hwmBytes / 1e6)} MB; ${fmt(f.baseRssBytes / 1e6)} MB before)`);
  }
  text.push('');
  text.push(`== targets (from the issue${quick ? '; --quick runs smaller workloads: indicative only' : ''}) ==`);
  text.push(...targetLines(targets));
  const fails = failures({ results, groups, workloads, contenders });
  if (fails.length) {
    text.push('');
    text.push('== failures ==');
    text.push(...fails);
  }
  text.push('');
  text.push(`rounds: ${rounds.length} (${rounds.map((x) => x.toFixed(0) + ' s').join(', ')})${json.stoppedEarly ? `; ${json.stoppedEarly}` : ''}; total ${json.totalSec.toFixed(0)} s`);
  return text.join('\n') + '\n';
}

export function renderSvg(json) {
  return svgChart({
    results: json.results,
    groups: json.groups,
    workloads: json.workloads,
    contenders: json.contenders,
    labelOf: (w) => w.label,
    title: `puffs benchmark${json.quick ? ' (--quick)' : ''}: speed relative to kernel tmpfs`,
    subtitle: `${json.date.slice(0, 16).replace('T', ' ')} UTC · ${json.machine.cpus} CPUs · Linux ${json.machine.kernel} · median of per-round ratios, ${json.rounds.length} round(s) · higher is faster`,
  });
}

/** Write <base>.json/.txt/.svg(/.png) and, for a whole run, latest.svg(/.png); print the text. Returns the paths written. */
export async function writeReport(json, base, outDir, { print = true, writeJson = true } = {}) {
  const wrote = [];
  if (writeJson) {
    writeFileSync(`${base}.json`, JSON.stringify(json, null, 1));
    wrote.push(`${base}.json`);
  }
  const text = renderText(json);
  writeFileSync(`${base}.txt`, text);
  writeFileSync(`${base}.svg`, renderSvg(json));
  wrote.push(`${base}.txt`, `${base}.svg`);
  // latest.* is the last whole run's chart: a run of a few workloads (--only) leaves it be.
  const latest = !json.only;
  if (latest) {
    copyFileSync(`${base}.svg`, join(outDir, 'latest.svg'));
    wrote.push(join(outDir, 'latest.svg'));
  }
  const png = await run('rsvg-convert', ['-b', 'white', '-o', `${base}.png`, `${base}.svg`], { timeoutMs: 30_000 }).catch(() => null);
  if (png?.code === 0) {
    wrote.push(`${base}.png`);
    if (latest) {
      copyFileSync(`${base}.png`, join(outDir, 'latest.png'));
      wrote.push(join(outDir, 'latest.png'));
    }
  }
  if (print) process.stdout.write(text);
  return wrote;
}
