/**
 * A real kernel mount of the hello file system. Servers run in child
 * processes (or in this one, driven only by children); every mount is swept.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mount } from './mount.js';
import { HelloFs } from '../fs/hello/index.js';
import { mountPoint, removeMountPoint, run, startServer, sweepMounts, waitFor, isMounted, CLI } from '../testing/mounts.js';

const HOT_FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'testing', 'hot-reader-fixture.js');

const haveFuse = existsSync('/dev/fuse') && process.getuid?.() === 0;
const skip = haveFuse ? false : 'needs /dev/fuse and root';

after(async () => {
  const left = await sweepMounts();
  assert.deepEqual(left, [], 'no test may leave a mount behind');
});

test('ls, cat and stat from other processes see the hello file; SIGINT unmounts and exits 0', { skip }, async () => {
  const dir = await mountPoint();
  const server = await startServer(['hello', dir], dir);
  try {
    const ls = await run('ls', ['-la', dir]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /-r--r--r-- +1 +\w+ +\w+ +14 .* hello$/m);
    const cat = await run('cat', [`${dir}/hello`]);
    assert.equal(cat.stdout, 'Hello, world!\n');
    const stat = await run('stat', ['-c', '%s %h %i %F %a', `${dir}/hello`]);
    assert.equal(stat.stdout.trim(), '14 1 2 regular file 444');
    const missing = await run('cat', [`${dir}/nope`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No such file or directory/);
    const write = await run('sh', ['-c', `echo x > ${dir}/new`]);
    assert.notEqual(write.code, 0, 'hello has no create: the write fails');
    assert.match((await run('grep', [` ${dir} `, '/proc/mounts'])).stdout, /^hello \S+ fuse\.hello /);

    server.child.kill('SIGINT');
    const { code } = await server.exited;
    assert.equal(code, 0, server.stderr());
    assert.equal(await isMounted(dir), false);
    assert.match(server.stderr(), /unmounted/);
  } finally {
    await server.kill();
  }
});

test('SIGTERM unmounts too', { skip }, async () => {
  const dir = await mountPoint();
  const server = await startServer(['hello', dir], dir);
  try {
    server.child.kill('SIGTERM');
    assert.equal((await server.exited).code, 0);
    assert.equal(await isMounted(dir), false);
  } finally {
    await server.kill();
  }
});

test('kill -9 of the server releases the mount within a second', { skip }, async () => {
  const dir = await mountPoint();
  const server = await startServer(['hello', dir], dir);
  try {
    assert.equal((await run('cat', [`${dir}/hello`])).stdout, 'Hello, world!\n');
    process.kill(server.pid, 'SIGKILL');
    await server.exited;
    const took = await waitFor(async () => !(await isMounted(dir)), 1000, 'the watchdog to unmount');
    assert.ok(took <= 1000);
    // The directory is usable again, not a dead 'Transport endpoint is not connected'.
    const ls = await run('ls', ['-la', dir]);
    assert.equal(ls.code, 0, ls.stderr);
  } finally {
    await server.kill();
  }
});

test("reader 'hot': after the last request, the event loop runs again within milliseconds (the waker ends the blocking read)", { skip }, async () => {
  // In a child: were the waker broken, that process would block for good, and run() times it out.
  const dir = await mountPoint();
  try {
    const r = await run(process.execPath, [HOT_FIXTURE, dir], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    const { late } = JSON.parse(r.stdout) as { late: number[] };
    assert.equal(late.length, 3);
    // A cat and a 5 ms timer take tens of ms; a blocked loop waits for the kernel's next request, if any.
    for (const ms of late) assert.ok(ms < 750, `cat and a 5 ms timer took ${ms.toFixed(0)} ms`);
  } finally {
    await removeMountPoint(dir);
  }
});

test('the CLI (hot reader) still unmounts at once on SIGTERM after serving requests', { skip }, async () => {
  const dir = await mountPoint();
  const server = await startServer(['hello', dir], dir);
  try {
    assert.equal((await run('cat', [`${dir}/hello`])).stdout, 'Hello, world!\n');
    const sent = Date.now();
    server.child.kill('SIGTERM');
    assert.equal((await server.exited).code, 0, server.stderr());
    assert.ok(Date.now() - sent < 2000, `exit took ${Date.now() - sent} ms`);
    assert.equal(await isMounted(dir), false);
  } finally {
    await server.kill();
  }
});

test('a missing or busy mount point is refused with a clear error', { skip }, async () => {
  const missing = await run(process.execPath, [CLI, 'mount', 'hello', '/tmp/puffs-test-does-not-exist/x']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /ENOENT.*does-not-exist/);

  const dir = await mountPoint();
  const server = await startServer(['hello', dir], dir);
  try {
    const busy = await run(process.execPath, [CLI, 'mount', 'hello', dir]);
    assert.equal(busy.code, 2);
    assert.match(busy.stderr, /EBUSY/);
    assert.equal((await run('cat', [`${dir}/hello`])).stdout, 'Hello, world!\n', 'the first mount is unaffected');
  } finally {
    await server.kill();
  }
});

test('mount() in this process serves children; unmount() ends the session', { skip }, async () => {
  const dir = await mountPoint();
  const mounted = await mount(new HelloFs({ content: 'in process\n' }), dir, { fsname: 'inproc', subtype: 'hello' });
  try {
    const cat = await run('cat', [`${dir}/hello`]);
    assert.equal(cat.stdout, 'in process\n');
    await mounted.unmount();
    assert.equal(await mounted.closed, undefined);
    assert.equal(await isMounted(dir), false);
  } finally {
    await removeMountPoint(dir);
  }
});

test('the debug flag traces requests and replies', { skip }, async () => {
  const dir = await mountPoint();
  const server = await startServer(['hello', dir, '-d'], dir);
  try {
    await run('cat', [`${dir}/hello`]);
    await waitFor(() => /tx \d+ OK/.test(server.stderr()), 2000, 'trace');
    assert.match(server.stderr(), /rx \d+ init n0 major=7 minor=45/);
    assert.match(server.stderr(), /rx \d+ lookup n1 name="hello"/);
    assert.match(server.stderr(), /rx \d+ read n2/);
  } finally {
    await server.kill();
  }
});

test('a signal to a blocked reader makes the kernel send INTERRUPT, which aborts the op', { skip }, async () => {
  const dir = await mountPoint();
  let abortedWith: unknown;
  let reads = 0;
  class SlowFs extends HelloFs {
    // Direct I/O: the reader's own request, not page-cache readahead, reaches us.
    override open(): import('./types.js').OpenReply {
      return { directIo: true };
    }
    override read(ctx: import('./types.js').RequestContext): Uint8Array {
      reads++;
      // Never answers on its own: only the interrupt ends it.
      return new Promise<Uint8Array>((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => {
          abortedWith = ctx.signal.reason;
          reject(ctx.signal.reason);
        });
      }) as unknown as Uint8Array;
    }
  }
  const mounted = await mount(new SlowFs(), dir, { fsname: 'slow', subtype: 'hello' });
  try {
    const started = Date.now();
    const r = await run('timeout', ['-s', 'INT', '0.5', 'cat', `${dir}/hello`]);
    assert.notEqual(r.code, 0);
    assert.ok(Date.now() - started < 5000, 'the reader was not left hanging');
    await waitFor(() => abortedWith !== undefined, 2000, 'the abort');
    assert.equal((abortedWith as { code?: string }).code, 'EINTR');
    assert.equal(reads, 1);
    assert.equal(mounted.session.pending, 0, 'the interrupted request got its one reply');
  } finally {
    await mounted.unmount().catch(() => undefined);
    await removeMountPoint(dir);
  }
});
