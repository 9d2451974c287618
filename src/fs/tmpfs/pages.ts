/**
 * File data in 4 KiB pages, grouped in chunks of CHUNK_PAGES (1 MiB) held in
 * a Map (chunk index -> chunk). An absent page is a hole and reads as zeros.
 * A chunk is dense (one buffer holds all its pages, all with data: an
 * adopted 1 MiB write) or sparse (a page array). Dense chunks cost one
 * object per MiB instead of 256, and a read of one is a single iovec; any
 * change that frees part of one turns it sparse first. A page reserved by
 * fallocate but never written is the shared UNWRITTEN marker: it counts as
 * allocated (st_blocks, statfs) yet reads as zeros and is a hole to
 * SEEK_DATA, as the kernel's not-uptodate shmem folios are. Bytes of the
 * last page beyond EOF are always zero, so growing a file never reveals old
 * data.
 */
import { keepShape } from '../../shapes.js';
import { MAX_FILE_PAGES, PAGE_SIZE } from './constants.js';
import type { FileInode } from './inode.js';
import { isUncounted, releasedUncounted } from '../../server/memory.js';

/** Where pages are charged: the file system's size= budget. */
export interface BlockAccount {
  /** Take `n` pages from the budget; false (and nothing taken) if they do not fit. */
  reserveBlocks(n: number): boolean;
  releaseBlocks(n: number): void;
}

/** Marker for a page allocated by fallocate and not yet written. */
export const UNWRITTEN: Uint8Array = new Uint8Array(0);

/** Pages per chunk: one max_write, so each 1 MiB write the kernel sends fills one. */
export const CHUNK_PAGES = 256;
const CHUNK_BYTES = CHUNK_PAGES * PAGE_SIZE;

/** CHUNK_PAGES consecutive pages of a file. */
export class Chunk {
  /** Dense: all pages, all holding data. */
  buf: Uint8Array | null;
  /** Sparse: page i of the chunk, undefined for a hole; grows as pages are set (small files stay small). */
  pages: (Uint8Array | undefined)[] | null;
  /** Pages present (data or UNWRITTEN). */
  count: number;

  constructor(buf: Uint8Array | null) {
    this.buf = buf;
    this.pages = buf === null ? [] : null;
    this.count = buf === null ? 0 : CHUNK_PAGES;
  }

  /** Page views instead of one buffer (before pages are freed or replaced one by one). */
  sparse(): (Uint8Array | undefined)[] {
    if (this.pages === null) {
      const buf = this.buf!;
      const pages: (Uint8Array | undefined)[] = new Array(CHUNK_PAGES);
      for (let i = 0; i < CHUNK_PAGES; i++) pages[i] = buf.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
      this.pages = pages;
      this.buf = null;
    }
    return this.pages;
  }

  /** Page `i` of the chunk (a view for dense chunks). */
  page(i: number): Uint8Array | undefined {
    const buf = this.buf;
    return buf !== null ? buf.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE) : this.pages![i];
  }
}
keepShape(new Chunk(null)); // see shapes.ts: a file system may hold no data for a while

/**
 * Bytes of a chunk in write payloads V8 does not count (FsFeatures
 * accountsWriteData): its dense buffer, or its pages that are views of one.
 */
function uncountedBytes(chunk: Chunk): number {
  if (chunk.buf !== null) return isUncounted(chunk.buf) ? chunk.buf.byteLength : 0;
  let n = 0;
  for (const page of chunk.pages!) if (page !== undefined && isUncounted(page)) n += PAGE_SIZE;
  return n;
}

function pageIndex(pos: number): number {
  // Offsets reach 2^53: no 32-bit shifts.
  return Math.floor(pos / PAGE_SIZE);
}

/** The page at index `idx` (UNWRITTEN included), or undefined for a hole. */
function pageAt(node: FileInode, idx: number): Uint8Array | undefined {
  const ci = Math.floor(idx / CHUNK_PAGES);
  return node.pages?.get(ci)?.page(idx - ci * CHUNK_PAGES);
}

/**
 * Call `visit(ci, chunk, a, b)` for each present chunk meeting pages [lo, hi),
 * with [a, b) the part inside it (chunk-relative); cheaper of an index scan
 * and a key scan. `visit` may delete the chunk it is given.
 */
function eachChunk(node: FileInode, lo: number, hi: number, visit: (ci: number, chunk: Chunk, a: number, b: number) => void): void {
  const chunks = node.pages;
  if (chunks === null || chunks.size === 0 || hi <= lo) return;
  const cLo = Math.floor(lo / CHUNK_PAGES);
  const cHi = Math.floor((hi - 1) / CHUNK_PAGES); // inclusive; Infinity for "to the end"
  const one = (ci: number, chunk: Chunk) => {
    const base = ci * CHUNK_PAGES;
    visit(ci, chunk, Math.max(lo, base) - base, Math.min(hi, base + CHUNK_PAGES) - base);
  };
  if (cHi - cLo + 1 <= chunks.size) {
    for (let ci = cLo; ci <= cHi; ci++) {
      const chunk = chunks.get(ci);
      if (chunk !== undefined) one(ci, chunk);
    }
  } else {
    // Deleting the entry being visited is safe while iterating a Map.
    for (const [ci, chunk] of chunks) if (ci >= cLo && ci <= cHi) one(ci, chunk);
  }
}

/** Free every present page in [lo, hi) (hi may be Infinity); returns how many. */
function removePages(node: FileInode, lo: number, hi: number): number {
  let removed = 0;
  let uncounted = 0;
  const chunks = node.pages!;
  eachChunk(node, lo, hi, (ci, chunk, a, b) => {
    if (a === 0 && b === CHUNK_PAGES) {
      removed += chunk.count;
      uncounted += uncountedBytes(chunk);
      chunks.delete(ci);
      return;
    }
    const pages = chunk.sparse();
    const end = Math.min(b, pages.length);
    for (let i = a; i < end; i++) {
      const page = pages[i];
      if (page !== undefined) {
        if (isUncounted(page)) uncounted += PAGE_SIZE;
        pages[i] = undefined;
        chunk.count--;
        removed++;
      }
    }
    if (chunk.count === 0) chunks.delete(ci);
  });
  node.pageCount -= removed;
  if (uncounted) releasedUncounted(uncounted);
  return removed;
}

/** Present pages (data or UNWRITTEN) in [lo, hi). */
function countPages(node: FileInode, lo: number, hi: number): number {
  let n = 0;
  eachChunk(node, lo, hi, (_ci, chunk, a, b) => {
    if (chunk.buf !== null || (a === 0 && b === CHUNK_PAGES)) {
      n += chunk.buf !== null ? b - a : chunk.count;
      return;
    }
    const pages = chunk.pages!;
    const end = Math.min(b, pages.length);
    for (let i = a; i < end; i++) if (pages[i] !== undefined) n++;
  });
  return n;
}

/** A page of zeros, lent to read replies for holes; never written. */
const ZEROS: Uint8Array = new Uint8Array(PAGE_SIZE);

/**
 * Read up to `size` bytes at `offset` (shorter at end of file) as a gather
 * list of views into the pages themselves, holes as views of a zero page: no
 * copy. Pages adjacent in one buffer (a dense chunk, a slab, an adopted
 * write) are one view. The views are valid until the file changes; the
 * session writes them out before it reads the next request.
 */
export function readPages(node: FileInode, offset: number, size: number): Uint8Array[] {
  if (offset >= node.size || size <= 0) return [];
  const n = Math.min(size, node.size - offset);
  const out: Uint8Array[] = [];
  const chunks = node.pages;
  let pos = offset;
  let done = 0;
  let last: Uint8Array | null = null;
  while (done < n) {
    const ci = Math.floor(pos / CHUNK_BYTES);
    const inChunk = pos - ci * CHUNK_BYTES;
    const chunk = chunks === null ? undefined : chunks.get(ci);
    if (chunk !== undefined && chunk.buf !== null) {
      const len = Math.min(CHUNK_BYTES - inChunk, n - done);
      out.push(inChunk === 0 && len === CHUNK_BYTES ? chunk.buf : chunk.buf.subarray(inChunk, inChunk + len));
      last = null;
      pos += len;
      done += len;
      continue;
    }
    const inPage = pos % PAGE_SIZE;
    const len = Math.min(PAGE_SIZE - inPage, n - done);
    const page = chunk === undefined ? undefined : chunk.pages![(inChunk - inPage) / PAGE_SIZE];
    const src = page === undefined || page === UNWRITTEN ? ZEROS : page;
    if (last !== null && src !== ZEROS && last.buffer === src.buffer && last.byteOffset + last.byteLength === src.byteOffset + inPage) {
      // Continues the previous view in the same buffer: widen it.
      last = new Uint8Array(last.buffer, last.byteOffset, last.byteLength + len);
      out[out.length - 1] = last;
    } else {
      last = inPage === 0 && len === PAGE_SIZE ? src : src.subarray(inPage, inPage + len);
      out.push(last);
      if (src === ZEROS) last = null;
    }
    pos += len;
    done += len;
  }
  return out;
}

/**
 * New pages of one write are carved from shared buffers of up to this many
 * pages: one allocation instead of one per page (4 KiB ArrayBuffers are slow
 * to allocate and weigh on the GC). A buffer lives while any of its pages
 * does, so freeing part of a run frees its memory only with the rest; the
 * cap bounds that slack.
 */
export const SLAB_PAGES = 64;

/**
 * Largest write whose buffer is adopted instead of copied: one FUSE write
 * (max_write 1 MiB). The session hands each write a fresh copy, so adopting
 * it makes that copy the only one; the slack after a partial punch is
 * bounded by one write.
 */
export const ADOPT_MAX_PAGES = 256;

/**
 * Write `data` at `offset`, allocating pages as needed. Stops at the first
 * page that cannot be allocated and returns the bytes written (0 if none
 * fit). Does not change the file size: the caller does. With `adopt`
 * (page-aligned, whole pages, at most ADOPT_MAX_PAGES), the pages of `data`
 * become pages of the file without a copy; a whole aligned chunk becomes a
 * dense chunk. Uncounted `data` (a SharedArrayBuffer payload) is kept only
 * as a whole dense chunk, so that its memory goes with that chunk: else it
 * is copied, and the caller reports it released.
 */
export function writePages(node: FileInode, offset: number, data: Uint8Array, acct: BlockAccount, adopt: boolean): number {
  let chunks = node.pages;
  if (chunks === null) chunks = node.pages = new Map();
  const total = data.byteLength;
  if (adopt && total === CHUNK_BYTES && offset % CHUNK_BYTES === 0) {
    const ci = offset / CHUNK_BYTES;
    const old = chunks.get(ci);
    const need = CHUNK_PAGES - (old === undefined ? 0 : old.count);
    if (node.pageCount + need <= MAX_FILE_PAGES && (need === 0 || acct.reserveBlocks(need))) {
      chunks.set(ci, new Chunk(data));
      node.pageCount += need;
      if (old !== undefined) {
        const uncounted = uncountedBytes(old);
        if (uncounted) releasedUncounted(uncounted);
      }
      return total;
    }
    // Not all of it fits: page by page below, to write what does.
  }
  if (adopt && isUncounted(data)) adopt = false;
  const firstIdx = pageIndex(offset);
  const lastIdx = pageIndex(offset + total - 1);
  // Pages this write must allocate, to size the shared buffers.
  let missing = 0;
  if (!adopt) {
    for (let i = firstIdx; i <= lastIdx; i++) {
      const ci = Math.floor(i / CHUNK_PAGES);
      const chunk = chunks.get(ci);
      if (chunk !== undefined && chunk.buf !== null) continue; // dense: all there
      const p = chunk?.pages![i - ci * CHUNK_PAGES];
      if (p === undefined || p === UNWRITTEN) missing++;
    }
  }
  let slab: Uint8Array | null = null;
  let slabPages = 0;
  let slabUsed = 0;
  let pos = offset;
  let src = 0;
  while (src < total) {
    const ci = Math.floor(pos / CHUNK_BYTES);
    const inChunk = pos - ci * CHUNK_BYTES;
    let chunk = chunks.get(ci);
    if (chunk !== undefined && chunk.buf !== null) {
      // Dense: every page is there; write in place up to the chunk's end (an
      // adoptable write is copied too: adopting part would keep both buffers).
      const len = Math.min(CHUNK_BYTES - inChunk, total - src);
      chunk.buf.set(len === total ? data : data.subarray(src, src + len), inChunk);
      pos += len;
      src += len;
      continue;
    }
    const inPage = pos % PAGE_SIZE;
    const pi = (inChunk - inPage) / PAGE_SIZE;
    const len = Math.min(PAGE_SIZE - inPage, total - src);
    let page = chunk === undefined ? undefined : chunk.page(pi);
    if (page === undefined) {
      if (node.pageCount >= MAX_FILE_PAGES || !acct.reserveBlocks(1)) break;
      if (chunk === undefined) chunks.set(ci, (chunk = new Chunk(null)));
      chunk.count++;
      node.pageCount++;
    }
    if (adopt) {
      if (page !== undefined && isUncounted(page)) releasedUncounted(PAGE_SIZE);
      chunk!.pages![pi] = data.subarray(src, src + PAGE_SIZE);
    } else {
      if (page === undefined || page === UNWRITTEN) {
        if (slab === null || slabUsed === slabPages) {
          slabPages = Math.max(1, Math.min(SLAB_PAGES, missing));
          slab = new Uint8Array(slabPages * PAGE_SIZE);
          slabUsed = 0;
        }
        page = slabPages === 1 ? slab : slab.subarray(slabUsed * PAGE_SIZE, (slabUsed + 1) * PAGE_SIZE);
        slabUsed++;
        missing--;
        chunk!.pages![pi] = page;
      }
      page.set(len === total ? data : data.subarray(src, src + len), inPage);
    }
    pos += len;
    src += len;
  }
  return src;
}

/** Whether writePages kept `data` itself, as the dense chunk at `offset`. */
export function keptAsChunk(node: FileInode, offset: number, data: Uint8Array): boolean {
  return offset % CHUNK_BYTES === 0 && node.pages?.get(offset / CHUNK_BYTES)?.buf === data;
}

/** Zero bytes [start, end): whole pages are freed, partial ones zeroed in place. */
export function punchPages(node: FileInode, start: number, end: number, acct: BlockAccount): void {
  if (node.pages === null || node.pageCount === 0 || end <= start) return;
  const firstIdx = pageIndex(start);
  const lastIdx = pageIndex(end - 1);
  const zero = (idx: number, from: number, to: number): void => {
    const page = pageAt(node, idx);
    if (page !== undefined && page !== UNWRITTEN) page.fill(0, from, to);
  };
  const headOff = start - firstIdx * PAGE_SIZE;
  const tailEnd = end - lastIdx * PAGE_SIZE;
  let fullLo = firstIdx;
  let fullHi = lastIdx + 1;
  if (firstIdx === lastIdx) {
    if (headOff !== 0 || tailEnd !== PAGE_SIZE) {
      zero(firstIdx, headOff, tailEnd);
      return;
    }
  } else {
    if (headOff !== 0) {
      zero(firstIdx, headOff, PAGE_SIZE);
      fullLo++;
    }
    if (tailEnd !== PAGE_SIZE) {
      zero(lastIdx, 0, tailEnd);
      fullHi--;
    }
  }
  const gone = removePages(node, fullLo, fullHi);
  if (gone) acct.releaseBlocks(gone);
}

/**
 * Change the size. Shrinking (or keeping the size, as shmem_setattr does)
 * frees every page from the new end on, fallocated ones beyond EOF
 * included, and zeroes the tail of the new last page.
 */
export function truncatePages(node: FileInode, newSize: number, acct: BlockAccount): void {
  if (node.pages !== null && node.pageCount > 0 && newSize <= node.size) {
    const keep = Math.ceil(newSize / PAGE_SIZE);
    const gone = removePages(node, keep, node.pagesBeyondEof ? Infinity : Math.ceil(node.size / PAGE_SIZE));
    node.pagesBeyondEof = false;
    if (gone) acct.releaseBlocks(gone);
    const rem = newSize % PAGE_SIZE;
    if (rem !== 0) {
      const page = pageAt(node, keep - 1);
      if (page !== undefined && page !== UNWRITTEN) page.fill(0, rem);
    }
  }
  node.size = newSize;
}

/**
 * Reserve pages for [start, end) (fallocate). All or nothing: returns false
 * and changes nothing when the missing pages do not fit.
 */
export function allocatePages(node: FileInode, start: number, end: number, acct: BlockAccount): boolean {
  const lo = pageIndex(start);
  const hi = pageIndex(end - 1) + 1;
  const missing = hi - lo - countPages(node, lo, hi);
  if (missing === 0) return true;
  if (node.pageCount + missing > MAX_FILE_PAGES || !acct.reserveBlocks(missing)) return false;
  let chunks = node.pages;
  if (chunks === null) chunks = node.pages = new Map();
  for (let ci = Math.floor(lo / CHUNK_PAGES); ci * CHUNK_PAGES < hi; ci++) {
    let chunk = chunks.get(ci);
    if (chunk !== undefined && chunk.buf !== null) continue; // dense: all there
    if (chunk === undefined) chunks.set(ci, (chunk = new Chunk(null)));
    const pages = chunk.pages!;
    const base = ci * CHUNK_PAGES;
    const b = Math.min(hi, base + CHUNK_PAGES) - base;
    for (let i = Math.max(lo, base) - base; i < b; i++) {
      if (pages[i] === undefined) {
        pages[i] = UNWRITTEN;
        chunk.count++;
      }
    }
  }
  node.pageCount += missing;
  if (hi > Math.ceil(node.size / PAGE_SIZE)) node.pagesBeyondEof = true;
  return true;
}

/** Free everything (the inode is being evicted). */
export function freePages(node: FileInode, acct: BlockAccount): void {
  if (node.pages !== null) {
    acct.releaseBlocks(node.pageCount);
    let uncounted = 0;
    for (const chunk of node.pages.values()) uncounted += uncountedBytes(chunk);
    if (uncounted) releasedUncounted(uncounted);
    node.pages = null;
    node.pageCount = 0;
  }
}

function isData(page: Uint8Array | undefined): boolean {
  return page !== undefined && page !== UNWRITTEN;
}

/** lseek SEEK_DATA: the first data offset at or after `offset`, or -1 for ENXIO. */
export function seekData(node: FileInode, offset: number): number {
  const size = node.size;
  if (offset >= size || node.pages === null) return -1;
  const lo = pageIndex(offset);
  const hi = pageIndex(size - 1) + 1;
  let found = -1;
  eachChunk(node, lo, hi, (ci, chunk, a, b) => {
    const base = ci * CHUNK_PAGES;
    if (found >= 0 && found < base + a) return;
    if (chunk.buf !== null) {
      found = base + a;
      return;
    }
    const pages = chunk.pages!;
    const end = Math.min(b, pages.length);
    for (let i = a; i < end; i++) {
      if (isData(pages[i])) {
        found = base + i;
        return;
      }
    }
  });
  return found < 0 ? -1 : Math.max(offset, found * PAGE_SIZE);
}

/** lseek SEEK_HOLE: the first hole at or after `offset` (EOF counts as one), or -1 for ENXIO. */
export function seekHole(node: FileInode, offset: number): number {
  const size = node.size;
  if (offset >= size) return -1;
  const chunks = node.pages;
  let idx = pageIndex(offset);
  if (chunks !== null) {
    for (;;) {
      const ci = Math.floor(idx / CHUNK_PAGES);
      const chunk = chunks.get(ci);
      if (chunk === undefined) break;
      if (chunk.buf !== null) {
        idx = (ci + 1) * CHUNK_PAGES;
        continue;
      }
      if (!isData(chunk.pages![idx - ci * CHUNK_PAGES])) break;
      idx++;
    }
  }
  return Math.min(size, Math.max(offset, idx * PAGE_SIZE));
}

/** Whether page `idx` holds data (for copy_file_range's hole skipping). */
export function pageHasData(node: FileInode, idx: number): boolean {
  return isData(pageAt(node, idx));
}

/** The page holding `idx`, if it holds data. */
export function dataPage(node: FileInode, idx: number): Uint8Array | undefined {
  const p = pageAt(node, idx);
  return p === UNWRITTEN ? undefined : p;
}
