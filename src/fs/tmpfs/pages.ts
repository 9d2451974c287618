/**
 * File data in 4 KiB pages held in a Map (page index -> page). An absent
 * page is a hole and reads as zeros. A page reserved by fallocate but never
 * written is the shared UNWRITTEN marker: it counts as allocated (st_blocks,
 * statfs) yet reads as zeros and is a hole to SEEK_DATA, as the kernel's
 * not-uptodate shmem folios are. Bytes of the last page beyond EOF are
 * always zero, so growing a file never reveals old data.
 */
import { MAX_FILE_PAGES, PAGE_SIZE } from './constants.js';
import type { FileInode } from './inode.js';

/** Where pages are charged: the file system's size= budget. */
export interface BlockAccount {
  /** Take `n` pages from the budget; false (and nothing taken) if they do not fit. */
  reserveBlocks(n: number): boolean;
  releaseBlocks(n: number): void;
}

/** Marker for a page allocated by fallocate and not yet written. */
export const UNWRITTEN: Uint8Array = new Uint8Array(0);


function pageIndex(pos: number): number {
  // Offsets reach 2^53: no 32-bit shifts.
  return Math.floor(pos / PAGE_SIZE);
}

/** Indices of present pages in [lo, hi), in no particular order; cheaper of a range scan and a key scan. */
function presentIn(pages: Map<number, Uint8Array>, lo: number, hi: number): number[] {
  const out: number[] = [];
  if (hi - lo <= pages.size) {
    for (let i = lo; i < hi; i++) if (pages.has(i)) out.push(i);
  } else {
    for (const k of pages.keys()) if (k >= lo && k < hi) out.push(k);
  }
  return out;
}

/** A page of zeros, lent to read replies for holes; never written. */
const ZEROS: Uint8Array = new Uint8Array(PAGE_SIZE);

/**
 * Read up to `size` bytes at `offset` (shorter at end of file) as a gather
 * list of views into the pages themselves, holes as views of a zero page: no
 * copy. The views are valid until the file changes; the session writes them
 * out before it reads the next request.
 */
export function readPages(node: FileInode, offset: number, size: number): Uint8Array[] {
  if (offset >= node.size || size <= 0) return [];
  const n = Math.min(size, node.size - offset);
  const out: Uint8Array[] = [];
  const pages = node.pages;
  let pos = offset;
  let done = 0;
  while (done < n) {
    const idx = pageIndex(pos);
    const inPage = pos - idx * PAGE_SIZE;
    const len = Math.min(PAGE_SIZE - inPage, n - done);
    const page = pages === null ? undefined : pages.get(idx);
    const src = page === undefined || page === UNWRITTEN ? ZEROS : page;
    out.push(inPage === 0 && len === PAGE_SIZE ? src : src.subarray(inPage, inPage + len));
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
 * become pages of the file without a copy.
 */
export function writePages(node: FileInode, offset: number, data: Uint8Array, acct: BlockAccount, adopt: boolean): number {
  let pages = node.pages;
  if (pages === null) pages = node.pages = new Map();
  const total = data.byteLength;
  const firstIdx = pageIndex(offset);
  const lastIdx = pageIndex(offset + total - 1);
  // Pages this write must allocate, to size the shared buffers.
  let missing = 0;
  if (!adopt) {
    for (let i = firstIdx; i <= lastIdx; i++) {
      const p = pages.get(i);
      if (p === undefined || p === UNWRITTEN) missing++;
    }
  }
  let slab: Uint8Array | null = null;
  let slabPages = 0;
  let slabUsed = 0;
  let pos = offset;
  let src = 0;
  while (src < total) {
    const idx = pageIndex(pos);
    const inPage = pos - idx * PAGE_SIZE;
    const len = Math.min(PAGE_SIZE - inPage, total - src);
    let page = pages.get(idx);
    if (page === undefined) {
      if (pages.size >= MAX_FILE_PAGES || !acct.reserveBlocks(1)) break;
    }
    if (adopt) {
      pages.set(idx, data.subarray(src, src + PAGE_SIZE));
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
        pages.set(idx, page);
      }
      page.set(len === total ? data : data.subarray(src, src + len), inPage);
    }
    pos += len;
    src += len;
  }
  return src;
}

/** Zero bytes [start, end): whole pages are freed, partial ones zeroed in place. */
export function punchPages(node: FileInode, start: number, end: number, acct: BlockAccount): void {
  const pages = node.pages;
  if (pages === null || pages.size === 0 || end <= start) return;
  const firstIdx = pageIndex(start);
  const lastIdx = pageIndex(end - 1);
  const zero = (idx: number, from: number, to: number): void => {
    const page = pages.get(idx);
    if (page !== undefined && page !== UNWRITTEN) page.fill(0, from, to);
  };
  const headOff = start - firstIdx * PAGE_SIZE;
  const tailEnd = end - lastIdx * PAGE_SIZE;
  if (firstIdx === lastIdx) {
    if (headOff === 0 && tailEnd === PAGE_SIZE) {
      if (pages.delete(firstIdx)) acct.releaseBlocks(1);
    } else zero(firstIdx, headOff, tailEnd);
    return;
  }
  let fullLo = firstIdx;
  let fullHi = lastIdx + 1;
  if (headOff !== 0) {
    zero(firstIdx, headOff, PAGE_SIZE);
    fullLo++;
  }
  if (tailEnd !== PAGE_SIZE) {
    zero(lastIdx, 0, tailEnd);
    fullHi--;
  }
  const gone = presentIn(pages, fullLo, fullHi);
  for (const i of gone) pages.delete(i);
  if (gone.length) acct.releaseBlocks(gone.length);
}

/**
 * Change the size. Shrinking (or keeping the size, as shmem_setattr does)
 * frees every page from the new end on, fallocated ones beyond EOF
 * included, and zeroes the tail of the new last page.
 */
export function truncatePages(node: FileInode, newSize: number, acct: BlockAccount): void {
  const pages = node.pages;
  if (pages !== null && pages.size > 0 && newSize <= node.size) {
    const keep = Math.ceil(newSize / PAGE_SIZE);
    let gone: number[];
    if (node.pagesBeyondEof) {
      gone = [];
      for (const k of pages.keys()) if (k >= keep) gone.push(k);
      node.pagesBeyondEof = false;
    } else {
      gone = presentIn(pages, keep, Math.ceil(node.size / PAGE_SIZE));
    }
    for (const i of gone) pages.delete(i);
    if (gone.length) acct.releaseBlocks(gone.length);
    const rem = newSize % PAGE_SIZE;
    if (rem !== 0) {
      const page = pages.get(keep - 1);
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
  let pages = node.pages;
  const lo = pageIndex(start);
  const hi = pageIndex(end - 1) + 1;
  const present = pages === null ? 0 : presentIn(pages, lo, hi).length;
  const missing = hi - lo - present;
  if (missing === 0) return true;
  if ((pages?.size ?? 0) + missing > MAX_FILE_PAGES || !acct.reserveBlocks(missing)) return false;
  if (pages === null) pages = node.pages = new Map();
  for (let i = lo; i < hi; i++) if (!pages.has(i)) pages.set(i, UNWRITTEN);
  if (hi > Math.ceil(node.size / PAGE_SIZE)) node.pagesBeyondEof = true;
  return true;
}

/** Free everything (the inode is being evicted). */
export function freePages(node: FileInode, acct: BlockAccount): void {
  if (node.pages !== null) {
    acct.releaseBlocks(node.pages.size);
    node.pages = null;
  }
}

function isData(page: Uint8Array | undefined): boolean {
  return page !== undefined && page !== UNWRITTEN;
}

/** lseek SEEK_DATA: the first data offset at or after `offset`, or -1 for ENXIO. */
export function seekData(node: FileInode, offset: number): number {
  const size = node.size;
  if (offset >= size) return -1;
  const pages = node.pages;
  if (pages === null) return -1;
  const lo = pageIndex(offset);
  const last = pageIndex(size - 1);
  let found = -1;
  if (last - lo + 1 <= pages.size) {
    for (let i = lo; i <= last; i++) {
      if (isData(pages.get(i))) {
        found = i;
        break;
      }
    }
  } else {
    for (const [k, page] of pages) {
      if (k >= lo && k <= last && page !== UNWRITTEN && (found < 0 || k < found)) found = k;
    }
  }
  return found < 0 ? -1 : Math.max(offset, found * PAGE_SIZE);
}

/** lseek SEEK_HOLE: the first hole at or after `offset` (EOF counts as one), or -1 for ENXIO. */
export function seekHole(node: FileInode, offset: number): number {
  const size = node.size;
  if (offset >= size) return -1;
  const pages = node.pages;
  let idx = pageIndex(offset);
  if (pages !== null) while (isData(pages.get(idx))) idx++;
  return Math.min(size, Math.max(offset, idx * PAGE_SIZE));
}

/** Whether page `idx` holds data (for copy_file_range's hole skipping). */
export function pageHasData(node: FileInode, idx: number): boolean {
  return node.pages !== null && isData(node.pages.get(idx));
}

/** The page holding `idx`, if it holds data. */
export function dataPage(node: FileInode, idx: number): Uint8Array | undefined {
  const p = node.pages?.get(idx);
  return p === UNWRITTEN ? undefined : p;
}

