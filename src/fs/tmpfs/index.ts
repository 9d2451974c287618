/**
 * tmpfs: the flagship memory file system, with the semantics of Linux's
 * tmpfs. `new Tmpfs(parseTmpfsOptions('size=1g,mode=755'))`.
 */
export { Tmpfs, type TmpfsUsage } from './tmpfs.js';
export { parseTmpfsOptions, type TmpfsOptions } from './options.js';
export { PAGE_SIZE } from './constants.js';
