#!/usr/bin/env node
/**
 * Re-draw the table and chart of an earlier run from its JSON:
 *   node bench/render.mjs bench/results/<stamp>.json
 * (writes <stamp>.txt, .svg, .png next to it and updates latest.svg/png).
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { summarize } from './lib/report.mjs';
import { writeReport } from './lib/render.mjs';

const file = process.argv[2];
if (!file?.endsWith('.json')) {
  process.stderr.write('usage: node bench/render.mjs bench/results/<stamp>.json\n');
  process.exit(2);
}
const json = JSON.parse(readFileSync(file, 'utf8'));
summarize(json.results, json.workloads);
const wrote = await writeReport(json, file.slice(0, -'.json'.length), dirname(file), { writeJson: false });
process.stdout.write(`\nwrote ${wrote.join(', ')}\n`);
