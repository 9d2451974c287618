/**
 * From raw per-round numbers to what a reader sees: medians, ratios taken in
 * the same round and then medianed, the target checks, the text table and
 * the SVG chart.
 */

export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** How many times faster `a` is than `b` (both in the workload's unit). */
export function speedup(w, a, b) {
  if (a == null || b == null || !(a > 0) || !(b > 0)) return null;
  return w.better === 'lower' ? b / a : a / b;
}

/**
 * Fill medians and per-round ratios into results[group][workload][contender]
 * = { values: (number|null)[], errors: string[] }.
 */
export function summarize(results, workloads) {
  for (const g of Object.values(results)) {
    for (const w of workloads) {
      const row = g[w.id];
      if (!row) continue;
      const rounds = Math.max(0, ...Object.values(row).map((c) => c.values.length));
      for (const c of Object.values(row)) {
        c.ratioKernel = [];
        c.ratioPuffs = [];
        for (let r = 0; r < rounds; r++) {
          c.ratioKernel.push(speedup(w, c.values[r], row.kernel?.values[r]));
          c.ratioPuffs.push(speedup(w, c.values[r], row.puffs?.values[r]));
        }
        c.median = median(c.values);
        c.medianRatioKernel = median(c.ratioKernel);
        c.medianRatioPuffs = median(c.ratioPuffs);
      }
    }
  }
}

export function fmt(x) {
  if (x == null || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 100000) return x.toExponential(2).replace('e+', 'e');
  if (a >= 1000) return Math.round(x).toString();
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a >= 0.01) return x.toFixed(3);
  return x.toPrecision(2);
}

const pad = (s, n) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const padL = (s, n) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

/** The text tables, one per group. */
export function tables({ results, groups, workloads, contenders, labelOf }) {
  const out = [];
  const cols = contenders;
  for (const g of groups) {
    const gr = results[g.id];
    if (!gr || Object.keys(gr).length === 0) continue; // no workload of this group ran (--only)
    const nRounds = Math.max(0, ...Object.values(gr).flatMap((row) => Object.values(row).map((c) => c.values.length)));
    out.push('');
    out.push(`== ${g.label} — medians of ${nRounds} round${nRounds === 1 ? '' : 's'} ==`);
    const center = (t, n) => padL(t, Math.floor((n + t.length) / 2)).padEnd(n);
    const head = [pad('', 26), pad('', 8), ...cols.map((c) => center(c.label, 25))].join('  ');
    const sub = [pad('workload', 26), pad('unit', 8), ...cols.map(() => `${padL('median', 9)} ${padL('÷kernel', 7)} ${padL('÷puffs', 7)}`)].join('  ');
    out.push(head.trimEnd());
    out.push(sub);
    out.push('-'.repeat(sub.length));
    for (const w of workloads) {
      const row = gr[w.id];
      if (!row) continue;
      const cells = cols.map((c) => {
        const cell = row[c.id];
        if (!c.available) return padL('unavailable', 25);
        if (!cell) return padL('n/a', 25);
        if (cell.median == null) return padL(cell.errors.length ? 'FAILED' : 'n/a', 25);
        const k = c.id === 'kernel' ? '' : fmt(cell.medianRatioKernel);
        const p = c.id === 'puffs' || cell.medianRatioPuffs == null ? '' : fmt(cell.medianRatioPuffs);
        return `${padL(fmt(cell.median), 9)} ${padL(k, 7)} ${padL(p, 7)}`;
      });
      out.push([pad(labelOf(w), 26), pad(w.unit, 8), ...cells].join('  ').trimEnd());
    }
  }
  return out.join('\n');
}

/** Every cell that failed, with its first error. */
export function failures({ results, groups, workloads, contenders }) {
  const lines = [];
  for (const g of groups) {
    for (const w of workloads) {
      for (const c of contenders) {
        const cell = results[g.id]?.[w.id]?.[c.id];
        if (cell?.errors.length) lines.push(`  ${g.label} / ${w.id} / ${c.label}: ${cell.errors.length}× ${cell.errors[0].slice(0, 300)}`);
      }
    }
  }
  return lines;
}

// ---------------------------------------------------------------- targets

const MB = 1e6;
const GiB = 1024 ** 3;

/**
 * The issue's targets, each checked against this run. status: PASS, FAIL or
 * n/a (with why).
 */
export function checkTargets({ results, workloads, contenders, inprocess, memory, quick }) {
  const byId = Object.fromEntries(workloads.map((w) => [w.id, w]));
  const cont = Object.fromEntries(contenders.map((c) => [c.id, c]));
  const t = [];
  const puffsFull = cont.puffs?.available && cont.puffs?.full;

  /** Median over rounds of puffs' speed relative to `other` in one group. */
  const vs = (gid, wid, other) => {
    const row = results[gid]?.[wid];
    if (!row?.puffs || !row[other]) return null;
    const w = byId[wid];
    const per = row.puffs.values.map((v, r) => speedup(w, v, row[other].values[r]));
    return median(per);
  };
  const na = (why) => ({ status: 'n/a', why });

  for (const wid of ['floor1', 'floor2', 'create', 'stat', 'unlink']) {
    if (!byId[wid]) continue; // left out (--only)
    for (const [other, min] of [
      ['bindfs', 1],
      ['fuse-native', 2.5],
    ]) {
      const name = `caching off, pinned: ${byId[wid].label} — puffs ≥ ${min}× ${cont[other].label}`;
      if (!cont.puffs?.available) t.push({ name, ...na(cont.puffs?.reason) });
      else if (!cont[other].available) t.push({ name, ...na(`${cont[other].label} unavailable: ${cont[other].reason}`) });
      else if (byId[wid].needs === 'full' && !puffsFull) t.push({ name, ...na(cont.puffs.reason) });
      else {
        const x = vs('pinned/off', wid, other);
        const xu = vs('unpinned/off', wid, other);
        t.push({ name, value: x, unit: '×', min, status: x == null ? 'n/a' : x >= min ? 'PASS' : 'FAIL', unpinned: xu, why: x == null ? 'not measured' : undefined });
      }
    }
  }
  for (const [wid, min, what] of [
    ['seqWrite', 0.5, 'sequential write'],
    ['seqReadCold', 0.6, 'cold sequential read'],
    ['seqReadCached', 0.95, 'cached sequential read'],
    ['statsame', 0.5, 'stat of an unchanged file'],
    ['treeWalkCached', 0.5, 'cached tree walk'],
  ]) {
    if (!byId[wid]) continue;
    const name = `as shipped, pinned: ${what} (${byId[wid].label}) — puffs ≥ ${min}× kernel tmpfs`;
    if (!puffsFull) t.push({ name, ...na(cont.puffs?.reason) });
    else {
      const x = vs('pinned/shipped', wid, 'kernel');
      const xu = vs('unpinned/shipped', wid, 'kernel');
      t.push({ name, value: x, unit: '×', min, status: x == null ? 'n/a' : x >= min ? 'PASS' : 'FAIL', unpinned: xu, why: x == null ? 'not measured' : undefined });
    }
  }

  if (!inprocess?.attach?.available) {
    for (const op of ['stat', 'readFile', 'writeFile']) t.push({ name: `in-process: attach ${op} ≤ 3× memfs per op`, ...na(inprocess?.attach?.reason ?? 'not run') });
    t.push({ name: 'in-process: appending 100 MB in 4 KiB writes is linear', ...na(inprocess?.attach?.reason ?? 'not run') });
  } else {
    for (const op of ['stat', 'readFile', 'writeFile']) {
      const a = inprocess.attach.perOpUs?.[op];
      const m = inprocess.memfs?.perOpUs?.[op];
      const name = `in-process: attach ${op} ≤ 3× memfs per op`;
      if (a == null || m == null) t.push({ name, ...na(inprocess.attach.errors?.[op] ?? inprocess.memfs?.errors?.[op] ?? 'not measured') });
      else t.push({ name, value: a / m, unit: '× memfs', max: 3, status: a / m <= 3 ? 'PASS' : 'FAIL', detail: `${fmt(a)} µs vs ${fmt(m)} µs` });
    }
    const ap = inprocess.attach.append;
    const name = 'in-process: appending 100 MB in 4 KiB writes is linear (time(100 MB) ≤ 5 × time(25 MB))';
    if (!ap?.complete) t.push({ name, ...na(ap?.error ?? 'not measured') });
    else {
      const r = ap.sec[3] / ap.sec[0];
      t.push({ name, value: r, unit: '×', max: 5, status: r <= 5 ? 'PASS' : 'FAIL', detail: `25/50/75/100 MB at ${ap.sec.map((s) => fmt(s)).join(' / ')} s` });
    }
  }

  const memName1 = 'memory: tmpfs holds 1 GiB of data in ≤ 1.1 GiB of process memory (RSS)';
  const memName2 = 'memory: 100,000 empty files in ≤ 200 MB of process memory (RSS)';
  if (!memory?.available) {
    t.push({ name: memName1, ...na(memory?.reason ?? 'not run') });
    t.push({ name: memName2, ...na(memory?.reason ?? 'not run') });
  } else {
    // A smaller (quick) run is projected to full size: RSS before + growth × scale.
    const d = memory.data;
    if (d?.rssBytes == null) t.push({ name: memName1, ...na(d?.error ?? 'not measured') });
    else {
      const scale = GiB / d.bytes;
      const rss = scale === 1 ? d.rssBytes : d.baseRssBytes + (d.rssBytes - d.baseRssBytes) * scale;
      const how = scale === 1 ? '' : ` (projected from ${fmt(d.bytes / 2 ** 20)} MiB: RSS ${fmt(d.baseRssBytes / MB)} MB before + ${fmt(scale)} × the growth)`;
      t.push({ name: memName1, value: rss / GiB, unit: ' GiB', max: 1.1, status: rss <= 1.1 * GiB ? 'PASS' : 'FAIL', detail: `RSS ${fmt(d.rssBytes / MB)} MB after writing ${fmt(d.bytes / MB)} MB${how}` });
    }
    const f = memory.files;
    if (f?.rssBytes == null) t.push({ name: memName2, ...na(f?.error ?? 'not measured') });
    else {
      const scale = 100000 / f.count;
      const rss = scale === 1 ? f.rssBytes : f.baseRssBytes + (f.rssBytes - f.baseRssBytes) * scale;
      const how = scale === 1 ? '' : ` (projected from ${f.count} files: RSS ${fmt(f.baseRssBytes / MB)} MB before + ${fmt(scale)} × the growth)`;
      t.push({ name: memName2, value: rss / MB, unit: ' MB', max: 200, status: rss <= 200 * MB ? 'PASS' : 'FAIL', detail: `RSS ${fmt(f.rssBytes / MB)} MB with ${f.count} files${how}` });
    }
  }
  if (quick) for (const x of t) x.quick = true;
  return t;
}

export function targetLines(targets) {
  return targets.map((x) => {
    const tag = x.status === 'PASS' ? '[PASS]' : x.status === 'FAIL' ? '[FAIL]' : '[ n/a]';
    let s = `${tag} ${x.name}`;
    if (x.value != null) s += `: ${fmt(x.value)}${x.unit ?? ''}`;
    if (x.unpinned != null) s += ` (unpinned ${fmt(x.unpinned)}${x.unit ?? ''})`;
    if (x.detail) s += ` — ${x.detail}`;
    if (x.status === 'n/a' && x.why) s += ` — ${x.why}`;
    return s;
  });
}

// ---------------------------------------------------------------- chart

/** Two significant digits, for labels on bars. */
const short = (x) => (x >= 10 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : Number(x.toPrecision(2)).toString());

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Grouped bars of each contender's speed relative to kernel tmpfs (median of
 * per-round ratios), log scale, one panel per group (pinned/unpinned ×
 * caching off/as shipped).
 */
/** Targets relative to kernel tmpfs, drawn as a black tick on the puffs bar in the as-shipped panels. */
export const KERNEL_TARGETS = { seqWrite: 0.5, seqReadCold: 0.6, seqReadCached: 0.95, statsame: 0.5, treeWalkCached: 0.5 };

export function svgChart({ results, groups, workloads, contenders, labelOf, title, subtitle }) {
  const bars = contenders.filter((c) => c.id !== 'kernel');
  const colors = { bindfs: '#4e79a7', 'fuse-native': '#f28e2b', puffs: '#59a14f' };
  const panels = groups
    .map((g) => ({ g, ws: workloads.filter((w) => results[g.id]?.[w.id]) }))
    .filter((p) => p.ws.length);
  let lo = Infinity;
  let hi = -Infinity;
  for (const { g, ws } of panels) {
    for (const w of ws) {
      for (const c of bars) {
        const r = results[g.id][w.id][c.id]?.medianRatioKernel;
        if (r > 0) {
          lo = Math.min(lo, r);
          hi = Math.max(hi, r);
        }
      }
    }
  }
  if (!Number.isFinite(lo)) {
    lo = 0.01;
    hi = 1;
  }
  let dLo = Math.min(-1, Math.floor(Math.log10(lo)));
  if (lo < 1.5 * 10 ** dLo) dLo -= 1; // keep the shortest bar visible
  const dHi = Math.log10(Math.max(hi, 1) * 2.2); // headroom for the labels on top of the bars
  const maxW = Math.max(...panels.map((p) => p.ws.length), 1);
  const slot = 30 * bars.length + 26;
  const left = 70;
  const right = 20;
  const plotW = maxW * slot;
  const width = left + plotW + right;
  const plotH = 220;
  const labelH = 120;
  const panelH = 34 + plotH + labelH;
  const top = 96;
  const height = top + panels.length * panelH + 20;
  const o = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`);
  o.push(`<rect width="100%" height="100%" fill="white"/>`);
  o.push(`<text x="${left}" y="28" font-size="20" font-weight="bold">${esc(title)}</text>`);
  o.push(`<text x="${left}" y="50" font-size="13" fill="#444">${esc(subtitle)}</text>`);
  let lx = left;
  for (const c of bars) {
    o.push(`<rect x="${lx}" y="64" width="14" height="14" fill="${colors[c.id] ?? '#999'}"/>`);
    const t = `${c.label}${c.available ? '' : ' (unavailable)'}`;
    o.push(`<text x="${lx + 20}" y="76" font-size="13">${esc(t)}</text>`);
    lx += 30 + t.length * 7.5;
  }
  o.push(`<line x1="${lx}" y1="71" x2="${lx + 24}" y2="71" stroke="#c00" stroke-width="2" stroke-dasharray="5,3"/>`);
  o.push(`<text x="${lx + 30}" y="76" font-size="13">kernel tmpfs = 1</text>`);
  lx += 160;
  o.push(`<line x1="${lx}" y1="71" x2="${lx + 26}" y2="71" stroke="black" stroke-width="3"/>`);
  o.push(`<text x="${lx + 32}" y="76" font-size="13">target for puffs (as shipped)</text>`);
  lx += 240;
  o.push(`<text x="${lx}" y="76" font-size="13" fill="#666">n/a: not run (unavailable, or not in this mode)</text>`);

  panels.forEach(({ g, ws }, i) => {
    const y0 = top + i * panelH;
    const py = y0 + 34;
    const yOf = (r) => py + plotH - ((Math.log10(r) - dLo) / (dHi - dLo)) * plotH;
    o.push(`<text x="${left}" y="${y0 + 20}" font-size="15" font-weight="bold">${esc(g.label)}</text>`);
    o.push(`<rect x="${left}" y="${py}" width="${ws.length * slot}" height="${plotH}" fill="#fafafa" stroke="#ccc"/>`);
    for (let d = dLo; d <= Math.floor(dHi); d++) {
      const y = yOf(10 ** d);
      o.push(`<line x1="${left}" y1="${y}" x2="${left + ws.length * slot}" y2="${y}" stroke="#ddd"/>`);
      const lab = d >= 0 ? `${10 ** d}×` : `${(10 ** d).toFixed(-d)}×`;
      o.push(`<text x="${left - 6}" y="${y + 4}" font-size="11" text-anchor="end" fill="#555">${lab}</text>`);
    }
    o.push(`<text x="16" y="${py + plotH / 2}" font-size="12" fill="#555" transform="rotate(-90 16 ${py + plotH / 2})" text-anchor="middle">speed ÷ kernel tmpfs (log)</text>`);
    ws.forEach((w, j) => {
      const x0 = left + j * slot + 13;
      bars.forEach((c, k) => {
        const cell = results[g.id][w.id][c.id];
        const r = cell?.medianRatioKernel;
        const x = x0 + k * 30;
        if (r > 0) {
          const y = yOf(Math.max(r, 10 ** dLo));
          const base = yOf(10 ** dLo);
          o.push(`<rect x="${x}" y="${y}" width="26" height="${Math.max(1, base - y)}" fill="${colors[c.id] ?? '#999'}"><title>${esc(`${c.label}, ${labelOf(w)}: ${fmt(r)}× kernel`)}</title></rect>`);
          o.push(`<text x="${x + 13}" y="${y - 3}" font-size="10" text-anchor="middle" fill="#333">${esc(short(r))}</text>`);
        } else {
          o.push(`<text x="${x + 13}" y="${py + plotH - 4}" font-size="9" text-anchor="middle" fill="#999">n/a</text>`);
        }
        const target = KERNEL_TARGETS[w.id];
        if (c.id === 'puffs' && g.cache === 'shipped' && target) {
          const ty = yOf(target);
          o.push(`<line x1="${x - 3}" y1="${ty}" x2="${x + 29}" y2="${ty}" stroke="black" stroke-width="3"><title>target: ${target}× kernel tmpfs</title></line>`);
        }
      });
      const lxw = x0 + (bars.length * 30) / 2;
      o.push(`<text x="${lxw}" y="${py + plotH + 14}" font-size="12" text-anchor="end" transform="rotate(-35 ${lxw} ${py + plotH + 14})">${esc(labelOf(w))}</text>`);
    });
    const y1 = yOf(1);
    o.push(`<line x1="${left}" y1="${y1}" x2="${left + ws.length * slot}" y2="${y1}" stroke="#c00" stroke-width="2" stroke-dasharray="5,3"/>`);
  });
  o.push('</svg>');
  return o.join('\n');
}
