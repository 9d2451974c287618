/**
 * puffs: userspace file systems in TypeScript.
 *
 * Write a class implementing FileSystem, then mount it through the kernel
 * (`mount(fs, dir)`), or serve it over any transport channel.
 */
export * from './errors.js';
export * from './server/index.js';
export { HelloFs } from './fs/hello/index.js';
export { DeviceChannel, StreamChannel, PortChannel, memoryPair, type Channel, type FrameHandler } from './transport/index.js';
export { mountFuse, unmount, type MountOptions } from './mount/index.js';
