/**
 * Room for small frames, cut from a slab. A fresh ArrayBuffer per message
 * (what Buffer.alloc, and allocUnsafe from 4 KiB up, make) costs more than
 * the rest of a small round trip: allocation, zeroing, GC bookkeeping. A slab
 * is never reused; it goes when the last frame cut from it does. Each user
 * keeps its own slab, so frames of different owners never share a buffer.
 */
export class FrameSlab {
  /** Frames up to this size come from the slab; larger ones want their own buffer. */
  static readonly FRAME_MAX = 64 * 1024;
  private static readonly SIZE = 1024 * 1024;

  /** The current slab: `take` returns offsets into it (and may replace it first). */
  buffer = new ArrayBuffer(0);
  /** A view of all of `buffer`, so writers need not make one (or ask a frame for its buffer) per frame. */
  view = new DataView(this.buffer);
  private used = 0;

  /** The offset in `buffer` of room for `size` bytes (at most FRAME_MAX), 8-byte aligned. */
  take(size: number): number {
    if (this.used + size > this.buffer.byteLength) {
      this.buffer = new ArrayBuffer(FrameSlab.SIZE);
      this.view = new DataView(this.buffer);
      this.used = 0;
    }
    const at = this.used;
    this.used += (size + 7) & ~7;
    return at;
  }
}
