/**
 * The transport layer (our putter): channels that move whole frames as plain
 * bytes. A channel knows nothing of FUSE beyond the framing rule every FUSE
 * message follows: the first 4 bytes, little-endian, hold the frame's total
 * length. Requests and replies, notifications, interrupts and forgets all
 * travel the same way, in both directions.
 */

/** What a channel delivers to its owner. */
export interface FrameHandler {
  /**
   * One whole frame. The bytes are valid only during this call: a channel may
   * reuse its buffer for the next frame, so copy what must outlive it.
   */
  frame(frame: Uint8Array): void;
  /**
   * The channel is finished: `error` is undefined for an orderly end (peer
   * closed, device unmounted) and set for a failure (malformed frame, I/O
   * error). Called exactly once; no frame follows.
   */
  closed(error?: Error): void;
  /**
   * True while the owner has requests outstanding that need the event loop
   * to finish (asynchronous handlers). A channel may read ahead on the
   * calling thread, blocking, only while this is false.
   */
  busy?(): boolean;
  /**
   * Where to read the next frame (at least `size` bytes), for an owner that
   * keeps large payloads where they were read instead of copying them;
   * undefined: the channel's own buffer. A channel may ask before any read
   * and hold the answer only until that frame is delivered.
   */
  readArea?(size: number): Uint8Array | undefined;
}

export interface Channel {
  /** Begin delivering frames. Called once. */
  start(handler: FrameHandler): void;
  /**
   * Send one frame made of `parts` (gathered as with writev, not copied when the
   * channel can avoid it). The first part starts with the length header.
   * Throws ChannelClosedError once the channel is closed. Errors the peer
   * reports for one frame (the kernel's ENOENT for a reply to an interrupted
   * request) are not channel failures: send returns false for them. Returns
   * true when the frame was handed to the peer.
   */
  send(parts: readonly Uint8Array[]): boolean;
  /**
   * send() of one whole frame the caller gives up: it never reads or writes
   * it again, so a channel that keeps frames (the memory channel queues
   * them) may keep this one instead of a copy. Channels may leave this out;
   * callers then use send.
   */
  sendOwned?(frame: Uint8Array): boolean;
  /**
   * Send a frame without ever blocking the caller, for messages the peer may
   * hold up until it hears from us (a FUSE notification written while the
   * kernel waits on a reply). Channels whose send never blocks may leave this
   * out; callers then use send.
   */
  post?(parts: readonly Uint8Array[]): Promise<boolean>;
  /** End the channel; `closed` is delivered to the handler if it was started. Idempotent. */
  close(error?: Error): void;
  /** Largest frame this channel will accept or send. */
  readonly maxFrameSize: number;
  /**
   * True when send() is done with the parts once it returns (written, or
   * copied). Otherwise a sender must not change them afterwards, and the
   * session joins replies that lend a file system's own buffers.
   */
  readonly doneWithPartsOnSend?: boolean;
}

export class ChannelClosedError extends Error {
  readonly code = 'ENOTCONN';
  constructor(message = 'channel is closed') {
    super(message);
    this.name = 'ChannelClosedError';
  }
}

/** A frame that breaks the framing rule: a length field that is too small, too large, or wrong. */
export class FramingError extends Error {
  readonly code = 'EPROTO';
  constructor(message: string) {
    super(message);
    this.name = 'FramingError';
  }
}

/** Smallest meaningful frame: a FUSE out header is 16 bytes, an in header 40. */
export const MIN_FRAME_SIZE = 16;
