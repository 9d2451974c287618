#!/usr/bin/env node
/**
 * The puffs command line: mount a file system in the foreground, unmount
 * one, serve one on a socket.
 */
import { parseArgs } from 'node:util';
import { mount, type PuffsMountOptions } from '../server/mount.js';
import { unmount } from '../mount/index.js';
import { fileSystems, onlyRootReaches, type FsFactory } from './registry.js';
import { serveCommand } from './serve.js';
import { parseOptions, UsageError } from './options.js';
import { refreshAfterPauses } from '../server/memory.js';

const HELP = `puffs: userspace file systems in TypeScript

Usage:
  puffs mount <fs> <dir> [-o opt[,opt...]] [-d]
      Mount file system <fs> on <dir> and serve it in the foreground.
      Ctrl-C (SIGINT), SIGTERM or SIGHUP unmounts and exits; if the server
      dies anyway, a watchdog releases the mount within a second.
  puffs umount <dir>
      Unmount a FUSE mount (lazily if it is busy).
  puffs serve <fs> --listen unix:/path.sock|tcp://host:port [--token T | --token-file F] [-o opts]
      Serve file system <fs> over a socket to puffs clients (attach), no
      mount needed. Non-loopback TCP needs a token or TLS (--tls-cert,
      --tls-key). Run 'puffs serve --help' for all options.
  puffs --help | puffs mount --help
      This text.

File systems:
${'{FS_LIST}'}

Mount options (-o, comma separated):
  allow_other            let other users use the mount
  default_permissions    let the kernel check permissions from modes (the
                         default with allow_other, or when not run as root)
  nodefault_permissions  leave permission checks to the file system (the
                         default when only root can reach the mount: root
                         passes the kernel's checks anyway, and they cost a
                         request per directory of every uncached path)
  ro                     read-only mount
  fsname=NAME            source name shown in /proc/mounts (default: the fs name)
  subtype=NAME           type shown as fuse.NAME (default: the fs name)
  max_read=N             largest read request
  entry_timeout=S        seconds names may be cached (default 1)
  attr_timeout=S         seconds attributes may be cached (default 1)
  negative_timeout=S     seconds a missing name may be cached (default 0)
  max_write=N            largest write request, bytes (default 1048576)
  writeback_cache        let the kernel cache writes
  reader=hot|epoll|threadpool  how /dev/fuse is read (default hot: blocking
                         reads while requests keep coming, epoll when idle)
  keep_freed=S           seconds this process keeps memory freed by removed
                         or overwritten write data, for reuse, before giving
                         it back to the system (default 300; 0: at once)
  Other options are passed to the file system (see its list above).
  POSIX and flock locks are kept by the kernel, as for a kernel file system
  (the mount is the file system's only session).

Flags:
  -d, --debug            print each request and reply (one line each) on stderr
`;

function usage(): string {
  const list = Object.entries(fileSystems)
    .map(([name, f]) => `  ${name.padEnd(22)} ${f.description}${f.options ? `\n${f.options}` : ''}`)
    .join('\n');
  return HELP.replace('{FS_LIST}', list);
}

function fail(message: string): never {
  process.stderr.write(`puffs: ${message}\n`);
  process.exit(2);
}

async function cmdMount(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      o: { type: 'string', short: 'o', multiple: true },
      debug: { type: 'boolean', short: 'd' },
      foreground: { type: 'boolean', short: 'f' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage());
    return;
  }
  const [fsName, dir] = positionals;
  if (!fsName || !dir || positionals.length > 2) fail(`usage: puffs mount <fs> <dir> [-o options] [-d]\n${usage()}`);
  const factory: FsFactory | undefined = fileSystems[fsName];
  if (!factory) fail(`unknown file system '${fsName}'; known: ${Object.keys(fileSystems).join(', ')}`);
  const { mount: given, fsOptions } = parseOptions((values.o ?? []).flatMap((s) => s.split(',')));
  // This process only serves, so the hot reader's short hold on the event loop costs nothing.
  // The mount is the file system's only session: the kernel keeps locks itself, as for tmpfs.
  const options: PuffsMountOptions = { unmountOnSignals: true, reader: 'hot', kernelLocks: true, ...given };
  options.fsname ??= fsName;
  options.subtype ??= fsName;
  if (values.debug) options.debug = true;
  const merged: PuffsMountOptions = { ...factory.defaults, ...options };
  // Only root can reach a mount without allow_other made by root, and root
  // passes the kernel's mode checks; with caching off they cost a GETATTR of
  // every directory on a path. The file system checks what reaches it then.
  merged.defaultPermissions ??= !onlyRootReaches(merged);
  let fs;
  try {
    fs = factory.create(fsOptions, merged);
  } catch (err) {
    fail((err as Error).message);
  }
  let mounted;
  try {
    mounted = await mount(fs, dir, merged);
  } catch (err) {
    fail((err as Error).message);
  }
  process.stderr.write(`puffs: ${fsName} mounted on ${mounted.mountpoint} (Ctrl-C to unmount)\n`);
  const err = await mounted.closed;
  if (err) {
    process.stderr.write(`puffs: session ended with an error: ${err.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`puffs: ${mounted.mountpoint} unmounted\n`);
  }
}

async function cmdUmount(args: string[]): Promise<void> {
  const { positionals, values } = parseArgs({ args, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help || positionals.length !== 1) {
    process.stdout.write('Usage: puffs umount <dir>\n');
    if (!values.help) process.exitCode = 2;
    return;
  }
  try {
    await unmount(positionals[0]!);
  } catch (err) {
    fail((err as Error).message);
  }
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  // Started by bin/puffs, with a small young generation: see server/memory.ts.
  if (process.execArgv.includes('--max-semi-space-size=1')) refreshAfterPauses();
  switch (cmd) {
    case 'mount':
      return cmdMount(rest);
    case 'umount':
    case 'unmount':
      return cmdUmount(rest);
    case 'serve':
      return serveCommand(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(usage());
      return;
    default:
      fail(`unknown command '${cmd}'\n${usage()}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => fail(err instanceof UsageError ? err.message : String((err as Error)?.stack ?? err)));
