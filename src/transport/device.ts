/**
 * The /dev/fuse channel. The kernel hands over exactly one request per read(2)
 * and takes exactly one reply per write(2), so the device needs no framing.
 *
 * Reading is a replaceable strategy:
 * - 'epoll' (default): the fd is registered with the event loop's epoll
 *   through a libuv stream handle that reads into one buffer of ours. libuv
 *   keeps reading while requests are queued and returns to epoll only when the
 *   device is empty, so a busy mount is served in a tight read → handle →
 *   writev loop on the JS thread with no thread-pool hop, and an idle one
 *   leaves the event loop free (timers, signals, async file systems).
 * - 'threadpool': fs.read through libuv's thread pool: portable, but each
 *   request costs a cross-thread hand-off (about 2.5x slower here).
 *
 * Replies are written synchronously with writev: a reply never waits on the
 * kernel. Notifications go through the thread pool (post), because the kernel
 * may hold a lock that only our pending reply releases.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { ChannelClosedError, type Channel, type FrameHandler } from './channel.js';

export type DeviceReader = 'epoll' | 'threadpool';

export interface DeviceChannelOptions {
  /** Read buffer size: at least max_write + 4096 (the default fits 1 MiB writes). */
  bufferSize?: number;
  reader?: DeviceReader;
}

interface PipeHandle {
  open(fd: number): number;
}
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
  private handler?: FrameHandler;
  private socket?: net.Socket;
  private isClosed = false;

  constructor(fd: number, options: DeviceChannelOptions = {}) {
    this.fd = fd;
    this.maxFrameSize = Math.max(options.bufferSize ?? (1 << 20) + 4096, 8192 + 4096);
    this.buffer = Buffer.allocUnsafe(this.maxFrameSize);
    const wanted = options.reader ?? 'epoll';
    this.reader = wanted === 'epoll' && pipeConstructor() ? 'epoll' : 'threadpool';
  }

  start(handler: FrameHandler): void {
    if (this.handler) throw new Error('DeviceChannel already started');
    this.handler = handler;
    if (this.reader === 'epoll') this.startEpoll();
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
          this.deliver(buf.subarray(0, n));
          return !this.isClosed;
        },
      },
    } as net.SocketConstructorOpts);
    socket.on('error', (e: NodeJS.ErrnoException) => this.finish(endCodes.has(e.code ?? '') ? undefined : e));
    socket.on('end', () => this.finish());
    socket.on('close', () => this.finish());
    this.socket = socket;
    socket.resume();
  }

  private readNext(): void {
    if (this.isClosed) return;
    fs.read(this.fd, this.buffer, 0, this.buffer.byteLength, null, (err, n) => {
      if (err) {
        if (err.code === 'EINTR' || err.code === 'EAGAIN' || err.code === 'ENOENT') return this.readNext();
        return this.finish(endCodes.has(err.code ?? '') ? undefined : err);
      }
      if (n === 0) return this.finish();
      this.deliver(this.buffer.subarray(0, n));
      this.readNext();
    });
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
    if (this.socket) {
      // Destroying the stream closes the fd with it.
      this.socket.destroy();
    } else {
      fs.close(this.fd, () => undefined);
    }
    this.handler?.closed(error);
  }
}
