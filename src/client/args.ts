/**
 * Argument handling as node:fs does it: paths (string, Buffer, file: URL),
 * flag strings ('r+', 'wx', 'a'...), modes (numbers or octal strings),
 * times (seconds, Dates, numeric strings), encodings and data.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { inspect } from 'node:util';
import { argError } from './errors.js';

/** Linux open(2) flags and access masks (the FUSE protocol speaks Linux, whatever the client's platform). */
export { O_RDONLY, O_WRONLY, O_RDWR, O_ACCMODE, O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND, O_NONBLOCK, O_DSYNC, O_DIRECT, O_LARGEFILE, O_DIRECTORY, O_NOFOLLOW, O_NOATIME, O_CLOEXEC, O_SYNC, F_OK, R_OK, W_OK, X_OK } from '../linux.js';
import { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND, O_NONBLOCK, O_DSYNC, O_DIRECT, O_DIRECTORY, O_NOFOLLOW, O_NOATIME, O_SYNC, F_OK, R_OK, W_OK, X_OK, S_IFMT, S_IFREG, S_IFDIR, S_IFCHR, S_IFBLK, S_IFIFO, S_IFLNK, S_IFSOCK, S_IRWXU, S_IRUSR, S_IWUSR, S_IXUSR, S_IRWXG, S_IRGRP, S_IWGRP, S_IXGRP, S_IRWXO, S_IROTH, S_IWOTH, S_IXOTH } from '../linux.js';

export const COPYFILE_EXCL = 1;
export const COPYFILE_FICLONE = 2;
export const COPYFILE_FICLONE_FORCE = 4;

/** The constants object node:fs/promises exports, with Linux values. */
export const constants = Object.freeze({
  O_RDONLY,
  O_WRONLY,
  O_RDWR,
  O_CREAT,
  O_EXCL,
  O_NOCTTY,
  O_TRUNC,
  O_APPEND,
  O_DIRECTORY,
  O_NOATIME,
  O_NOFOLLOW,
  O_SYNC,
  O_DSYNC,
  O_DIRECT,
  O_NONBLOCK,
  S_IFMT,
  S_IFREG,
  S_IFDIR,
  S_IFCHR,
  S_IFBLK,
  S_IFIFO,
  S_IFLNK,
  S_IFSOCK,
  S_IRWXU,
  S_IRUSR,
  S_IWUSR,
  S_IXUSR,
  S_IRWXG,
  S_IRGRP,
  S_IWGRP,
  S_IXGRP,
  S_IRWXO,
  S_IROTH,
  S_IWOTH,
  S_IXOTH,
  F_OK,
  R_OK,
  W_OK,
  X_OK,
  UV_FS_COPYFILE_EXCL: COPYFILE_EXCL,
  COPYFILE_EXCL,
  UV_FS_COPYFILE_FICLONE: COPYFILE_FICLONE,
  COPYFILE_FICLONE,
  UV_FS_COPYFILE_FICLONE_FORCE: COPYFILE_FICLONE_FORCE,
  COPYFILE_FICLONE_FORCE,
});

export type PathLike = string | Buffer | URL;

/** A path argument as a string; TypeErrors as node:fs throws them. */
export function toPath(p: unknown, name = 'path'): string {
  let s: string;
  if (typeof p === 'string') s = p;
  else if (Buffer.isBuffer(p) || p instanceof Uint8Array) s = Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('utf8');
  else if (p instanceof URL) {
    if (p.protocol !== 'file:') throw argError('ERR_INVALID_ARG_TYPE', `The URL must be of scheme file`);
    s = fileURLToPath(p);
  } else {
    throw argError(
      'ERR_INVALID_ARG_TYPE',
      `The "${name}" argument must be of type string or an instance of Buffer or URL. Received ${describe(p)}`,
    );
  }
  if (s.includes('\0')) {
    throw argError('ERR_INVALID_ARG_VALUE', `The argument '${name}' must be a string, Uint8Array, or URL without null bytes. Received ${inspect(s)}`);
  }
  return s;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return `function ${v.name}`;
  if (typeof v === 'object') return `an instance of ${v.constructor?.name ?? 'Object'}`;
  return `type ${typeof v} (${String(v)})`;
}

const flagTable: Record<string, number> = {
  r: O_RDONLY,
  rs: O_RDONLY | O_SYNC,
  sr: O_RDONLY | O_SYNC,
  'r+': O_RDWR,
  'rs+': O_RDWR | O_SYNC,
  'sr+': O_RDWR | O_SYNC,
  w: O_TRUNC | O_CREAT | O_WRONLY,
  wx: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  xw: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
  'w+': O_TRUNC | O_CREAT | O_RDWR,
  'wx+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  'xw+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
  a: O_APPEND | O_CREAT | O_WRONLY,
  ax: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  xa: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
  as: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  sa: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
  'a+': O_APPEND | O_CREAT | O_RDWR,
  'ax+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'xa+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
  'as+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
  'sa+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
};

/** Node's stringToFlags: 'r', 'r+', 'w', 'wx', 'a+', ... or a number. */
export function toFlags(flags: unknown, fallback: string | number = 'r'): number {
  const f = flags ?? fallback;
  if (typeof f === 'number') return f;
  if (typeof f === 'string') {
    const n = flagTable[f];
    if (n !== undefined) return n;
  }
  throw argError('ERR_INVALID_ARG_VALUE', `The argument 'flags' is invalid. Received ${inspect(f)}`);
}

/** A mode: a number, or an octal string; `fallback` when undefined. */
export function toMode(mode: unknown, fallback: number, name = 'mode'): number {
  if (mode === undefined || mode === null) return fallback;
  if (typeof mode === 'string') {
    if (!/^[0-7]+$/.test(mode)) throw argError('ERR_INVALID_ARG_VALUE', `The argument '${name}' must be a 32-bit unsigned integer or an octal string. Received ${inspect(mode)}`);
    return parseInt(mode, 8);
  }
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0xffffffff) {
    throw argError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be a 32-bit unsigned integer or an octal string. Received ${describe(mode)}`);
  }
  return mode;
}

/** Node's toUnixTimestamp: seconds (fractions kept) from a number, numeric string or Date. */
export function toSeconds(time: unknown, name: string): number {
  if (typeof time === 'string' && Number(time) == (time as unknown as number)) return Number(time);
  if (typeof time === 'number' && Number.isFinite(time)) return time < 0 ? Date.now() / 1000 : time;
  if (time instanceof Date) return time.getTime() / 1000;
  throw argError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be of type number or an instance of Date. Received ${describe(time)}`);
}

/** Seconds → the sec/nsec pair FUSE carries. */
export function toTimespec(seconds: number): { sec: number; nsec: number } {
  const sec = Math.floor(seconds);
  const nsec = Math.min(999_999_999, Math.max(0, Math.round((seconds - sec) * 1e9)));
  return { sec, nsec };
}

export type Encoding = BufferEncoding | 'buffer' | null | undefined;

/** Options that may be an encoding string. */
export function optionsOf<T extends object>(options: unknown, defaults: T): T & { encoding?: Encoding } {
  if (options === undefined || options === null) return { ...defaults };
  if (typeof options === 'string') return { ...defaults, encoding: options as BufferEncoding };
  if (typeof options !== 'object') {
    throw argError('ERR_INVALID_ARG_TYPE', `The "options" argument must be one of type string or an instance of Object. Received ${describe(options)}`);
  }
  return { ...defaults, ...(options as object) };
}

export function checkEncoding(enc: Encoding): void {
  if (enc && enc !== 'buffer' && !Buffer.isEncoding(enc)) {
    throw argError('ERR_INVALID_ARG_VALUE', `The argument 'encoding' is invalid encoding. Received ${inspect(enc)}`);
  }
}

/** A string in `encoding`, or a Buffer for 'buffer'. */
export function encoded(buf: Buffer, encoding: Encoding): string | Buffer {
  if (encoding && encoding !== 'buffer') return buf.toString(encoding);
  return buf;
}

export function nameIn(name: string, encoding: Encoding): string | Buffer {
  return encoding === 'buffer' ? Buffer.from(name) : name;
}

/** Bytes of string, Buffer, TypedArray or DataView data. */
export function toBytes(data: unknown, encoding: Encoding = 'utf8'): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, encoding && encoding !== 'buffer' ? encoding : 'utf8');
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw argError(
    'ERR_INVALID_ARG_TYPE',
    `The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received ${describe(data)}`,
  );
}

export function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

export function isIterable(x: unknown): x is Iterable<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function';
}

/** A module to import, as a URL: file: URLs and other URLs as they are, paths resolved from the working directory. */
export function moduleHref(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) return module;
  return pathToFileURL(resolve(module)).href;
}
