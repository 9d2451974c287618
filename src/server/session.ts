/**
 * The session loop (our libpuffs): reads requests from a channel, dispatches
 * them to a FileSystem through its op vector, and writes exactly one reply for
 * each request that takes one. Many requests may be in flight; a handler that
 * returns a plain value is answered at once, on the reading path, without a
 * trip through the event loop.
 */
import { FsError, toErrno } from '../errors.js';
import {
  decodeRequest,
  encodeError,
  encodeNotification,
  encodeReply,
  encodeReplyOf,
  opSpec,
  decodeInHeader,
  ProtocolError,
  formatReply,
  formatRequest,
  formatBadFrame,
  InitFlag,
  FUSE_KERNEL_VERSION,
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_MIN_MINOR_VERSION,
  type CodecOptions,
  type Request,
  type RequestOf,
  type ReplyOf,
  type ReplyInputOf,
  type ReplyingOp,
  type Notification,
  type InHeader,
  ops,
  type OpName,
  WRITE_DATA_OFFSET,
} from '../protocol/index.js';
import { PayloadReader } from '../slab.js';
import type { Channel } from '../transport/channel.js';
import { Context, procGroups } from './context.js';
import { opVector, type OpVector } from './defaults.js';
import type { FileSystem } from './ops.js';
import { bridge, ErrnoReply, WithLookups, type Bridge } from './bridge.js';
import { announce, joinCoherence, type CoherentPeer } from './coherence.js';
import type { ConnectionInfo } from './types.js';
import { canKeepUncounted, requestArrived } from './memory.js';

export interface SessionOptions {
  /** Print each request and reply, one line each (like libfuse -d). A function receives the lines instead of stderr. */
  debug?: boolean | ((line: string) => void);
  /** Seconds the kernel may cache names and attributes when the file system does not say (default 1, as libfuse). */
  entryTimeout?: number;
  attrTimeout?: number;
  /** Seconds a failed lookup (ENOENT) may be cached; 0 = not at all (default 0). */
  negativeTimeout?: number;
  /** Largest write the kernel may send, in bytes (default 1 MiB, bounded by the channel). */
  maxWrite?: number;
  maxReadahead?: number;
  /** Requests the kernel keeps in flight in the background (readahead, writeback; default 64). */
  maxBackground?: number;
  /** Let the kernel cache writes and send them later in large pieces. */
  writebackCache?: boolean;
  /** Let the kernel cache symlink targets. */
  cacheSymlinks?: boolean;
  /**
   * Offer readdirplus: 'auto' lets the kernel choose (default; not offered
   * when entryTimeout and attrTimeout are both 0), 'always', or 'off'.
   */
  readdirplus?: 'auto' | 'always' | 'off';
  /**
   * The file system clears suid/sgid itself on write, chown and truncate
   * (FUSE_HANDLE_KILLPRIV_V2). Default: the file system's `features.killsPrivs`.
   */
  handleKillpriv?: boolean;
  /**
   * Let the kernel keep POSIX and flock locks itself even though the file
   * system offers setlk (FUSE_POSIX_LOCKS is not agreed). Right when this
   * mount is the file system's only session, as in the CLI: the kernel's
   * own lock code then serves, exactly as for a kernel file system, and a
   * file system with `features.flushOnlyReleasesLocks` gets no FLUSH. Locks
   * taken through this mount are not seen by other sessions of the same
   * file system. Default false.
   */
  kernelLocks?: boolean;
  /**
   * Track every answered request so that a second reply to one is caught: it
   * is not sent, and lands in `session.bugs` (for tests; costs a set lookup
   * per reply).
   */
  strictReplies?: boolean;
  /** Where supplementary groups come from when the request does not carry them (default: /proc). */
  groupSource?: (pid: number) => readonly number[];
  /**
   * Close the channel on any malformed request, unknown opcodes included,
   * instead of answering ENOSYS/EINVAL: for peers that are not the kernel
   * (puffs serve). Default false.
   */
  closeOnBadFrame?: boolean;
}

interface InFlight {
  ctx: Context;
  op: string;
}

/** Thrown (or logged) when a request gets a second reply: a bug in the session or a file system. */
export class DoubleReplyError extends Error {
  constructor(unique: number) {
    super(`request ${unique} was answered twice`);
    this.name = 'DoubleReplyError';
  }
}

/** FLUSH refused for good: ENOSYS. */
const NO_FLUSH = new ErrnoReply(38);

export class Session {
  readonly fs: FileSystem;
  readonly ops: OpVector;
  private readonly channel: Channel;
  private readonly options: Required<Omit<SessionOptions, 'debug' | 'groupSource'>> & Pick<SessionOptions, 'groupSource'>;
  private readonly log?: (line: string) => void;
  private readonly inFlight = new Map<number, InFlight>();
  /** Kernel references per node id (lookup counts). */
  private readonly lookups = new Map<number, number>();
  private readonly retrieves = new Map<number, (data: Uint8Array) => void>();
  private nextRetrieve = 1;
  private codec: CodecOptions = { setxattrExt: false };
  /** Room for the channel to read frames into, so that kept write payloads stay where they were read (codec: uncountedPayloadMin). */
  private readonly payloadReader = new PayloadReader(WRITE_DATA_OFFSET);
  private initialized = false;
  private destroyed = false;
  private ended = false;
  private resolveEnded!: (err?: Error) => void;
  /** Settles when the channel is finished: with undefined after an orderly end, with the error otherwise. */
  readonly closed: Promise<Error | undefined>;
  /** What INIT agreed on; undefined until then. */
  connection?: ConnectionInfo;
  private resolveReady!: () => void;
  /** Settles once INIT has been answered (never, if the session ends before). */
  readonly ready: Promise<void> = new Promise((resolve) => (this.resolveReady = resolve));
  /** Count of replies sent; for tests and stats. */
  replies = 0;
  /** Bugs caught in strictReplies mode (double replies). */
  readonly bugs: Error[] = [];

  constructor(fs: FileSystem, channel: Channel, options: SessionOptions = {}) {
    this.fs = fs;
    this.ops = opVector(fs);
    this.channel = channel;
    this.options = {
      entryTimeout: options.entryTimeout ?? 1,
      attrTimeout: options.attrTimeout ?? 1,
      negativeTimeout: options.negativeTimeout ?? 0,
      maxWrite: options.maxWrite ?? 1 << 20,
      maxReadahead: options.maxReadahead ?? 1 << 20,
      maxBackground: options.maxBackground ?? 64,
      writebackCache: options.writebackCache ?? false,
      cacheSymlinks: options.cacheSymlinks ?? false,
      readdirplus: options.readdirplus ?? 'auto',
      handleKillpriv: options.handleKillpriv ?? fs.features?.killsPrivs === true,
      kernelLocks: options.kernelLocks ?? false,
      strictReplies: options.strictReplies ?? false,
      closeOnBadFrame: options.closeOnBadFrame ?? false,
      groupSource: options.groupSource,
    };
    if (options.debug) this.log = typeof options.debug === 'function' ? options.debug : (line) => process.stderr.write(line + '\n');
    const handlers: Bridge = bridge(this.ops, {
      entryTimeout: this.options.entryTimeout,
      attrTimeout: this.options.attrTimeout,
      negativeTimeout: this.options.negativeTimeout,
      noOpendir: () => this.connection?.capabilities.has('NO_OPENDIR_SUPPORT') === true,
    });
    this.closed = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
    // By opcode: an element load per request, not a megamorphic lookup by op name.
    for (const name of Object.keys(handlers) as OpName[]) {
      const handler = handlers[name as ReplyingOp] as ((req: Request, ctx: Context) => unknown) | undefined;
      if (handler) this.handlerByCode[ops[name].opcode] = handler;
    }
  }

  private readonly handlerByCode: (((req: Request, ctx: Context) => unknown) | undefined)[] = new Array(64).fill(undefined);

  private leaveCoherence?: () => void;
  /** The sessions sharing this file system, this one included. */
  private coherencePeers: ReadonlySet<CoherentPeer> = new Set();

  /** Start serving. Returns `closed`. */
  start(): Promise<Error | undefined> {
    const group = joinCoherence(this.fs, this);
    this.leaveCoherence = group.leave;
    this.coherencePeers = group.peers;
    this.channel.start({
      frame: (frame) => this.onFrame(frame),
      closed: (err) => this.onClosed(err),
      // DESTROY is answered from a promise the kernel waits on during unmount.
      busy: () => this.inFlight.size > 0 || this.destroyed,
      readArea: (size) => (this.codec.uncountedPayloadMin === undefined ? undefined : this.payloadReader.area(size)),
    });
    return this.closed;
  }

  /** End the session: in-flight requests are aborted, the channel closed. */
  close(error?: Error): void {
    this.channel.close(error);
  }

  /** Requests being worked on asynchronously right now. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** The kernel's reference count on a node (0 when it holds none). */
  lookupCount(ino: number): number {
    return this.lookups.get(ino) ?? 0;
  }

  // ---- receiving --------------------------------------------------------------------

  private onFrame(frame: Uint8Array): void {
    requestArrived();
    let req: Request;
    try {
      req = decodeRequest(frame, this.codec);
    } catch (err) {
      this.badFrame(frame, err);
      return;
    }
    this.log?.(formatRequest(req));
    this.dispatch(req);
  }

  private badFrame(frame: Uint8Array, err: unknown): void {
    if (!(err instanceof ProtocolError)) throw err;
    let header: InHeader | undefined = err.header;
    if (!header) {
      try {
        header = decodeInHeader(frame);
      } catch {
        // No header to answer to: the peer is not speaking FUSE. Nothing can be
        // answered, so the channel goes (a kernel never sends this).
      }
    }
    this.log?.(formatBadFrame(header?.unique, err.message));
    if (!header || err.kind === 'bad-length' || err.kind === 'short-frame' || this.options.closeOnBadFrame) {
      this.channel.close(err);
      return;
    }
    // The request is known but unreadable: answer it so the caller does not hang.
    this.sendError(header.unique, err.kind === 'unknown-opcode' ? 38 /* ENOSYS */ : 22 /* EINVAL */);
  }

  private dispatch(req: Request): void {
    const h = req.header;
    if (!this.initialized) {
      if (req.op === 'init') this.handleInit(req);
      else this.sendError(h.unique, 5 /* EIO: nothing before INIT */);
      return;
    }
    switch (req.op) {
      case 'init':
        this.sendError(h.unique, 5); // a second INIT is a protocol violation
        return;
      case 'forget':
        this.forget(h.nodeid, req.arg.nlookup);
        return;
      case 'batchForget':
        for (const item of req.items) this.forget(item.nodeid, item.nlookup);
        return;
      case 'interrupt': {
        const target = this.inFlight.get(req.arg.unique);
        target?.ctx.abort(new FsError('EINTR'));
        return;
      }
      case 'notifyReply': {
        const done = this.retrieves.get(h.unique);
        if (done) {
          this.retrieves.delete(h.unique);
          done(req.data);
        }
        return;
      }
      case 'destroy':
        this.destroy().then(
          () => this.reply('destroy', h.unique, undefined),
          (err) => this.sendError(h.unique, toErrno(err)),
        );
        return;
    }
    const handler = this.handlerByCode[h.opcode];
    if (!handler) {
      this.sendError(h.unique, 38);
      return;
    }
    const ctx = this.makeContext(req);
    let result: unknown;
    try {
      result = handler(req, ctx);
    } catch (err) {
      this.fail(req, err);
      return;
    }
    if (isPromise(result)) {
      const unique = h.unique;
      this.inFlight.set(unique, { ctx, op: req.op });
      result.then(
        (value) => {
          this.inFlight.delete(unique);
          this.answer(req, value);
        },
        (err: unknown) => {
          this.inFlight.delete(unique);
          this.fail(req, err);
        },
      );
    } else {
      this.answer(req, result);
    }
  }

  private makeContext(req: Request): Context {
    const h = req.header;
    // Only the ops that create carry a umask; asking every op's argument for one is a megamorphic load.
    const op = req.op;
    const umask = op === 'create' || op === 'mknod' || op === 'mkdir' || op === 'tmpfile' ? ((req as { arg: { umask?: number } }).arg.umask ?? 0) : 0;
    const groupSource = this.options.groupSource ?? procGroups;
    return new Context(h.uid, h.gid, h.pid, umask, h.unique, req.groups, groupSource, this.dropAttrs);
  }

  private answer(req: Request, value: unknown): void {
    const op = req.op as ReplyingOp;
    if (value instanceof ErrnoReply) {
      this.sendError(req.header.unique, value.errno);
      return;
    }
    let lookups: readonly number[] | undefined;
    if (value instanceof WithLookups) {
      lookups = value.inos;
      value = value.value;
    }
    let parts = encodeReplyOf(opSpec(req.header.opcode)!, op, req.header.unique, value as ReplyOf<typeof op>);
    // A gather list lends the file system's buffers; a channel that writes later gets a copy.
    if (parts.length > 2 && !this.channel.doneWithPartsOnSend) parts = [Buffer.concat(parts)];
    const delivered = this.send(req.header.unique, parts, value);
    announce(this.coherencePeers, this, req);
    // Count a reference only once the kernel has the entry: an interrupted
    // request's reply is refused, and the kernel will never forget it.
    if (delivered && lookups) for (const ino of lookups) this.addLookup(ino);
  }

  private fail(req: Request, err: unknown): void {
    const errno = toErrno(err);
    if (errno === 5 && !(err instanceof FsError) && !(err && typeof err === 'object' && 'code' in err)) {
      // Not an errno error: a bug in the file system. Say so once per request.
      process.emitWarning(`puffs: ${req.op} on node ${req.header.nodeid} threw ${String((err as Error)?.stack ?? err)}`);
    }
    this.sendError(req.header.unique, errno);
  }

  private readonly answered = new Set<number>();

  /** strictReplies: false (and the bug recorded) when `unique` was answered already. */
  private firstReply(unique: number): boolean {
    if (!this.options.strictReplies) return true;
    if (this.answered.has(unique)) {
      const e = new DoubleReplyError(unique);
      this.bugs.push(e);
      process.emitWarning(e.message);
      return false;
    }
    this.answered.add(unique);
    return true;
  }

  private send(unique: number, parts: Uint8Array[], value?: unknown): boolean {
    if (this.ended || !this.firstReply(unique)) return false;
    this.replies++;
    this.log?.(formatReply(unique, value));
    try {
      return this.channel.send(parts);
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOTCONN') return false;
      throw err;
    }
  }

  private sendError(unique: number, errno: number): void {
    if (this.ended || !this.firstReply(unique)) return;
    this.replies++;
    this.log?.(formatReply(unique, errno));
    try {
      this.channel.send([encodeError(unique, errno)]);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOTCONN') throw err;
    }
  }

  private reply<K extends ReplyingOp>(op: K, unique: number, value: ReplyInputOf<K>): void {
    this.send(unique, encodeReply(op, unique, value), value);
  }

  // ---- INIT ---------------------------------------------------------------------------

  private handleInit(req: RequestOf<'init'>): void {
    const a = req.arg;
    const unique = req.header.unique;
    if (a.major > FUSE_KERNEL_VERSION) {
      // Tell the kernel our major; it sends a new INIT.
      this.reply('init', unique, { major: FUSE_KERNEL_VERSION, minor: FUSE_KERNEL_MINOR_VERSION });
      return;
    }
    if (a.major < FUSE_KERNEL_VERSION || a.minor < FUSE_MIN_MINOR_VERSION) {
      this.log?.(`init: kernel protocol ${a.major}.${a.minor} is older than 7.${FUSE_MIN_MINOR_VERSION}`);
      this.sendError(unique, 71 /* EPROTO */);
      this.channel.close(new FsError('EPROTO', { message: `kernel protocol ${a.major}.${a.minor} is too old` }));
      return;
    }
    const minor = Math.min(a.minor, FUSE_KERNEL_MINOR_VERSION);
    const offered = BigInt(a.flags) | (a.flags & Number(InitFlag.INIT_EXT) ? BigInt(a.flags2) << 32n : 0n);
    const p = this.ops.provided;
    let want =
      InitFlag.ASYNC_READ |
      InitFlag.BIG_WRITES |
      InitFlag.MAX_PAGES |
      InitFlag.PARALLEL_DIROPS |
      InitFlag.AUTO_INVAL_DATA |
      InitFlag.ABORT_ERROR |
      InitFlag.ASYNC_DIO |
      InitFlag.HAS_IOCTL_DIR |
      InitFlag.SETXATTR_EXT |
      InitFlag.INIT_EXT;
    if (p.has('setlk') && !this.options.kernelLocks) want |= InitFlag.POSIX_LOCKS | InitFlag.FLOCK_LOCKS;
    if (this.fs.features?.atomicOTrunc) want |= InitFlag.ATOMIC_O_TRUNC;
    if (this.fs.features?.noOpendir) want |= InitFlag.NO_OPENDIR_SUPPORT;
    // With nothing cached (entry and attr timeouts 0) what readdirplus sends is
    // stale on arrival: the kernel looks each name up again anyway, and
    // listings would cost about five times the requests. 'auto' then lists plainly.
    const cachesNothing = this.options.entryTimeout === 0 && this.options.attrTimeout === 0;
    const plus = this.options.readdirplus === 'always' || (this.options.readdirplus === 'auto' && !cachesNothing);
    if (p.has('readdir') && plus) {
      want |= InitFlag.DO_READDIRPLUS;
      if (this.options.readdirplus === 'auto') want |= InitFlag.READDIRPLUS_AUTO;
    }
    if (this.options.writebackCache) want |= InitFlag.WRITEBACK_CACHE;
    if (this.options.cacheSymlinks) want |= InitFlag.CACHE_SYMLINKS;
    if (this.options.handleKillpriv) want |= InitFlag.HANDLE_KILLPRIV_V2;
    const agreed = offered & want;
    this.codec = { setxattrExt: (agreed & InitFlag.SETXATTR_EXT) !== 0n };
    // A FLUSH that can have nothing to do is refused once, and the peer stops
    // sending it (the kernel's no_flush): no lock can be held through us, and
    // the file system's flush, if any, only releases locks.
    const locksHere = (agreed & (InitFlag.POSIX_LOCKS | InitFlag.FLOCK_LOCKS)) !== 0n;
    if (!locksHere && (!p.has('flush') || this.fs.features?.flushOnlyReleasesLocks === true)) {
      this.handlerByCode[ops.flush.opcode] = () => NO_FLUSH;
    }

    const pageSize = 4096;
    const maxWrite = Math.max(4096, Math.min(this.options.maxWrite, this.channel.maxFrameSize - 4096));
    // Full-size writes of a file system that keeps them: memory V8 does not count (ops.ts).
    if (this.fs.features?.accountsWriteData && canKeepUncounted()) this.codec.uncountedPayloadMin = maxWrite;
    const maxPages = Math.max(1, Math.min(256, Math.ceil(maxWrite / pageSize)));
    const capabilities = new Set<string>();
    for (const [name, bit] of Object.entries(InitFlag)) if (agreed & bit) capabilities.add(name);
    this.connection = {
      protoMajor: FUSE_KERNEL_VERSION,
      protoMinor: minor,
      maxWrite,
      maxReadahead: Math.min(a.maxReadahead, this.options.maxReadahead),
      capabilities,
    };
    const finish = () => {
      this.initialized = true;
      this.resolveReady();
      this.reply('init', unique, {
        major: FUSE_KERNEL_VERSION,
        minor,
        maxReadahead: this.connection!.maxReadahead,
        flags: Number(agreed & 0xffffffffn),
        flags2: Number(agreed >> 32n),
        maxBackground: this.options.maxBackground,
        congestionThreshold: Math.floor((this.options.maxBackground * 3) / 4),
        maxWrite,
        timeGran: 1,
        maxPages,
      });
    };
    let r: unknown;
    try {
      r = this.ops.init(this.connection);
    } catch (err) {
      this.sendError(unique, toErrno(err));
      this.channel.close(err as Error);
      return;
    }
    if (isPromise(r)) {
      r.then(finish, (err: unknown) => {
        this.sendError(unique, toErrno(err));
        this.channel.close(err as Error);
      });
    } else finish();
  }

  // ---- lookup counting ----------------------------------------------------------------

  private addLookup(ino: number): void {
    if (ino === 0) return;
    this.lookups.set(ino, (this.lookups.get(ino) ?? 0) + 1);
  }

  private forget(ino: number, n: number): void {
    const have = this.lookups.get(ino);
    if (have === undefined) {
      // The root is never looked up; the kernel forgets it at unmount only.
      if (ino !== 1) this.log?.(`forget: node ${ino} has no lookups`);
      return;
    }
    const left = have - n;
    if (left > 0) {
      this.lookups.set(ino, left);
      return;
    }
    if (left < 0) this.log?.(`forget: node ${ino} forgot ${n} with ${have} lookups`);
    this.lookups.delete(ino);
    try {
      this.ops.forget(ino);
    } catch (err) {
      process.emitWarning(`puffs: forget(${ino}) threw ${String(err)}`);
    }
  }

  // ---- the end --------------------------------------------------------------------------

  private async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.ops.destroy();
  }

  private onClosed(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.leaveCoherence?.();
    const reason = new FsError('ENOTCONN', { message: 'session ended' });
    for (const { ctx } of this.inFlight.values()) ctx.abort(reason);
    this.inFlight.clear();
    for (const done of this.retrieves.values()) done(new Uint8Array(0));
    this.retrieves.clear();
    const finish = () => this.resolveEnded(err);
    if (this.initialized) {
      this.destroy().then(finish, (e: unknown) => {
        process.emitWarning(`puffs: destroy threw ${String(e)}`);
        finish();
      });
    } else finish();
  }

  // ---- notifications (server → kernel) ----------------------------------------------

  /**
   * Send a notification. Written without blocking the event loop, because the
   * kernel may hold locks while it waits on a reply this process has yet to
   * send. Resolves false when the kernel refused it (e.g. nothing cached).
   */
  async notify(n: Notification): Promise<boolean> {
    const parts = this.notification(n);
    if (parts === undefined) return false;
    try {
      return this.channel.post ? await this.channel.post(parts) : this.channel.send(parts);
    } catch {
      return false;
    }
  }

  /** `n` encoded and logged, or undefined when no peer is there to tell. */
  private notification(n: Notification): Uint8Array[] | undefined {
    if (!this.initialized || this.ended) return undefined;
    this.log?.(`tx notify ${n.kind}`);
    return encodeNotification(n);
  }

  /**
   * RequestContext.attrsChanged: the peer drops its cached attributes of
   * `ino` before the request's reply, so that nothing reads the old ones
   * after the call returns. Sent at once, not posted: dropping attributes
   * only (offset -1) takes no lock the kernel could be holding for us.
   */
  private readonly dropAttrs = (ino: number): void => {
    const parts = this.notification({ kind: 'invalInode', arg: { ino, off: -1, len: 0 } });
    if (parts === undefined) return;
    try {
      this.channel.send(parts);
    } catch {
      // The channel is closing: nobody is left to hold stale attributes.
    }
  };

  /** Drop cached attributes and data of a node; `length` 0 = to the end, `offset` < 0 = attributes only. */
  invalInode(ino: number, offset = 0, length = 0): Promise<boolean> {
    return this.notify({ kind: 'invalInode', arg: { ino, off: offset, len: length } });
  }

  /** Drop a cached name. */
  invalEntry(parent: number, name: string, expireOnly = false): Promise<boolean> {
    return this.notify({ kind: 'invalEntry', arg: { parent, namelen: 0, flags: expireOnly ? 1 : 0 }, name });
  }

  /** A name was removed behind the kernel's back. */
  notifyDelete(parent: number, child: number, name: string): Promise<boolean> {
    return this.notify({ kind: 'delete', arg: { parent, child, namelen: 0 }, name });
  }

  /** Push data into the kernel's page cache. */
  store(ino: number, offset: number, data: Uint8Array): Promise<boolean> {
    return this.notify({ kind: 'store', arg: { nodeid: ino, offset, size: data.byteLength }, data });
  }

  /** Ask the kernel for cached data of a node; resolves with what it had (possibly nothing). */
  async retrieve(ino: number, offset: number, size: number): Promise<Uint8Array> {
    const notifyUnique = this.nextRetrieve++;
    const got = new Promise<Uint8Array>((resolve) => this.retrieves.set(notifyUnique, resolve));
    const sent = await this.notify({ kind: 'retrieve', arg: { notifyUnique, nodeid: ino, offset, size } });
    if (!sent) {
      this.retrieves.delete(notifyUnique);
      return new Uint8Array(0);
    }
    return got;
  }

  /** Wake a poll() waiter registered with handle `kh`. */
  pollWakeup(kh: number): Promise<boolean> {
    return this.notify({ kind: 'poll', arg: { kh } });
  }
}


function isPromise(x: unknown): x is Promise<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';
}
