/**
 * Who checks permissions on a CLI mount: the kernel (default_permissions)
 * when other users can reach it, tmpfs itself when only root can. What a user
 * sees: the options in /proc/mounts, the requests each path operation costs
 * (from -d), and which accesses are refused. Servers and commands run in
 * child processes.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mountPoint, run, startServer, sweepMounts, type ServerProcess } from '../testing/mounts.js';

const skip = existsSync('/dev/fuse') && process.getuid?.() === 0 ? false : 'needs /dev/fuse and root';
const NOCACHE = 'entry_timeout=0,attr_timeout=0,negative_timeout=0';
const nobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];
/** stat(2), and nothing else on the mount (stat(1) also asks for btime and statfs). */
const stat = (path: string) => run('python3', ['-c', 'import os, sys; os.stat(sys.argv[1])', path]);

after(async () => {
  if (skip) return;
  assert.deepEqual(await sweepMounts(), []);
});

async function withServer(options: string, body: (dir: string, server: ServerProcess) => Promise<void>): Promise<void> {
  const dir = await mountPoint();
  const server = await startServer(['tmpfs', dir, '-d', '-o', options], dir);
  try {
    await body(dir, server);
  } finally {
    await server.kill();
  }
}

function mountOptions(dir: string): string[] {
  const line = readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === dir);
  assert.ok(line, `${dir} is mounted`);
  return line.split(' ')[3]!.split(',');
}

/** The ops of the requests `command` makes (from -d's "rx <unique> <op> ..." lines). */
async function requestsOf(server: ServerProcess, command: () => Promise<unknown>): Promise<string[]> {
  const settle = async () => {
    for (let last = -1; last !== server.stderr().length; ) {
      last = server.stderr().length;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await settle();
  const from = server.stderr().length;
  await command();
  await settle();
  // statfs: the watchdog's probe of the server, now and then.
  const ops = server.stderr().slice(from).split('\n').filter((l) => l.startsWith('rx ')).map((l) => l.split(' ')[2]!);
  return ops.filter((op) => op !== 'statfs');
}

test('mounted by root without allow_other: no default_permissions, so an uncached stat costs three requests and listings no OPENDIR', { skip }, async () => {
  await withServer(NOCACHE, async (dir, server) => {
    assert.ok(!mountOptions(dir).includes('default_permissions'), mountOptions(dir).join(','));
    assert.equal((await run('sh', ['-c', `mkdir ${dir}/d && echo hi > ${dir}/d/f && chmod 0 ${dir}/d/f ${dir}/d`])).code, 0);
    // With default_permissions and attr_timeout=0 the kernel would also ask for
    // the attributes of / and of d before walking through them: five requests.
    const seen = await requestsOf(server, async () => assert.equal((await stat(`${dir}/d/f`)).code, 0));
    assert.deepEqual(seen.filter((op) => op !== 'forget' && op !== 'batch_forget'), ['lookup', 'lookup', 'getattr']);
    // Root passes tmpfs's checks as it passes the kernel's: mode 0 stops no one but exec.
    assert.equal((await run('cat', [`${dir}/d/f`])).stdout, 'hi\n');
    const exec = await run('sh', ['-c', `cp /bin/true ${dir}/t && chmod 644 ${dir}/t && ${dir}/t`]);
    assert.notEqual(exec.code, 0, 'a file without any x bit does not run, even for root');
    // The first OPENDIR is answered ENOSYS, and the kernel opens directories itself from then on.
    assert.equal((await run('ls', [dir])).code, 0);
    const listing = await requestsOf(server, async () => {
      for (let i = 0; i < 2; i++) assert.equal((await run('ls', [`${dir}/d`])).stdout, 'f\n');
    });
    assert.ok(!listing.includes('opendir') && !listing.includes('releasedir'), listing.join(' '));
  });
});

test('with allow_other the kernel checks (default_permissions): another user cannot list a private directory', { skip }, async () => {
  await withServer(`${NOCACHE},allow_other`, async (dir, server) => {
    assert.ok(mountOptions(dir).includes('default_permissions'), mountOptions(dir).join(','));
    assert.equal((await run('sh', ['-c', `chmod 755 ${dir} && mkdir -m 700 ${dir}/d && touch ${dir}/d/f`])).code, 0);
    const seen = await requestsOf(server, async () => assert.equal((await stat(`${dir}/d/f`)).code, 0));
    assert.equal(seen.filter((op) => op === 'getattr').length, 3, `attributes of /, d and f: ${seen.join(' ')}`);
    const r = await run('setpriv', [...nobody, 'ls', `${dir}/d`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Permission denied/);
  });
});

test('nodefault_permissions with allow_other: tmpfs checks, and asks OPENDIR to refuse an unreadable directory', { skip }, async () => {
  await withServer('allow_other,nodefault_permissions', async (dir, server) => {
    assert.ok(!mountOptions(dir).includes('default_permissions'));
    assert.equal((await run('sh', ['-c', `chmod 755 ${dir} && mkdir -m 711 ${dir}/d && touch ${dir}/d/f`])).code, 0);
    const seen = await requestsOf(server, async () => {
      const r = await run('setpriv', [...nobody, 'ls', `${dir}/d`]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Permission denied/);
    });
    assert.ok(seen.includes('opendir'), seen.join(' '));
  });
});
