import { describe, expect, it } from 'vitest';
import { ContentCache } from './content-cache.js';

describe('ContentCache', () => {
  it('evicts the least recently used entries to stay within its byte bound', () => {
    const c = new ContentCache(10, 10);
    c.set('a', Buffer.alloc(4));
    c.set('b', Buffer.alloc(4));
    expect(c.get('a')).toBeDefined(); // a is now more recent than b
    c.set('c', Buffer.alloc(4));
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBeDefined();
    expect(c.get('c')).toBeDefined();
    expect(c.size).toBe(8);
  });

  it('does not keep entries larger than its per-entry bound', () => {
    const c = new ContentCache(100, 10);
    c.set('big', Buffer.alloc(11));
    expect(c.get('big')).toBeUndefined();
    expect(c.size).toBe(0);
  });
});
