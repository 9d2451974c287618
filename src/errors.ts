/**
 * Errno errors shaped like Node's own (`code`, `errno`, `syscall`, `path`),
 * shared by every layer. `errno` is negative, as in Node's fs errors.
 */
import { constants } from 'node:os';
import { keepShape } from './shapes.js';

const errnoByCode: Readonly<Record<string, number>> = constants.errno as Record<string, number>;
const codeByErrno = new Map<number, string>();
for (const [code, n] of Object.entries(errnoByCode)) {
  if (!codeByErrno.has(n)) codeByErrno.set(n, code);
}

/** Short messages, as libc's strerror gives them, for the codes users meet most. */
const messages: Readonly<Record<string, string>> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  EIO: 'i/o error',
  EBADF: 'bad file descriptor',
  EAGAIN: 'resource temporarily unavailable',
  EACCES: 'permission denied',
  EEXIST: 'file already exists',
  EXDEV: 'cross-device link not permitted',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  EINVAL: 'invalid argument',
  EFBIG: 'file too large',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EMLINK: 'too many links',
  ERANGE: 'result too large',
  ENAMETOOLONG: 'name too long',
  ENOSYS: 'function not implemented',
  ENOTEMPTY: 'directory not empty',
  ELOOP: 'too many symbolic links encountered',
  ENODATA: 'no data available',
  ENOTCONN: 'socket is not connected',
  ENOTSUP: 'operation not supported',
  EOPNOTSUPP: 'operation not supported',
  EINTR: 'interrupted system call',
  E2BIG: 'argument list too long',
  EBUSY: 'resource busy or locked',
  ENODEV: 'no such device',
  ENXIO: 'no such device or address',
  EDEADLK: 'resource deadlock avoided',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset by peer',
  EPROTO: 'protocol error',
  EOVERFLOW: 'value too large for defined data type',
  ETXTBSY: 'text file is busy',
};

/** Positive errno number for a code such as 'ENOENT'; throws on an unknown code (a bug). */
export function errnoOf(code: string): number {
  const n = errnoByCode[code];
  if (n === undefined) throw new TypeError(`unknown errno code ${code}`);
  return n;
}

/** Code for a positive errno number, or `E<n>` when the platform has no name for it. */
export function codeOf(errno: number): string {
  return codeByErrno.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

export interface ErrnoErrorOptions {
  syscall?: string;
  path?: string;
  dest?: string;
  message?: string;
}

/** A Node-style errno error: `err.code === 'ENOENT'` works as with node:fs. */
export class FsError extends Error implements NodeJS.ErrnoException {
  readonly code: string;
  /** Negative, as Node reports it. */
  readonly errno: number;
  syscall?: string;
  path?: string;
  dest?: string;

  constructor(code: string, options: ErrnoErrorOptions = {}) {
    const n = errnoOf(code);
    const detail = options.message ?? messages[code] ?? code.toLowerCase();
    let text = `${code}: ${detail}`;
    if (options.syscall) text += `, ${options.syscall}`;
    if (options.path !== undefined) text += ` '${options.path}'`;
    if (options.dest !== undefined) text += ` -> '${options.dest}'`;
    super(text);
    this.name = 'Error';
    this.code = code;
    this.errno = -n;
    if (options.syscall) this.syscall = options.syscall;
    if (options.path !== undefined) this.path = options.path;
    if (options.dest !== undefined) this.dest = options.dest;
  }

  static fromErrno(errno: number, options: ErrnoErrorOptions = {}): FsError {
    const code = codeOf(errno);
    return errnoByCode[code] === undefined ? new FsError('EIO', { ...options, message: `unknown error ${errno}` }) : new FsError(code, options);
  }
}
// See shapes.ts: the two shapes failures take, with and without the call that failed.
keepShape(new FsError('ENOENT'));
keepShape(new FsError('ENOENT', { syscall: 'open', path: '/' }));

/**
 * Shorthand for throwing from a file system: `throw fsError('ENOENT')`. The
 * error carries no stack trace: the session only turns it into an errno, and
 * capturing a trace costs more than the rest of a failed lookup.
 */
export function fsError(code: string, syscall?: string, path?: string): FsError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new FsError(code, { syscall, path });
  } finally {
    Error.stackTraceLimit = limit;
  }
}

const MAX_ERRNO = 4095;

/**
 * The positive errno an error stands for: an FsError or any Node error with a
 * known `code`, or a number. Anything else (a bug in a file system) is EIO.
 */
export function toErrno(err: unknown): number {
  if (typeof err === 'number') {
    const n = Math.abs(err);
    return Number.isInteger(n) && n > 0 && n <= MAX_ERRNO ? n : errnoByCode.EIO!;
  }
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') {
      const n = errnoByCode[code];
      if (n !== undefined) return n;
    }
    const errno = (err as { errno?: unknown }).errno;
    if (typeof errno === 'number' && errno !== 0 && Math.abs(errno) <= MAX_ERRNO) return Math.abs(errno);
  }
  return errnoByCode.EIO!;
}

/** Positive errno constants by name, e.g. `Errno.ENOENT === 2`. */
export const Errno = errnoByCode;
