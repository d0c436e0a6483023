// The primary's table of keyed locks that workers hold: one holder per key, the others queued in
// the order they asked. A worker that dies releases everything it held and leaves the queues.
export type Grant<W> = (waiter: W) => void;

export class LockTable<W extends { worker: number }> {
  private readonly locks = new Map<string, { holder: number; queue: W[] }>();

  /** Takes `key` for `waiter` now (true), queues it (false), or with `wait` false refuses (false). */
  acquire(key: string, waiter: W, wait: boolean): boolean {
    const l = this.locks.get(key);
    if (!l) {
      this.locks.set(key, { holder: waiter.worker, queue: [] });
      return true;
    }
    if (wait) l.queue.push(waiter);
    return false;
  }

  /** `worker` releases `key`; the next waiter, if any, now holds it and is passed to `grant`. */
  release(key: string, worker: number, grant: Grant<W>): void {
    const l = this.locks.get(key);
    if (!l || l.holder !== worker) return;
    const next = l.queue.shift();
    if (!next) {
      this.locks.delete(key);
      return;
    }
    l.holder = next.worker;
    grant(next);
  }

  /** A worker is gone: its locks pass on, its waits are dropped. */
  releaseAll(worker: number, grant: Grant<W>): void {
    for (const [key, l] of [...this.locks]) {
      l.queue = l.queue.filter((w) => w.worker !== worker);
      if (l.holder === worker) this.release(key, worker, grant);
    }
  }

  /** Keys held now (for tests and diagnostics). */
  get size(): number {
    return this.locks.size;
  }
}
