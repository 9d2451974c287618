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
 * Slabs whose payloads are all gone, kept for reuse for a while.
 *
 * Why keep them: memory given back to the system is not cheap to take
 * again on the VMs we measure on. The guest reports free blocks to its host
 * within about 2 s (virtio-balloon free page reporting), and touching such
 * memory again costs about 4 ms per 2 MiB: a 1 GiB write into it runs at
 * ~490 MiB/s, into memory kept here at ~3,900 (DECISIONS: payload slabs).
 * Allocators keep freed memory for the same reason (jemalloc's decay, Go's
 * scavenger, which once returned only what lay unused for 5 minutes).
 *
 * How a slab is known to be free: every view of a SharedArrayBuffer holds
 * that buffer object, so when the object a slab was handed out as is
 * collected, no view of it is left anywhere. A second object over the same
 * memory (structuredClone of a SharedArrayBuffer shares, not copies), the
 * keeper, holds the memory meanwhile and is what the pool keeps; the next
 * slab is a fresh object over a kept keeper's memory. Collections come from
 * server/memory.ts, which starts one after every 64 MiB a file system drops.
 */
class SlabPool {
  /** Milliseconds a free slab is kept before its memory goes back (0: not kept). */
  keepMs = 300_000;
  /** Told how many bytes were dropped, so that a collection frees them (server/memory.ts sets it). */
  onDropped: (bytes: number) => void = () => undefined;
  private readonly free: { keeper: SharedArrayBuffer; since: number }[] = [];
  private readonly registry = new FinalizationRegistry<SharedArrayBuffer>((keeper) => this.put(keeper));
  private timer: ReturnType<typeof setTimeout> | null = null;

  /** A slab of `size` bytes to cut from: kept memory if there is some. */
  take(size: number): SharedArrayBuffer {
    const kept = this.free.pop();
    if (kept === undefined && this.keepMs <= 0) return new SharedArrayBuffer(size);
    const keeper = kept?.keeper ?? new SharedArrayBuffer(size);
    const slab = structuredClone(keeper);
    this.registry.register(slab, keeper);
    return slab;
  }

  /** Bytes held in free slabs. */
  get freeBytes(): number {
    let n = 0;
    for (const f of this.free) n += f.keeper.byteLength;
    return n;
  }

  /** Drop free slabs kept longer than `keepMs` (all with `all`); their memory goes at the next collection. */
  trim(all = false): void {
    const cutoff = performance.now() - this.keepMs;
    let dropped = 0;
    // Oldest first: `free` is in the order slabs came back, and take() reuses the newest.
    while (this.free.length > 0 && (all || this.free[0]!.since <= cutoff)) dropped += this.free.shift()!.keeper.byteLength;
    if (dropped > 0) this.onDropped(dropped);
    // Re-armed for the oldest left, under the keepMs now in force.
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.arm();
  }

  private put(keeper: SharedArrayBuffer): void {
    if (this.keepMs <= 0) {
      this.onDropped(keeper.byteLength);
      return;
    }
    this.free.push({ keeper, since: performance.now() });
    this.arm();
  }

  private arm(): void {
    if (this.timer !== null || this.free.length === 0) return;
    const wait = Math.max(0, this.free[0]!.since + this.keepMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.trim();
    }, wait + 10);
    this.timer.unref(); // kept memory never holds a process open
  }
}

/** The process's free payload slabs (PayloadSlab). */
export const payloadSlabs = new SlabPool();

/**
 * Keep free payload slabs this many milliseconds before giving their memory
 * back (default 300,000; 0 gives it back at the next collection).
 */
export function keepFreedPayloads(ms: number): void {
  payloadSlabs.keepMs = ms;
  payloadSlabs.trim();
}

/**
 * Room for large payloads a file system keeps (write data), cut from
 * SharedArrayBuffer slabs of 64 MiB. Each payload's room is its own: no two
 * payloads share bytes. The module holds the slab it is filling only
 * weakly: once every payload cut from it is gone (a file removed), the slab
 * goes to the pool above, unused tail and all, and its memory back to the
 * system when the pool lets it go.
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
  static readonly SIZE = (64 << 20) - 4096;

  private readonly fill = new SlabFill();

  /** A copy of `data` in uncounted memory (a view of a SharedArrayBuffer), as a Buffer. */
  copy(data: Uint8Array): Buffer {
    const size = data.byteLength;
    let out: Buffer;
    if (size > PayloadSlab.PAYLOAD_MAX) {
      out = Buffer.from(new SharedArrayBuffer(size));
    } else {
      // Page-aligned rooms keep a payload's pages its own (a file system may adopt them as pages).
      const at = this.fill.place(size, (used) => used);
      out = Buffer.from(this.fill.slab!, at, size);
      this.fill.used = pageUp(at + size);
    }
    out.set(data);
    return out;
  }
}

/**
 * The payload slab a writer is filling, held weakly (so that it goes to the
 * pool with the last payload cut from it), and how far it is filled.
 */
class SlabFill {
  private current: WeakRef<SharedArrayBuffer> | null = null;
  /** Bytes of `slab` in use, from its start. */
  used = 0;

  /** `taken` hears of each slab taken from the pool, once. */
  constructor(private readonly taken: (slab: SharedArrayBuffer) => void = () => undefined) {}

  /** The slab the last place() was in (held as long as the caller holds it). */
  get slab(): SharedArrayBuffer | undefined {
    return this.current?.deref();
  }

  /**
   * The offset for `size` bytes at `at(used)`: in the current slab if they
   * fit, else in a fresh one from the pool (then `at(0)`); `slab` is then
   * the one it is in.
   */
  place(size: number, at: (used: number) => number): number {
    const sab = this.current?.deref();
    const offset = at(this.used);
    if (sab !== undefined && offset + size <= sab.byteLength) return offset;
    const fresh = payloadSlabs.take(PayloadSlab.SIZE);
    this.current = new WeakRef(fresh);
    this.used = 0;
    this.taken(fresh);
    return at(0);
  }
}

/** `n` rounded up to a whole 4 KiB page. */
function pageUp(n: number): number {
  return (n + 4095) & ~4095;
}

/** Readers by the slab their current room is in: whose room a payload was read into. */
const readers = new WeakMap<SharedArrayBuffer, PayloadReader>();

/**
 * Rooms in payload slabs for a channel to read frames into, so that a write
 * payload a file system keeps stays where the kernel wrote it, instead of
 * being copied out of the channel's buffer: a 1 MiB write was read once by
 * the kernel's copy and once more by ours, and ours (into memory no cache
 * holds) cost a quarter of the server's time in a 1 GiB write.
 *
 * A room is big enough for any frame and placed so that the payload of a
 * WRITE (at `dataOffset` in its frame) starts a page of its own. The same
 * room is lent until a payload read into it is taken (adopt), and the next
 * room starts past that payload. Frames that are not kept only pass
 * through. The reader holds its slab and room weakly: between reads only
 * kept payloads hold the slab, which goes to the pool with the last of them,
 * as a slab of copies does.
 */
export class PayloadReader {
  private readonly fill = new SlabFill((slab) => readers.set(slab, this));
  private room: WeakRef<Uint8Array> | null = null;
  /** Where a frame goes so that its payload starts a page. */
  private readonly pageAfterHeader: (used: number) => number;

  constructor(private readonly dataOffset: number) {
    this.pageAfterHeader = (used) => pageUp(used + dataOffset) - dataOffset;
  }

  /** Room of `size` bytes to read the next frame into; undefined when a slab cannot hold that much. */
  area(size: number): Uint8Array | undefined {
    const lent = this.room?.deref();
    if (lent !== undefined) return lent;
    if (size + 4096 > PayloadSlab.SIZE) return undefined;
    const at = this.fill.place(size, this.pageAfterHeader);
    const room = new Uint8Array(this.fill.slab!, at, size);
    this.room = new WeakRef(room);
    return room;
  }

  /**
   * `data` as it lies, as a Buffer the caller keeps, when it is the payload
   * of a frame read into a reader's room (at that reader's data offset);
   * the room is then used up. Undefined for any other bytes.
   */
  static adopt(data: Uint8Array): Buffer | undefined {
    const sab = data.buffer;
    if (!(sab instanceof SharedArrayBuffer)) return undefined;
    const reader = readers.get(sab);
    const room = reader?.room?.deref();
    if (reader === undefined || room === undefined || room.buffer !== sab) return undefined;
    const at = data.byteOffset;
    const end = at + data.byteLength;
    if (at !== room.byteOffset + reader.dataOffset || end > room.byteOffset + room.byteLength) return undefined;
    reader.room = null;
    reader.fill.used = pageUp(end);
    return Buffer.from(sab, at, data.byteLength);
  }
}
