/**
 * Mount a FileSystem on a directory through the kernel: /dev/fuse, mount(8),
 * a watchdog, the device channel and a session, wired together.
 */
import { writeFile } from 'node:fs/promises';
import { mountFuse, type FuseMount, type MountOptions } from '../mount/index.js';
import { DeviceChannel, type DeviceReader } from '../transport/device.js';
import type { FileSystem } from './ops.js';
import { Session, type SessionOptions } from './session.js';

export interface PuffsMountOptions extends MountOptions, SessionOptions {
  /**
   * How requests are read from /dev/fuse (default 'epoll'). 'hot' is faster
   * per request but may hold the event loop up to about 20 ms: for processes
   * that only serve (the CLI's default). It needs the watchdog, which ends a
   * read that would block for good; without one it is 'epoll'.
   */
  reader?: DeviceReader;
  /** Unmount when the process gets SIGINT, SIGTERM or SIGHUP, then let it exit. Default false (the CLI sets it). */
  unmountOnSignals?: boolean;
  /**
   * Readahead window in KiB. The kernel starts FUSE mounts at 128 KiB; a
   * larger window lets a sequential reader fetch up to max_write per request
   * (default 1024; set through sysfs, which needs root; 0 leaves it alone).
   */
  readaheadKb?: number;
}

export interface Mounted {
  readonly mountpoint: string;
  readonly session: Session;
  readonly fuse: FuseMount;
  /** Unmount and wait for the session to end. Idempotent. */
  unmount(): Promise<void>;
  /** Settles when the session has ended (after unmount, or when the mount was taken away). */
  readonly closed: Promise<Error | undefined>;
}

/** Serve `fs` at `mountpoint` until unmounted. */
export async function mount(fs: FileSystem, mountpoint: string, options: PuffsMountOptions = {}): Promise<Mounted> {
  const fuse = await mountFuse(mountpoint, options);
  const maxWrite = options.maxWrite ?? 1 << 20;
  const channel = new DeviceChannel(fuse.fd, { bufferSize: maxWrite + 4096, reader: options.reader, waker: fuse.waker });
  const session = new Session(fs, channel, options);
  const readahead = options.readaheadKb ?? 1024;
  if (readahead > 0) {
    // Named after the mount's device number; written after INIT, whose reply
    // clamps the window. Best effort: without root it stays at 128 KiB.
    void session.ready.then(() => writeFile(`/sys/class/bdi/${fuse.dev}/read_ahead_kb`, String(readahead)).catch(() => undefined));
  }
  let unmounting: Promise<void> | undefined;

  const closed = session.start().then(async (err) => {
    // Ended by the kernel (unmounted) or by an error while still mounted: make sure nothing is left.
    if (!unmounting) await fuse.unmount({ lazy: true }).catch(() => undefined);
    fuse.detachWatchdog();
    removeSignalHandlers();
    return err;
  });

  const unmount = (): Promise<void> => {
    unmounting ??= (async () => {
      try {
        await fuse.unmount();
      } finally {
        // The kernel answers our reads with ENODEV once the mount is gone; if
        // it was already gone, close the channel ourselves.
        setTimeout(() => session.close(), 2000).unref();
        await closed;
      }
    })();
    return unmounting;
  };

  const onSignal = () => {
    unmount().catch((err: unknown) => {
      process.stderr.write(`puffs: unmount of ${fuse.mountpoint} failed: ${String((err as Error).message ?? err)}\n`);
      process.exitCode = 1;
    });
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  function removeSignalHandlers() {
    if (options.unmountOnSignals) for (const s of signals) process.off(s, onSignal);
  }
  if (options.unmountOnSignals) for (const s of signals) process.on(s, onSignal);

  return { mountpoint: fuse.mountpoint, session, fuse, unmount, closed };
}
