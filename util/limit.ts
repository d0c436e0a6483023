// Bounded concurrency: one implementation for the storage walk and GC, image copies and pulls.
// Dependency-free so any part may import it.

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order; the first failure rejects (after in-flight calls settle, and no new ones start). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw failed.err;
  return out;
}

/** A gate that runs at most `n` of the functions given to it at once, in the order they came. */
export function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  if (!(n >= 1)) throw new RangeError(`a limit must be at least 1 (got ${n})`);
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
    else active++;
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter (active stays the same), or free it.
      const wake = queue.shift();
      if (wake) wake();
      else active--;
    }
  };
}
