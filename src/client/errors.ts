/**
 * Errors the client raises, shaped like Node's own: errno errors (FsError,
 * with code, negative errno, syscall, path, dest), AbortError for an aborted
 * call, and the SystemError shape Node uses for rm/cp refusals
 * (ERR_FS_EISDIR, ERR_FS_CP_EEXIST, ...).
 */
import { FsError, errnoOf } from '../errors.js';

/** An errno error with no syscall or path yet; `detail` replaces the strerror text. */
export function errnoError(code: string, detail?: string, cause?: unknown): FsError {
  const e = new FsError(code, detail === undefined ? {} : { message: detail });
  if (detail !== undefined) (e as FsError & { detail?: string }).detail = detail;
  if (cause !== undefined) (e as Error).cause = cause;
  return e;
}

/** What a call site knows of the call: the syscall name Node would report, and the paths. */
export interface Site {
  syscall: string;
  path?: string;
  dest?: string;
}

/**
 * The error a caller sees: an errno error gets `syscall`, `path` and `dest`
 * (as node:fs reports them); anything else (AbortError, TypeError, a
 * SystemError already shaped) passes unchanged.
 */
export function atSite(err: unknown, site: Site): unknown {
  if (!(err instanceof FsError) || err.syscall !== undefined) return err;
  const detail = (err as FsError & { detail?: string }).detail;
  const out = new FsError(err.code, { syscall: site.syscall, path: site.path, dest: site.dest, message: detail });
  if ((err as Error).cause !== undefined) (out as Error).cause = (err as Error).cause;
  return out;
}

/** Node's AbortError: name 'AbortError', code 'ABORT_ERR'; `cause` is the signal's reason. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

export function abortError(signal: AbortSignal): AbortError {
  return new AbortError(undefined, { cause: signal.reason });
}

/**
 * `work`, or an AbortError as soon as `signal` fires. The request itself goes
 * on until the server answers (the connection sends INTERRUPT); its outcome
 * is then ignored.
 */
export function withAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return signal ? raceAbort(work, signal) : work;
}

async function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

const sysMessages: Record<string, string> = {
  ERR_FS_EISDIR: 'Path is a directory',
  ERR_FS_CP_EEXIST: 'Target already exists',
  // (Node's own labels for these two are swapped; kept as Node prints them.)
  ERR_FS_CP_DIR_TO_NON_DIR: 'Cannot overwrite non-directory with directory',
  ERR_FS_CP_NON_DIR_TO_DIR: 'Cannot overwrite directory with non-directory',
  ERR_FS_CP_EINVAL: 'Invalid src or dest',
  ERR_FS_CP_SYMLINK_TO_SUBDIRECTORY: 'Cannot overwrite symlink in subdirectory of self',
  ERR_FS_CP_UNKNOWN: 'Cannot copy an unknown file type',
  ERR_FS_CP_FIFO_PIPE: 'Cannot copy a FIFO pipe',
  ERR_FS_CP_SOCKET: 'Cannot copy a socket file',
};

/**
 * Node's SystemError as rm and cp throw it: `code` is ERR_FS_*, `errno`
 * positive, message "Path is a directory: rm returned EISDIR (is a directory) /a".
 */
export class SystemError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string;
  readonly info: { code: string; message: string; path: string; syscall: string; errno: number };

  constructor(code: string, info: { code: string; message: string; path: string; syscall: string }) {
    const errno = errnoOf(info.code);
    super(`${sysMessages[code] ?? code}: ${info.syscall} returned ${info.code} (${info.message}) ${info.path}`);
    this.name = 'SystemError';
    this.code = code;
    this.errno = errno;
    this.syscall = info.syscall;
    this.path = info.path;
    this.info = { ...info, errno };
  }
}

/** Node's ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE / ERR_OUT_OF_RANGE. */
export function argError(code: 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE' | 'ERR_METHOD_NOT_IMPLEMENTED' | 'ERR_INVALID_STATE', message: string): Error {
  const E = code === 'ERR_OUT_OF_RANGE' ? RangeError : code === 'ERR_METHOD_NOT_IMPLEMENTED' || code === 'ERR_INVALID_STATE' ? Error : TypeError;
  const e = new E(message) as Error & { code: string };
  e.code = code;
  return e;
}
