/**
 * Channels over byte streams: Unix sockets, TCP, pipe pairs — anything that
 * is a node `stream.Duplex`. Frames are found with the length header (see
 * {@link Framer}); sends are gathered with cork/uncork so the parts of a frame,
 * and the frames of one tick, go out in one writev without being copied.
 */
import { lstat, unlink } from 'node:fs/promises';
import { chmodSync } from 'node:fs';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { ChannelClosedError, FramingError, type Channel, type FrameHandler } from './channel.js';
import { checkOutgoingFrame, Framer, resolveMaxFrameSize } from './framer.js';

/** Options for {@link StreamChannel}. */
export interface StreamChannelOptions {
  /** Largest frame accepted or sent, header included. Default 1 MiB + 4096. */
  maxFrameSize?: number;
  /**
   * When set, a frame that has started arriving but is not complete within
   * this many milliseconds closes the channel with a FramingError ("stalled
   * mid-frame"). Guards against a peer that hangs, or a desynchronised
   * stream whose "length" is garbage. Off by default: an idle stream between
   * frames is never a stall.
   */
  stallTimeoutMs?: number;
  /**
   * After an orderly {@link StreamChannel.close}, how long to wait for the
   * peer to end its side before destroying the stream anyway. Default 2000.
   */
  lingerMs?: number;
}

const DEFAULT_LINGER_MS = 2000;

function positiveMs(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be a positive number of ms, got ${value}`);
  return value;
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * A {@link Channel} over a node `net.Socket` or any `stream.Duplex`.
 *
 * Lifecycle:
 * - Frames are delivered synchronously from the stream's 'data' event, starting at {@link start}
 *   (the stream stays paused until then, so nothing is lost).
 * - The peer ending at a frame boundary → `closed(undefined)`.
 * - The peer ending, or the stream closing, in the middle of a frame → `closed(FramingError)`:
 *   a truncated frame is data loss, not an orderly end. The stream is destroyed.
 * - A stream error, a malformed length header or a stall → `closed(error)`; the stream is destroyed.
 * - If `handler.frame` throws, the channel closes with that error.
 * - {@link close} without an error ends our side after pending writes flush (the stream is
 *   destroyed once the peer ends too, or after `lingerMs`); with an error it destroys at once.
 *   Either way `closed` is called synchronously from `close`.
 */
export class StreamChannel implements Channel {
  readonly maxFrameSize: number;
  readonly #stream: Duplex;
  readonly #framer: Framer;
  readonly #stallTimeoutMs: number | undefined;
  readonly #lingerMs: number;
  #handler: FrameHandler | undefined;
  #closed = false;
  #closeError: Error | undefined;
  #notified = false;
  #corked = false;
  #stallTimer: NodeJS.Timeout | undefined;
  /** framer.frameCount when the stall timer was armed: a change means a new frame started. */
  #stallFrameCount = 0;

  /**
   * Wraps `stream`, which the channel then owns: it is ended or destroyed when
   * the channel closes. Do not read from it or set an encoding on it.
   */
  constructor(stream: Duplex, options: StreamChannelOptions = {}) {
    this.maxFrameSize = resolveMaxFrameSize(options.maxFrameSize);
    this.#stallTimeoutMs = positiveMs('stallTimeoutMs', options.stallTimeoutMs);
    this.#lingerMs = positiveMs('lingerMs', options.lingerMs) ?? DEFAULT_LINGER_MS;
    this.#stream = stream;
    this.#framer = new Framer((frame) => this.#handler!.frame(frame), { maxFrameSize: this.maxFrameSize });
    // Listeners stay attached after close: 'error' so a late error is not
    // uncaught, 'data' (from start) to drain input so the peer's end arrives.
    stream.on('error', (error: Error) => this.#finish(error, true));
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onClose);
    if (stream.destroyed) this.#finish(stream.errored ?? new ChannelClosedError('stream already destroyed'), true);
  }

  /** True once the channel is closed (by either side). */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Bytes sent but not yet handed to the OS: a caller may throttle on it. */
  get bufferedAmount(): number {
    return this.#stream.writableLength;
  }

  /** The stream this channel wraps, for socket options (keepalive, address). */
  get stream(): Duplex {
    return this.#stream;
  }

  /** Begin delivering frames to `handler`. If the channel already closed, `closed` follows in a microtask. */
  start(handler: FrameHandler): void {
    if (this.#handler) throw new Error('StreamChannel.start called twice');
    this.#handler = handler;
    if (this.#closed) {
      queueMicrotask(() => this.#notify());
      return;
    }
    this.#stream.on('data', this.#onData);
  }

  /**
   * Send one frame. The parts are written as they are, not copied, so the
   * caller must not modify them afterwards. Throws FramingError when the header
   * in `parts[0]` disagrees with the total or the total is out of bounds (a
   * caller bug; nothing is written), and ChannelClosedError once closed.
   * Returns true: the frame was handed to the stream (a byte stream has no
   * per-frame errors; write failures close the channel instead).
   */
  send(parts: readonly Uint8Array[]): boolean {
    if (this.#closed) throw new ChannelClosedError();
    checkOutgoingFrame(parts, this.maxFrameSize);
    const stream = this.#stream;
    // One cork per tick: every frame sent this tick leaves in one writev.
    if (!this.#corked) {
      this.#corked = true;
      stream.cork();
      process.nextTick(this.#uncork);
    }
    for (const part of parts) if (part.byteLength > 0) stream.write(part);
    return true;
  }

  /**
   * Close the channel. Without an error: orderly (pending writes are flushed,
   * then our side ends). With an error: the stream is destroyed. `closed(error)`
   * is delivered synchronously if the channel was started. Idempotent.
   */
  close(error?: Error): void {
    this.#finish(error, error !== undefined);
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#stream.uncork();
  };

  readonly #onData = (chunk: Buffer | string): void => {
    if (this.#closed) return; // draining after close
    if (typeof chunk === 'string') {
      this.#finish(new TypeError('StreamChannel: the stream has an encoding set; it must deliver bytes'), true);
      return;
    }
    try {
      this.#framer.push(chunk);
    } catch (error) {
      this.#finish(asError(error), true);
      return;
    }
    if (!this.#closed && this.#stallTimeoutMs !== undefined) this.#updateStallTimer(this.#stallTimeoutMs);
  };

  readonly #onEnd = (): void => {
    if (this.#closed) return;
    try {
      this.#framer.end();
    } catch (error) {
      this.#finish(asError(error), true);
      return;
    }
    this.#finish(undefined, false);
  };

  readonly #onClose = (): void => {
    // Closed without 'end' or 'error': destroyed by someone else, or a pipe that just closed.
    if (this.#closed) return;
    let error: Error | undefined;
    try {
      this.#framer.end();
    } catch (e) {
      error = asError(e);
    }
    this.#finish(error, true);
  };

  #updateStallTimer(ms: number): void {
    const framer = this.#framer;
    if (!framer.midFrame) {
      this.#clearStallTimer();
      return;
    }
    // The timer measures one frame: re-arm only when a new frame has started.
    if (this.#stallTimer !== undefined && framer.frameCount === this.#stallFrameCount) return;
    this.#clearStallTimer();
    this.#stallFrameCount = framer.frameCount;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      const expected = framer.expectedLength;
      this.#finish(
        new FramingError(
          `stalled mid-frame: ${framer.bufferedBytes} of ${expected ?? 'an unknown number of'} bytes received in ${ms} ms`,
        ),
        true,
      );
    }, ms);
    // The stream keeps the loop alive while it is open; the timer need not.
    this.#stallTimer.unref();
  }

  #clearStallTimer(): void {
    if (this.#stallTimer !== undefined) {
      clearTimeout(this.#stallTimer);
      this.#stallTimer = undefined;
    }
  }

  #finish(error: Error | undefined, destroy: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    this.#clearStallTimer();
    this.#framer.stop();
    const stream = this.#stream;
    if (destroy || stream.destroyed) {
      stream.destroy();
    } else {
      stream.end();
      // Keep reading (and dropping) so the peer's end arrives and autoDestroy can run.
      if (!this.#handler) stream.on('data', this.#onData);
      const linger = setTimeout(() => stream.destroy(), this.#lingerMs);
      linger.unref();
      stream.once('close', () => clearTimeout(linger));
    }
    if (this.#handler) this.#notify();
  }

  #notify(): void {
    if (this.#notified) return;
    this.#notified = true;
    this.#handler!.closed(this.#closeError);
  }
}

/** A parsed channel address: `unix:/path` or `tcp://host:port`. */
export type ChannelAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/**
 * Parses `unix:/path/to/socket` (everything after `unix:` is the path) or
 * `tcp://host:port` (IPv6 hosts in brackets). Throws TypeError otherwise.
 */
export function parseAddress(address: string): ChannelAddress {
  if (address.startsWith('unix:')) {
    const path = address.slice('unix:'.length);
    if (path === '') throw new TypeError(`bad address ${JSON.stringify(address)}: empty socket path`);
    return { kind: 'unix', path };
  }
  if (address.startsWith('tcp://')) {
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      throw new TypeError(`bad address ${JSON.stringify(address)}: expected tcp://host:port`);
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '' || url.port === '' || (url.pathname !== '' && url.pathname !== '/')) {
      throw new TypeError(`bad address ${JSON.stringify(address)}: expected tcp://host:port`);
    }
    return { kind: 'tcp', host, port: Number(url.port) };
  }
  throw new TypeError(`bad address ${JSON.stringify(address)}: expected unix:/path or tcp://host:port`);
}

/** Formats a parsed address back into the URL form {@link parseAddress} reads. */
export function formatAddress(address: ChannelAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `tcp://${host}:${address.port}`;
}

function connectSocket(options: net.NetConnectOpts, channelOptions: StreamChannelOptions): Promise<StreamChannel> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(options);
    const onError = (error: Error): void => reject(error);
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      if (!('path' in options)) socket.setNoDelay(true); // small frames: don't wait for Nagle
      resolve(new StreamChannel(socket, channelOptions));
    });
  });
}

/** Connects to a Unix socket and wraps it in a {@link StreamChannel}. Rejects with the socket error. */
export function connectUnix(path: string, options: StreamChannelOptions = {}): Promise<StreamChannel> {
  return connectSocket({ path }, options);
}

/** Connects over TCP (Nagle off) and wraps the socket in a {@link StreamChannel}. Rejects with the socket error. */
export function connectTcp(host: string, port: number, options: StreamChannelOptions = {}): Promise<StreamChannel> {
  return connectSocket({ host, port }, options);
}

/** Connects to a `unix:/path` or `tcp://host:port` address (see {@link parseAddress}). */
export function connect(address: string, options: StreamChannelOptions = {}): Promise<StreamChannel> {
  const parsed = parseAddress(address);
  return parsed.kind === 'unix' ? connectUnix(parsed.path, options) : connectTcp(parsed.host, parsed.port, options);
}

/** Options for {@link listen}: channel options for every accepted connection, and error reporting. */
export interface ListenOptions extends StreamChannelOptions {
  /**
   * Errors of the listening socket after it is bound (accept failures such as
   * EMFILE) and errors thrown by `onChannel`. Default: a process warning.
   */
  onError?: (error: Error) => void;
}

/** A listening server returned by {@link listen}. */
export interface ChannelServer {
  /** The bound address in URL form; for `tcp://host:0` it holds the real port. */
  readonly address: string;
  /** The bound TCP port, or undefined for a Unix socket. */
  readonly port: number | undefined;
  /**
   * Stop accepting, close every channel this server accepted that is still
   * open (orderly, so their handlers see `closed(undefined)`), and resolve
   * once all of them and the listener are closed. A Unix socket file is
   * removed. Idempotent.
   */
  close(): Promise<void>;
}

function codeError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Removes the socket file at `path` if it is stale (nothing accepts on it).
 * A live socket or a file that is not a socket is left alone: EADDRINUSE.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw error;
  }
  if (!isSocket) throw codeError(`listen unix:${path}: the path exists and is not a socket`, 'EADDRINUSE');
  const alive = await new Promise<boolean>((resolve, reject) => {
    const probe = net.createConnection({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error: Error) => {
      const code = errnoCode(error);
      if (code === 'ECONNREFUSED' || code === 'ENOENT') resolve(false);
      else reject(error); // EACCES and the like: not ours to judge, so not ours to delete
    });
  });
  if (alive) throw codeError(`listen unix:${path}: a server is already listening there`, 'EADDRINUSE');
  try {
    await unlink(path);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
  }
}

/**
 * Listens on `unix:/path` or `tcp://host:port` (port 0 picks a free port) and
 * calls `onChannel` with a {@link StreamChannel} for each connection; the
 * callee must `start` it.
 *
 * A Unix socket file is made mode 0600 (owner only) right after bind; a
 * stale socket file at the path is removed first, but only when nothing
 * answers on it. (A connection queued in the instant between bind and chmod
 * is possible only under a permissive umask.)
 */
export async function listen(
  address: string,
  onChannel: (channel: StreamChannel) => void,
  options: ListenOptions = {},
): Promise<ChannelServer> {
  const parsed = parseAddress(address);
  const { onError = (error: Error) => process.emitWarning(error), ...channelOptions } = options;
  // Validate the channel options now rather than on the first connection.
  resolveMaxFrameSize(channelOptions.maxFrameSize);
  positiveMs('stallTimeoutMs', channelOptions.stallTimeoutMs);
  positiveMs('lingerMs', channelOptions.lingerMs);
  if (parsed.kind === 'unix') await removeStaleSocket(parsed.path);

  const channels = new Set<StreamChannel>();
  const server = net.createServer((socket) => {
    if (parsed.kind === 'tcp') socket.setNoDelay(true);
    const channel = new StreamChannel(socket, channelOptions);
    channels.add(channel);
    socket.once('close', () => channels.delete(channel));
    try {
      onChannel(channel);
    } catch (error) {
      channel.close(asError(error));
      onError(asError(error));
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const onListening = (): void => {
      server.off('error', reject);
      if (parsed.kind === 'unix') {
        try {
          chmodSync(parsed.path, 0o600);
        } catch (error) {
          server.close();
          reject(error);
          return;
        }
      }
      resolve();
    };
    if (parsed.kind === 'unix') server.listen({ path: parsed.path }, onListening);
    else server.listen({ host: parsed.host, port: parsed.port }, onListening);
  });
  server.on('error', onError);

  let bound: ChannelAddress = parsed;
  const info = server.address();
  if (parsed.kind === 'tcp' && info !== null && typeof info === 'object') {
    bound = { kind: 'tcp', host: parsed.host, port: info.port };
  }
  let closing: Promise<void> | undefined;
  return {
    address: formatAddress(bound),
    port: bound.kind === 'tcp' ? bound.port : undefined,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        // server.close calls back once every connection has closed, too.
        server.close(() => resolve());
        for (const channel of channels) channel.close();
      });
      return closing;
    },
  };
}
