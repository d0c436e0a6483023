import { describe, expect, it } from 'vitest';
import { loadConfig, type ConfigInput } from './config.js';
import { RateLimiter, TokenBucket, requestKind } from './rate-limit.js';

type RateLimitInput = NonNullable<ConfigInput['rateLimit']>;

/** A limiter on a clock that starts at 0 (the tests pass `now`). */
function limiter(rateLimit: RateLimitInput) {
  const hits: string[] = [];
  const config = loadConfig({ overrides: { rateLimit } }).rateLimit;
  const l = new RateLimiter(config, { rateLimited: (scope, kind) => hits.push(`${scope}/${kind}`) });
  l.update(config, 0);
  return { l, hits };
}

describe('TokenBucket', () => {
  it('starts full, refills at the rate, never above the burst', () => {
    const b = new TokenBucket({ rate: 2, burst: 3 }, 0);
    for (let i = 0; i < 3; i++) {
      expect(b.wait(0)).toBe(0);
      b.take();
    }
    expect(b.wait(0)).toBe(500);
    expect(b.wait(250)).toBe(250);
    expect(b.wait(500)).toBe(0);
    expect(b.isFull(10_000)).toBe(true);
  });
});

describe('RateLimiter', () => {
  it('does nothing without limits', () => {
    const { l } = limiter({});
    expect(l.enabled).toBe(false);
    for (let i = 0; i < 1000; i++) expect(l.check('write', 'a', undefined, 0).ok).toBe(true);
  });

  it('limits each client separately, reads apart from writes, and says when to come back', () => {
    const { l, hits } = limiter({ perClient: { read: { rate: 1, burst: 2 } } });
    expect(l.check('read', 'a', undefined, 0).ok).toBe(true);
    expect(l.check('read', 'a', undefined, 0).ok).toBe(true);
    expect(l.check('read', 'a', undefined, 0)).toEqual({ ok: false, scope: 'client', retryAfterSeconds: 1 });
    expect(l.check('read', 'b', undefined, 0).ok).toBe(true);
    expect(l.check('write', 'a', undefined, 0).ok).toBe(true); // writes are unlimited here
    expect(l.check('read', 'a', undefined, 1000).ok).toBe(true);
    expect(hits).toEqual(['client/read']);
  });

  it('limits per user when a user is known, across client addresses', () => {
    const { l } = limiter({ perUser: { write: { rate: 0.1, burst: 1 } } });
    expect(l.check('write', '10.0.0.1', 'alice', 0).ok).toBe(true);
    expect(l.check('write', '10.0.0.2', 'alice', 0)).toEqual({ ok: false, scope: 'user', retryAfterSeconds: 10 });
    expect(l.check('write', '10.0.0.2', 'bob', 0).ok).toBe(true);
    // Anonymous requests are not subject to the per-user limit.
    expect(l.check('write', '10.0.0.2', undefined, 0).ok).toBe(true);
  });

  it('takes no token when a request is refused by another limit', () => {
    const { l } = limiter({ global: { read: { rate: 1, burst: 1 } }, perClient: { read: { rate: 1, burst: 1 } } });
    expect(l.check('read', 'a', undefined, 0).ok).toBe(true);
    // b is refused by the global bucket; its own bucket must still be full afterwards.
    expect(l.check('read', 'b', undefined, 0)).toMatchObject({ ok: false, scope: 'global' });
    expect(l.check('read', 'b', undefined, 1000).ok).toBe(true);
  });

  it('reports the longest wait when several limits refuse', () => {
    const { l } = limiter({ global: { write: { rate: 1, burst: 1 } }, perClient: { write: { rate: 0.25, burst: 1 } } });
    expect(l.check('write', 'a', undefined, 0).ok).toBe(true);
    expect(l.check('write', 'a', undefined, 0)).toEqual({ ok: false, scope: 'client', retryAfterSeconds: 4 });
  });

  it('burst 0 means the rate rounded up', () => {
    const { l } = limiter({ perClient: { read: { rate: 2.5 } } });
    for (let i = 0; i < 3; i++) expect(l.check('read', 'a', undefined, 0).ok).toBe(true);
    expect(l.check('read', 'a', undefined, 0).ok).toBe(false);
  });

  it('keeps at most maxTrackedKeys buckets, forgetting idle clients first', () => {
    const { l } = limiter({ perClient: { read: { rate: 0.001, burst: 1 } }, maxTrackedKeys: 3 });
    expect(l.check('read', 'busy', undefined, 0).ok).toBe(true);
    for (let i = 0; i < 1000; i++) l.check('read', `client-${i}`, undefined, 0);
    const size = (l as unknown as { limits: { read: { client: { size: number } } } }).limits.read.client.size;
    expect(size).toBeLessThanOrEqual(3);
  });

  it('applies a new configuration', () => {
    const { l } = limiter({ perClient: { read: { rate: 1, burst: 1 } } });
    expect(l.check('read', 'a', undefined, 0).ok).toBe(true);
    expect(l.check('read', 'a', undefined, 0).ok).toBe(false);
    l.update(loadConfig().rateLimit, 0);
    expect(l.enabled).toBe(false);
    expect(l.check('read', 'a', undefined, 0).ok).toBe(true);
  });

  it('classifies GET and HEAD as reads, everything else as writes', () => {
    expect(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].map(requestKind)).toEqual(['read', 'read', 'write', 'write', 'write', 'write']);
  });
});
