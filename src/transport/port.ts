/**
 * Channels over message ports (worker_threads): the port keeps message
 * boundaries, so each message is one frame and no splitting is needed; the
 * length header is still checked, so a confused peer is caught at once.
 */
import { ChannelClosedError, FramingError, type Channel, type FrameHandler } from './channel.js';
import { checkOutgoingFrame, frameLengthError, joinInto, readFrameLength, resolveMaxFrameSize } from './framer.js';

/**
 * What {@link PortChannel} needs of a port: a worker_threads `MessagePort`
 * (including `parentPort`) fits, as does any object with the same shape.
 */
export interface MessagePortLike {
  postMessage(value: unknown, transferList?: readonly ArrayBuffer[]): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  off(event: 'message', listener: (value: unknown) => void): unknown;
  off(event: 'close', listener: () => void): unknown;
  close(): void;
}

/** Options for {@link PortChannel}. */
export interface PortChannelOptions {
  /** Largest frame accepted or sent, header included. Default 1 MiB + 4096. */
  maxFrameSize?: number;
}

/**
 * A {@link Channel} over a message port: one message per frame.
 *
 * Sending copies the parts once into a fresh, exactly-sized Uint8Array and
 * transfers its buffer. The copy is what makes the transfer safe (the
 * caller's buffers may be pooled, shared or reused, and must not be
 * detached); the transfer avoids a second copy by structured clone, which
 * would also clone the whole backing buffer of a subarray.
 *
 * Incoming messages must be an ArrayBuffer or a byte view whose length header
 * equals its byte length and lies within bounds; anything else closes the
 * channel with a FramingError (and closes the port). The port closing, from
 * either side, is an orderly end: `closed(undefined)`. If `handler.frame`
 * throws, the channel closes with that error.
 */
export class PortChannel implements Channel {
  /** Parts are written (device) or copied (memory, port) before send returns. */
  readonly doneWithPartsOnSend = true;
  readonly maxFrameSize: number;
  readonly #port: MessagePortLike;
  #handler: FrameHandler | undefined;
  #closed = false;
  #closeError: Error | undefined;
  #notified = false;

  /** Wraps `port`, which the channel then owns: it is closed when the channel closes. */
  constructor(port: MessagePortLike, options: PortChannelOptions = {}) {
    this.maxFrameSize = resolveMaxFrameSize(options.maxFrameSize);
    this.#port = port;
    // 'close' from construction, so a port closed before start is noticed;
    // 'message' only from start, since attaching it starts the port's queue.
    port.on('close', this.#onClose);
  }

  /** True once the channel is closed (by either side). */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Begin delivering frames to `handler`. If the channel already closed, `closed` follows in a microtask. */
  start(handler: FrameHandler): void {
    if (this.#handler) throw new Error('PortChannel.start called twice');
    this.#handler = handler;
    if (this.#closed) {
      queueMicrotask(() => this.#notify());
      return;
    }
    this.#port.on('message', this.#onMessage);
  }

  /**
   * Send one frame (copied, see the class notes; the parts may be reused at
   * once). Throws FramingError for a header that disagrees with the total or a
   * total out of bounds, and ChannelClosedError once closed. Returns true:
   * the frame was posted (a port has no per-frame errors).
   */
  send(parts: readonly Uint8Array[]): boolean {
    if (this.#closed) throw new ChannelClosedError();
    const total = checkOutgoingFrame(parts, this.maxFrameSize);
    // `new Uint8Array` owns a fresh, unpooled ArrayBuffer: safe to transfer.
    const frame = joinInto(new Uint8Array(total), parts);
    this.#port.postMessage(frame, [frame.buffer]);
    return true;
  }

  /** Close the channel and the port; `closed(error)` is delivered synchronously if started. Idempotent. */
  close(error?: Error): void {
    this.#finish(error);
  }

  readonly #onMessage = (value: unknown): void => {
    if (this.#closed) return;
    let frame: Uint8Array;
    if (value instanceof ArrayBuffer) frame = new Uint8Array(value);
    else if (ArrayBuffer.isView(value)) frame = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    else {
      this.#finish(new FramingError(`port message is not binary (got ${describe(value)})`));
      return;
    }
    const error = this.#check(frame);
    if (error) {
      this.#finish(error);
      return;
    }
    try {
      this.#handler!.frame(frame);
    } catch (e) {
      this.#finish(e instanceof Error ? e : new Error(String(e)));
    }
  };

  readonly #onClose = (): void => {
    this.#finish(undefined);
  };

  #check(frame: Uint8Array): FramingError | undefined {
    if (frame.byteLength < 4) return new FramingError(`port message of ${frame.byteLength} bytes is too short to hold a length header`);
    const length = readFrameLength(frame);
    if (length !== frame.byteLength) {
      return new FramingError(`port message: length header says ${length} bytes but the message holds ${frame.byteLength}`);
    }
    return frameLengthError(length, this.maxFrameSize);
  }

  #finish(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    const port = this.#port;
    port.off('message', this.#onMessage);
    port.off('close', this.#onClose);
    port.close();
    if (this.#handler) this.#notify();
  }

  #notify(): void {
    if (this.#notified) return;
    this.#notified = true;
    this.#handler!.closed(this.#closeError);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}
