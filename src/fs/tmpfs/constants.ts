/**
 * Numbers tmpfs shares with the Linux kernel: mode bits, open flags and the
 * sizes mm/shmem.c uses for its accounting. Linux values, because the FUSE
 * protocol carries Linux flags whatever the host.
 */

export { S_IFMT, S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO, S_ISUID, S_ISGID, S_ISVTX, S_IXGRP, R_OK, W_OK, X_OK, O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, SEEK_DATA, SEEK_HOLE } from '../../linux.js';

export const PAGE_SHIFT = 12;
/** tmpfs allocates in pages; holes, st_blocks and SEEK_DATA/SEEK_HOLE all work in this unit. */
export const PAGE_SIZE = 1 << PAGE_SHIFT;
/** NAME_MAX. */
export const NAME_MAX = 255;
/** Symlink targets are limited to a page including the NUL (shmem_symlink). */
export const SYMLINK_MAX = PAGE_SIZE - 1;
/** Targets at least this long take a data page; shorter ones live in the inode (SHORT_SYMLINK_LEN). */
export const SHORT_SYMLINK_LEN = 128;
/** Directory i_size grows by this much per entry and starts at twice it (BOGO_DIRENT_SIZE). */
export const BOGO_DIRENT_SIZE = 20;
/** nr_inodes is really a budget of nr_inodes * 1024 bytes of "inode space" (BOGO_INODE_SIZE). */
export const BOGO_INODE_SIZE = 1024;
/** Per-xattr overhead charged to inode space, as simple_xattr_space() does. */
export const XATTR_OVERHEAD = 40;
/** XATTR_SIZE_MAX. */
export const XATTR_SIZE_MAX = 65536;
/** XATTR_NAME_MAX. */
export const XATTR_NAME_MAX = 255;
/**
 * The largest file size: offsets must stay exact JavaScript integers, so this
 * is Number.MAX_SAFE_INTEGER rather than the kernel's 2^63 - 1.
 */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;
/**
 * Pages of one file live in a Map, and a V8 Map holds at most 2^24 entries:
 * a single file can have at most this many allocated pages (64 GiB).
 */
export const MAX_FILE_PAGES = (1 << 24) - 1;
