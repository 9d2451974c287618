/**
 * Node locks for the client's own critical sections. The rules (NetBSD puffs
 * lessons):
 *
 * - A lock is never held while waiting on the server. A namespace operation
 *   takes its locks, revalidates what it looked up, *enqueues* its request,
 *   and releases them before it waits for the answer.
 * - Locks on several nodes are taken in one global order (ascending node
 *   id), all at once through {@link LockTable.acquire}, so two operations
 *   can never wait on each other in a cycle.
 */
export type Release = () => void;

export class LockTable {
  /** Held locks: node id → callers waiting for it, first in line first. */
  private readonly held = new Map<number, (() => void)[]>();

  /** True while `id` is held. */
  isHeld(id: number): boolean {
    return this.held.has(id);
  }

  /** Number of locks held right now (for tests). */
  get size(): number {
    return this.held.size;
  }

  /**
   * Take the locks on `ids` (duplicates and 0 ignored) in ascending order.
   * Resolves with a function that releases them all; call it exactly once.
   */
  async acquire(ids: readonly number[]): Promise<Release> {
    const order = [...new Set(ids.filter((id) => id > 0))].sort((a, b) => a - b);
    for (const id of order) await this.take(id);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (let i = order.length - 1; i >= 0; i--) this.give(order[i]!);
    };
  }

  private take(id: number): Promise<void> | void {
    const queue = this.held.get(id);
    if (queue === undefined) {
      this.held.set(id, []);
      return;
    }
    return new Promise<void>((resolve) => queue.push(resolve));
  }

  private give(id: number): void {
    const queue = this.held.get(id);
    if (queue === undefined) return;
    const next = queue.shift();
    if (next) next(); // ownership passes straight to the next waiter
    else this.held.delete(id);
  }
}
