import { describe, expect, it } from 'vitest';
import { cached, latest } from './operations.js';

describe('cached (the Operations scans)', () => {
  it('shares a computation in flight and keeps its answer for the max age', async () => {
    let runs = 0;
    let now = 1_000;
    const realNow = Date.now;
    Date.now = () => now;
    try {
      const get = cached(async () => ++runs, 60_000);
      const [a, b] = await Promise.all([get(), get()]);
      expect([a, b, runs]).toEqual([1, 1, 1]);
      now += 59_999;
      expect(await get()).toBe(1);
      now += 1;
      expect(await get()).toBe(2);
    } finally {
      Date.now = realNow;
    }
  });

  it('does not keep a failure: the next call computes again', async () => {
    let runs = 0;
    const get = cached(async () => {
      runs++;
      if (runs === 1) throw new Error('storage unavailable');
      return 'ok';
    }, 60_000);
    await expect(get()).rejects.toThrow('storage unavailable');
    expect(await get()).toBe('ok');
    expect(runs).toBe(2);
  });
});

describe('latest (the last GC run shown)', () => {
  const run = (finishedAt: string) => ({ startedAt: finishedAt, finishedAt, ok: true });
  it('takes the run that finished last, from the storage record or this server', () => {
    const stored = run('2026-12-03T10:00:00.000Z');
    const own = run('2026-12-03T11:00:00.000Z');
    expect(latest(stored, own)).toBe(own);
    expect(latest(own, stored)).toBe(own);
    expect(latest(stored, undefined)).toBe(stored);
    expect(latest(undefined, own)).toBe(own);
    expect(latest(undefined, undefined)).toBeUndefined();
  });
});
