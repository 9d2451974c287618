/** The file-server side: the FileSystem interface, its defaults, the session loop, and mounting. */
export * from './types.js';
export type { FileSystem, FsFeatures, MaybePromise, CreateReply, LockRequest } from './ops.js';
export { isUncounted, releasedUncounted, refreshAfterPauses } from './memory.js';
export { keepFreedPayloads } from '../slab.js';
export { fileSystemOps } from './ops.js';
export { defaults, opVector, type OpVector } from './defaults.js';
export { Session, DoubleReplyError, type SessionOptions } from './session.js';
export { mount, type Mounted, type PuffsMountOptions } from './mount.js';
export { procGroups } from './context.js';
