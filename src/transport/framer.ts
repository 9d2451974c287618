/**
 * Frame splitting for byte streams, and the length checks every channel
 * shares. A stream (socket, pipe) has no message boundaries, so the u32
 * little-endian length at the start of each frame is the only way to find
 * where one ends and the next begins.
 */
import { FramingError, MIN_FRAME_SIZE } from './channel.js';

/**
 * Default largest frame: 1 MiB of payload (the largest FUSE read/write we
 * negotiate) plus a page for headers.
 */
export const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024 + 4096;

/** Largest value the u32 length header can hold. */
const U32_MAX = 0xffff_ffff;

/**
 * Checks a `maxFrameSize` option and returns it (or the default when
 * undefined). Throws RangeError for a value no frame could satisfy.
 */
export function resolveMaxFrameSize(maxFrameSize: number | undefined): number {
  if (maxFrameSize === undefined) return DEFAULT_MAX_FRAME_SIZE;
  if (!Number.isInteger(maxFrameSize) || maxFrameSize < MIN_FRAME_SIZE || maxFrameSize > U32_MAX) {
    throw new RangeError(
      `maxFrameSize must be an integer from ${MIN_FRAME_SIZE} to ${U32_MAX}, got ${maxFrameSize}`,
    );
  }
  return maxFrameSize;
}

/** Reads the u32 little-endian length header at `offset`; the caller ensures 4 bytes are there. */
export function readFrameLength(bytes: Uint8Array, offset = 0): number {
  // `>>> 0` keeps lengths >= 2^31 positive so they fail the max check instead of the min one.
  return (
    (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0
  );
}

/**
 * The FramingError for a length header outside [MIN_FRAME_SIZE, maxFrameSize],
 * or undefined when the length is acceptable.
 */
export function frameLengthError(length: number, maxFrameSize: number): FramingError | undefined {
  if (length < MIN_FRAME_SIZE) {
    return new FramingError(`frame length ${length} is below the minimum of ${MIN_FRAME_SIZE} bytes`);
  }
  if (length > maxFrameSize) {
    return new FramingError(`frame length ${length} exceeds the maximum of ${maxFrameSize} bytes`);
  }
  return undefined;
}

/**
 * Validates an outgoing frame given as gathered `parts` and returns its total
 * length. Throws FramingError when the parts are empty, the first part is too
 * short to hold the header, the header disagrees with the total, or the total
 * is out of bounds: all of these are bugs in the caller, caught before any
 * byte reaches the peer (a bad frame would desynchronise the stream).
 */
export function checkOutgoingFrame(parts: readonly Uint8Array[], maxFrameSize: number): number {
  const first = parts[0];
  if (first === undefined || first.byteLength < 4) {
    throw new FramingError('outgoing frame: the first part must hold the 4-byte length header');
  }
  let total = 0;
  for (const part of parts) total += part.byteLength;
  const declared = readFrameLength(first);
  if (declared !== total) {
    throw new FramingError(`outgoing frame: length header says ${declared} bytes but the parts hold ${total}`);
  }
  const error = frameLengthError(total, maxFrameSize);
  if (error) throw new FramingError(`outgoing ${error.message}`);
  return total;
}

/** `parts` one after another in `frame` (which holds exactly their total); returns `frame`. */
export function joinInto<F extends Uint8Array>(frame: F, parts: readonly Uint8Array[]): F {
  let offset = 0;
  for (const part of parts) {
    frame.set(part, offset);
    offset += part.byteLength;
  }
  return frame;
}

/** Options for {@link Framer}. */
export interface FramerOptions {
  /** Largest acceptable frame, header included. Default {@link DEFAULT_MAX_FRAME_SIZE}. */
  maxFrameSize?: number;
}

/**
 * Incremental frame splitter: feed it chunks of any size with {@link push} and
 * it calls `onFrame` once per whole frame, in order.
 *
 * A frame that lies inside one chunk is delivered as a subarray of that chunk
 * (no copy). Only a frame that spans chunks is copied, once, into a buffer of
 * exactly its size allocated when its header is read — so every byte is copied
 * at most once and many small frames cost no concatenation.
 *
 * The frame passed to `onFrame` is valid only during the call.
 *
 * After a failure (a bad length header, or `onFrame` throwing) the framer is
 * dead: {@link push} rethrows that error and delivers nothing more.
 */
export class Framer {
  /** Largest acceptable frame, header included. */
  readonly maxFrameSize: number;
  readonly #onFrame: (frame: Uint8Array) => void;
  /** A header split across chunks collects here. */
  readonly #header = new Uint8Array(4);
  #headerFill = 0;
  /** A frame split across chunks collects here; sized from its header. */
  #partial: Uint8Array | undefined;
  #partialFill = 0;
  #frames = 0;
  #failure: Error | undefined;
  #stopped = false;

  constructor(onFrame: (frame: Uint8Array) => void, options: FramerOptions = {}) {
    this.#onFrame = onFrame;
    this.maxFrameSize = resolveMaxFrameSize(options.maxFrameSize);
  }

  /** Frames delivered so far. */
  get frameCount(): number {
    return this.#frames;
  }

  /** True when some bytes of a frame have arrived but not all of it. */
  get midFrame(): boolean {
    return this.#headerFill > 0 || this.#partial !== undefined;
  }

  /** Bytes of the incomplete frame held so far (0 at a frame boundary). */
  get bufferedBytes(): number {
    return this.#partial !== undefined ? this.#partialFill : this.#headerFill;
  }

  /** Length of the incomplete frame, or undefined when its header is not complete yet. */
  get expectedLength(): number | undefined {
    return this.#partial?.byteLength;
  }

  /** The error that stopped the framer, if any. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * Stop delivering: the rest of the current chunk and any later one are
   * dropped silently. For an owner that closes while frames are being
   * delivered (for example from inside `onFrame`).
   */
  stop(): void {
    this.#stopped = true;
    this.#partial = undefined;
    this.#headerFill = 0;
  }

  /**
   * Feed the next chunk of the stream. Calls `onFrame` synchronously for every
   * frame it completes. Throws FramingError for a bad length header (frames
   * before it in the chunk are delivered, none after), or whatever `onFrame`
   * threw.
   */
  push(chunk: Uint8Array): void {
    if (this.#failure) throw this.#failure;
    const n = chunk.byteLength;
    let off = 0;
    while (off < n && !this.#stopped) {
      const partial = this.#partial;
      if (partial !== undefined) {
        // Continue a frame that spans chunks.
        const take = Math.min(partial.byteLength - this.#partialFill, n - off);
        partial.set(chunk.subarray(off, off + take), this.#partialFill);
        this.#partialFill += take;
        off += take;
        if (this.#partialFill === partial.byteLength) {
          this.#partial = undefined;
          this.#partialFill = 0;
          this.#deliver(partial);
        }
        continue;
      }
      if (this.#headerFill > 0) {
        // Continue a header that spans chunks.
        const take = Math.min(4 - this.#headerFill, n - off);
        this.#header.set(chunk.subarray(off, off + take), this.#headerFill);
        this.#headerFill += take;
        off += take;
        if (this.#headerFill < 4) return;
        const length = this.#checkLength(readFrameLength(this.#header));
        this.#headerFill = 0;
        this.#partial = new Uint8Array(length);
        this.#partial.set(this.#header);
        this.#partialFill = 4;
        continue;
      }
      // At a frame boundary inside this chunk.
      if (n - off < 4) {
        this.#header.set(chunk.subarray(off));
        this.#headerFill = n - off;
        return;
      }
      const length = this.#checkLength(readFrameLength(chunk, off));
      if (n - off >= length) {
        const frame = chunk.subarray(off, off + length);
        off += length;
        this.#deliver(frame);
        continue;
      }
      // The frame runs past this chunk: copy what we have into a buffer of its full size.
      const buffer = new Uint8Array(length);
      buffer.set(chunk.subarray(off));
      this.#partial = buffer;
      this.#partialFill = n - off;
      return;
    }
  }

  /**
   * Declare the end of the stream. Throws FramingError when it ends inside a
   * frame (a truncated frame is a failure, not an orderly end).
   */
  end(): void {
    if (this.#failure || this.#stopped || !this.midFrame) return;
    const expected = this.expectedLength;
    const error = new FramingError(
      `stream ended mid-frame: ${this.bufferedBytes} of ${expected ?? 'an unknown number of'} bytes received`,
    );
    this.#fail(error);
    throw error;
  }

  #checkLength(length: number): number {
    const error = frameLengthError(length, this.maxFrameSize);
    if (error) {
      this.#fail(error);
      throw error;
    }
    return length;
  }

  #deliver(frame: Uint8Array): void {
    this.#frames++;
    try {
      this.#onFrame(frame);
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  #fail(error: Error): void {
    this.#failure = error;
    this.#partial = undefined;
    this.#headerFill = 0;
  }
}
