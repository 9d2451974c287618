/**
 * FileHandle, ReadStream and WriteStream shaped like node:fs's, over an open
 * file on the server.
 */
import { EventEmitter } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import { createInterface, type Interface } from 'node:readline';
import { ATTR_SIZE, S_IFDIR } from './vfs.js';
import type { Core, OpenFile } from './core.js';
import type { Credentials } from './connection.js';
import type { Ctx } from './vfs.js';
import { abortError, argError, atSite, errnoError, withAbort, type Site } from './errors.js';
import { Stats, BigIntStats } from './stats.js';
import {
  checkEncoding,
  encoded,
  isAsyncIterable,
  isIterable,
  optionsOf,
  toBytes,
  toMode,
  toSeconds,
  toTimespec,
  type Encoding,
} from './args.js';

const kReadSize = 16384;
/** Chunk size of readFile when the size is unknown, and of the streams. */
const kChunk = 64 * 1024;


function closedError(syscall: string): Error {
  const e = new Error('file closed') as Error & { code: string; syscall: string };
  e.code = 'EBADF';
  e.syscall = syscall;
  return e;
}

function toPosition(position: unknown): number | null {
  if (position === null || position === undefined) return null;
  if (typeof position === 'bigint') return position < 0n ? null : Number(position);
  if (typeof position === 'number') {
    if (!Number.isInteger(position)) throw argError('ERR_OUT_OF_RANGE', `The value of "position" is out of range. It must be an integer. Received ${position}`);
    return position < 0 ? null : position;
  }
  throw argError('ERR_INVALID_ARG_TYPE', `The "position" argument must be of type number or bigint. Received type ${typeof position}`);
}

function bufferView(buffer: unknown, name = 'buffer'): Uint8Array {
  if (buffer instanceof Uint8Array) return buffer;
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw argError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be an instance of Buffer, TypedArray, or DataView. Received ${typeof buffer}`);
}

function checkRange(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw argError('ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be >= 0 && <= ${max}. Received ${value}`);
  }
}

export interface ReadResult<T> {
  bytesRead: number;
  buffer: T;
}

export interface WriteResult<T> {
  bytesWritten: number;
  buffer: T;
}

/** EISDIR for a directory, EBADF for a handle not open for reading (read(2)'s checks). */
function checkRead(file: OpenFile): void {
  if (file.vnode.type === S_IFDIR) throw errnoError('EISDIR');
  if (!file.readable) throw errnoError('EBADF');
}

/** @internal Read to the end of file from the position (filehandle.readFile, and fs.readFile without a handle). */
export async function readAll(core: Core, file: OpenFile, ctx: Ctx): Promise<Buffer> {
  checkRead(file);
  // Node's fstat here reads only the size: cached attributes serve while the size in them is good (as getattr's own check, without its promise).
  const vfs = core.vfs;
  const v = file.vnode;
  const attr = vfs.attrValid(v, ATTR_SIZE) ? v.attr : await vfs.getattr(v, ctx, { fh: file.fh, want: ATTR_SIZE });
  const start = file.position;
  if (attr.size > 0) {
    // As Node: a file with a size is read up to that size (or end of file).
    const buf = Buffer.allocUnsafe(Math.max(0, attr.size - start));
    const n = await core.read(file, buf, null, ctx);
    return n < buf.byteLength ? buf.subarray(0, n) : buf;
  }
  // No size (a file that does not know its length): read until end of file.
  const chunks: Buffer[] = [];
  let total = 0;
  const chunk = Math.min(kChunk, core.maxRead);
  for (;;) {
    if (ctx.signal?.aborted) throw abortError(ctx.signal);
    const buf = Buffer.allocUnsafe(chunk);
    const n = await core.read(file, buf, null, ctx);
    if (n === 0) break;
    chunks.push(buf.subarray(0, n));
    total += n;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** @internal Write every chunk of data (string, bytes, iterable, async iterable, stream) from the position. */
export function writeAll(core: Core, file: OpenFile, data: unknown, encoding: Encoding, ctx: Ctx): Promise<void> {
  if (!file.writable) return Promise.reject(errnoError('EBADF'));
  // One chunk, the common case: its promise is the answer, with no wrapper around it.
  if (typeof data === 'string' || ArrayBuffer.isView(data)) return writeChunk(core, file, data, encoding, ctx);
  return writeChunks(core, file, data, encoding, ctx);
}

/** One chunk, all of it: a short write is followed by another for the rest. */
async function writeChunk(core: Core, file: OpenFile, chunk: unknown, encoding: Encoding, ctx: Ctx): Promise<void> {
  let bytes = toBytes(chunk, encoding);
  while (bytes.byteLength > 0) {
    if (ctx.signal?.aborted) throw abortError(ctx.signal);
    const n = await core.write(file, bytes, null, ctx);
    if (n === 0) throw errnoError('EIO', 'the server wrote nothing');
    bytes = bytes.subarray(n);
  }
}

async function writeChunks(core: Core, file: OpenFile, data: unknown, encoding: Encoding, ctx: Ctx): Promise<void> {
  if (isAsyncIterable(data)) {
    for await (const chunk of data) await writeChunk(core, file, chunk, encoding, ctx);
    return;
  }
  if (isIterable(data)) {
    for (const chunk of data) await writeChunk(core, file, chunk, encoding, ctx);
    return;
  }
  toBytes(data); // throws the TypeError Node throws
}

/**
 * An open file, as node:fs/promises' FileHandle. `fd` is a stand-in number
 * unique within the client (there is no kernel descriptor).
 */
export class FileHandle extends EventEmitter {
  readonly #core: Core;
  readonly #file: OpenFile;
  readonly #cred: Credentials;
  #closing: Promise<void> | undefined;
  /** Operations in progress: close waits for them, as Node's FileHandle does. */
  #busy = 0;
  #idle: (() => void)[] = [];

  /** @internal */
  constructor(core: Core, file: OpenFile, cred: Credentials) {
    super();
    this.#core = core;
    this.#file = file;
    this.#cred = cred;
  }

  get fd(): number {
    return this.#file.closed ? -1 : this.#file.fd;
  }

  /** @internal */
  get file(): OpenFile {
    return this.#file;
  }

  async #op<T>(site: Site, fn: (ctx: Ctx) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.#file.closed || this.#closing) throw closedError(site.syscall);
    this.#core.checkOpen();
    if (signal?.aborted) throw abortError(signal);
    const ctx: Ctx = { cred: this.#cred, signal };
    this.#busy++;
    try {
      return await withAbort(fn(ctx), signal);
    } catch (err) {
      throw atSite(err, site);
    } finally {
      if (--this.#busy === 0) for (const done of this.#idle.splice(0)) done();
    }
  }

  #checkRead(): void {
    checkRead(this.#file);
  }

  #checkWrite(): void {
    if (!this.#file.writable) throw errnoError('EBADF');
  }

  // ---- reading --------------------------------------------------------------------------------

  read(): Promise<ReadResult<Buffer>>;
  read<T extends NodeJS.ArrayBufferView>(buffer: T, offset?: number | null, length?: number | null, position?: number | bigint | null): Promise<ReadResult<T>>;
  read<T extends NodeJS.ArrayBufferView>(buffer: T, options?: { offset?: number; length?: number; position?: number | bigint | null }): Promise<ReadResult<T>>;
  read<T extends NodeJS.ArrayBufferView = Buffer>(options?: { buffer?: T; offset?: number; length?: number; position?: number | bigint | null }): Promise<ReadResult<T>>;
  async read(a?: unknown, b?: unknown, c?: unknown, d?: unknown): Promise<ReadResult<NodeJS.ArrayBufferView>> {
    let buffer: NodeJS.ArrayBufferView;
    let offset: number;
    let length: number;
    let position: number | null;
    if (a === undefined || (a !== null && typeof a === 'object' && !ArrayBuffer.isView(a))) {
      const o = (a ?? {}) as { buffer?: NodeJS.ArrayBufferView; offset?: number; length?: number; position?: unknown };
      buffer = o.buffer ?? Buffer.alloc(kReadSize);
      offset = o.offset ?? 0;
      length = o.length ?? buffer.byteLength - offset;
      position = toPosition(o.position);
    } else {
      buffer = a as NodeJS.ArrayBufferView;
      if (b !== null && typeof b === 'object') {
        const o = b as { offset?: number; length?: number; position?: unknown };
        offset = o.offset ?? 0;
        length = o.length ?? buffer.byteLength - offset;
        position = toPosition(o.position);
      } else {
        offset = (b as number | null | undefined) ?? 0;
        length = (c as number | null | undefined) ?? buffer.byteLength - offset;
        position = toPosition(d);
      }
    }
    const view = bufferView(buffer);
    checkRange('offset', offset, view.byteLength);
    checkRange('length', length, view.byteLength - offset);
    // Node's filehandle.read: a zero length is answered before any system call (and its EBADF).
    const bytesRead = await this.#op({ syscall: 'read' }, async (ctx) => {
      if (length === 0) return 0;
      this.#checkRead();
      return this.#core.read(this.#file, view.subarray(offset, offset + length), position, ctx);
    });
    return { bytesRead, buffer };
  }

  async readv<T extends readonly NodeJS.ArrayBufferView[]>(buffers: T, position?: number | null): Promise<{ bytesRead: number; buffers: T }> {
    const views = buffers.map((b) => bufferView(b, 'buffers'));
    const pos = toPosition(position);
    const total = views.reduce((n, v) => n + v.byteLength, 0);
    const bytesRead = await this.#op({ syscall: 'read' }, async (ctx) => {
      this.#checkRead();
      const tmp = Buffer.allocUnsafe(total);
      const n = await this.#core.read(this.#file, tmp, pos, ctx);
      let at = 0;
      for (const v of views) {
        if (at >= n) break;
        const k = Math.min(v.byteLength, n - at);
        v.set(tmp.subarray(at, at + k));
        at += k;
      }
      return n;
    });
    return { bytesRead, buffers };
  }

  /** The rest of the file from the current position, as Node's filehandle.readFile. */
  async readFile(options?: { encoding?: Encoding; signal?: AbortSignal } | BufferEncoding | null): Promise<string | Buffer> {
    const o = optionsOf(options as object | string | undefined, {} as { encoding?: Encoding; signal?: AbortSignal });
    checkEncoding(o.encoding);
    const data = await this.#op({ syscall: 'read' }, (ctx) => readAll(this.#core, this.#file, ctx), o.signal);
    return encoded(data, o.encoding);
  }

  // ---- writing --------------------------------------------------------------------------------

  write<T extends NodeJS.ArrayBufferView>(buffer: T, offset?: number | null, length?: number | null, position?: number | bigint | null): Promise<WriteResult<T>>;
  write<T extends NodeJS.ArrayBufferView>(buffer: T, options?: { offset?: number; length?: number; position?: number | bigint | null }): Promise<WriteResult<T>>;
  write(data: string, position?: number | bigint | null, encoding?: BufferEncoding | null): Promise<WriteResult<string>>;
  async write(a: unknown, b?: unknown, c?: unknown, d?: unknown): Promise<WriteResult<unknown>> {
    let bytes: Uint8Array;
    let position: number | null;
    if (typeof a === 'string') {
      position = toPosition(b);
      const enc = (c as BufferEncoding | null | undefined) ?? 'utf8';
      checkEncoding(enc);
      bytes = Buffer.from(a, enc);
    } else {
      const view = bufferView(a);
      let offset: number;
      let length: number;
      if (b !== null && typeof b === 'object') {
        const o = b as { offset?: number; length?: number; position?: unknown };
        offset = o.offset ?? 0;
        length = o.length ?? view.byteLength - offset;
        position = toPosition(o.position);
      } else {
        offset = (b as number | null | undefined) ?? 0;
        length = (c as number | null | undefined) ?? view.byteLength - offset;
        position = toPosition(d);
      }
      checkRange('offset', offset, view.byteLength);
      checkRange('length', length, view.byteLength - offset);
      bytes = view.subarray(offset, offset + length);
    }
    // Node's filehandle.write: an empty buffer is a no-op, before any system call (and its EBADF).
    if (typeof a !== 'string' && bufferView(a).byteLength === 0) return { bytesWritten: 0, buffer: a };
    const bytesWritten = await this.#op({ syscall: 'write' }, async (ctx) => {
      this.#checkWrite();
      return this.#core.write(this.#file, bytes, position, ctx);
    });
    return { bytesWritten, buffer: a };
  }

  async writev<T extends readonly NodeJS.ArrayBufferView[]>(buffers: T, position?: number | null): Promise<{ bytesWritten: number; buffers: T }> {
    const views = buffers.map((b) => bufferView(b, 'buffers'));
    const pos = toPosition(position);
    const bytesWritten = await this.#op({ syscall: 'write' }, async (ctx) => {
      this.#checkWrite();
      return this.#core.write(this.#file, Buffer.concat(views), pos, ctx);
    });
    return { bytesWritten, buffers };
  }

  /** Write all of `data` from the current position (Node's filehandle.writeFile). */
  async writeFile(data: unknown, options?: { encoding?: Encoding; signal?: AbortSignal } | BufferEncoding | null): Promise<void> {
    const o = optionsOf(options as object | string | undefined, { encoding: 'utf8' as Encoding, signal: undefined as AbortSignal | undefined });
    checkEncoding(o.encoding);
    await this.#op({ syscall: 'write' }, (ctx) => writeAll(this.#core, this.#file, data, o.encoding, ctx), o.signal);
  }

  async appendFile(data: unknown, options?: { encoding?: Encoding; signal?: AbortSignal } | BufferEncoding | null): Promise<void> {
    return this.writeFile(data, options);
  }

  // ---- attributes ---------------------------------------------------------------------------

  stat(options?: { bigint?: false }): Promise<Stats>;
  stat(options: { bigint: true }): Promise<BigIntStats>;
  stat(options?: { bigint?: boolean }): Promise<Stats | BigIntStats>;
  async stat(options?: { bigint?: boolean }): Promise<Stats | BigIntStats> {
    const attr = await this.#op({ syscall: 'fstat' }, (ctx) => this.#core.vfs.getattr(this.#file.vnode, ctx, { fh: this.#file.fh }));
    return options?.bigint ? new BigIntStats(attr, this.#core.dev) : new Stats(attr, this.#core.dev);
  }

  async truncate(len = 0): Promise<void> {
    if (typeof len !== 'number' || !Number.isInteger(len)) throw argError('ERR_INVALID_ARG_TYPE', `The "len" argument must be of type number. Received ${typeof len}`);
    const size = Math.max(0, len);
    await this.#op({ syscall: 'ftruncate' }, async (ctx) => {
      if (!this.#file.writable || this.#file.isDir) throw errnoError('EINVAL');
      await this.#core.setattr(this.#file.vnode, { size }, ctx, this.#file.fh);
    });
  }

  async sync(): Promise<void> {
    await this.#op({ syscall: 'fsync' }, (ctx) => this.#core.fsync(this.#file, false, ctx));
  }

  async datasync(): Promise<void> {
    await this.#op({ syscall: 'fdatasync' }, (ctx) => this.#core.fsync(this.#file, true, ctx));
  }

  async chmod(mode: number | string): Promise<void> {
    const m = toMode(mode, 0);
    await this.#op({ syscall: 'fchmod' }, async (ctx) => {
      await this.#core.setattr(this.#file.vnode, { mode: m }, ctx, this.#file.fh);
    });
  }

  async chown(uid: number, gid: number): Promise<void> {
    await this.#op({ syscall: 'fchown' }, async (ctx) => {
      await this.#core.setattr(this.#file.vnode, { uid: uid === -1 ? undefined : uid, gid: gid === -1 ? undefined : gid }, ctx, this.#file.fh);
    });
  }

  async utimes(atime: number | string | Date, mtime: number | string | Date): Promise<void> {
    const a = toTimespec(toSeconds(atime, 'atime'));
    const m = toTimespec(toSeconds(mtime, 'mtime'));
    await this.#op({ syscall: 'futime' }, async (ctx) => {
      await this.#core.setattr(this.#file.vnode, { atime: a, mtime: m }, ctx, this.#file.fh);
    });
  }

  // ---- closing --------------------------------------------------------------------------------

  /** Close the file (FLUSH, then RELEASE) once operations in progress are done. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#busy > 0) await new Promise<void>((r) => this.#idle.push(r));
      try {
        await this.#core.closeFile(this.#file, { cred: this.#cred });
      } catch (err) {
        throw atSite(err, { syscall: 'close' });
      } finally {
        this.emit('close');
      }
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- streams --------------------------------------------------------------------------------

  /** The file from the current position as a web ReadableStream of bytes (the handle stays open). */
  readableWebStream(_options?: { type?: 'bytes' }): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const buf = Buffer.alloc(kChunk);
        const { bytesRead } = await this.read(buf, 0, kChunk, null);
        if (bytesRead === 0) controller.close();
        else controller.enqueue(new Uint8Array(buf.buffer, buf.byteOffset, bytesRead));
      },
    });
  }

  /** Lines of the file, as filehandle.readLines (a readline Interface over a read stream). */
  readLines(options?: ReadStreamOptions): Interface {
    return createInterface({ input: this.createReadStream(options), crlfDelay: Infinity });
  }

  createReadStream(options?: ReadStreamOptions | BufferEncoding): ReadStream {
    const o = typeof options === 'string' ? { encoding: options } : (options ?? {});
    return new ReadStream(() => Promise.resolve(this), '', { ...o, autoClose: o.autoClose ?? true });
  }

  createWriteStream(options?: WriteStreamOptions | BufferEncoding): WriteStream {
    const o = typeof options === 'string' ? { encoding: options } : (options ?? {});
    return new WriteStream(() => Promise.resolve(this), '', { ...o, autoClose: o.autoClose ?? true });
  }
}

export interface ReadStreamOptions {
  flags?: string | number;
  encoding?: BufferEncoding | null;
  fd?: FileHandle;
  mode?: number;
  autoClose?: boolean;
  emitClose?: boolean;
  start?: number;
  end?: number;
  highWaterMark?: number;
  signal?: AbortSignal;
}

export interface WriteStreamOptions {
  flags?: string | number;
  encoding?: BufferEncoding | null;
  fd?: FileHandle;
  mode?: number;
  autoClose?: boolean;
  emitClose?: boolean;
  start?: number;
  flush?: boolean;
  highWaterMark?: number;
  signal?: AbortSignal;
}


/** A stream's _construct: open its handle, then say so as Node's file streams do. */
function openStream(
  stream: EventEmitter,
  open: () => Promise<FileHandle>,
  adopt: (h: FileHandle) => void,
  callback: (error?: Error | null) => void,
): void {
  open().then(
    (h) => {
      adopt(h);
      stream.emit('open', h.fd);
      stream.emit('ready');
      callback();
    },
    (err: Error) => callback(err),
  );
}

/** A stream's _destroy: close the handle it opened (when autoClose), keeping the first error. */
function closeStream(h: FileHandle | undefined, error: Error | null, callback: (error?: Error | null) => void): void {
  if (!h) return callback(error);
  h.close().then(
    () => callback(error),
    (e: Error) => callback(error ?? e),
  );
}

/** fs.ReadStream over a FileHandle: reads `highWaterMark` bytes at a time from `start` to `end` (inclusive). */
export class ReadStream extends Readable {
  bytesRead = 0;
  readonly path: string;
  pending = true;
  readonly start: number | undefined;
  readonly end: number;
  #pos: number | undefined;
  #open: () => Promise<FileHandle>;
  #handle: FileHandle | undefined;
  #autoClose: boolean;

  constructor(open: () => Promise<FileHandle>, path: string, options: ReadStreamOptions = {}) {
    super({ highWaterMark: options.highWaterMark ?? kChunk, encoding: options.encoding ?? undefined, emitClose: options.emitClose ?? true, signal: options.signal });
    this.path = path;
    this.#open = open;
    this.#autoClose = options.autoClose ?? true;
    this.start = options.start;
    this.end = options.end ?? Infinity;
    if (this.start !== undefined && this.start > this.end) {
      throw argError('ERR_OUT_OF_RANGE', `The value of "start" is out of range. It must be <= "end" (here: ${this.end}). Received ${this.start}`);
    }
    this.#pos = this.start;
  }

  get handle(): FileHandle | undefined {
    return this.#handle;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    openStream(this, this.#open, (h) => {
      this.#handle = h;
      this.pending = false;
    }, callback);
  }

  override _read(n: number): void {
    const h = this.#handle!;
    // As Node: from `start` when given, else from the handle's position, counting what was read.
    const want = this.#pos !== undefined ? Math.min(this.end - this.#pos + 1, n) : Math.min(this.end - this.bytesRead + 1, n);
    if (want <= 0) {
      this.push(null);
      return;
    }
    const buf = Buffer.allocUnsafe(want);
    h.read(buf, 0, want, this.#pos ?? null).then(
      ({ bytesRead }) => {
        if (this.#pos !== undefined) this.#pos += bytesRead;
        this.bytesRead += bytesRead;
        if (bytesRead === 0) this.push(null);
        else this.push(bytesRead === want ? buf : buf.subarray(0, bytesRead));
      },
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    closeStream(this.#autoClose ? this.#handle : undefined, error, callback);
  }

  close(callback?: (err?: Error | null) => void): void {
    if (callback) this.once('close', () => callback());
    this.destroy();
  }
}

/** fs.WriteStream over a FileHandle: writes from `start` (or the handle's position) on. */
export class WriteStream extends Writable {
  bytesWritten = 0;
  readonly path: string;
  pending = true;
  readonly start: number | undefined;
  #pos: number | undefined;
  #open: () => Promise<FileHandle>;
  #handle: FileHandle | undefined;
  #autoClose: boolean;
  #flush: boolean;

  constructor(open: () => Promise<FileHandle>, path: string, options: WriteStreamOptions = {}) {
    super({ highWaterMark: options.highWaterMark, decodeStrings: true, defaultEncoding: options.encoding ?? 'utf8', emitClose: options.emitClose ?? true, signal: options.signal });
    this.path = path;
    this.#open = open;
    this.#autoClose = options.autoClose ?? true;
    this.#flush = options.flush ?? false;
    this.start = options.start;
    this.#pos = this.start;
  }

  get handle(): FileHandle | undefined {
    return this.#handle;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    openStream(this, this.#open, (h) => {
      this.#handle = h;
      this.pending = false;
    }, callback);
  }

  async #writeAll(data: Uint8Array): Promise<void> {
    const h = this.#handle!;
    let rest = data;
    while (rest.byteLength > 0) {
      const { bytesWritten } = await h.write(rest, 0, rest.byteLength, this.#pos ?? null);
      if (bytesWritten === 0) throw errnoError('EIO', 'the server wrote nothing');
      if (this.#pos !== undefined) this.#pos += bytesWritten;
      this.bytesWritten += bytesWritten;
      rest = rest.subarray(bytesWritten);
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writeAll(chunk).then(() => callback(), callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.#writeAll(Buffer.concat(chunks.map((c) => c.chunk))).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.#flush || !this.#handle) {
      callback();
      return;
    }
    this.#handle.sync().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    closeStream(this.#autoClose ? this.#handle : undefined, error, callback);
  }

  close(callback?: (err?: Error | null) => void): void {
    if (callback) this.once('close', () => callback());
    if (this.writableEnded || this.destroyed) {
      this.destroy();
      return;
    }
    this.end();
    this.once('finish', () => this.destroy());
  }
}
