/**
 * `puffs serve`: a file server on a socket, for clients that attach without
 * a mount (another process, another machine, a CI runner without
 * /dev/fuse). Each connection is its own FUSE session.
 *
 * Safety:
 * - By default it listens on a Unix socket (made mode 0600) or loopback
 *   TCP. A non-loopback TCP address is refused unless a shared secret
 *   (token) or TLS is configured.
 * - Every connection starts with a preamble (see client/handshake.ts): the
 *   token is checked in constant time, and a peer without it is answered
 *   "refused" and disconnected before any file-system request runs.
 * - A peer that sends a malformed or oversized frame, an unknown opcode, or
 *   stalls mid-frame is disconnected with a log line; the others keep going.
 *
 * One FileSystem object given to serve() is shared by all connections: they
 * see the same files, and a change made through one connection is announced
 * to the others as invalidations (server/coherence.ts), so their caches do
 * not go stale. Lookup references are tracked per connection, so a node is
 * forgotten (FileSystem.forget) only when no connection holds it, and
 * init/destroy run once for the server, not per connection. A factory
 * function instead builds a fresh file system for each connection.
 */
import { lstat, unlink } from 'node:fs/promises';
import { chmodSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { FsError, errnoOf } from '../errors.js';
import { StreamChannel, formatAddress, parseAddress, type ChannelAddress } from '../transport/stream.js';
import { Session, type SessionOptions } from './session.js';
import { fileSystemOps, type FileSystem } from './ops.js';
import { coherentAs } from './coherence.js';
import type { DirEntry, Entry, NegativeEntry } from './types.js';
import { MAGIC, MAX_TOKEN, STATUS_OK, encodeStatus, readExactly, tokensEqual } from '../client/handshake.js';

export interface ServeOptions {
  /** `unix:/path/to.sock` or `tcp://host:port` (port 0 picks one). */
  listen: string;
  /** Shared secret every client must present. Required for non-loopback TCP unless `tls` is set. */
  token?: string;
  /** Serve TLS (tcp only): key, cert, and for client certificates ca + requestCert. */
  tls?: tls.TlsOptions;
  /** Where log lines go (default stderr with a timestamp); false for none. */
  log?: ((line: string) => void) | false;
  /** Options of every session: cache timeouts, max_write, debug... */
  session?: Omit<SessionOptions, 'groupSource' | 'closeOnBadFrame'>;
  /** A frame that starts but does not finish within this many ms disconnects the peer (default 10000). */
  stallTimeoutMs?: number;
  /** The preamble must arrive within this many ms (default 10000). */
  handshakeTimeoutMs?: number;
  /** Largest frame accepted (default 1 MiB + 4 KiB). */
  maxFrameSize?: number;
  /** Connections served at once; more are refused (default 1024). */
  maxConnections?: number;
}

export interface PuffsServer {
  /** The bound address, in URL form (the real port for tcp://host:0). */
  readonly address: string;
  readonly port: number | undefined;
  /** Sessions being served right now. */
  readonly sessions: ReadonlySet<Session>;
  /** Stop accepting, end every session, destroy a shared file system, remove a Unix socket file. Idempotent. */
  close(): Promise<void>;
  /** Settles when the server has closed. */
  readonly closed: Promise<void>;
}

/** Builds a file system per connection. */
export type FileSystemFactory = () => FileSystem | Promise<FileSystem>;

/** Is `host` a loopback address (127/8, ::1, localhost)? */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) {
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return m !== null && m[1]!.startsWith('127.');
  }
  return false;
}

/**
 * The listening policy: Unix sockets and loopback TCP may be served as they
 * are; any other TCP address needs a token or TLS. Throws (EACCES) otherwise.
 */
export function checkListenPolicy(listen: string, security: { token?: string; tls?: unknown }): ChannelAddress {
  const address = parseAddress(listen);
  if (address.kind === 'unix') {
    if (security.tls) throw new TypeError('serve: TLS is for tcp:// addresses; a Unix socket is protected by its file mode');
    return address;
  }
  if (security.token !== undefined && (security.token.length === 0 || Buffer.byteLength(security.token) > MAX_TOKEN)) {
    throw new RangeError(`serve: the token must be 1 to ${MAX_TOKEN} bytes`);
  }
  if (!isLoopback(address.host) && !security.token && !security.tls) {
    throw new FsError('EACCES', {
      message: `refusing to serve ${listen} without a token or TLS: a non-loopback address is reachable from other machines (use --token/--token-file, TLS, a loopback address or a Unix socket)`,
    });
  }
  return address;
}

// ---- one file system, many sessions ---------------------------------------------------------

/**
 * Shares one FileSystem between sessions: each session gets a view whose
 * forget() only reaches the file system when no other session holds the
 * node, and whose init/destroy do nothing (the server runs them once).
 */
export class SharedFileSystem {
  private readonly holders = new Map<number, Set<number>>();
  private initialized: Promise<void> | undefined;

  constructor(readonly fs: FileSystem) {}

  /** Nodes held by at least one session (for tests). */
  get held(): number {
    return this.holders.size;
  }

  private hold(sid: number, ino: number): void {
    if (!ino) return;
    let set = this.holders.get(ino);
    if (!set) this.holders.set(ino, (set = new Set()));
    set.add(sid);
  }

  private drop(sid: number, ino: number): void {
    const set = this.holders.get(ino);
    if (!set || !set.delete(sid)) return;
    if (set.size > 0) return;
    this.holders.delete(ino);
    try {
      this.fs.forget?.(ino);
    } catch (err) {
      process.emitWarning(`puffs serve: forget(${ino}) threw ${String(err)}`);
    }
  }

  /** The session ended: give back whatever it still held. */
  release(sid: number): void {
    for (const [ino, set] of [...this.holders]) if (set.has(sid)) this.drop(sid, ino);
  }

  /** The view session `sid` serves. */
  view(sid: number): FileSystem {
    const fs = this.fs as unknown as Record<string, ((...args: unknown[]) => unknown) | undefined>;
    const out: Record<string, unknown> = {};
    const track = (r: unknown): unknown => {
      const mark = (v: unknown): unknown => {
        const e = v as Entry | NegativeEntry | { entry: Entry } | undefined;
        if (e && typeof e === 'object') this.hold(sid, 'entry' in e ? e.entry.ino : e.ino);
        return v;
      };
      return r instanceof Promise ? r.then(mark) : mark(r);
    };
    for (const op of fileSystemOps) {
      const f = fs[op];
      if (typeof f !== 'function') continue;
      switch (op) {
        case 'init':
          out.init = (...args: unknown[]) => (this.initialized ??= Promise.resolve(f.apply(this.fs, args)).then(() => undefined));
          break;
        case 'destroy':
          break;
        case 'forget':
          out.forget = (ino: number) => this.drop(sid, ino);
          break;
        case 'lookup':
        case 'mknod':
        case 'mkdir':
        case 'symlink':
        case 'link':
        case 'create':
        case 'tmpfile':
          out[op] = (...args: unknown[]) => track(f.apply(this.fs, args));
          break;
        case 'readdir':
          out.readdir = (...args: unknown[]) => {
            const r = f.apply(this.fs, args) as Iterable<DirEntry> | Promise<Iterable<DirEntry>>;
            const plus = args[4] === true;
            if (!plus) return r;
            const self = this;
            function* marked(list: Iterable<DirEntry>): Generator<DirEntry> {
              for (const e of list) {
                if (e.entry && e.name !== '.' && e.name !== '..') self.hold(sid, e.entry.ino);
                yield e;
              }
            }
            return r instanceof Promise ? r.then(marked) : marked(r);
          };
          break;
        default:
          out[op] = f.bind(this.fs);
      }
    }
    // Changes through one connection invalidate the others' caches, as for one file system.
    coherentAs(out as FileSystem, this.fs);
    return out as FileSystem;
  }

  async destroy(): Promise<void> {
    this.holders.clear();
    await this.fs.destroy?.();
  }
}

// ---- the server ---------------------------------------------------------------------------------

function defaultLog(line: string): void {
  process.stderr.write(`${new Date().toISOString()} puffs serve: ${line}\n`);
}

async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) throw new FsError('EADDRINUSE', { message: `serve unix:${path}: the path exists and is not a socket` });
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.createConnection({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new FsError('EADDRINUSE', { message: `serve unix:${path}: a server is already listening there` });
  await unlink(path).catch(() => undefined);
}

/**
 * Serve `fs` (shared by all connections) or a fresh file system per
 * connection from `factory`, on `options.listen`.
 */
export async function serve(fs: FileSystem | FileSystemFactory, options: ServeOptions): Promise<PuffsServer> {
  const address = checkListenPolicy(options.listen, options);
  const log = options.log === false ? () => undefined : (options.log ?? defaultLog);
  const shared = typeof fs === 'function' ? undefined : new SharedFileSystem(fs);
  const factory = typeof fs === 'function' ? fs : undefined;
  const stallTimeoutMs = options.stallTimeoutMs ?? 10_000;
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
  const maxConnections = options.maxConnections ?? 1024;
  const sessions = new Set<Session>();
  const sockets = new Set<net.Socket>();
  let nextId = 1;
  let closing = false;

  const onSocket = (socket: net.Socket): void => {
    const id = nextId++;
    const peer = address.kind === 'unix' ? `unix#${id}` : `${socket.remoteAddress}:${socket.remotePort}#${id}`;
    if (closing) {
      socket.destroy();
      return;
    }
    if (sockets.size >= maxConnections) {
      log(`${peer}: refused: ${maxConnections} connections already`);
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // reported through the handshake or the channel
    if (address.kind === 'tcp') socket.setNoDelay(true);
    accept(socket, id, peer).catch((err: unknown) => {
      log(`${peer}: refused: ${(err as Error).message}`);
      socket.destroy();
    });
  };

  const accept = async (socket: net.Socket, id: number, peer: string): Promise<void> => {
    const head = await readExactly(socket, MAGIC.byteLength + 4, handshakeTimeoutMs, 'handshake');
    if (!head.subarray(0, MAGIC.byteLength).equals(MAGIC)) throw new Error('not a puffs client (bad preamble)');
    const len = head.readUInt32LE(MAGIC.byteLength);
    if (len > MAX_TOKEN) throw new Error(`token of ${len} bytes is too long`);
    const token = len > 0 ? await readExactly(socket, len, handshakeTimeoutMs, 'handshake') : Buffer.alloc(0);
    if (options.token !== undefined && !tokensEqual(token, options.token)) {
      socket.end(encodeStatus(errnoOf('EACCES')));
      setTimeout(() => socket.destroy(), 1000).unref();
      log(`${peer}: refused: bad token`);
      return;
    }
    if (closing) throw new Error('server closing');
    let fsys: FileSystem;
    if (factory) fsys = await factory();
    else fsys = shared!.view(id);
    socket.write(encodeStatus(STATUS_OK));
    const channel = new StreamChannel(socket, { maxFrameSize: options.maxFrameSize, stallTimeoutMs });
    const session = new Session(fsys, channel, { ...options.session, groupSource: () => [], closeOnBadFrame: true });
    sessions.add(session);
    log(`${peer}: connected`);
    const err = await session.start();
    sessions.delete(session);
    shared?.release(id);
    log(err ? `${peer}: disconnected: ${err.message}` : `${peer}: closed`);
  };

  const server: net.Server =
    options.tls !== undefined
      ? tls.createServer(options.tls, onSocket).on('tlsClientError', (err, s) => {
          log(`${s.remoteAddress ?? 'peer'}: TLS handshake failed: ${err.message}`);
        })
      : net.createServer(onSocket);

  if (address.kind === 'unix') await removeStaleSocket(address.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = (): void => {
      server.off('error', reject);
      if (address.kind === 'unix') {
        try {
          chmodSync(address.path, 0o600);
        } catch (err) {
          server.close();
          reject(err);
          return;
        }
      }
      resolve();
    };
    if (address.kind === 'unix') server.listen({ path: address.path }, listening);
    else server.listen({ host: address.host, port: address.port }, listening);
  });
  server.on('error', (err) => log(`listener: ${err.message}`));

  let bound: ChannelAddress = address;
  const info = server.address();
  if (address.kind === 'tcp' && info && typeof info === 'object') bound = { kind: 'tcp', host: address.host, port: info.port };
  const url = formatAddress(bound);
  log(`listening on ${url}${options.token ? ' (token required)' : ''}${options.tls ? ' (TLS)' : ''}`);

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let closingP: Promise<void> | undefined;
  return {
    address: url,
    port: bound.kind === 'tcp' ? bound.port : undefined,
    sessions,
    closed,
    close(): Promise<void> {
      closingP ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((r) => server.close(() => r()));
        const ends = [...sessions].map((s) => s.closed);
        for (const s of sessions) s.close();
        await Promise.all(ends);
        // Connections still in their handshake.
        for (const sock of sockets) sock.destroy();
        await stopped;
        if (address.kind === 'unix') await unlink(address.path).catch(() => undefined);
        await shared?.destroy();
        log('closed');
        resolveClosed();
      })();
      return closingP;
    },
  };
}
