/**
 * Numbers tmpfs shares with the Linux kernel: mode bits, open flags and the
 * sizes mm/shmem.c uses for its accounting. Linux values, because the FUSE
 * protocol carries Linux flags whatever the host.
 */

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;
export const S_IXGRP = 0o010;

export const R_OK = 4;
export const W_OK = 2;
export const X_OK = 1;

export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;

export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

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
