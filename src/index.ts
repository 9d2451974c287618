/**
 * puffs: userspace file systems in TypeScript.
 *
 * Write a class implementing FileSystem, then mount it through the kernel
 * (`mount(fs, dir)`), serve it over any transport channel (`serve(fs, { listen })`),
 * or use it without a mount through the client (`attach(fs)`).
 */
export * from './errors.js';
export * from './server/index.js';
export { HelloFs } from './fs/hello/index.js';
export { DeviceChannel, StreamChannel, PortChannel, memoryPair, type Channel, type FrameHandler } from './transport/index.js';
export { mountFuse, unmount, type MountOptions } from './mount/index.js';
export { attach, PuffsFs, FileHandle, Dir, type AttachTarget, type AttachOptions } from './client/index.js';
export { serve, type ServeOptions, type PuffsServer } from './server/serve.js';
export { serveCommand } from './cli/serve.js';
