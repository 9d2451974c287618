import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseOptions, UsageError } from './options.js';
import { serveCommand } from './serve.js';

const puffsBin = fileURLToPath(new URL('../../bin/puffs', import.meta.url));

test('-o: generic options are parsed and named; the rest go to the file system in order', () => {
  const { mount, fsOptions, generic } = parseOptions(['size=1m', 'entry_timeout=2.5', 'ro', '', 'nr_inodes=10', 'reader=epoll', 'max_write=65536']);
  assert.deepEqual(mount, { entryTimeout: 2.5, readOnly: true, reader: 'epoll', maxWrite: 65536 });
  assert.deepEqual(fsOptions, ['size=1m', 'nr_inodes=10']);
  assert.deepEqual(generic, ['entry_timeout', 'ro', 'reader', 'max_write']);
});

test('-o: a bad number or reader is a usage error naming the option', () => {
  for (const [opt, message] of [
    ['attr_timeout=-1', /attr_timeout needs a non-negative number/],
    ['max_write=', /max_write needs/],
    ['negative_timeout', /negative_timeout needs/],
    ['entry_timeout=soon', /entry_timeout needs/],
    ['reader=fast', /reader must be hot, epoll or threadpool/],
  ] as const) {
    assert.throws(() => parseOptions([opt]), (err: unknown) => err instanceof UsageError && message.test((err as Error).message), opt);
  }
});

test('puffs serve: an option that only means something for a mount is refused before anything listens', async () => {
  await assert.rejects(serveCommand(['tmpfs', '--listen', 'unix:/nonexistent/never.sock', '-o', 'size=1m,allow_other,entry_timeout=1']), (err: unknown) => {
    assert.ok(err instanceof UsageError);
    assert.match((err as Error).message, /-o allow_other: for puffs mount only/);
    return true;
  });
  await assert.rejects(serveCommand(['tmpfs', '--listen', 'unix:/nonexistent/never.sock', '-o', 'attr_timeout=x']), /attr_timeout needs a non-negative number/);
});

test('puffs mount with a bad -o option: exit 2 and one line saying why, no stack trace', () => {
  // Fails while parsing, before any mount is made.
  const r = spawnSync(puffsBin, ['mount', 'tmpfs', '/nonexistent', '-o', 'attr_timeout=soon'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, 'puffs: option attr_timeout needs a non-negative number\n');
});
