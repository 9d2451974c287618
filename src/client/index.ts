/**
 * The puffs client: the kernel's side of FUSE in TypeScript, and an
 * fs/promises-style API over it. `attach(target)` connects to a file server
 * (in-process, worker, child process, `puffs serve` socket) without a mount.
 */
export { attach, type AttachTarget, type AttachOptions, type WorkerTarget, type ChildTarget, type ChannelTarget } from './attach.js';
export { PuffsFs, Dir, type CpOptions } from './promises.js';
export { FileHandle, ReadStream, WriteStream, type ReadStreamOptions, type WriteStreamOptions } from './handle.js';
export { Stats, BigIntStats, Dirent, StatFs } from './stats.js';
export { Connection, type Credentials, type InitInfo, type ConnectionOptions, type Pending, type CallOptions } from './connection.js';
export { Vfs, Vnode, type Walk } from './vfs.js';
export { Core, OpenFile } from './core.js';
export { LockTable } from './locks.js';
export { AbortError, SystemError } from './errors.js';
export { constants } from './args.js';
