/**
 * The requester: the kernel's side of one FUSE connection, over any channel.
 *
 * As in NetBSD's puffs, sending and waiting are separate: `enqueue` builds a
 * message for this request alone, hands it to the channel and returns a
 * handle at once; `wait` (or the handle's `reply`) settles when the answer
 * comes. Many requests are in flight; answers come in any order and are
 * matched by their unique id. Nothing here holds a lock or blocks: a slow
 * answer to one request never delays another.
 *
 * The connection owns the protocol rules: the INIT handshake as the kernel
 * does it (7.45, the flags this client can honour, max_write and max_pages
 * from the answer), INTERRUPT when a caller's AbortSignal fires, answers to
 * RETRIEVE (no page cache here: nothing is held), notifications passed to the
 * vnode layer, and failure: when the channel ends every pending call rejects
 * with ENOTCONN, later calls fail at once, and a malformed answer (or one to
 * a request never sent) closes the session with a clear error.
 */
import {
  decodeNotification,
  decodeOutHeader,
  decodeReply,
  encodeRequestOf,
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_KERNEL_VERSION,
  FUSE_MIN_MINOR_VERSION,
  InitFlag,
  initFlagNames,
  ProtocolError,
  type CodecOptions,
  type Notification,
  type OpName,
  type ReplyingOp,
  type ReplyOf,
  type RequestBody,
  type RequestInput,
} from '../protocol/index.js';
import type { Channel } from '../transport/channel.js';
import { FsError } from '../errors.js';
import { keepShape } from '../shapes.js';
import { errnoError } from './errors.js';

/** Who a request acts for: the header's uid, gid and pid, the supplementary groups, the umask. */
export interface Credentials {
  uid: number;
  gid: number;
  pid: number;
  /** Sent with each request as a FUSE_EXT_GROUPS extension when non-empty. */
  groups?: readonly number[];
  /** Applied to create modes (unless the server asked for DONT_MASK) and sent along. */
  umask: number;
}

/** What INIT agreed on. */
export interface InitInfo {
  major: number;
  minor: number;
  /** Flags both sides agreed on (low and high words joined). */
  flags: bigint;
  /** Their names, for logs and tests. */
  flagNames: string[];
  /** Largest WRITE payload this client sends (server's max_write, bounded by the channel). */
  maxWrite: number;
  /** Largest READ this client asks for (max_pages pages, bounded by the channel). */
  maxRead: number;
  maxReadahead: number;
  maxBackground: number;
  timeGran: number;
  /** READDIRPLUS is in force. */
  readdirplus: boolean;
  /** The server applies the umask itself (FUSE_DONT_MASK). */
  dontMask: boolean;
  /** Expire-only entry invalidations are understood. */
  expireOnly: boolean;
  /** OPEN carries O_TRUNC and the server truncates (FUSE_ATOMIC_O_TRUNC), instead of a SETATTR after it. */
  atomicOTrunc: boolean;
}

export interface ConnectionOptions {
  /** max_readahead offered at INIT (default 1 MiB). */
  maxReadahead?: number;
  /** Offer READDIRPLUS (default true): listings then fill the entry and attribute caches. */
  readdirplus?: boolean;
  /** How long INIT may take before attach gives up (default 10 s). */
  initTimeoutMs?: number;
  /** Notifications from the server (invalidations and the like), after the connection's own handling. */
  onNotification?: (n: Notification) => void;
  /** Called once when the connection ends; `error` is undefined for an orderly end. */
  onClose?: (error: Error | undefined) => void;
  /** One line per request and reply, like the session's debug trace. */
  debug?: (line: string) => void;
}

/** The body of a request: everything but the op and header. */
export type Body<K extends OpName> = Omit<RequestInput<K>, 'op' | 'header' | 'groups'>;

export interface CallOptions {
  /** Aborting sends INTERRUPT for the request (the reply still settles the handle). */
  signal?: AbortSignal;
  /** For getxattr/listxattr: the size asked for (0 = probe). */
  requestedSize?: number;
}

/** What submit() takes: CallOptions, and for readInto the buffer the answer goes to. */
interface SubmitOptions extends CallOptions {
  into?: Uint8Array;
}

const NO_OPTIONS: CallOptions = {};

/** A request on the wire: its unique id, and a promise of the answer. */
export interface Pending<K extends ReplyingOp> {
  readonly unique: number;
  readonly op: K;
  readonly reply: Promise<ReplyOf<K>>;
}

const noop = (): void => undefined;

/** A request waiting for its answer. Every field is set at construction, so all waiters share one shape. */
class Waiter {
  resolve: (value: unknown) => void = noop;
  private rejectFn: (error: Error) => void = noop;
  /** The answer's promise (resolve and reject settle it). */
  readonly reply: Promise<unknown>;
  /** For data replies: the most bytes the answer may carry. */
  maxData: number | undefined = undefined;
  /** For read: where the answer's bytes go. */
  into: Uint8Array | undefined = undefined;
  detach: (() => void) | undefined = undefined;
  interrupted = false;

  constructor(
    readonly unique: number,
    readonly op: ReplyingOp,
    readonly nodeid: number,
    readonly cred: Credentials,
    readonly requestedSize: number | undefined,
  ) {
    this.reply = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.rejectFn = reject;
    });
  }

  /**
   * Reject the answer. A caller may wait later (or never): the rejection is
   * marked handled first, so none is reported as unhandled meanwhile. Done
   * here rather than with a catch on every request, which would cost a
   * promise and a microtask per answer.
   */
  reject(error: Error): void {
    this.reply.catch(noop);
    this.rejectFn(error);
  }
}
keepShape(new Waiter(0, 'getattr', 1, { uid: 0, gid: 0, pid: 0, umask: 0 }, undefined)); // see shapes.ts

/**
 * Requests waiting for an answer, by unique id. Uniques go up by two, so
 * a ring of slots indexed by the id holds the ones in flight with no hashing
 * and no allocation per request (a Map that goes from empty to one entry and
 * back shrinks and regrows its table every time); an id whose slot is taken
 * by an older request still waiting goes to a Map.
 */
class PendingTable {
  private static readonly SLOTS = 256;
  private readonly slots: (Waiter | undefined)[] = new Array(PendingTable.SLOTS).fill(undefined);
  private readonly overflow = new Map<number, Waiter>();
  size = 0;

  private static slot(unique: number): number {
    return (unique >>> 1) & (PendingTable.SLOTS - 1);
  }

  get(unique: number): Waiter | undefined {
    const w = this.slots[PendingTable.slot(unique)];
    if (w !== undefined && w.unique === unique) return w;
    return this.overflow.size > 0 ? this.overflow.get(unique) : undefined;
  }

  has(unique: number): boolean {
    return this.get(unique) !== undefined;
  }

  set(unique: number, waiter: Waiter): void {
    const i = PendingTable.slot(unique);
    const w = this.slots[i];
    if (w === undefined) this.slots[i] = waiter;
    else if (w.unique === unique) {
      this.slots[i] = waiter;
      return;
    } else {
      const had = this.overflow.has(unique);
      this.overflow.set(unique, waiter);
      if (had) return;
    }
    this.size++;
  }

  delete(unique: number): boolean {
    const i = PendingTable.slot(unique);
    const w = this.slots[i];
    if (w !== undefined && w.unique === unique) this.slots[i] = undefined;
    else if (!this.overflow.delete(unique)) return false;
    this.size--;
    return true;
  }

  /** The ids waiting, oldest (lowest) first. */
  keys(): number[] {
    const out: number[] = [];
    for (const w of this.slots) if (w !== undefined) out.push(w.unique);
    for (const u of this.overflow.keys()) out.push(u);
    return out.sort((a, b) => a - b);
  }
}

/** The flags this client can honour, offered at INIT. */
const OFFERED =
  InitFlag.ASYNC_READ |
  InitFlag.BIG_WRITES |
  InitFlag.MAX_PAGES |
  InitFlag.PARALLEL_DIROPS |
  InitFlag.AUTO_INVAL_DATA |
  InitFlag.ASYNC_DIO |
  InitFlag.DONT_MASK |
  InitFlag.ATOMIC_O_TRUNC |
  InitFlag.SETXATTR_EXT |
  InitFlag.INIT_EXT |
  InitFlag.HAS_EXPIRE_ONLY |
  InitFlag.EXPLICIT_INVAL_DATA;

const PAGE = 4096;
/** FUSE_DEFAULT_MAX_PAGES_PER_REQ: what a server that does not set max_pages gets. */
const DEFAULT_MAX_PAGES = 32;
/** Frame headroom for a request's headers and extensions (in header 40, write_in 40, groups). */
const REQUEST_OVERHEAD = 4096;

export type ConnectionState = 'new' | 'init' | 'ready' | 'closing' | 'closed';

export class Connection {
  readonly channel: Channel;
  private readonly options: ConnectionOptions;
  private readonly pending = new PendingTable();
  private nextUnique = 2;
  private codec: CodecOptions = { setxattrExt: false };
  private resolveClosed!: (err: Error | undefined) => void;
  private started = false;
  state: ConnectionState = 'new';
  /** What INIT agreed on (set once ready). */
  info?: InitInfo;
  /** Why the connection ended (undefined while open or after an orderly end). */
  error?: Error;
  /** Settles when the channel has ended: undefined after an orderly end, the error otherwise. */
  readonly closed: Promise<Error | undefined>;
  /** Counters for tests and stats. */
  readonly stats = { sent: 0, replies: 0, notifications: 0, interrupts: 0 };

  constructor(channel: Channel, options: ConnectionOptions = {}) {
    this.channel = channel;
    this.options = options;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** Requests waiting for an answer. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Start the channel and do the INIT handshake as the kernel does: offer
   * 7.45 and the flags this client honours, take max_write, max_pages and
   * the agreed flags from the answer. Rejects (and closes) on an error
   * answer, a protocol older than 7.31, or a timeout.
   */
  async init(cred: Credentials): Promise<InitInfo> {
    if (this.started) throw new Error('Connection.init called twice');
    this.started = true;
    this.state = 'init';
    this.channel.start({ frame: (f) => this.onFrame(f), closed: (e) => this.onClosed(e) });
    const maxReadahead = this.options.maxReadahead ?? 1 << 20;
    let offered = OFFERED;
    if (this.options.readdirplus !== false) offered |= InitFlag.DO_READDIRPLUS;
    const timeoutMs = this.options.initTimeoutMs ?? 10_000;
    const p = this.enqueue(
      'init',
      0,
      {
        arg: {
          major: FUSE_KERNEL_VERSION,
          minor: FUSE_KERNEL_MINOR_VERSION,
          maxReadahead,
          flags: Number(offered & 0xffffffffn),
          flags2: Number(offered >> 32n),
        },
      },
      cred,
      {},
      true,
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(errnoError('ETIMEDOUT', `no answer to INIT within ${timeoutMs} ms`)), timeoutMs);
    });
    let r: ReplyOf<'init'>;
    try {
      r = await Promise.race([p.reply, timeout]);
    } catch (err) {
      this.close(err as Error);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (r.major !== FUSE_KERNEL_VERSION || r.minor < FUSE_MIN_MINOR_VERSION) {
      const err = errnoError('EPROTO', `server speaks FUSE ${r.major}.${r.minor}; this client needs 7.${FUSE_MIN_MINOR_VERSION} or newer`);
      this.close(err);
      throw err;
    }
    const got = BigInt(r.flags) | (BigInt(r.flags) & InitFlag.INIT_EXT ? BigInt(r.flags2) << 32n : 0n);
    const agreed = got & offered;
    const frameRoom = this.channel.maxFrameSize - REQUEST_OVERHEAD;
    const bigWrites = (agreed & InitFlag.BIG_WRITES) !== 0n;
    let maxWrite = bigWrites ? r.maxWrite : PAGE;
    maxWrite = Math.max(PAGE, Math.floor(Math.min(maxWrite || PAGE, frameRoom) / PAGE) * PAGE);
    const maxPages = agreed & InitFlag.MAX_PAGES && r.maxPages > 0 ? r.maxPages : DEFAULT_MAX_PAGES;
    const maxRead = Math.max(PAGE, Math.floor(Math.min(maxPages * PAGE, frameRoom) / PAGE) * PAGE);
    this.codec = { setxattrExt: (agreed & InitFlag.SETXATTR_EXT) !== 0n };
    this.info = {
      major: r.major,
      minor: Math.min(r.minor, FUSE_KERNEL_MINOR_VERSION),
      flags: agreed,
      flagNames: initFlagNames(agreed),
      maxWrite,
      maxRead,
      maxReadahead: Math.min(r.maxReadahead || maxReadahead, maxReadahead),
      maxBackground: r.maxBackground,
      timeGran: r.timeGran,
      readdirplus: (agreed & InitFlag.DO_READDIRPLUS) !== 0n,
      dontMask: (agreed & InitFlag.DONT_MASK) !== 0n,
      expireOnly: (agreed & InitFlag.HAS_EXPIRE_ONLY) !== 0n,
      atomicOTrunc: (agreed & InitFlag.ATOMIC_O_TRUNC) !== 0n,
    };
    if (this.state === 'init') this.state = 'ready';
    return this.info;
  }

  /**
   * Send a request and return its handle without waiting. Never throws:
   * when the connection is down the handle's reply rejects with ENOTCONN.
   */
  enqueue<K extends ReplyingOp>(op: K, nodeid: number, body: Body<K>, cred: Credentials, options: CallOptions = NO_OPTIONS, isInit = false): Pending<K> {
    const unique = this.nextUnique;
    return { unique, op, reply: this.submit(op, nodeid, body, cred, options, isInit) };
  }

  /** enqueue's work: the request goes out under the next unique id; the promise of its answer. */
  private submit<K extends ReplyingOp>(op: K, nodeid: number, body: Body<K>, cred: Credentials, options: SubmitOptions, isInit: boolean): Promise<ReplyOf<K>> {
    const unique = this.nextUnique;
    this.nextUnique += 2; // bit 0 is kept for INTERRUPT, as the kernel does
    const waiter = new Waiter(unique, op, nodeid, cred, options.requestedSize);
    const reply = waiter.reply as Promise<ReplyOf<K>>;
    if (op === 'read' || op === 'readdir' || op === 'readdirplus') {
      waiter.maxData = (body as Body<'read'>).arg.size;
      if (options.into && op === 'read') waiter.into = options.into;
    } else if ((op === 'getxattr' || op === 'listxattr') && options.requestedSize) waiter.maxData = options.requestedSize;
    const down = this.downError(isInit);
    if (down) {
      waiter.reject(down);
      return reply;
    }
    const { signal } = options;
    if (signal?.aborted) {
      waiter.reject(errnoError('EINTR', 'interrupted before it was sent'));
      return reply;
    }
    let frame: Uint8Array;
    try {
      frame = this.encode(op, unique, nodeid, body, cred);
    } catch (err) {
      waiter.reject(err as Error);
      return reply;
    }
    this.pending.set(unique, waiter);
    if (!this.transmit(frame, unique)) return reply;
    if (signal) {
      const onAbort = (): void => this.interrupt(unique, cred);
      signal.addEventListener('abort', onAbort, { once: true });
      waiter.detach = () => signal.removeEventListener('abort', onAbort);
    }
    return reply;
  }

  /** Wait for a request's answer: its value, or an FsError with the server's errno. */
  wait<K extends ReplyingOp>(pending: Pending<K>): Promise<ReplyOf<K>> {
    return pending.reply;
  }

  /** enqueue and wait. */
  call<K extends ReplyingOp>(op: K, nodeid: number, body: Body<K>, cred: Credentials, options?: CallOptions): Promise<ReplyOf<K>> {
    return this.submit(op, nodeid, body, cred, options ?? NO_OPTIONS, false);
  }

  /**
   * READ whose answer is copied into `into` (which must hold the size asked
   * for) as it arrives, with no copy of our own in between; resolves with the
   * number of bytes copied.
   */
  readInto(nodeid: number, arg: Body<'read'>['arg'], into: Uint8Array, cred: Credentials, signal?: AbortSignal): Promise<number> {
    // onReply resolves a waiter that has `into` with the count instead of the data.
    return this.submit('read', nodeid, { arg }, cred, { signal, into }, false) as Promise<unknown> as Promise<number>;
  }

  /** Send a message that takes no answer (FORGET, BATCH_FORGET, NOTIFY_REPLY). False when it could not be sent. */
  post<K extends OpName>(op: K, nodeid: number, body: Body<K>, cred: Credentials, unique?: number): boolean {
    if (this.state === 'closed' || this.state === 'new') return false;
    const u = unique ?? this.allocUnique();
    let frame: Uint8Array;
    try {
      frame = this.encode(op, u, nodeid, body, cred);
    } catch {
      return false;
    }
    return this.transmit(frame);
  }

  private allocUnique(): number {
    const u = this.nextUnique;
    this.nextUnique += 2;
    return u;
  }

  private encode<K extends OpName>(op: K, unique: number, nodeid: number, body: Body<K>, cred: Credentials): Uint8Array {
    // Request extensions exist from 7.38 on; an older server would misread them.
    const groups = cred.groups && cred.groups.length > 0 && this.info && this.info.minor >= 38 ? cred.groups : undefined;
    this.options.debug?.(`tx ${unique} ${op} n${nodeid}`);
    const header = { unique, nodeid, uid: cred.uid, gid: cred.gid, pid: cred.pid };
    return encodeRequestOf(op, header, body as RequestBody<K>, groups, this.codec);
  }

  /** Hand a frame to the channel; a failure rejects the request `unique` (if given). */
  private transmit(frame: Uint8Array, unique?: number): boolean {
    try {
      // Frames from encodeRequestOf are cut fresh for this request and never touched again: the channel may keep them.
      const channel = this.channel;
      const ok = channel.sendOwned !== undefined ? channel.sendOwned(frame) : channel.send([frame]);
      this.stats.sent++;
      if (ok) return true;
      // The peer is gone; `closed` follows and fails everything pending.
      return false;
    } catch (err) {
      if (unique !== undefined) this.settle(unique)?.reject(this.downError() ?? wrapSendError(err));
      return false;
    }
  }

  /** The request was withdrawn: tell the server, as the kernel does on a signal. */
  private interrupt(unique: number, cred: Credentials): void {
    const w = this.pending.get(unique);
    if (!w || w.interrupted) return;
    w.interrupted = true;
    this.stats.interrupts++;
    this.post('interrupt', 0, { arg: { unique } }, cred, unique | 1);
  }

  private settle(unique: number): Waiter | undefined {
    const w = this.pending.get(unique);
    if (!w) return undefined;
    this.pending.delete(unique);
    w.detach?.();
    if (this.pending.size === 0 && this.idleWaiters.length > 0) for (const done of this.idleWaiters.splice(0)) done();
    return w;
  }

  private readonly idleWaiters: (() => void)[] = [];

  /** Resolves once no request is waiting for an answer (at once if none is). */
  whenIdle(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Why a new request cannot be sent now, or undefined when it can. */
  private downError(isInit = false): Error | undefined {
    if (this.state === 'closed') {
      const why = this.error ? `session closed: ${this.error.message}` : 'session closed';
      return errnoError('ENOTCONN', why, this.error);
    }
    if (this.state === 'new' || (this.state === 'init' && !isInit)) return errnoError('ENOTCONN', 'session not initialised');
    return undefined;
  }

  // ---- receiving ---------------------------------------------------------------------------

  private onFrame(frame: Uint8Array): void {
    let header;
    try {
      header = decodeOutHeader(frame);
    } catch (err) {
      this.malformed(err);
      return;
    }
    if (header.unique === 0) {
      this.onNotification(frame);
      return;
    }
    const w = this.settle(header.unique);
    if (!w) {
      if (header.unique % 2 === 1 && this.pending.has(header.unique - 1)) {
        // An answer to our INTERRUPT: EAGAIN means "not seen yet, ask again".
        if (header.error === -11) setTimeout(() => {
          const target = this.pending.get(header.unique - 1);
          if (target) {
            target.interrupted = false;
            this.interrupt(header.unique - 1, target.cred);
          }
        }, 10).unref();
        return;
      }
      if (header.unique % 2 === 1) return; // an interrupt answer for a request already answered
      this.malformed(new ProtocolError('bad-length', `reply to unknown request ${header.unique}`));
      return;
    }
    this.stats.replies++;
    let decoded;
    try {
      decoded = decodeReply(w.op, frame, w.requestedSize, header);
      if (decoded.error === 0) checkReply(w, decoded.value);
    } catch (err) {
      // Fail this request too, with the reason.
      w.reject(errnoError('EIO', `malformed reply from the server: ${(err as Error).message}`, err));
      this.malformed(err);
      return;
    }
    this.options.debug?.(`rx ${header.unique} ${decoded.error ? `error ${decoded.error}` : 'OK'}`);
    if (decoded.error !== 0) {
      w.reject(FsError.fromErrno(decoded.error));
      return;
    }
    if (w.into) {
      // Straight into the caller's buffer: no copy of our own in between.
      // Resolved with the count: a number needs no thenable check, and the caller knows its buffer.
      const data = decoded.value as Uint8Array;
      w.into.set(data, 0);
      w.resolve(data.byteLength);
      return;
    }
    w.resolve(ownValue(w.op, decoded.value));
  }

  private onNotification(frame: Uint8Array): void {
    let n: Notification;
    try {
      n = decodeNotification(frame);
    } catch (err) {
      this.malformed(err);
      return;
    }
    this.stats.notifications++;
    this.options.debug?.(`rx notify ${n.kind}`);
    if (n.kind === 'retrieve') {
      // No page cache on this side: answer with nothing, so the server does not wait.
      const a = n.arg;
      this.post('notifyReply', a.nodeid, { arg: { offset: a.offset, size: 0 }, data: new Uint8Array(0) }, { uid: 0, gid: 0, pid: 0, umask: 0 }, a.notifyUnique);
    }
    try {
      this.options.onNotification?.(n);
    } catch (err) {
      process.emitWarning(`puffs client: notification handler threw ${String((err as Error)?.stack ?? err)}`);
    }
  }

  private malformed(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    const error = new Error(`malformed reply from the server: ${e.message}`, { cause: e });
    error.name = 'ProtocolError';
    this.close(error);
  }

  private onClosed(err: Error | undefined): void {
    if (this.state === 'closed') return;
    const orderly = this.state === 'closing' && err === undefined;
    this.state = 'closed';
    if (err) this.error ??= err;
    else if (!orderly) this.error ??= new Error('the server closed the connection');
    const why = this.error ? `session closed: ${this.error.message}` : 'session closed';
    // Garbage from the server (a malformed reply or frame) is an I/O error; anything else a lost connection.
    const code = this.error?.name === 'ProtocolError' || this.error?.name === 'FramingError' ? 'EIO' : 'ENOTCONN';
    for (const unique of this.pending.keys()) this.settle(unique)?.reject(errnoError(code, why, this.error));
    try {
      this.options.onClose?.(this.error);
    } finally {
      this.resolveClosed(this.error);
    }
  }

  /**
   * End the connection. Without an error: orderly (what was sent is
   * delivered, then the channel ends); pending calls reject with ENOTCONN.
   */
  close(error?: Error): void {
    if (this.state === 'closed') return;
    if (error) this.error ??= error;
    else if (this.state !== 'closing') this.state = 'closing';
    if (!this.started) {
      this.started = true;
      this.channel.start({ frame: noop, closed: (e) => this.onClosed(e) });
    }
    this.channel.close(error);
  }
}

function wrapSendError(err: unknown): Error {
  const code = (err as { code?: string })?.code;
  if (code === 'ENOTCONN') return errnoError('ENOTCONN', (err as Error).message, err);
  return errnoError('EIO', `could not send the request: ${(err as Error)?.message ?? String(err)}`, err);
}

/** Sanity checks an answer must pass; a failure is a malformed reply. */
function checkReply(w: Waiter, value: unknown): void {
  if (w.maxData !== undefined && value instanceof Uint8Array && value.byteLength > w.maxData) {
    throw new ProtocolError('bad-length', `${w.op} reply carries ${value.byteLength} bytes, ${w.maxData} were asked for`);
  }
}

/** Copy what points into the frame (the channel may reuse it). */
function ownValue(op: ReplyingOp, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (op === 'ioctl' && value && typeof value === 'object') {
    const v = value as { data?: Uint8Array };
    if (v.data) v.data = Buffer.from(v.data);
  }
  return value;
}
