/**
 * Optimized code must survive a pause in one kind of request (src/shapes.ts).
 * Not a timing: V8's --trace-deopt names each function it throws away
 * because the hidden classes its code was made for died ("weak objects").
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/churn.js', import.meta.url));

function traced(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--trace-deopt', '--expose-gc', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(watchdog);
      if (code === 0) resolve(out);
      else reject(new Error(`churn fixture exited with ${code}: ${err.slice(-2000)}`));
    });
  });
}

it('a burst of creates and listings, then full collections with none of its objects alive, leaves its optimized code in place', async () => {
  const out = await traced();
  const bursts = out.split(/^burst \d done$/m);
  assert.equal(bursts.length, 5, 'four bursts ran');
  // Per pause after a burst (and the burst that follows it), the functions thrown away. Once
  // is a field settling its representation (the old class dies with its last object); a
  // function thrown away again and again is the defect.
  const pauses = bursts.slice(1).map((text) => new Set([...text.matchAll(/<SharedFunctionInfo ([^>]*)>[^\n]*reason: weak objects/g)].map((m) => m[1]!)));
  const times = new Map<string, number>();
  for (const names of pauses) for (const name of names) times.set(name, (times.get(name) ?? 0) + 1);
  assert.deepEqual([...times].filter(([, n]) => n > 1), [], 'functions thrown away after more than one burst');
});
