/**
 * The one opcode table. Each entry gives a request's layout (fixed argument
 * struct, then NUL-terminated names, then a payload or an array) and its
 * reply's layout. The codec (both directions), the debug printer, the session
 * and the client all read this table; nothing else knows the layouts.
 */
import * as L from './layouts.js';
import type { StructDef, Fields } from './struct.js';

/**
 * Reply layouts:
 * - a struct: that struct;
 * - 'empty': the header alone;
 * - 'data': raw bytes (read, readlink, readdir);
 * - 'create': fuse_entry_out then fuse_open_out;
 * - 'xattr': fuse_getxattr_out when the request's size was 0, else the bytes;
 * - 'ioctl': fuse_ioctl_out then the output bytes;
 * - 'none': the kernel expects no reply.
 */
export type ReplyLayout = StructDef<Fields> | 'empty' | 'data' | 'create' | 'xattr' | 'ioctl' | 'none';

export interface OpSpec {
  readonly opcode: number;
  /** Fixed argument struct. */
  readonly arg?: StructDef<Fields>;
  /** NUL-terminated strings after the argument, in order. */
  readonly names?: readonly string[];
  /** The rest of the frame is a payload. */
  readonly data?: true;
  /** An array of structs after the argument; its length is the argument's `count`. */
  readonly items?: StructDef<Fields>;
  readonly reply: ReplyLayout;
  /** Protocol minor version that introduced the opcode. */
  readonly since?: number;
}

export const ops = {
  lookup: { opcode: 1, names: ['name'], reply: L.entryOut },
  forget: { opcode: 2, arg: L.forgetIn, reply: 'none' },
  getattr: { opcode: 3, arg: L.getattrIn, reply: L.attrOut },
  setattr: { opcode: 4, arg: L.setattrIn, reply: L.attrOut },
  readlink: { opcode: 5, reply: 'data' },
  symlink: { opcode: 6, names: ['name', 'target'], reply: L.entryOut },
  mknod: { opcode: 8, arg: L.mknodIn, names: ['name'], reply: L.entryOut },
  mkdir: { opcode: 9, arg: L.mkdirIn, names: ['name'], reply: L.entryOut },
  unlink: { opcode: 10, names: ['name'], reply: 'empty' },
  rmdir: { opcode: 11, names: ['name'], reply: 'empty' },
  rename: { opcode: 12, arg: L.renameIn, names: ['name', 'newName'], reply: 'empty' },
  link: { opcode: 13, arg: L.linkIn, names: ['name'], reply: L.entryOut },
  open: { opcode: 14, arg: L.openIn, reply: L.openOut },
  read: { opcode: 15, arg: L.readIn, reply: 'data' },
  write: { opcode: 16, arg: L.writeIn, data: true, reply: L.writeOut },
  statfs: { opcode: 17, reply: L.statfsOut },
  release: { opcode: 18, arg: L.releaseIn, reply: 'empty' },
  fsync: { opcode: 20, arg: L.fsyncIn, reply: 'empty' },
  setxattr: { opcode: 21, arg: L.setxattrIn, names: ['name'], data: true, reply: 'empty' },
  getxattr: { opcode: 22, arg: L.getxattrIn, names: ['name'], reply: 'xattr' },
  listxattr: { opcode: 23, arg: L.getxattrIn, reply: 'xattr' },
  removexattr: { opcode: 24, names: ['name'], reply: 'empty' },
  flush: { opcode: 25, arg: L.flushIn, reply: 'empty' },
  init: { opcode: 26, arg: L.initIn, reply: L.initOut },
  opendir: { opcode: 27, arg: L.openIn, reply: L.openOut },
  readdir: { opcode: 28, arg: L.readIn, reply: 'data' },
  releasedir: { opcode: 29, arg: L.releaseIn, reply: 'empty' },
  fsyncdir: { opcode: 30, arg: L.fsyncIn, reply: 'empty' },
  getlk: { opcode: 31, arg: L.lkIn, reply: L.lkOut },
  setlk: { opcode: 32, arg: L.lkIn, reply: 'empty' },
  setlkw: { opcode: 33, arg: L.lkIn, reply: 'empty' },
  access: { opcode: 34, arg: L.accessIn, reply: 'empty' },
  create: { opcode: 35, arg: L.createIn, names: ['name'], reply: 'create' },
  interrupt: { opcode: 36, arg: L.interruptIn, reply: 'none' },
  bmap: { opcode: 37, arg: L.bmapIn, reply: L.bmapOut },
  destroy: { opcode: 38, reply: 'empty' },
  ioctl: { opcode: 39, arg: L.ioctlIn, data: true, reply: 'ioctl' },
  poll: { opcode: 40, arg: L.pollIn, reply: L.pollOut },
  notifyReply: { opcode: 41, arg: L.notifyRetrieveIn, data: true, reply: 'none' },
  batchForget: { opcode: 42, arg: L.batchForgetIn, items: L.forgetOne, reply: 'none' },
  fallocate: { opcode: 43, arg: L.fallocateIn, reply: 'empty' },
  readdirplus: { opcode: 44, arg: L.readIn, reply: 'data' },
  rename2: { opcode: 45, arg: L.rename2In, names: ['name', 'newName'], reply: 'empty' },
  lseek: { opcode: 46, arg: L.lseekIn, reply: L.lseekOut },
  copyFileRange: { opcode: 47, arg: L.copyFileRangeIn, reply: L.writeOut },
  setupmapping: { opcode: 48, arg: L.setupmappingIn, reply: 'empty' },
  removemapping: { opcode: 49, arg: L.removemappingIn, items: L.removemappingOne, reply: 'empty' },
  syncfs: { opcode: 50, arg: L.syncfsIn, reply: 'empty', since: 34 },
  tmpfile: { opcode: 51, arg: L.createIn, names: ['name'], reply: 'create', since: 37 },
  statx: { opcode: 52, arg: L.statxIn, reply: L.statxOut, since: 39 },
  copyFileRange64: { opcode: 53, arg: L.copyFileRangeIn, reply: L.copyFileRangeOut, since: 45 },
} as const satisfies Record<string, OpSpec>;

export type OpName = keyof typeof ops;

/** Indexed by opcode (all below 64): an element load per request instead of a hash lookup. */
const byCode: (OpName | undefined)[] = new Array<OpName | undefined>(64).fill(undefined);
const specByCode: (OpSpec | undefined)[] = new Array<OpSpec | undefined>(64).fill(undefined);
for (const name of Object.keys(ops) as OpName[]) {
  byCode[ops[name].opcode] = name;
  specByCode[ops[name].opcode] = ops[name];
}

/** The op name for an opcode number, or undefined for an opcode puffs does not know. */
export function opName(opcode: number): OpName | undefined {
  return opcode >= 0 && opcode < 64 ? byCode[opcode] : undefined;
}

/** The table entry for an opcode number (what ops[opName(opcode)] is), without a keyed lookup by name. */
export function opSpec(opcode: number): OpSpec | undefined {
  return opcode >= 0 && opcode < 64 ? specByCode[opcode] : undefined;
}

/** Server-to-kernel notifications (fuse_notify_code), with their layouts. */
export const notifications = {
  poll: { code: 1, arg: L.notifyPollWakeupOut },
  invalInode: { code: 2, arg: L.notifyInvalInodeOut },
  invalEntry: { code: 3, arg: L.notifyInvalEntryOut, names: ['name'] },
  store: { code: 4, arg: L.notifyStoreOut, data: true },
  retrieve: { code: 5, arg: L.notifyRetrieveOut },
  delete: { code: 6, arg: L.notifyDeleteOut, names: ['name'] },
  resend: { code: 7 },
  incEpoch: { code: 8 },
  prune: { code: 9, arg: L.notifyPruneOut, items: L.pruneNodeid },
} as const satisfies Record<
  string,
  { code: number; arg?: StructDef<Fields>; names?: readonly string[]; data?: true; items?: StructDef<Fields> }
>;

export type NotifyName = keyof typeof notifications;

const notifyByCode = new Map<number, NotifyName>();
for (const name of Object.keys(notifications) as NotifyName[]) notifyByCode.set(notifications[name].code, name);

export function notifyName(code: number): NotifyName | undefined {
  return notifyByCode.get(code);
}
