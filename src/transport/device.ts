/**
 * The /dev/fuse channel. The kernel hands over exactly one request per read(2)
 * and takes exactly one reply per write(2), so the device needs no framing.
 *
 * Reading is a replaceable strategy:
 * - 'epoll' (default): the fd is registered with the event loop's epoll
 *   through a libuv stream handle that reads into one buffer of ours. Each
 *   request is handled on the JS thread as it is read, with no thread-pool
 *   hop; libuv goes back to epoll after each (a read that does not fill its
 *   buffer means "empty" to it), and an idle mount leaves the event loop
 *   free (timers, signals, async file systems).
 * - 'hot': epoll while idle, and while requests keep coming the JS thread
 *   takes the next one with a blocking read(2) right after answering the
 *   last, which saves the epoll_wait and the trip through the event loop
 *   (about 1 µs per request here). It leaves that loop
 *   when a handler goes asynchronous, when a read waited long (traffic
 *   paused), and at least every few milliseconds, so timers and callbacks
 *   still run. A read that would block with nothing coming is ended by a
 *   waker outside this thread (the mount's watchdog process), which makes a
 *   request when told `hot` and then nothing for a while. The event loop
 *   can thus be held up to about 20 ms: the right trade for a process that
 *   only serves, not for one that also runs a web server. Without a waker,
 *   'hot' is 'epoll'.
 * - 'threadpool': fs.read through libuv's thread pool: portable, but each
 *   request costs a cross-thread hand-off (about 2.5x slower here).
 *
 * Replies are written synchronously with writev: a reply never waits on the
 * kernel. Notifications go through the thread pool (post), because the kernel
 * may hold a lock that only our pending reply releases.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { codeOf } from '../errors.js';
// The global \`performance\` is a lazy getter in Node: a call per use.
import { performance } from 'node:perf_hooks';
import { ChannelClosedError, type Channel, type FrameHandler } from './channel.js';

export type DeviceReader = 'epoll' | 'hot' | 'threadpool';

export interface DeviceChannelOptions {
  /** Read buffer size: at least max_write + 4096 (the default fits 1 MiB writes). */
  bufferSize?: number;
  reader?: DeviceReader;
  /** For reader 'hot': what ends a blocking read when requests stop. */
  waker?: HotWaker;
}

/**
 * Someone outside this thread who, told `hot()`, makes a request on the
 * channel if neither `hot()` nor `cold()` follows soon (the mount watchdog
 * does, after 20 ms). A blocked read then returns.
 */
export interface HotWaker {
  hot(): void;
  cold(): void;
}

/** Hot loop: give the event loop a turn at least this often (ms). */
const HOT_BUDGET_MS = 4;
/** Hot loop: a read that waited longer than this (ms) means traffic paused: go back to epoll. */
const HOT_IDLE_MS = 1;
/**
 * Tell the waker `hot` again after this long (ms). Under steady traffic the
 * loop leaves and re-enters every HOT_BUDGET_MS, staying hot for the waker,
 * which so never fires; this costs one pipe write per interval at most.
 */
const HOT_RENEW_MS = 8;

interface PipeHandle {
  open(fd: number): number;
  setBlocking(blocking: boolean): number;
  writeBuffer(req: object, data: Uint8Array): number;
  writev(req: object, chunks: readonly Uint8Array[], allBuffers: true): number;
}

interface StreamWrapBinding {
  WriteWrap: new () => object;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

/** libuv's stream write path: a synchronous writev that reports errors as numbers, not exceptions. */
function streamWrap(): StreamWrapBinding | undefined {
  try {
    return (process as unknown as { binding(name: string): unknown }).binding('stream_wrap') as StreamWrapBinding;
  } catch {
    return undefined;
  }
}

const UV_ENOENT = -2;

/** Node's fs binding, for a synchronous read without fs.readSync's validation (same call underneath). */
const fsBinding = ((): { read(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number } | undefined => {
  try {
    const b = (process as unknown as { binding(name: string): { read?: unknown } }).binding('fs');
    return typeof b.read === 'function' ? (b as never) : undefined;
  } catch {
    return undefined;
  }
})();
type PipeConstructor = new (type: number) => PipeHandle;

/** libuv's pipe handle, when this Node exposes it (it does through v24). */
function pipeConstructor(): { Pipe: PipeConstructor; SOCKET: number } | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding('pipe_wrap') as {
      Pipe: PipeConstructor;
      constants: { SOCKET: number };
    };
    return { Pipe: binding.Pipe, SOCKET: binding.constants.SOCKET };
  } catch {
    return undefined;
  }
}

/** Errors that mean "the mount is gone": an orderly end, not a failure. */
const endCodes = new Set(['ENODEV', 'ECONNABORTED', 'EBADF']);

export class DeviceChannel implements Channel {
  /** Parts are written (device) or copied (memory, port) before send returns. */
  readonly doneWithPartsOnSend = true;
  readonly maxFrameSize: number;
  readonly reader: DeviceReader;
  private readonly fd: number;
  private readonly buffer: Buffer;
  /**
   * Where reads go: `buffer`, or while the hot loop runs, room the handler
   * lends (FrameHandler.readArea); the epoll and thread-pool readers always
   * use `buffer`. With its ArrayBuffer and offset, kept: V8 looks a typed
   * array's `.buffer` up out of line.
   */
  private target: Uint8Array;
  private readArea: ArrayBufferLike;
  private readOffset: number;
  private handler?: FrameHandler;
  private socket?: net.Socket;
  private pipe?: PipeHandle;
  private readonly stream = streamWrap();
  private writeReq?: object;
  private readonly waker?: HotWaker;
  /** When `hot` was last told to the waker; 0 while it is told `cold`. */
  private hotSince = 0;
  private isClosed = false;

  constructor(fd: number, options: DeviceChannelOptions = {}) {
    this.fd = fd;
    this.maxFrameSize = Math.max(options.bufferSize ?? (1 << 20) + 4096, 8192 + 4096);
    this.buffer = Buffer.allocUnsafe(this.maxFrameSize);
    this.target = this.buffer;
    this.readArea = this.buffer.buffer;
    this.readOffset = this.buffer.byteOffset;
    const wanted = options.reader ?? 'epoll';
    const usable = wanted === 'hot' && !options.waker ? 'epoll' : wanted;
    this.reader = usable !== 'threadpool' && pipeConstructor() ? usable : 'threadpool';
    if (this.reader === 'hot') this.waker = options.waker;
  }

  start(handler: FrameHandler): void {
    if (this.handler) throw new Error('DeviceChannel already started');
    this.handler = handler;
    if (this.reader !== 'threadpool') this.startEpoll();
    else this.readNext();
  }

  private startEpoll(): void {
    const { Pipe, SOCKET } = pipeConstructor()!;
    const handle = new Pipe(SOCKET);
    const err = handle.open(this.fd);
    if (err) throw new Error(`cannot watch /dev/fuse (libuv error ${err})`);
    const socket = new net.Socket({
      handle,
      readable: true,
      writable: false,
      onread: {
        buffer: this.buffer,
        callback: (n: number, buf: Uint8Array) => {
          this.deliver(this.frameOf(n));
          if (this.waker && !this.isClosed && !this.handler!.busy?.()) this.runHot();
          return !this.isClosed;
        },
      },
    } as net.SocketConstructorOpts);
    socket.on('error', (e: NodeJS.ErrnoException) => this.finish(endCodes.has(e.code ?? '') ? undefined : e));
    socket.on('end', () => this.finish());
    socket.on('close', () => this.finish());
    this.socket = socket;
    this.pipe = handle;
    if (this.stream) this.writeReq = new this.stream.WriteWrap();
    socket.resume();
  }

  /**
   * One read(2), into the room the handler lends if it does, else our
   * buffer; throws the errno error. fs.readSync's argument checks cost more
   * than the call here.
   */
  private readBlocking(): number {
    const lent = this.handler!.readArea?.(this.maxFrameSize);
    const into = lent ?? this.buffer;
    if (into !== this.target) this.retarget(into);
    return fsBinding ? fsBinding.read(this.fd, into, 0, into.byteLength, -1) : fs.readSync(this.fd, into, 0, into.byteLength, null);
  }

  private retarget(into: Uint8Array): void {
    this.target = into;
    this.readArea = into.buffer;
    this.readOffset = into.byteOffset;
  }

  /**
   * Serve with blocking reads while every request is answered synchronously.
   * Entered from the epoll callback; returns to it (and so to the event loop).
   */
  private runHot(): void {
    const pipe = this.pipe!;
    const start = performance.now();
    if (this.hotSince === 0 || start - this.hotSince > HOT_RENEW_MS) {
      this.waker!.hot();
      this.hotSince = start;
    }
    if (pipe.setBlocking(true) !== 0) return this.cool();
    // Leaving on the time budget while requests keep coming keeps the waker hot.
    let steady = false;
    // One clock read per request: the wait for a request is measured from
    // the end of the previous read, so it includes handling the previous
    // one; a handler that alone takes over HOT_IDLE_MS also sends us back to
    // the event loop, which is no loss.
    let before = start;
    try {
      for (;;) {
        let n: number;
        try {
          n = this.readBlocking();
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EINTR' || code === 'ENOENT') continue;
          // EAGAIN cannot happen on a blocking fd; anything else ends the
          // channel, as the epoll reader would.
          if (code !== 'EAGAIN') this.finish(endCodes.has(code ?? '') ? undefined : (err as Error));
          return;
        }
        const after = performance.now();
        if (n === 0) return this.finish();
        this.deliver(this.frameOf(n));
        if (this.isClosed || this.handler!.busy?.() || after - before > HOT_IDLE_MS) return;
        before = after;
        if (after - start > HOT_BUDGET_MS) {
          steady = true;
          return;
        }
      }
    } finally {
      // The epoll reader reads into our buffer; a lent room is not held past the loop.
      this.retarget(this.buffer);
      if (!this.isClosed) pipe.setBlocking(false);
      if (!steady) this.cool();
    }
  }

  /** Back on the event loop for good: the waker may rest. */
  private cool(): void {
    if (this.hotSince === 0) return;
    this.hotSince = 0;
    this.waker?.cold();
  }

  private readNext(): void {
    if (this.isClosed) return;
    fs.read(this.fd, this.buffer, 0, this.buffer.byteLength, null, (err, n) => {
      if (err) {
        if (err.code === 'EINTR' || err.code === 'EAGAIN' || err.code === 'ENOENT') return this.readNext();
        return this.finish(endCodes.has(err.code ?? '') ? undefined : err);
      }
      if (n === 0) return this.finish();
      this.deliver(this.frameOf(n));
      this.readNext();
    });
  }

  /**
   * The first n bytes of the read buffer as a plain Uint8Array: a Buffer's
   * subarray is a subclass instance, which V8 constructs out of line.
   */
  private frameOf(n: number): Uint8Array {
    return new Uint8Array(this.readArea, this.readOffset, n);
  }

  private deliver(frame: Uint8Array): void {
    if (this.isClosed) return;
    try {
      this.handler!.frame(frame);
    } catch (err) {
      // A bug above us; the kernel would otherwise wait forever on this request.
      this.close(err as Error);
    }
  }

  send(parts: readonly Uint8Array[]): boolean {
    if (this.isClosed) throw new ChannelClosedError();
    if (this.pipe && this.writeReq) {
      // Through the watched handle: uv_try_write, no request object per write
      // and no exception for the kernel's per-request refusals.
      const err = parts.length === 1 ? this.pipe.writeBuffer(this.writeReq, parts[0]!) : this.pipe.writev(this.writeReq, parts, true);
      if (err === 0) {
        // /dev/fuse takes a reply whole or not at all, so libuv never queues one.
        if (this.stream!.streamBaseState[this.stream!.kLastWriteWasAsync]) this.writeReq = undefined;
        return true;
      }
      if (err === UV_ENOENT) return false;
      const code = codeOf(err);
      const e = Object.assign(new Error(`write to /dev/fuse failed: ${code}`), { code, errno: err, syscall: 'writev' });
      if (endCodes.has(e.code)) {
        this.finish();
        return false;
      }
      throw e;
    }
    try {
      fs.writevSync(this.fd, parts as Uint8Array[]);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: the request was interrupted and is gone; the kernel refuses its reply.
      if (code === 'ENOENT') return false;
      if (endCodes.has(code ?? '')) {
        this.finish();
        return false;
      }
      throw err;
    }
  }

  post(parts: readonly Uint8Array[]): Promise<boolean> {
    if (this.isClosed) return Promise.reject(new ChannelClosedError());
    return new Promise((resolve) => {
      fs.writev(this.fd, parts as Uint8Array[], (err) => resolve(!err));
    });
  }

  close(error?: Error): void {
    this.finish(error);
  }

  private finish(error?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.cool();
    if (this.socket) {
      // Destroying the stream closes the fd with it.
      this.socket.destroy();
    } else {
      fs.close(this.fd, () => undefined);
    }
    this.handler?.closed(error);
  }
}
