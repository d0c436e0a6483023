import { describe, expect, it } from 'vitest';
import { limiter, mapLimit } from './limit.js';

/** A promise with its resolve exposed. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('mapLimit', () => {
  it('keeps at most `limit` calls in flight and returns results in input order', async () => {
    let active = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n, i) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, n));
      active--;
      return `${i}:${n}`;
    });
    expect(out).toEqual(['0:5', '1:1', '2:4', '3:2', '4:3']);
    expect(peak).toBe(2);
  });

  it('rejects with the first failure and starts no new calls after it', async () => {
    const started: number[] = [];
    await expect(
      mapLimit([1, 2, 3, 4], 1, async (n) => {
        started.push(n);
        if (n === 2) throw new Error('two failed');
      }),
    ).rejects.toThrow('two failed');
    expect(started).toEqual([1, 2]);
  });

  it('handles an empty list', async () => {
    expect(await mapLimit([], 3, async () => 1)).toEqual([]);
  });
});

describe('limiter', () => {
  it('never runs more than n at once, even when a slot frees while new callers arrive', async () => {
    const limit = limiter(2);
    let active = 0;
    let peak = 0;
    const gates = Array.from({ length: 6 }, deferred);
    const run = (i: number) =>
      limit(async () => {
        active++;
        peak = Math.max(peak, active);
        await gates[i]!.promise;
        active--;
        return i;
      });
    const first = [run(0), run(1), run(2)];
    gates[0]!.resolve();
    await first[0];
    // A caller arriving right as the slot is handed over must wait its turn.
    const late = run(3);
    gates[1]!.resolve();
    gates[2]!.resolve();
    gates[3]!.resolve();
    expect(await Promise.all([...first, late])).toEqual([0, 1, 2, 3]);
    expect(peak).toBe(2);
  });

  it('frees the slot when the function fails', async () => {
    const limit = limiter(1);
    await expect(limit(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limit(async () => 'next')).toBe('next');
  });
});
