/**
 * Mounting FUSE file systems from pure TypeScript: mount(8) with an open
 * /dev/fuse descriptor, a watchdog that releases the mount if the serving
 * process dies, and helpers over /proc/self/mountinfo.
 */
export {
  mountFuse,
  unmount,
  resolveMountOptions,
  fuseType,
  mountOptionString,
  mountArgs,
  type MountOptions,
  type ResolvedMountOptions,
  type UnmountOptions,
  type FuseMount,
} from './mount.js';
export {
  findMount,
  isMountPoint,
  isFuseType,
  parseMountInfo,
  readMountInfo,
  decodeMountField,
  resolveMountPath,
  topMountAt,
  MOUNTINFO_PATH,
  type MountInfo,
} from './mountinfo.js';
export {
  decideOnServerDeath,
  probeLiveness,
  WATCHDOG_LOG_ENV,
  type Liveness,
  type WatchdogDecision,
  type WatchdogTarget,
  type MountIdentity,
} from './watchdog.js';
