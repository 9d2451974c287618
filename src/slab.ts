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

/**
 * Room for large payloads a file system keeps (write data), cut from
 * SharedArrayBuffer slabs of 64 MiB. Each payload's room is its own: no two
 * payloads share bytes, and a slab is never reused. The slab goes when its
 * last payload does; the module holds the slab it is filling only weakly, so
 * that once every payload cut from it is gone (a file removed) its memory
 * goes back to the system, unused tail and all.
 *
 * Why slabs: fresh memory costs a page fault per 4 KiB page on first touch
 * (about 10 µs each on the VMs we measure on: 400 MB/s, a tenth of a kernel
 * tmpfs write), unless it is in transparent huge pages, one fault per 2 MiB.
 * glibc asks for huge pages (madvise) only for mappings of 2 MiB and more,
 * and only under GLIBC_TUNABLES=glibc.malloc.hugetlb=1, which bin/puffs
 * sets; a 1 MiB buffer per payload never gets them. The slab's size is
 * chosen so that glibc maps exactly 64 MiB (its 16-byte chunk header plus a
 * page of slack): the kernel puts an anonymous mapping whose length is a
 * multiple of 2 MiB on a 2 MiB boundary, so every part of it can be huge.
 */
export class PayloadSlab {
  /** Payloads above this get a buffer of their own. */
  static readonly PAYLOAD_MAX = 16 << 20;
  private static readonly SIZE = (64 << 20) - 4096;

  private current: WeakRef<SharedArrayBuffer> | null = null;
  private used = 0;

  /** A copy of `data` in uncounted memory (a view of a SharedArrayBuffer), as a Buffer. */
  copy(data: Uint8Array): Buffer {
    const size = data.byteLength;
    let out: Buffer;
    if (size > PayloadSlab.PAYLOAD_MAX) {
      out = Buffer.from(new SharedArrayBuffer(size));
    } else {
      let sab = this.current?.deref();
      if (sab === undefined || this.used + size > sab.byteLength) {
        sab = new SharedArrayBuffer(PayloadSlab.SIZE);
        this.current = new WeakRef(sab);
        this.used = 0;
      }
      out = Buffer.from(sab, this.used, size);
      // Page-aligned rooms keep a payload's pages its own (a file system may adopt them as pages).
      this.used += (size + 4095) & ~4095;
    }
    out.set(data);
    return out;
  }
}
