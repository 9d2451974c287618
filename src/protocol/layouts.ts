/**
 * Every FUSE struct the kernel and puffs exchange, field for field as in
 * <linux/fuse.h> (protocol 7.45). The sizes are checked against the kernel
 * header by protocol/layouts.test.ts.
 */
import { struct } from './struct.js';

export const inHeader = struct('fuse_in_header', {
  len: 'u32',
  opcode: 'u32',
  unique: 'u64',
  nodeid: 'u64',
  uid: 'u32',
  gid: 'u32',
  pid: 'u32',
  totalExtlen: 'u16',
  padding: 'pad2',
});

export const outHeader = struct('fuse_out_header', {
  len: 'u32',
  error: 'i32',
  unique: 'u64',
});

export const attr = struct('fuse_attr', {
  ino: 'u64',
  size: 'u64',
  blocks: 'u64',
  atime: 'u64',
  mtime: 'u64',
  ctime: 'u64',
  atimensec: 'u32',
  mtimensec: 'u32',
  ctimensec: 'u32',
  mode: 'u32',
  nlink: 'u32',
  uid: 'u32',
  gid: 'u32',
  rdev: 'u32',
  blksize: 'u32',
  flags: 'u32',
});

export const kstatfs = struct('fuse_kstatfs', {
  blocks: 'u64',
  bfree: 'u64',
  bavail: 'u64',
  files: 'u64',
  ffree: 'u64',
  bsize: 'u32',
  namelen: 'u32',
  frsize: 'u32',
  padding: 'pad4',
  spare: 'pad24',
});

export const fileLock = struct('fuse_file_lock', {
  start: 'u64',
  end: 'u64',
  type: 'u32',
  pid: 'u32',
});

export const entryOut = struct('fuse_entry_out', {
  nodeid: 'u64',
  generation: 'u64',
  entryValid: 'u64',
  attrValid: 'u64',
  entryValidNsec: 'u32',
  attrValidNsec: 'u32',
  attr,
});

export const forgetIn = struct('fuse_forget_in', { nlookup: 'u64' });
export const forgetOne = struct('fuse_forget_one', { nodeid: 'u64', nlookup: 'u64' });
export const batchForgetIn = struct('fuse_batch_forget_in', { count: 'u32', dummy: 'pad4' });
export const getattrIn = struct('fuse_getattr_in', { getattrFlags: 'u32', dummy: 'pad4', fh: 'u64' });

export const attrOut = struct('fuse_attr_out', {
  attrValid: 'u64',
  attrValidNsec: 'u32',
  dummy: 'pad4',
  attr,
});

export const mknodIn = struct('fuse_mknod_in', { mode: 'u32', rdev: 'u32', umask: 'u32', padding: 'pad4' });
export const mkdirIn = struct('fuse_mkdir_in', { mode: 'u32', umask: 'u32' });
export const renameIn = struct('fuse_rename_in', { newdir: 'u64' });
export const rename2In = struct('fuse_rename2_in', { newdir: 'u64', flags: 'u32', padding: 'pad4' });
export const linkIn = struct('fuse_link_in', { oldnodeid: 'u64' });

export const setattrIn = struct('fuse_setattr_in', {
  valid: 'u32',
  padding: 'pad4',
  fh: 'u64',
  size: 'u64',
  lockOwner: 'u64n',
  atime: 'u64',
  mtime: 'u64',
  ctime: 'u64',
  atimensec: 'u32',
  mtimensec: 'u32',
  ctimensec: 'u32',
  mode: 'u32',
  unused4: 'pad4',
  uid: 'u32',
  gid: 'u32',
  unused5: 'pad4',
});

export const openIn = struct('fuse_open_in', { flags: 'u32', openFlags: 'u32' });
export const createIn = struct('fuse_create_in', { flags: 'u32', mode: 'u32', umask: 'u32', openFlags: 'u32' });
/** `backingId` was padding before 7.40 (passthrough). */
export const openOut = struct('fuse_open_out', { fh: 'u64', openFlags: 'u32', backingId: 'i32' });
export const releaseIn = struct('fuse_release_in', { fh: 'u64', flags: 'u32', releaseFlags: 'u32', lockOwner: 'u64n' });
export const flushIn = struct('fuse_flush_in', { fh: 'u64', unused: 'pad4', padding: 'pad4', lockOwner: 'u64n' });

export const readIn = struct('fuse_read_in', {
  fh: 'u64',
  offset: 'u64',
  size: 'u32',
  readFlags: 'u32',
  lockOwner: 'u64n',
  flags: 'u32',
  padding: 'pad4',
});

export const writeIn = struct('fuse_write_in', {
  fh: 'u64',
  offset: 'u64',
  size: 'u32',
  writeFlags: 'u32',
  lockOwner: 'u64n',
  flags: 'u32',
  padding: 'pad4',
});

export const writeOut = struct('fuse_write_out', { size: 'u32', padding: 'pad4' });
export const statfsOut = struct('fuse_statfs_out', { st: kstatfs });
export const fsyncIn = struct('fuse_fsync_in', { fh: 'u64', fsyncFlags: 'u32', padding: 'pad4' });
/** The 16-byte form, sent when FUSE_SETXATTR_EXT is in force. */
export const setxattrIn = struct('fuse_setxattr_in', { size: 'u32', flags: 'u32', setxattrFlags: 'u32', padding: 'pad4' });
/** The 8-byte form (FUSE_COMPAT_SETXATTR_IN_SIZE). */
export const setxattrInCompat = struct('fuse_setxattr_in_compat', { size: 'u32', flags: 'u32' });
export const getxattrIn = struct('fuse_getxattr_in', { size: 'u32', padding: 'pad4' });
export const getxattrOut = struct('fuse_getxattr_out', { size: 'u32', padding: 'pad4' });
export const lkIn = struct('fuse_lk_in', { fh: 'u64', owner: 'u64n', lk: fileLock, lkFlags: 'u32', padding: 'pad4' });
export const lkOut = struct('fuse_lk_out', { lk: fileLock });
export const accessIn = struct('fuse_access_in', { mask: 'u32', padding: 'pad4' });

export const initIn = struct('fuse_init_in', {
  major: 'u32',
  minor: 'u32',
  maxReadahead: 'u32',
  flags: 'u32',
  flags2: 'u32',
  unused: 'pad44',
});
/** Before 7.36 the kernel sent only the first 16 bytes. */
export const INIT_IN_COMPAT_SIZE = 16;

export const initOut = struct('fuse_init_out', {
  major: 'u32',
  minor: 'u32',
  maxReadahead: 'u32',
  flags: 'u32',
  maxBackground: 'u16',
  congestionThreshold: 'u16',
  maxWrite: 'u32',
  timeGran: 'u32',
  maxPages: 'u16',
  mapAlignment: 'u16',
  flags2: 'u32',
  maxStackDepth: 'u32',
  requestTimeout: 'u16',
  unused: 'pad22',
});

export const interruptIn = struct('fuse_interrupt_in', { unique: 'u64' });
export const bmapIn = struct('fuse_bmap_in', { block: 'u64', blocksize: 'u32', padding: 'pad4' });
export const bmapOut = struct('fuse_bmap_out', { block: 'u64' });

export const ioctlIn = struct('fuse_ioctl_in', {
  fh: 'u64',
  flags: 'u32',
  cmd: 'u32',
  arg: 'u64n',
  inSize: 'u32',
  outSize: 'u32',
});
export const ioctlOut = struct('fuse_ioctl_out', { result: 'i32', flags: 'u32', inIovs: 'u32', outIovs: 'u32' });

export const pollIn = struct('fuse_poll_in', { fh: 'u64', kh: 'u64', flags: 'u32', events: 'u32' });
export const pollOut = struct('fuse_poll_out', { revents: 'u32', padding: 'pad4' });

export const fallocateIn = struct('fuse_fallocate_in', { fh: 'u64', offset: 'u64', length: 'u64', mode: 'u32', padding: 'pad4' });

export const dirent = struct('fuse_dirent', { ino: 'u64', off: 'u64', namelen: 'u32', type: 'u32' });
export const direntplus = struct('fuse_direntplus', { entryOut, dirent });

export const notifyPollWakeupOut = struct('fuse_notify_poll_wakeup_out', { kh: 'u64' });
export const notifyInvalInodeOut = struct('fuse_notify_inval_inode_out', { ino: 'u64', off: 'i64', len: 'i64' });
export const notifyInvalEntryOut = struct('fuse_notify_inval_entry_out', { parent: 'u64', namelen: 'u32', flags: 'u32' });
export const notifyDeleteOut = struct('fuse_notify_delete_out', { parent: 'u64', child: 'u64', namelen: 'u32', padding: 'pad4' });
export const notifyStoreOut = struct('fuse_notify_store_out', { nodeid: 'u64', offset: 'u64', size: 'u32', padding: 'pad4' });
export const notifyRetrieveOut = struct('fuse_notify_retrieve_out', {
  notifyUnique: 'u64',
  nodeid: 'u64',
  offset: 'u64',
  size: 'u32',
  padding: 'pad4',
});
/** The kernel's answer to a retrieve, sent as a NOTIFY_REPLY request; same size as fuse_write_in. */
export const notifyRetrieveIn = struct('fuse_notify_retrieve_in', {
  dummy1: 'pad8',
  offset: 'u64',
  size: 'u32',
  dummy2: 'pad4',
  dummy3: 'pad8',
  dummy4: 'pad8',
});
export const notifyPruneOut = struct('fuse_notify_prune_out', { count: 'u32', padding: 'pad4', spare: 'pad8' });
export const pruneNodeid = struct('fuse_prune_nodeid', { nodeid: 'u64' });

export const lseekIn = struct('fuse_lseek_in', { fh: 'u64', offset: 'u64', whence: 'u32', padding: 'pad4' });
export const lseekOut = struct('fuse_lseek_out', { offset: 'u64' });

export const copyFileRangeIn = struct('fuse_copy_file_range_in', {
  fhIn: 'u64',
  offIn: 'u64',
  nodeidOut: 'u64',
  fhOut: 'u64',
  offOut: 'u64',
  len: 'u64',
  flags: 'u64',
});
export const copyFileRangeOut = struct('fuse_copy_file_range_out', { bytesCopied: 'u64' });

export const setupmappingIn = struct('fuse_setupmapping_in', { fh: 'u64', foffset: 'u64', len: 'u64', flags: 'u64', moffset: 'u64' });
export const removemappingIn = struct('fuse_removemapping_in', { count: 'u32' });
export const removemappingOne = struct('fuse_removemapping_one', { moffset: 'u64', len: 'u64' });
export const syncfsIn = struct('fuse_syncfs_in', { padding: 'pad8' });

export const sxTime = struct('fuse_sx_time', { sec: 'i64', nsec: 'u32', reserved: 'pad4' });
export const statx = struct('fuse_statx', {
  mask: 'u32',
  blksize: 'u32',
  attributes: 'u64',
  nlink: 'u32',
  uid: 'u32',
  gid: 'u32',
  mode: 'u16',
  spare0: 'pad2',
  ino: 'u64',
  size: 'u64',
  blocks: 'u64',
  attributesMask: 'u64',
  atime: sxTime,
  btime: sxTime,
  ctime: sxTime,
  mtime: sxTime,
  rdevMajor: 'u32',
  rdevMinor: 'u32',
  devMajor: 'u32',
  devMinor: 'u32',
  spare2: 'pad112',
});
export const statxIn = struct('fuse_statx_in', { getattrFlags: 'u32', reserved: 'pad4', fh: 'u64', sxFlags: 'u32', sxMask: 'u32' });
export const statxOut = struct('fuse_statx_out', { attrValid: 'u64', attrValidNsec: 'u32', flags: 'u32', spare: 'pad16', stat: statx });

/** Request extension header (7.38): appended after the arguments, total_extlen 8-byte units. */
export const extHeader = struct('fuse_ext_header', { size: 'u32', type: 'u32' });
export const suppGroups = struct('fuse_supp_groups', { nr: 'u32' });
