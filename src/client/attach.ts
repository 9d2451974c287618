/**
 * attach(): the kernel side of puffs in TypeScript. Connect to a file
 * server — in this process, in a worker thread, in a child process, or at
 * `unix:/path` / `tcp://host:port` as `puffs serve` listens — do the INIT
 * handshake as the kernel does, and hand back an fs/promises-style API.
 *
 *   const fs = await attach(new Tmpfs());                    // in-process
 *   const fs = await attach({ worker: './my-fs.js' });        // worker thread
 *   const fs = await attach({ child: './my-fs.js' });         // child process
 *   const fs = await attach('unix:/run/puffs.sock');          // puffs serve
 *   await fs.writeFile('/hello', 'hi'); await fs.close();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { memoryPair } from '../transport/memory.js';
import { PortChannel } from '../transport/port.js';
import { StreamChannel, parseAddress } from '../transport/stream.js';
import type { Channel } from '../transport/channel.js';
import { Session, type SessionOptions } from '../server/session.js';
import type { FileSystem } from '../server/ops.js';
import { Connection, type Credentials } from './connection.js';
import { Vfs } from './vfs.js';
import { Core } from './core.js';
import { PuffsFs } from './promises.js';
import { clientHandshake } from './handshake.js';
import type { HostConfig } from './host.js';
import { moduleHref } from './args.js';

/** Run the server in a worker thread: `module` exports the FileSystem, a class, or a factory. */
export interface WorkerTarget {
  worker: string | URL;
  /** Export name (default 'default'). */
  export?: string;
  /** Arguments for the class or factory (structured-clonable). */
  args?: unknown[];
}

/** Run the server in a child process (node), talking over a socket pair on fd 3. */
export interface ChildTarget {
  child: string | URL;
  export?: string;
  /** Arguments for the class or factory (JSON). */
  args?: unknown[];
  /** Extra node options for the child. */
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
}

/** Any channel already connected to a server. */
export interface ChannelTarget {
  channel: Channel;
}

export type AttachTarget = FileSystem | string | URL | WorkerTarget | ChildTarget | ChannelTarget;

export interface AttachOptions {
  /** Credentials of every call (default: this process's). */
  uid?: number;
  gid?: number;
  /** Supplementary groups, sent with each request (FUSE_EXT_GROUPS). Default: this process's. */
  groups?: readonly number[];
  /** Applied to the modes of new files and directories. Default: this process's umask. */
  umask?: number;
  /** pid in request headers (default process.pid). */
  pid?: number;
  /** Shared secret for `puffs serve` (required by non-loopback TCP servers). */
  token?: string;
  /** Connect with TLS (tcp:// targets): true, or tls.connect options (ca, servername, ...). */
  tls?: boolean | tls.ConnectionOptions;
  /** Session options for a server attach starts (in-process, worker, child): timeouts, max_write... */
  session?: Omit<SessionOptions, 'groupSource' | 'debug'> & { debug?: boolean };
  /** max_readahead offered at INIT. */
  maxReadahead?: number;
  /** Use READDIRPLUS when the server offers it (default true). */
  readdirplus?: boolean;
  /** Largest frame on the channel attach creates (default 1 MiB + 4 KiB). */
  maxFrameSize?: number;
  /** Over a socket: a reply that starts but does not finish within this many ms ends the session (default 30000). */
  stallTimeoutMs?: number;
  /** INIT (and handshake) timeout, ms (default 10000). */
  initTimeoutMs?: number;
  /** How long close() lets calls in flight finish, ms (default 5000). */
  closeTimeoutMs?: number;
  /** Vnodes kept before idle ones are forgotten early (default 10000). */
  maxVnodes?: number;
  /** Idle vnodes are forgotten after this many ms (default 1000). */
  idleMs?: number;
  /** How often idle vnodes are looked for, ms (default 1000). */
  sweepMs?: number;
  /** One line per request and reply. */
  debug?: (line: string) => void;
}

const HOST_URL = new URL('./host.js', import.meta.url);
let nextDev = 1;

function isFileSystem(t: unknown): t is FileSystem {
  return typeof t === 'object' && t !== null && !('worker' in t) && !('child' in t) && !('channel' in t) && !(t instanceof URL);
}

interface Started {
  channel: Channel;
  /** Stop whatever attach started, after the channel closed. */
  stop: () => Promise<void>;
}

/** Attach to a file server and return node:fs/promises over it. */
export async function attach(target: AttachTarget, options: AttachOptions = {}): Promise<PuffsFs> {
  const started = await start(target, options);
  const cred: Credentials = {
    uid: options.uid ?? process.getuid?.() ?? 0,
    gid: options.gid ?? process.getgid?.() ?? 0,
    pid: options.pid ?? process.pid,
    groups: options.groups ?? process.getgroups?.() ?? [],
    umask: options.umask ?? process.umask(),
  };
  let conn: Connection | undefined;
  let vfs: Vfs | undefined;
  conn = new Connection(started.channel, {
    maxReadahead: options.maxReadahead,
    readdirplus: options.readdirplus,
    initTimeoutMs: options.initTimeoutMs,
    debug: options.debug,
    onNotification: (n) => vfs?.onNotification(n),
  });
  try {
    await conn.init(cred);
    const rootAttr = await Vfs.rootAttr(conn, cred);
    vfs = new Vfs(conn, rootAttr, { maxVnodes: options.maxVnodes, idleMs: options.idleMs, sweepMs: options.sweepMs });
  } catch (err) {
    conn.close(err as Error);
    await started.stop().catch(() => undefined);
    throw err;
  }
  const core = new Core(conn, vfs, { dev: 0x70000 + nextDev++, closeTimeoutMs: options.closeTimeoutMs });
  let detaching: Promise<void> | undefined;
  const detach = (): Promise<void> => {
    detaching ??= (async () => {
      await core.close();
      await started.stop();
    })();
    return detaching;
  };
  // A server that goes away on its own: stop what we started, too.
  conn.closed.then(() => {
    if (!detaching) void started.stop().catch(() => undefined);
  });
  return new PuffsFs(core, cred, detach);
}

async function start(target: AttachTarget, options: AttachOptions): Promise<Started> {
  if (typeof target === 'string' || target instanceof URL) return connectTo(String(target), options);
  if ('channel' in target && (target as ChannelTarget).channel) return { channel: (target as ChannelTarget).channel, stop: async () => undefined };
  if ('worker' in target && (target as WorkerTarget).worker) return startWorker(target as WorkerTarget, options);
  if ('child' in target && (target as ChildTarget).child) return startChild(target as ChildTarget, options);
  if (isFileSystem(target)) return startInProcess(target, options);
  throw new TypeError('attach: target must be a FileSystem, a unix:/tcp:// URL, { worker }, { child } or { channel }');
}

function startInProcess(fs: FileSystem, options: AttachOptions): Started {
  // Replies reach the client inside the server's send: the server only ever runs from frames the client queued.
  const [clientEnd, serverEnd] = memoryPair({ maxFrameSize: options.maxFrameSize, deliverAtOnce: true });
  const session = new Session(fs, serverEnd, { ...options.session, debug: options.session?.debug, groupSource: () => [] });
  const ended = session.start();
  return {
    channel: clientEnd,
    stop: async () => {
      session.close();
      await ended;
    },
  };
}

function hostConfig(t: WorkerTarget | ChildTarget, options: AttachOptions, module: string | URL): HostConfig {
  return { module: moduleHref(module), export: t.export, args: t.args, session: options.session, maxFrameSize: options.maxFrameSize };
}

async function startWorker(t: WorkerTarget, options: AttachOptions): Promise<Started> {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(HOST_URL, {
    workerData: { puffsHost: true, port: port2, config: hostConfig(t, options, t.worker) },
    transferList: [port2],
  });
  const channel = new PortChannel(port1, { maxFrameSize: options.maxFrameSize });
  let exited = false;
  const exit = new Promise<void>((resolve) => worker.once('exit', () => ((exited = true), resolve())));
  worker.on('error', (err) => {
    // An uncaught error in the server: the session is gone.
    channel.close(Object.assign(new Error(`the server's worker failed: ${err.message}`), { cause: err }));
  });
  exit.then(() => channel.close());
  return {
    channel,
    stop: async () => {
      channel.close();
      if (exited) return;
      const timer = setTimeout(() => void worker.terminate(), 2000);
      await exit;
      clearTimeout(timer);
    },
  };
}

async function startChild(t: ChildTarget, options: AttachOptions): Promise<Started> {
  const child: ChildProcess = spawn(
    process.execPath,
    [...(t.execArgv ?? []), fileURLToPath(HOST_URL), '--puffs-host', JSON.stringify(hostConfig(t, options, t.child))],
    { stdio: ['ignore', 'inherit', 'inherit', 'pipe'], env: t.env ?? process.env },
  );
  const socket = child.stdio[3] as net.Socket;
  const channel = new StreamChannel(socket, { maxFrameSize: options.maxFrameSize, stallTimeoutMs: options.stallTimeoutMs ?? 30_000 });
  let exited = child.exitCode !== null;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  child.on('error', (err) => channel.close(err));
  return {
    channel,
    stop: async () => {
      channel.close();
      if (exited) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exit;
      clearTimeout(timer);
    },
  };
}

async function connectTo(url: string, options: AttachOptions): Promise<Started> {
  const address = parseAddress(url);
  const timeoutMs = options.initTimeoutMs ?? 10_000;
  const socket = await new Promise<Duplex>((resolve, reject) => {
    let s: net.Socket | tls.TLSSocket;
    const fail = (err: Error): void => reject(err);
    if (address.kind === 'tcp' && options.tls) {
      const o = typeof options.tls === 'object' ? options.tls : {};
      s = tls.connect({ host: address.host, port: address.port, servername: net.isIP(address.host) ? undefined : address.host, ...o }, () => {
        s.off('error', fail);
        resolve(s);
      });
    } else {
      s = net.createConnection(address.kind === 'unix' ? { path: address.path } : { host: address.host, port: address.port }, () => {
        s.off('error', fail);
        resolve(s);
      });
    }
    s.once('error', fail);
    s.setTimeout(timeoutMs, () => s.destroy(Object.assign(new Error(`connect ${url}: timed out`), { code: 'ETIMEDOUT' })));
  });
  (socket as net.Socket).setTimeout(0);
  if (address.kind === 'tcp') (socket as net.Socket).setNoDelay(true);
  try {
    await clientHandshake(socket, options.token, timeoutMs);
  } catch (err) {
    socket.destroy();
    throw err;
  }
  const channel = new StreamChannel(socket, { maxFrameSize: options.maxFrameSize, stallTimeoutMs: options.stallTimeoutMs ?? 30_000 });
  return { channel, stop: async () => channel.close() };
}
