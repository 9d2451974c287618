/**
 * Two channels joined in memory: for tests and for a client that runs the
 * server in the same process. No bytes leave the process, but frames are
 * still whole byte strings, so both ends run the same code as over a socket.
 */
import { ChannelClosedError, type Channel, type FrameHandler } from './channel.js';
import { FrameSlab } from '../slab.js';
import { checkOutgoingFrame, joinInto, resolveMaxFrameSize } from './framer.js';

/** Options for {@link memoryPair}. */
export interface MemoryPairOptions {
  /** Largest frame either end accepts or sends, header included. Default 1 MiB + 4096. */
  maxFrameSize?: number;
  /**
   * Frames the second end sends are handed to the first end's handler inside
   * that send, when nothing is queued before them and the first end is not
   * already handling a frame (else they are queued as usual). For an owner of
   * the first end that never has the second end's sender on its own stack:
   * a client whose server runs only from frames the client queued, as
   * attach's in-process server does. Default false.
   */
  deliverAtOnce?: boolean;
}

const slab = new FrameSlab();

/** Room for one frame in flight. */
function frameBuffer(size: number): Uint8Array {
  if (size > FrameSlab.FRAME_MAX) return new Uint8Array(size);
  const at = slab.take(size); // first: it may start a new slab
  return new Uint8Array(slab.buffer, at, size);
}

const resolved = Promise.resolve();

/** Queue marker: the peer closed; everything queued before it is still delivered. */
const PEER_CLOSED = Symbol('peer closed');

class MemoryChannel implements Channel {
  /** Parts are written (device) or copied (memory, port) before send returns. */
  readonly doneWithPartsOnSend = true;
  readonly maxFrameSize: number;
  peer!: MemoryChannel;
  #handler: FrameHandler | undefined;
  /** Frames (and the close marker) sent to this end, not yet delivered. */
  #queue: (Uint8Array | typeof PEER_CLOSED)[] = [];
  #scheduled = false;
  #closed = false;
  #closeError: Error | undefined;
  #notified = false;
  /** Frames sent to this end may be handled inside the sender's send (deliverAtOnce). */
  atOnce = false;
  /** This end's handler is running (a drain or an at-once delivery). */
  #handling = false;

  constructor(maxFrameSize: number) {
    this.maxFrameSize = maxFrameSize;
  }

  start(handler: FrameHandler): void {
    if (this.#handler) throw new Error('memory channel: start called twice');
    this.#handler = handler;
    if (this.#closed) queueMicrotask(() => this.#notify());
    else this.#schedule();
  }

  send(parts: readonly Uint8Array[]): boolean {
    if (this.#closed) throw new ChannelClosedError();
    const total = checkOutgoingFrame(parts, this.maxFrameSize);
    const peer = this.peer;
    if (peer.atOnce && peer.#canHandleNow()) {
      // The frame is valid only during the handler's call, and the part stays unchanged until send returns: no copy.
      if (parts.length === 1) {
        peer.#handleNow(parts[0]!);
        return true;
      }
      // A gather list (a READ reply lends the file system's pages) is joined in the receiver's scratch
      // buffer, which no frame outlives: the next at-once frame may overwrite it, as a socket's read buffer.
      if (total <= FrameSlab.FRAME_MAX) {
        peer.#handleNow(peer.#joinInScratch(parts, total));
        return true;
      }
    }
    // Copy: the receiver owns its frame and the sender may reuse its parts at once.
    return this.peer.#enqueue(joinInto(frameBuffer(total), parts));
  }

  sendOwned(frame: Uint8Array): boolean {
    if (this.#closed) throw new ChannelClosedError();
    checkOutgoingFrame([frame], this.maxFrameSize);
    const peer = this.peer;
    if (peer.atOnce && peer.#canHandleNow()) {
      peer.#handleNow(frame);
      return true;
    }
    // The sender gave the frame up: the receiver may own it as it is, no copy.
    return peer.#enqueue(frame);
  }

  close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    this.#queue.length = 0; // frames sent to us are dropped, as by a closed socket
    this.peer.#enqueue(PEER_CLOSED);
    if (this.#handler) this.#notify();
  }

  /** Room for one at-once frame joined from parts (grown to FrameSlab.FRAME_MAX at most). */
  #scratch = new Uint8Array(0);

  #joinInScratch(parts: readonly Uint8Array[], total: number): Uint8Array {
    if (this.#scratch.byteLength < total) this.#scratch = new Uint8Array(Math.max(total, 8192));
    return joinInto(this.#scratch.subarray(0, total), parts);
  }

  #canHandleNow(): boolean {
    return !this.#closed && this.#handler !== undefined && !this.#handling && !this.#scheduled && this.#queue.length === 0;
  }

  #handleNow(frame: Uint8Array): void {
    this.#handling = true;
    try {
      this.#handler!.frame(frame);
    } catch (error) {
      // As in a drain: a handler that throws closes its own end, not the sender's.
      this.close(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#handling = false;
    }
  }

  /** False when this end is closed and `item` is dropped. */
  #enqueue(item: Uint8Array | typeof PEER_CLOSED): boolean {
    if (this.#closed) return false; // sent to a closed end: lost, like bytes written to a dead socket
    if (this.atOnce && item !== PEER_CLOSED && this.#canHandleNow()) {
      this.#handleNow(item);
      return true;
    }
    this.#queue.push(item);
    this.#schedule();
    return true;
  }

  #schedule(): void {
    if (this.#scheduled || !this.#handler || this.#queue.length === 0) return;
    this.#scheduled = true;
    // A promise reaction, not queueMicrotask: same queue, without the AsyncResource Node wraps each queueMicrotask callback in.
    resolved.then(this.#drain);
  }

  /**
   * Delivers what was queued when the drain began; frames queued meanwhile get
   * a fresh microtask, so a handler never sees a frame from inside its own send.
   */
  readonly #drain = (): void => {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    this.#handling = true;
    try {
      for (const item of batch) {
        if (this.#closed) return;
        if (item === PEER_CLOSED) {
          this.#closed = true;
          this.#notify();
          return;
        }
        try {
          this.#handler!.frame(item);
        } catch (error) {
          this.close(error instanceof Error ? error : new Error(String(error)));
          return;
        }
      }
    } finally {
      this.#handling = false;
    }
    this.#schedule();
  };

  #notify(): void {
    if (this.#notified) return;
    this.#notified = true;
    this.#handler!.closed(this.#closeError);
  }
}

/**
 * Two {@link Channel}s joined in memory: what one sends, the other receives.
 *
 * - `send` copies the parts into one Uint8Array (the caller may reuse its
 *   parts at once) and never delivers synchronously: frames arrive in order,
 *   in a microtask, so a handler is never re-entered from its own send.
 *   It returns true when the frame was queued for the other end, false when
 *   that end had already closed and the frame was dropped.
 * - Frames sent before the other end starts wait for its `start`.
 * - `close(error?)` on one end delivers `closed(error)` to that end
 *   synchronously and drops frames still queued for it; the other end
 *   receives every frame sent to it before the close, then `closed(undefined)`.
 *   Frames it sends in between are dropped (send returns false), as on a socket whose peer is gone.
 * - If a handler's `frame` throws, its end closes with that error.
 */
export function memoryPair(options: MemoryPairOptions = {}): [Channel, Channel] {
  const maxFrameSize = resolveMaxFrameSize(options.maxFrameSize);
  const a = new MemoryChannel(maxFrameSize);
  const b = new MemoryChannel(maxFrameSize);
  a.peer = b;
  b.peer = a;
  a.atOnce = options.deliverAtOnce === true;
  return [a, b];
}
