/**
 * The transport layer: channels that move whole FUSE frames as bytes, over
 * byte streams (Unix sockets, TCP, pipes), worker message ports, or memory.
 */
export * from './channel.js';
export * from './framer.js';
export * from './stream.js';
export * from './port.js';
export * from './memory.js';
export * from './device.js';
