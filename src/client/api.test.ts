/**
 * The API against node:fs/promises itself: the same script of calls runs on
 * a real directory (a kernel tmpfs when there is one) and through attach()
 * of a Tmpfs, and every result and every error (code, syscall, path, dest)
 * must match.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attach } from './attach.js';
import { track } from './fixtures/testing.js';
import type { PuffsFs } from './promises.js';
import { Tmpfs } from '../fs/tmpfs/index.js';

type Fsp = typeof fsp;
type Step = [name: string, run: (fs: Fsp, p: (rel: string) => string) => Promise<unknown>];

const scratch = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

/** A comparable picture of a value: Stats by type/size/mode/nlink, Dirents by name and type, Buffers by content. */
function picture(v: unknown, base: string): unknown {
  if (v === undefined || v === null || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'string') return v.split(base).join('<base>');
  if (Buffer.isBuffer(v)) return { buffer: v.toString('hex') };
  if (Array.isArray(v)) return v.map((x) => picture(x, base));
  if (typeof v === 'object') {
    const o = v as Record<string, unknown> & { isFile?: () => boolean; isDirectory?: () => boolean; isSymbolicLink?: () => boolean };
    if ('mtimeMs' in o && typeof o.isFile === 'function') {
      const type = o.isFile() ? 'file' : o.isDirectory!() ? 'dir' : o.isSymbolicLink!() ? 'link' : 'other';
      return { type, size: type === 'dir' ? '-' : o.size, mode: Number(o.mode).toString(8), nlink: o.nlink, bigint: typeof o.size === 'bigint' };
    }
    if ('name' in o && typeof o.isFile === 'function') {
      const type = o.isFile() ? 'file' : o.isDirectory!() ? 'dir' : o.isSymbolicLink!() ? 'link' : 'other';
      return { name: picture(o.name, base), type, parentPath: picture(o.parentPath, base) };
    }
    if ('bytesRead' in o) return { bytesRead: o.bytesRead };
    if ('bytesWritten' in o) return { bytesWritten: o.bytesWritten };
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, picture(x, base)]));
  }
  return String(v);
}

async function outcome(run: () => Promise<unknown>, base: string): Promise<unknown> {
  try {
    return { ok: picture(await run(), base) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { dest?: string };
    return {
      code: e.code,
      errno: e.errno,
      syscall: e.syscall,
      path: e.path === undefined ? undefined : picture(e.path, base),
      dest: e.dest === undefined ? undefined : picture(e.dest, base),
      message: picture(e.message, base),
    };
  }
}

const sorted = async (p: Promise<unknown>) => ((await p) as string[]).slice().sort();

const steps: Step[] = [
  ['writeFile', (fs, p) => fs.writeFile(p('f'), 'hello')],
  ['readFile utf8', (fs, p) => fs.readFile(p('f'), 'utf8')],
  ['readFile buffer', (fs, p) => fs.readFile(p('f'))],
  ['readFile { encoding: base64 }', (fs, p) => fs.readFile(p('f'), { encoding: 'base64' })],
  ['appendFile', (fs, p) => fs.appendFile(p('f'), ' world')],
  ['appendFile Uint8Array', (fs, p) => fs.appendFile(p('f'), new Uint8Array([33, 10]))],
  ['readFile after append', (fs, p) => fs.readFile(p('f'), 'utf8')],
  ['stat file', (fs, p) => fs.stat(p('f'))],
  ['stat bigint', (fs, p) => fs.stat(p('f'), { bigint: true })],
  ['mkdir', (fs, p) => fs.mkdir(p('dir'))],
  ['mkdir existing', (fs, p) => fs.mkdir(p('dir'))],
  ['mkdir over file', (fs, p) => fs.mkdir(p('f'))],
  ['mkdir missing parent', (fs, p) => fs.mkdir(p('nope/x'))],
  ['mkdir recursive new', (fs, p) => fs.mkdir(p('dir/a/b/c'), { recursive: true })],
  ['mkdir recursive existing', (fs, p) => fs.mkdir(p('dir/a'), { recursive: true })],
  ['mkdir recursive through file', (fs, p) => fs.mkdir(p('f/x/y'), { recursive: true })],
  ['mkdir recursive onto file', (fs, p) => fs.mkdir(p('f'), { recursive: true })],
  ['mkdir mode', (fs, p) => fs.mkdir(p('dir/m700'), 0o700)],
  ['stat dir mode', (fs, p) => fs.stat(p('dir/m700'))],
  ['writeFile mode', (fs, p) => fs.writeFile(p('dir/x'), 'x', { mode: 0o600 })],
  ['stat file mode', (fs, p) => fs.stat(p('dir/x'))],
  ['stat missing', (fs, p) => fs.stat(p('nope'))],
  ['stat through file', (fs, p) => fs.stat(p('f/x'))],
  ['stat trailing slash on file', (fs, p) => fs.stat(p('f/'))],
  ['stat name too long', (fs, p) => fs.stat(p('n'.repeat(300)))],
  ['stat dir/.', (fs, p) => fs.stat(p('dir/.'))],
  ['stat dir/a/..', (fs, p) => fs.stat(p('dir/a/..'))],
  ['readdir', (fs, p) => sorted(fs.readdir(p('dir')))],
  ['readdir withFileTypes', async (fs, p) => ((await fs.readdir(p('dir'), { withFileTypes: true })) as { name: string }[]).sort((a, b) => (a.name < b.name ? -1 : 1))],
  ['readdir recursive', (fs, p) => sorted(fs.readdir(p('dir'), { recursive: true }))],
  ['readdir buffer', async (fs, p) => ((await fs.readdir(p('dir'), 'buffer')) as Buffer[]).map(String).sort()],
  ['readdir file', (fs, p) => fs.readdir(p('f'))],
  ['readdir missing', (fs, p) => fs.readdir(p('nope'))],
  ['readFile dir', (fs, p) => fs.readFile(p('dir'))],
  ['readFile missing', (fs, p) => fs.readFile(p('nope'))],
  ['writeFile dir', (fs, p) => fs.writeFile(p('dir'), 'x')],
  ['writeFile flag wx existing', (fs, p) => fs.writeFile(p('f'), 'x', { flag: 'wx' })],
  ['open missing', (fs, p) => fs.open(p('nope'))],
  ['open trailing slash file', (fs, p) => fs.open(p('f/'))],
  ['open new with trailing slash', (fs, p) => fs.open(p('new/'), 'w')],
  ['open dir r+', (fs, p) => fs.open(p('dir'), 'r+')],
  ['open invalid flag', (fs, p) => fs.open(p('f'), 'q')],
  ['symlink', (fs, p) => fs.symlink('f', p('ln'))],
  ['symlink existing', (fs, p) => fs.symlink('x', p('f'))],
  ['symlink dangling', (fs, p) => fs.symlink('nowhere', p('dangling'))],
  ['symlink loop', (fs, p) => fs.symlink('loop', p('loop'))],
  ['symlink to dir', (fs, p) => fs.symlink('dir/a', p('dirlink'))],
  // do_open checks O_DIRECTORY before may_open's ELOOP for a symlink.
  ['open O_DIRECTORY|O_NOFOLLOW of a symlink', (fs, p) => fs.open(p('loop'), fsp.constants.O_RDWR | fsp.constants.O_DIRECTORY | fsp.constants.O_NOFOLLOW)],
  ['open O_NOFOLLOW of a symlink', (fs, p) => fs.open(p('loop'), fsp.constants.O_RDONLY | fsp.constants.O_NOFOLLOW)],
  // may_create_in_sticky: O_CREAT on another user's symlink in a sticky, world-writable directory is EACCES, even for root.
  ['open O_CREAT|O_NOFOLLOW of a stranger\'s symlink in a sticky dir', async (fs, p) => {
    await fs.mkdir(p('sticky'));
    await fs.chmod(p('sticky'), 0o1777);
    await fs.symlink('s', p('sticky/s'));
    await fs.lchown(p('sticky/s'), 1001, 1001);
    return fs.open(p('sticky/s'), fsp.constants.O_RDWR | fsp.constants.O_CREAT | fsp.constants.O_NOFOLLOW, 0o644);
  }],
  ['readlink', (fs, p) => fs.readlink(p('ln'))],
  ['readlink buffer', (fs, p) => fs.readlink(p('ln'), 'buffer')],
  ['readlink file', (fs, p) => fs.readlink(p('f'))],
  ['readlink missing', (fs, p) => fs.readlink(p('nope'))],
  ['stat symlink follows', (fs, p) => fs.stat(p('ln'))],
  ['lstat symlink', (fs, p) => fs.lstat(p('ln'))],
  ['stat dangling', (fs, p) => fs.stat(p('dangling'))],
  ['stat loop', (fs, p) => fs.stat(p('loop'))],
  ['stat through dir symlink', (fs, p) => fs.stat(p('dirlink/b/c'))],
  ['stat dirlink/..', (fs, p) => fs.stat(p('dirlink/../..'))],
  ['readFile via symlink', (fs, p) => fs.readFile(p('ln'), 'utf8')],
  ['realpath', async (fs, p) => (await fs.realpath(p('dirlink/b/../b/c'))).slice(-10)],
  ['realpath missing', (fs, p) => fs.realpath(p('dirlink/nope'))],
  ['realpath loop', (fs, p) => fs.realpath(p('loop'))],
  ['writeFile through dangling symlink', (fs, p) => fs.writeFile(p('dangling'), 'made')],
  ['read the created target', (fs, p) => fs.readFile(p('nowhere'), 'utf8')],
  ['link', (fs, p) => fs.link(p('f'), p('hard'))],
  ['stat nlink', (fs, p) => fs.stat(p('f'))],
  ['link existing', (fs, p) => fs.link(p('f'), p('dir/x'))],
  ['link dir', (fs, p) => fs.link(p('dir'), p('dl'))],
  ['link missing', (fs, p) => fs.link(p('nope'), p('dl'))],
  ['access', (fs, p) => fs.access(p('f'))],
  ['access R_OK|W_OK', (fs, p) => fs.access(p('f'), fsp.constants.R_OK | fsp.constants.W_OK)],
  ['access missing', (fs, p) => fs.access(p('nope'))],
  ['chmod', (fs, p) => fs.chmod(p('f'), 0o640)],
  ['chmod string', (fs, p) => fs.chmod(p('dir/x'), '755')],
  ['stat after chmod', (fs, p) => fs.stat(p('f'))],
  ['chmod missing', (fs, p) => fs.chmod(p('nope'), 0o644)],
  ['chown same', async (fs, p) => fs.chown(p('f'), process.getuid!(), process.getgid!())],
  ['lchown missing', (fs, p) => fs.lchown(p('nope'), 0, 0)],
  ['utimes', async (fs, p) => {
    await fs.utimes(p('f'), 1000.5, new Date(2_000_000));
    const s = await fs.stat(p('f'));
    return [s.atimeMs, s.mtimeMs, s.atime.toISOString(), s.mtime.getTime()];
  }],
  ['lutimes on symlink', async (fs, p) => {
    await fs.lutimes(p('ln'), 5, 6);
    const s = await fs.lstat(p('ln'));
    return [s.atimeMs, s.mtimeMs];
  }],
  ['utimes missing', (fs, p) => fs.utimes(p('nope'), 1, 1)],
  ['truncate', (fs, p) => fs.truncate(p('f'), 3)],
  ['readFile after truncate', (fs, p) => fs.readFile(p('f'), 'utf8')],
  ['truncate grow', async (fs, p) => { await fs.truncate(p('f'), 6); return fs.readFile(p('f')); }],
  ['truncate negative', async (fs, p) => { await fs.truncate(p('dir/x'), -1); return fs.readFile(p('dir/x'), 'utf8'); }],
  ['truncate missing', (fs, p) => fs.truncate(p('nope'))],
  ['truncate dir', (fs, p) => fs.truncate(p('dir'))],
  ['copyFile', async (fs, p) => { await fs.copyFile(p('f'), p('copy')); return fs.stat(p('copy')); }],
  ['copyFile EXCL existing', (fs, p) => fs.copyFile(p('f'), p('copy'), fsp.constants.COPYFILE_EXCL)],
  ['copyFile missing', (fs, p) => fs.copyFile(p('nope'), p('y'))],
  ['copyFile dir', (fs, p) => fs.copyFile(p('dir'), p('y'))],
  ['rename', (fs, p) => fs.rename(p('copy'), p('dir/moved'))],
  ['rename missing', (fs, p) => fs.rename(p('nope'), p('x'))],
  ['rename dir into itself', (fs, p) => fs.rename(p('dir'), p('dir/a/sub'))],
  ['rename dir over file', (fs, p) => fs.rename(p('dir/a'), p('f'))],
  ['rename file over dir', (fs, p) => fs.rename(p('f'), p('dir/a'))],
  ['rename dot', (fs, p) => fs.rename(p('dir/.'), p('zz'))],
  ['rename onto itself', (fs, p) => fs.rename(p('f'), p('f'))],
  ['rename onto hard link of itself', (fs, p) => fs.rename(p('f'), p('hard'))],
  ['rename over file', async (fs, p) => { await fs.writeFile(p('victim'), 'v'); await fs.rename(p('dir/moved'), p('victim')); return sorted(fs.readdir(p(''))); }],
  ['rename dir over empty dir', async (fs, p) => { await fs.mkdir(p('e1')); await fs.mkdir(p('e2')); await fs.rename(p('e1'), p('e2')); return sorted(fs.readdir(p(''))); }],
  ['rename dir over non-empty dir', (fs, p) => fs.rename(p('e2'), p('dir'))],
  ['unlink', (fs, p) => fs.unlink(p('hard'))],
  ['unlink missing', (fs, p) => fs.unlink(p('hard'))],
  ['unlink dir', (fs, p) => fs.unlink(p('dir'))],
  ['unlink trailing slash', (fs, p) => fs.unlink(p('f/'))],
  ['rmdir non-empty', (fs, p) => fs.rmdir(p('dir'))],
  ['rmdir file', (fs, p) => fs.rmdir(p('f'))],
  ['rmdir dot', (fs, p) => fs.rmdir(p('dir/.'))],
  ['rmdir', (fs, p) => fs.rmdir(p('e2'))],
  ['rmdir missing', (fs, p) => fs.rmdir(p('e2'))],
  ['rm dir without recursive', (fs, p) => fs.rm(p('dir'))],
  ['rm missing', (fs, p) => fs.rm(p('nope'))],
  ['rm missing force', (fs, p) => fs.rm(p('nope'), { force: true })],
  ['rm file', (fs, p) => fs.rm(p('victim'))],
  ['cp dir without recursive', (fs, p) => fs.cp(p('dir'), p('dir2'))],
  ['cp recursive', async (fs, p) => { await fs.cp(p('dir'), p('dir2'), { recursive: true }); return sorted(fs.readdir(p('dir2'), { recursive: true })); }],
  ['cp file onto existing, errorOnExist', (fs, p) => fs.cp(p('f'), p('dir2/x'), { force: false, errorOnExist: true })],
  ['cp into itself', (fs, p) => fs.cp(p('dir'), p('dir/a/in'), { recursive: true })],
  ['rm recursive', async (fs, p) => { await fs.rm(p('dir2'), { recursive: true }); return sorted(fs.readdir(p(''))); }],
  ['statfs type', async (fs, p) => typeof (await fs.statfs(p(''))).bsize],
  ['statfs missing', (fs, p) => fs.statfs(p('nope'))],
  ['opendir + read', async (fs, p) => {
    const d = await fs.opendir(p('dir/a'));
    const names: string[] = [];
    for await (const e of d) names.push(`${e.name}:${e.isDirectory()}`);
    return names.sort();
  }],
  ['opendir missing', (fs, p) => fs.opendir(p('nope'))],
  ['opendir file', (fs, p) => fs.opendir(p('f'))],
  ['mkdtemp', async (fs, p) => {
    const d = await fs.mkdtemp(p('tmp-'));
    const s = await fs.stat(d);
    await fs.rmdir(d);
    return [d.length - p('tmp-').length, (s.mode & 0o777).toString(8)];
  }],
  ['mkdtemp missing parent', async (fs, p) => fs.mkdtemp(p('nope/x')).catch((e: NodeJS.ErrnoException) => [e.code, e.syscall])],
  ['FileHandle read/write/stat/truncate', async (fs, p) => {
    const h = await fs.open(p('h'), 'w+');
    try {
      const w1 = await h.write('abcdef');
      const w2 = await h.write(Buffer.from('XY'), 0, 2, 1);
      const buf = Buffer.alloc(10);
      const r1 = await h.read(buf, 0, 10, 0);
      const r2 = await h.read({ buffer: Buffer.alloc(4), position: 2 });
      const r3 = await h.read();
      await h.truncate(4);
      const st = await h.stat();
      await h.chmod(0o604);
      const st2 = await h.stat();
      await h.sync();
      await h.datasync();
      return [w1.bytesWritten, w2.bytesWritten, r1.bytesRead, buf.toString(), r2.bytesRead, r2.buffer.toString(), r3.bytesRead, st.size, st2.mode.toString(8)];
    } finally {
      await h.close();
    }
  }],
  ['FileHandle position semantics', async (fs, p) => {
    const h = await fs.open(p('h'), 'r+');
    try {
      const a = await h.read(Buffer.alloc(2), 0, 2, null);
      const b = await h.read(Buffer.alloc(2), 0, 2, null);
      await h.write('Q');
      const rest = await h.readFile('utf8');
      return [a.buffer.toString(), b.buffer.toString(), rest, await fs.readFile(p('h'), 'utf8')];
    } finally {
      await h.close();
    }
  }],
  ['FileHandle readv/writev', async (fs, p) => {
    const h = await fs.open(p('v'), 'w+');
    try {
      const w = await h.writev([Buffer.from('12'), Buffer.from('345'), Buffer.from('6')]);
      const bufs = [Buffer.alloc(2), Buffer.alloc(10)];
      const r = await h.readv(bufs, 1);
      return [w.bytesWritten, r.bytesRead, bufs.map((b) => b.toString('hex'))];
    } finally {
      await h.close();
    }
  }],
  ['append mode positions', async (fs, p) => {
    const h = await fs.open(p('v'), 'a+');
    try {
      await h.write('X', 0);
      await h.write('Y');
      const r = await h.read(Buffer.alloc(20), 0, 20, 0);
      return r.buffer.subarray(0, r.bytesRead).toString();
    } finally {
      await h.close();
    }
  }],
  ['read-only handle write', async (fs, p) => {
    const h = await fs.open(p('v'), 'r');
    try {
      return await h.write('x').catch((e: NodeJS.ErrnoException) => [e.code, e.syscall]);
    } finally {
      await h.close();
    }
  }],
  ['read-only handle truncate', async (fs, p) => {
    const h = await fs.open(p('v'));
    try {
      return await h.truncate(0).catch((e: NodeJS.ErrnoException) => [e.code, e.syscall]);
    } finally {
      await h.close();
    }
  }],
  ['dir handle read', async (fs, p) => {
    const h = await fs.open(p('dir'));
    try {
      const err = await h.read().catch((e: NodeJS.ErrnoException) => [e.code, e.syscall]);
      return [err, (await h.stat()).isDirectory()];
    } finally {
      await h.close();
    }
  }],
  ['closed handle', async (fs, p) => {
    const h = await fs.open(p('v'));
    await h.close();
    await h.close();
    return h.stat().catch((e: NodeJS.ErrnoException) => [e.code, e.syscall, e.message]);
  }],
  ['open wx existing', (fs, p) => fs.open(p('v'), 'wx')],
  ['open w truncates', async (fs, p) => { const h = await fs.open(p('v'), 'w'); await h.close(); return fs.stat(p('v')); }],
  ['large file round trip', async (fs, p) => {
    const big = Buffer.alloc(5 * 1024 * 1024 + 3);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    await fs.writeFile(p('big'), big);
    const back = await fs.readFile(p('big'));
    return [back.length, back.equals(big)];
  }],
  ['streams', async (fs, p) => {
    const { pipeline } = await import('node:stream/promises');
    const { createReadStream, createWriteStream } = fs as unknown as typeof import('node:fs');
    void createReadStream;
    void createWriteStream;
    const h = await fs.open(p('big'));
    const out = await fs.open(p('big2'), 'w');
    await pipeline(h.createReadStream({ start: 10, end: 100_009 }), out.createWriteStream());
    return (await fs.stat(p('big2'))).size;
  }],
  ['readLines', async (fs, p) => {
    await fs.writeFile(p('lines'), 'a\nbb\r\nccc');
    const h = await fs.open(p('lines'));
    const lines: string[] = [];
    for await (const line of h.readLines()) lines.push(line);
    await h.close();
    return lines;
  }],
  ['final listing', async (fs, p) => sorted(fs.readdir(p(''), { recursive: true }))],
];

let realBase: string;
let client: PuffsFs;

before(async () => {
  realBase = await fsp.mkdtemp(join(scratch, 'puffs-api-'));
  client = track(await attach(new Tmpfs()));
  await client.mkdir('/t', 0o700); // as mkdtemp made the real one
});

after(async () => {
  await client.close();
  await fsp.rm(realBase, { recursive: true, force: true });
});

test(`${steps.length} calls give node:fs/promises' results and errors`, { timeout: 30_000 }, async () => {
  const mismatches: string[] = [];
  for (const [name, run] of steps) {
    const want = await outcome(() => run(fsp, (rel) => `${realBase}/${rel}`), realBase);
    const got = await outcome(() => run(client as unknown as Fsp, (rel) => `/t/${rel}`), '/t');
    try {
      assert.deepEqual(got, want);
    } catch {
      mismatches.push(`${name}:\n  node:   ${JSON.stringify(want)}\n  client: ${JSON.stringify(got)}`);
    }
  }
  assert.deepEqual(mismatches, [], mismatches.join('\n'));
});

test('streams: createReadStream/createWriteStream, readableWebStream, Dir and FileHandle close events', { timeout: 30_000 }, async () => {
  const { pipeline } = await import('node:stream/promises');
  const { text } = await import('node:stream/consumers');
  const nodeFs = await import('node:fs');
  const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''));
  await client.writeFile('/t/s-src', data);
  await fsp.writeFile(`${realBase}/s-src`, data);
  const ranges = [{}, { start: 5 }, { start: 100, end: 199 }, { end: 0 }, { start: 299_990, end: 400_000 }, { highWaterMark: 1000, start: 7, end: 70_000 }];
  for (const r of ranges) {
    const want = await text(nodeFs.createReadStream(`${realBase}/s-src`, r));
    const got = await text(client.createReadStream('/t/s-src', r));
    assert.equal(got, want, `read range ${JSON.stringify(r)}`);
  }
  await pipeline(client.createReadStream('/t/s-src'), client.createWriteStream('/t/s-copy'));
  assert.ok((await client.readFile('/t/s-copy')).equals(data));
  // A write stream from a position, and into an open handle.
  const ws = client.createWriteStream('/t/s-copy', { flags: 'r+', start: 10 });
  ws.end('XYZ');
  await new Promise((r) => ws.once('close', r));
  assert.equal(ws.bytesWritten, 3);
  assert.equal((await client.readFile('/t/s-copy')).subarray(8, 15).toString(), 'ijXYZno');
  await assert.rejects(text(client.createReadStream('/t/nope')), { code: 'ENOENT', syscall: 'open' });
  // readableWebStream: the bytes from the handle's position.
  const h = await client.open('/t/s-src');
  let closed = false;
  h.on('close', () => (closed = true));
  const chunks: Uint8Array[] = [];
  for await (const c of h.readableWebStream()) chunks.push(c as Uint8Array);
  assert.ok(Buffer.concat(chunks).equals(data));
  await h.close();
  assert.equal(closed, true);
  assert.equal(h.fd, -1);
  // Dir.read, then the end, then close.
  const dir = await client.opendir('/t');
  const first = await dir.read();
  assert.ok(first && typeof first.name === 'string' && first.parentPath === '/t');
  let n = 1;
  while (await dir.read()) n++;
  assert.equal(n, (await client.readdir('/t')).length);
  assert.equal(await dir.read(), null);
  await dir.close();
  await assert.rejects(dir.close(), { code: 'ERR_DIR_CLOSED' });
});
