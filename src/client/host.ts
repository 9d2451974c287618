/**
 * Runs a file-system server for attach() in a worker thread or a child
 * process: imports the module, builds the FileSystem from its export, and
 * serves one session over the channel attach() set up (a MessagePort in a
 * worker, file descriptor 3 — a socket pair — in a child). When the session
 * ends, the thread or process ends.
 *
 * The export may be a FileSystem object, a class (constructed with `args`),
 * or a factory function (called with `args`, may be async).
 */
import { isMainThread, workerData, type MessagePort } from 'node:worker_threads';
import * as net from 'node:net';
import { Session, type SessionOptions } from '../server/session.js';
import type { FileSystem } from '../server/ops.js';
import { PortChannel } from '../transport/port.js';
import { StreamChannel } from '../transport/stream.js';
import type { Channel } from '../transport/channel.js';
import { moduleHref } from './args.js';

/** What attach() passes to the host (structured-clonable). */
export interface HostConfig {
  /** Module URL (file:...) or path. */
  module: string;
  export?: string;
  args?: unknown[];
  session?: Omit<SessionOptions, 'debug' | 'groupSource'> & { debug?: boolean };
  maxFrameSize?: number;
}

function isClass(f: unknown): boolean {
  return typeof f === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(f));
}

/** Build the FileSystem the config names. */
export async function buildFileSystem(config: HostConfig): Promise<FileSystem> {
  const mod = (await import(moduleHref(config.module))) as Record<string, unknown>;
  const name = config.export ?? 'default';
  const exported = mod[name];
  if (exported === undefined) throw new Error(`${config.module} has no export named ${name}`);
  const args = config.args ?? [];
  if (isClass(exported)) return new (exported as new (...a: unknown[]) => FileSystem)(...args);
  if (typeof exported === 'function') return (await (exported as (...a: unknown[]) => FileSystem | Promise<FileSystem>)(...args)) as FileSystem;
  if (exported && typeof exported === 'object') return exported as FileSystem;
  throw new Error(`${config.module}: export ${name} is not a FileSystem, a class or a factory`);
}

/** Serve `config` over `channel` until the session ends. */
export async function host(config: HostConfig, channel: Channel): Promise<Error | undefined> {
  let fs: FileSystem;
  try {
    fs = await buildFileSystem(config);
  } catch (err) {
    channel.close(err as Error);
    throw err;
  }
  // The client sends its groups with each request; this process's /proc says nothing of the caller.
  const session = new Session(fs, channel, { ...config.session, groupSource: () => [] });
  return session.start();
}

async function main(): Promise<void> {
  if (!isMainThread && workerData && (workerData as { puffsHost?: boolean }).puffsHost) {
    const { port, config } = workerData as { port: MessagePort; config: HostConfig };
    const channel = new PortChannel(port, { maxFrameSize: config.maxFrameSize });
    const err = await host(config, channel);
    if (err) process.exitCode = 1;
    process.exit();
    return;
  }
  if (isMainThread && process.argv[2] === '--puffs-host') {
    const config = JSON.parse(process.argv[3]!) as HostConfig;
    const socket = new net.Socket({ fd: 3, readable: true, writable: true });
    const channel = new StreamChannel(socket, { maxFrameSize: config.maxFrameSize });
    const err = await host(config, channel);
    if (err) {
      process.stderr.write(`puffs host: session ended: ${err.message}\n`);
      process.exitCode = 1;
    }
    process.exit();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`puffs host: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
