/** The FUSE wire format: layouts, the opcode table and the codec. Pure: no I/O. */
export * from './constants.js';
export * from './struct.js';
export * as layouts from './layouts.js';
export * from './opcodes.js';
export * from './codec.js';
export * from './print.js';
