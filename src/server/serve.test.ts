/**
 * puffs serve: the listening policy (loopback or Unix socket by default; a
 * token or TLS otherwise), the token handshake before any file-system
 * request, bad peers disconnected while others keep working, the socket's
 * mode, one file system shared by many connections, and the command.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkListenPolicy, isLoopback, serve, type PuffsServer } from './serve.js';
import { serveCommand } from '../cli/serve.js';
import { Tmpfs } from '../fs/tmpfs/index.js';
import { attach } from '../client/attach.js';
import { counted, track } from '../client/fixtures/testing.js';
import { encodeHello, MAGIC } from '../client/handshake.js';
import { encodeRequest } from '../protocol/index.js';

const dirs: string[] = [];
async function scratch(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'puffs-serve-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('policy: loopback and Unix sockets as they are; any other TCP address needs a token or TLS', { timeout: 20_000 }, async () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) assert.equal(isLoopback(h), true, h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.com', '::ffff:10.0.0.1']) assert.equal(isLoopback(h), false, h);
  assert.doesNotThrow(() => checkListenPolicy('unix:/tmp/x.sock', {}));
  assert.doesNotThrow(() => checkListenPolicy('tcp://127.0.0.1:7000', {}));
  assert.doesNotThrow(() => checkListenPolicy('tcp://[::1]:7000', {}));
  for (const addr of ['tcp://0.0.0.0:7000', 'tcp://10.1.2.3:7000', 'tcp://[::]:7000', 'tcp://example.com:7000']) {
    assert.throws(() => checkListenPolicy(addr, {}), { code: 'EACCES' }, addr);
    assert.doesNotThrow(() => checkListenPolicy(addr, { token: 's3cret' }));
    assert.doesNotThrow(() => checkListenPolicy(addr, { tls: { key: 'k', cert: 'c' } }));
  }
  assert.throws(() => checkListenPolicy('tcp://0.0.0.0:7000', { token: '' }), RangeError);
  assert.throws(() => checkListenPolicy('unix:/tmp/x.sock', { tls: {} }), TypeError);
  // serve() refuses before binding anything.
  await assert.rejects(serve(new Tmpfs(), { listen: 'tcp://0.0.0.0:0', log: false }), { code: 'EACCES' });
  await assert.rejects(serveCommand(['tmpfs', '--listen', 'tcp://0.0.0.0:0']), { code: 'EACCES' });
});

/** A raw connection to the server, for misbehaving on purpose. */
function rawPeer(server: PuffsServer): Promise<{ socket: net.Socket; closed: Promise<void>; received: () => Buffer }> {
  return new Promise((resolve, reject) => {
    const addr = server.address;
    const socket = addr.startsWith('unix:') ? net.createConnection({ path: addr.slice(5) }) : net.createConnection({ host: '127.0.0.1', port: server.port! });
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('connect', () => resolve({ socket, closed, received: () => Buffer.concat(chunks) }));
    socket.once('error', reject);
  });
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

test('a loopback listener that requires a token refuses peers without it before any file-system request', { timeout: 20_000 }, async () => {
  const c = counted(new Tmpfs());
  const logs: string[] = [];
  const server = track(await serve(c.fs, { listen: 'tcp://127.0.0.1:0', token: 'correct horse', log: (l) => logs.push(l), handshakeTimeoutMs: 300 }));
  try {
    await assert.rejects(attach(server.address), { code: 'EACCES', message: /refused the token/ });
    await assert.rejects(attach(server.address, { token: 'wrong' }), { code: 'EACCES' });
    // A peer that skips the preamble and speaks FUSE at once.
    const raw = await rawPeer(server);
    raw.socket.write(encodeRequest({ op: 'init', header: { unique: 2, nodeid: 0, uid: 0, gid: 0, pid: 1 }, arg: { major: 7, minor: 45, maxReadahead: 0, flags: 0, flags2: 0 } }));
    await within(raw.closed, 2000, 'a peer without the preamble is disconnected');
    // A peer that connects and says nothing.
    const silent = await rawPeer(server);
    await within(silent.closed, 2000, 'a silent peer is disconnected');
    assert.equal(c.calls.size, 0, `no file-system method ran (${[...c.calls.keys()].join(',')})`);
    const fs = track(await attach(server.address, { token: 'correct horse' }));
    await fs.writeFile('/ok', 'in');
    assert.equal(await fs.readFile('/ok', 'utf8'), 'in');
    await fs.close();
    assert.equal(logs.filter((l) => /refused: bad token/.test(l)).length, 2);
    assert.ok(logs.some((l) => /refused: not a puffs client/.test(l)), logs.join('\n'));
    assert.ok(logs.some((l) => /refused: .*handshake: nothing within/.test(l)), logs.join('\n'));
  } finally {
    await server.close();
  }
});

test('peers sending malformed, oversized, unknown or stalled frames are disconnected with a log line; another connection keeps working', { timeout: 20_000 }, async () => {
  const dir = await scratch();
  const logs: string[] = [];
  const server = track(await serve(new Tmpfs(), { listen: `unix:${join(dir, 's.sock')}`, log: (l) => logs.push(l), stallTimeoutMs: 200, maxFrameSize: 1 << 20 }));
  const good = track(await attach(server.address));
  let n = 0;
  const stillWorks = async () => {
    await good.writeFile(`/f${n}`, `round ${n}`);
    assert.equal(await good.readFile(`/f${n}`, 'utf8'), `round ${n}`);
    n++;
  };
  const badPeer = async (payload: Buffer, expect: RegExp) => {
    const before = logs.length;
    const raw = await rawPeer(server);
    raw.socket.write(encodeHello(undefined));
    raw.socket.write(payload);
    await within(raw.closed, 3000, `peer (${expect}) is disconnected`);
    const line = logs.slice(before).find((l) => /disconnected/.test(l));
    assert.ok(line, `a log line for ${expect}`);
    assert.match(line!, expect);
    await stillWorks();
  };
  try {
    await stillWorks();
    const oversized = Buffer.alloc(8);
    oversized.writeUInt32LE(64 * 1024 * 1024, 0);
    await badPeer(oversized, /exceeds the maximum/);
    const tiny = Buffer.alloc(8);
    tiny.writeUInt32LE(8, 0);
    await badPeer(tiny, /below the minimum/);
    const unknown = Buffer.from(encodeRequest({ op: 'getattr', header: { unique: 4, nodeid: 1, uid: 0, gid: 0, pid: 1 }, arg: { getattrFlags: 0, fh: 0 } }));
    unknown.writeUInt32LE(4242, 4);
    await badPeer(unknown, /unknown opcode 4242/);
    const badName = Buffer.from(encodeRequest({ op: 'lookup', header: { unique: 6, nodeid: 1, uid: 0, gid: 0, pid: 1 }, name: 'abc' }));
    badName[badName.length - 1] = 0x41; // the name loses its NUL
    await badPeer(badName, /not NUL-terminated/);
    const half = Buffer.alloc(60);
    half.writeUInt32LE(100, 0);
    await badPeer(half, /stalled mid-frame/);
    assert.equal(server.sessions.size, 1, 'only the good session is left');
  } finally {
    await good.close();
    await server.close();
  }
});

test('the Unix socket is mode 0600; a stale socket file is replaced, a live one refused', { timeout: 20_000 }, async () => {
  const dir = await scratch();
  const path = join(dir, 'fs.sock');
  const server = track(await serve(new Tmpfs(), { listen: `unix:${path}`, log: false }));
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  await assert.rejects(serve(new Tmpfs(), { listen: `unix:${path}`, log: false }), { code: 'EADDRINUSE' });
  await server.close();
  await assert.rejects(stat(path), { code: 'ENOENT' }, 'removed at close');
  // A stale socket file (nobody listening) is taken over.
  const stale = net.createServer().listen(path);
  await new Promise((r) => stale.once('listening', r));
  (stale as unknown as { _handle: { close(): void } })._handle.close(); // close without unlinking
  const again = track(await serve(new Tmpfs(), { listen: `unix:${path}`, log: false }));
  await again.close();
  stale.close();
  await writeFile(path, 'not a socket');
  await assert.rejects(serve(new Tmpfs(), { listen: `unix:${path}`, log: false }), { code: 'EADDRINUSE' });
});

test('one file system shared by all connections: each sees the others, forget only when no connection holds a node, destroy once', { timeout: 20_000 }, async () => {
  const dir = await scratch();
  const c = counted(new Tmpfs());
  const server = track(await serve(c.fs, { listen: `unix:${join(dir, 'shared.sock')}`, log: false, session: { entryTimeout: 60, attrTimeout: 60 } }));
  const a = track(await attach(server.address));
  const b = track(await attach(server.address));
  await a.writeFile('/shared', 'from a');
  assert.equal(await b.readFile('/shared', 'utf8'), 'from a');
  const ino = (await b.stat('/shared')).ino;
  // With 60 s timeouts, a's caches stay right only through the invalidations b's changes send.
  await a.writeFile('/other', 'x');
  assert.equal((await a.stat('/other')).size, 1);
  await b.writeFile('/other', 'longer now');
  await sleep(20);
  assert.equal((await a.stat('/other')).size, 10, 'attributes invalidated');
  await b.rename('/other', '/renamed');
  await sleep(20);
  await assert.rejects(a.stat('/other'), { code: 'ENOENT' }, 'entry invalidated');
  assert.equal(await a.readFile('/renamed', 'utf8'), 'longer now');
  await a.close();
  await sleep(20);
  assert.ok(!c.forgotten.includes(ino), 'b still holds it');
  assert.equal(c.count('destroy'), 0, 'a connection ending does not destroy the shared file system');
  await b.close();
  await sleep(20);
  assert.ok(c.forgotten.includes(ino), 'forgotten once both let go');
  const c2 = track(await attach(server.address));
  assert.equal(await c2.readFile('/shared', 'utf8'), 'from a', 'the files outlive the connections');
  await c2.close();
  await server.close();
  assert.equal(c.count('destroy'), 1);
});

test('a factory gives every connection its own file system', { timeout: 20_000 }, async () => {
  const dir = await scratch();
  const server = track(await serve(() => new Tmpfs(), { listen: `unix:${join(dir, 'own.sock')}`, log: false }));
  const a = track(await attach(server.address));
  const b = track(await attach(server.address));
  await a.writeFile('/mine', 'a');
  await assert.rejects(b.stat('/mine'), { code: 'ENOENT' });
  await a.close();
  await b.close();
  await server.close();
});

test('TLS: a non-loopback-style server with TLS only, and a client with the CA', { skip: !hasOpenssl() && 'no openssl' }, async () => {
  const dir = await scratch();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const [key, cert] = await Promise.all([readFile(join(dir, 'key.pem')), readFile(join(dir, 'cert.pem'))]);
  const server = track(await serve(new Tmpfs(), { listen: 'tcp://127.0.0.1:0', tls: { key, cert }, log: false }));
  try {
    const fs = track(await attach(server.address, { tls: { ca: cert } }));
    await fs.writeFile('/over-tls', 'secret');
    assert.equal(await fs.readFile('/over-tls', 'utf8'), 'secret');
    await fs.close();
    await assert.rejects(attach(server.address, { tls: true, initTimeoutMs: 2000 }), /self.signed|certificate/i);
  } finally {
    await server.close();
  }
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('puffs serve <fs> --listen: serves until SIGTERM, -o options reach the file system', { timeout: 20_000 }, async () => {
  const dir = await scratch();
  const sock = join(dir, 'cmd.sock');
  const serveJs = fileURLToPath(new URL('../cli/serve.js', import.meta.url));
  const child = spawn(process.execPath, ['--input-type=module', '-e', `import(${JSON.stringify(serveJs)}).then((m) => m.serveCommand(process.argv.slice(1))).catch((e) => { console.error(e.message); process.exit(2); })`, 'tmpfs', '--listen', `unix:${sock}`, '-o', 'size=1m,entry_timeout=5'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 10_000;
    while (!stderr.includes('serving tmpfs')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve did not start: ${stderr}`);
      await sleep(20);
    }
    const fs = track(await attach(`unix:${sock}`));
    await fs.writeFile('/small', 'ok');
    await assert.rejects(fs.writeFile('/big', Buffer.alloc(2 << 20)), { code: 'ENOSPC' }, 'size=1m reached the tmpfs');
    assert.equal((await stat(sock)).mode & 0o777, 0o600);
    child.kill('SIGTERM');
    assert.equal(await within(exited, 5000, 'exit after SIGTERM'), 0);
    await assert.rejects(fs.stat('/small'), { code: 'ENOTCONN' });
    await fs.close();
  } finally {
    child.kill('SIGKILL');
  }
});

test('the handshake bytes are what the docs say', () => {
  const hello = encodeHello('tok');
  assert.equal(hello.subarray(0, 8).toString('latin1'), 'PUFFS/1\n');
  assert.equal(hello.readUInt32LE(8), 3);
  assert.equal(hello.subarray(12).toString(), 'tok');
  assert.equal(MAGIC.byteLength, 8);
});
