import { describe, expect, it } from 'vitest';
import { LockTable } from './lock-table.js';

type W = { worker: number; id: number };

describe('LockTable', () => {
  it('grants a key to one worker at a time, in the order they asked', () => {
    const t = new LockTable<W>();
    const granted: W[] = [];
    expect(t.acquire('k', { worker: 1, id: 1 }, true)).toBe(true);
    expect(t.acquire('k', { worker: 2, id: 2 }, true)).toBe(false);
    expect(t.acquire('k', { worker: 3, id: 3 }, true)).toBe(false);
    t.release('k', 1, (w) => granted.push(w));
    expect(granted).toEqual([{ worker: 2, id: 2 }]);
    t.release('k', 2, (w) => granted.push(w));
    expect(granted.map((w) => w.worker)).toEqual([2, 3]);
    t.release('k', 3, (w) => granted.push(w));
    expect(t.size).toBe(0);
  });

  it('refuses without queueing when told not to wait', () => {
    const t = new LockTable<W>();
    t.acquire('k', { worker: 1, id: 1 }, true);
    expect(t.acquire('k', { worker: 2, id: 2 }, false)).toBe(false);
    const granted: W[] = [];
    t.release('k', 1, (w) => granted.push(w));
    expect(granted).toEqual([]);
    expect(t.size).toBe(0);
  });

  it('ignores a release by a worker that does not hold the key', () => {
    const t = new LockTable<W>();
    t.acquire('k', { worker: 1, id: 1 }, true);
    t.release('k', 2, () => undefined);
    expect(t.acquire('k', { worker: 2, id: 2 }, false)).toBe(false);
  });

  it('passes on the locks of a worker that died and forgets its waits', () => {
    const t = new LockTable<W>();
    t.acquire('a', { worker: 1, id: 1 }, true);
    t.acquire('a', { worker: 2, id: 2 }, true);
    t.acquire('b', { worker: 2, id: 3 }, true);
    t.acquire('b', { worker: 1, id: 4 }, true);
    t.acquire('b', { worker: 3, id: 5 }, true);
    const granted: W[] = [];
    t.releaseAll(2, (w) => granted.push(w));
    // b passes to worker 1; worker 2's wait on a is gone, so a stays with 1 and frees on release.
    expect(granted).toEqual([{ worker: 1, id: 4 }]);
    t.release('a', 1, (w) => granted.push(w));
    expect(t.acquire('a', { worker: 3, id: 6 }, false)).toBe(true);
  });
});
