/**
 * POSIX byte-range locks (fcntl) and BSD flock locks, kept per inode as the
 * kernel's fs/locks.c does. The two kinds never conflict with each other.
 *
 * POSIX: locks belong to an owner (the kernel's lock owner, one per
 * process); an owner's own locks never conflict with each other, and setting
 * a lock splits or merges the owner's existing ranges. flock: one
 * whole-file lock per owner (one per open file); converting between shared
 * and exclusive first drops the old lock, as Linux does.
 */
import { fsError } from '../../errors.js';
import type { FileLock } from '../../server/types.js';

export const F_RDLCK = 0;
export const F_WRLCK = 1;
export const F_UNLCK = 2;

/** The end of a whole-file flock as getlk reports it. */
const WHOLE_FILE_END = Number.MAX_SAFE_INTEGER;
/** The kernel also gives up looking for deadlock cycles after this many steps. */
const MAX_DEADLOCK_STEPS = 10;

interface PosixLock {
  owner: bigint;
  start: number;
  end: number;
  type: number;
  pid: number;
}

interface FlockLock {
  owner: bigint;
  type: number;
  pid: number;
}

interface Waiter {
  flock: boolean;
  owner: bigint;
  type: number;
  start: number;
  end: number;
  pid: number;
  resolve: () => void;
  /** Detach from the abort signal. */
  cleanup: () => void;
}

/** The locks of one inode, and who waits for them. */
export class LockTable {
  posix: PosixLock[] = [];
  flocks: FlockLock[] = [];
  waiters: Waiter[] = [];

  get idle(): boolean {
    return this.posix.length === 0 && this.flocks.length === 0 && this.waiters.length === 0;
  }
}

function conflicts(a: number, b: number): boolean {
  return a === F_WRLCK || b === F_WRLCK;
}

function posixConflict(t: LockTable, owner: bigint, type: number, start: number, end: number): PosixLock | undefined {
  for (const l of t.posix) {
    if (l.owner !== owner && l.start <= end && l.end >= start && conflicts(l.type, type)) return l;
  }
  return undefined;
}

function flockConflict(t: LockTable, owner: bigint, type: number): FlockLock | undefined {
  for (const l of t.flocks) if (l.owner !== owner && conflicts(l.type, type)) return l;
  return undefined;
}

/** Set (or clear, with F_UNLCK) `owner`'s lock on [start, end], splitting and merging its ranges. */
function applyPosix(t: LockTable, owner: bigint, type: number, start: number, end: number, pid: number): void {
  const kept: PosixLock[] = [];
  let s = start;
  let e = end;
  for (const l of t.posix) {
    if (l.owner !== owner) {
      kept.push(l);
      continue;
    }
    // Same-type ranges that overlap or touch merge into the new one.
    if (type !== F_UNLCK && l.type === type && l.start <= end + 1 && l.end + 1 >= start) {
      if (l.start < s) s = l.start;
      if (l.end > e) e = l.end;
      continue;
    }
    if (l.start > end || l.end < start) {
      kept.push(l);
      continue;
    }
    // Overlapped by a different type (or unlocked): keep what lies outside.
    if (l.start < start) kept.push({ owner, start: l.start, end: start - 1, type: l.type, pid: l.pid });
    if (l.end > end) kept.push({ owner, start: end + 1, end: l.end, type: l.type, pid: l.pid });
  }
  if (type !== F_UNLCK) kept.push({ owner, start: s, end: e, type, pid });
  t.posix = kept;
}

function applyFlock(t: LockTable, owner: bigint, type: number, pid: number): void {
  t.flocks = t.flocks.filter((l) => l.owner !== owner);
  if (type !== F_UNLCK) t.flocks.push({ owner, type, pid });
}

/** Lock operations over LockTables, with the cross-inode state deadlock detection needs. */
export class LockManager {
  /** POSIX owner -> the owner whose lock it waits for. */
  private readonly blockedOn = new Map<bigint, bigint>();

  /** F_GETLK: the first lock that would conflict, or one of type F_UNLCK. */
  getlk(t: LockTable | null, owner: bigint, lock: FileLock, flock: boolean): FileLock {
    if (t !== null) {
      if (flock) {
        const c = flockConflict(t, owner, lock.type);
        if (c) return { start: 0, end: WHOLE_FILE_END, type: c.type, pid: c.pid };
      } else {
        const c = posixConflict(t, owner, lock.type, lock.start, lock.end);
        if (c) return { start: c.start, end: c.end, type: c.type, pid: c.pid };
      }
    }
    return { start: lock.start, end: lock.end, type: F_UNLCK, pid: 0 };
  }

  /**
   * F_SETLK / F_SETLKW / flock(). Returns undefined when done at once; with
   * `wait` and a conflict, a Promise settled when the lock is granted or
   * rejected with EINTR when `signal` aborts. Without `wait`, EAGAIN.
   */
  setlk(t: LockTable, owner: bigint, lock: FileLock, flock: boolean, wait: boolean, signal: AbortSignal): Promise<void> | undefined {
    const { type, pid } = lock;
    if (type !== F_RDLCK && type !== F_WRLCK && type !== F_UNLCK) throw fsError('EINVAL');
    const start = flock ? 0 : lock.start;
    const end = flock ? WHOLE_FILE_END : lock.end;
    if (!flock && (start < 0 || end < start)) throw fsError('EINVAL');

    if (flock) {
      const mine = t.flocks.find((l) => l.owner === owner);
      if (mine && mine.type === type) return undefined;
      if (mine) {
        // Conversion is not atomic in Linux either: the old lock goes first.
        applyFlock(t, owner, F_UNLCK, pid);
        this.wake(t);
      }
      if (type === F_UNLCK) return undefined;
      if (!flockConflict(t, owner, type)) {
        applyFlock(t, owner, type, pid);
        return undefined;
      }
    } else {
      if (type === F_UNLCK) {
        applyPosix(t, owner, type, start, end, pid);
        this.wake(t);
        return undefined;
      }
      const c = posixConflict(t, owner, type, start, end);
      if (!c) {
        applyPosix(t, owner, type, start, end, pid);
        // A conversion from write to read lets readers in.
        this.wake(t);
        return undefined;
      }
      if (wait && this.wouldDeadlock(owner, c.owner)) throw fsError('EDEADLK');
    }
    if (!wait) throw fsError('EAGAIN');
    if (signal.aborted) throw fsError('EINTR');
    return this.enqueue(t, flock, owner, type, start, end, pid, signal);
  }

  /** Drop all POSIX locks `owner` holds on this inode (close/flush). */
  releasePosix(t: LockTable, owner: bigint): void {
    const before = t.posix.length;
    t.posix = t.posix.filter((l) => l.owner !== owner);
    if (t.posix.length !== before) this.wake(t);
  }

  /** Drop the flock lock of `owner` (the open file is gone). */
  releaseFlock(t: LockTable, owner: bigint): void {
    const before = t.flocks.length;
    t.flocks = t.flocks.filter((l) => l.owner !== owner);
    if (t.flocks.length !== before) this.wake(t);
  }

  private wouldDeadlock(owner: bigint, blocker: bigint): boolean {
    let cur: bigint | undefined = blocker;
    for (let i = 0; i < MAX_DEADLOCK_STEPS && cur !== undefined; i++) {
      if (cur === owner) return true;
      cur = this.blockedOn.get(cur);
    }
    return false;
  }

  private enqueue(
    t: LockTable,
    flock: boolean,
    owner: bigint,
    type: number,
    start: number,
    end: number,
    pid: number,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = t.waiters.indexOf(w);
        if (i >= 0) t.waiters.splice(i, 1);
        if (!flock) this.blockedOn.delete(owner);
        reject(fsError('EINTR'));
      };
      const w: Waiter = {
        flock, owner, type, start, end, pid, resolve,
        cleanup: () => signal.removeEventListener('abort', onAbort),
      };
      signal.addEventListener('abort', onAbort, { once: true });
      t.waiters.push(w);
      if (!flock) {
        const c = posixConflict(t, owner, type, start, end);
        if (c) this.blockedOn.set(owner, c.owner);
      }
    });
  }

  /** Grant what can be granted now, oldest waiter first. */
  private wake(t: LockTable): void {
    let progress = true;
    while (progress && t.waiters.length > 0) {
      progress = false;
      for (let i = 0; i < t.waiters.length; ) {
        const w = t.waiters[i]!;
        if (w.flock) {
          if (!flockConflict(t, w.owner, w.type)) {
            applyFlock(t, w.owner, w.type, w.pid);
            t.waiters.splice(i, 1);
            w.cleanup();
            w.resolve();
            progress = true;
            continue;
          }
        } else {
          const c = posixConflict(t, w.owner, w.type, w.start, w.end);
          if (!c) {
            applyPosix(t, w.owner, w.type, w.start, w.end, w.pid);
            t.waiters.splice(i, 1);
            this.blockedOn.delete(w.owner);
            w.cleanup();
            w.resolve();
            progress = true;
            continue;
          }
          this.blockedOn.set(w.owner, c.owner);
        }
        i++;
      }
    }
  }
}
