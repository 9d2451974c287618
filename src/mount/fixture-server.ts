/**
 * Test fixture, run as a child process: mounts with {@link mountFuse} and
 * serves the bare minimum of FUSE by hand (INIT, GETATTR of the root, ENOSYS
 * for the rest), so tests can drive a live mount from other processes.
 *
 *   node fixture-server.js '<json {mountpoint, options}>'
 *
 * Reports JSON lines on stdout: {event:'mounted', pid, dev, mountId,
 * mountpoint, watchdogPid}, {event:'error', code, message}, {event:'unmounted'},
 * {event:'ended'} (the kernel ended the session: ENODEV). Commands on stdin,
 * one a line: `unmount`, `unmount-lazy`, `unmount-strict`, `unmount-twice`, `exit` (die by
 * SIGTERM without unmounting, leaving the watchdog to clean up).
 */
import { read, write } from 'node:fs';
import { createInterface } from 'node:readline';
import { mountFuse, type FuseMount, type MountOptions } from './mount.js';

const FUSE_GETATTR = 3;
const FUSE_FORGET = 2;
const FUSE_INIT = 26;
const FUSE_INTERRUPT = 36;
const FUSE_BATCH_FORGET = 42;
const ENOSYS = 38;
const IN_HEADER = 40;
const OUT_HEADER = 16;

function report(value: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

function readRequest(fd: number, buf: Buffer): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

function writeReply(fd: number, reply: Buffer): Promise<void> {
  return new Promise((resolve) =>
    // The kernel rejects replies to requests it has dropped (ENOENT); that is fine here.
    write(fd, reply, 0, reply.length, null, () => resolve()),
  );
}

function header(len: number, error: number, unique: bigint): Buffer {
  const out = Buffer.alloc(len);
  out.writeUInt32LE(len, 0);
  out.writeInt32LE(error, 4);
  out.writeBigUInt64LE(unique, 8);
  return out;
}

function initReply(unique: bigint, request: Buffer): Buffer {
  const out = header(OUT_HEADER + 64, 0, unique);
  const maxReadahead = request.readUInt32LE(IN_HEADER + 8);
  const o = OUT_HEADER;
  out.writeUInt32LE(7, o); // major
  out.writeUInt32LE(31, o + 4); // minor
  out.writeUInt32LE(maxReadahead, o + 8);
  out.writeUInt32LE(0, o + 12); // flags
  out.writeUInt16LE(16, o + 16); // max_background
  out.writeUInt16LE(12, o + 18); // congestion_threshold
  out.writeUInt32LE(131072, o + 20); // max_write
  out.writeUInt32LE(1, o + 24); // time_gran
  // max_pages, map_alignment, flags2 and the rest stay zero.
  return out;
}

function rootAttrReply(unique: bigint): Buffer {
  const out = header(OUT_HEADER + 16 + 88, 0, unique);
  const now = BigInt(Math.floor(Date.now() / 1000));
  out.writeBigUInt64LE(1n, 16); // attr_valid (s)
  const a = 32;
  out.writeBigUInt64LE(1n, a); // ino
  out.writeBigUInt64LE(now, a + 24); // atime
  out.writeBigUInt64LE(now, a + 32); // mtime
  out.writeBigUInt64LE(now, a + 40); // ctime
  out.writeUInt32LE(0o40755, a + 60); // mode
  out.writeUInt32LE(2, a + 64); // nlink
  out.writeUInt32LE(process.getuid?.() ?? 0, a + 68);
  out.writeUInt32LE(process.getgid?.() ?? 0, a + 72);
  out.writeUInt32LE(4096, a + 80); // blksize
  return out;
}

async function serve(mount: FuseMount): Promise<void> {
  const buf = Buffer.alloc(1 << 20);
  for (;;) {
    let n: number;
    try {
      n = await readRequest(mount.fd, buf);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EINTR' || code === 'EAGAIN' || code === 'ENOENT') continue;
      report({ event: 'ended', code });
      return;
    }
    if (n < IN_HEADER) continue;
    const opcode = buf.readUInt32LE(4);
    const unique = buf.readBigUInt64LE(8);
    const nodeid = buf.readBigUInt64LE(16);
    if (opcode === FUSE_FORGET || opcode === FUSE_BATCH_FORGET) continue; // no reply expected
    let reply: Buffer;
    if (opcode === FUSE_INIT) {
      reply = initReply(unique, buf);
      report({ event: 'init' });
    } else if (opcode === FUSE_GETATTR && nodeid === 1n) {
      reply = rootAttrReply(unique);
    } else if (opcode === FUSE_INTERRUPT) {
      continue;
    } else {
      reply = header(OUT_HEADER, -ENOSYS, unique);
    }
    await writeReply(mount.fd, reply);
  }
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as { mountpoint: string; options?: MountOptions };
  let mount: FuseMount;
  try {
    mount = await mountFuse(args.mountpoint, args.options ?? {});
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    report({ event: 'error', code: e.code, message: e.message });
    process.exitCode = 1;
    return;
  }
  report({
    event: 'mounted',
    pid: process.pid,
    dev: mount.dev,
    mountId: mount.mountId,
    mountpoint: mount.mountpoint,
    watchdogPid: mount.watchdogPid,
  });
  const serving = serve(mount);

  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const command = line.trim();
    // Not process.exit(): libuv joins its pool threads at exit, and one is
    // blocked in read(2) on /dev/fuse, on a mount that only we could end, so
    // exit would hang forever. Dying by the default SIGTERM action skips that.
    if (command === 'exit') process.kill(process.pid, 'SIGTERM');
    if (command.startsWith('unmount')) {
      const lazy = command === 'unmount-lazy' ? true : command === 'unmount-strict' ? false : undefined;
      const twice = command === 'unmount-twice'; // the second call finds the mount gone and must resolve
      mount
        .unmount({ lazy })
        .then(() => (twice ? mount.unmount() : undefined))
        .then(
          () => report({ event: 'unmounted' }),
          (err: NodeJS.ErrnoException) => report({ event: 'unmount-error', code: err.code, message: err.message }),
        );
    }
  });
  await serving;
  lines.close();
  process.stdin.destroy();
}

void main();
