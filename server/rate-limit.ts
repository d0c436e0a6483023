// Rate limiting with token buckets: one global bucket, one per client address and one per
// authenticated user, each separately for reads (GET/HEAD) and writes (everything else). A
// request passes only when every bucket that applies has a token, and then takes one from each,
// so a refused request costs nothing. Refused: 429 TOOMANYREQUESTS with Retry-After (seconds).
// The per-key bucket maps are bounded (least recently used keys are forgotten first).
import type { Middleware } from 'koa';
import type { Config } from './config.js';
import { RegistryError } from './errors.js';
import { requestUser } from './request-user.js';

export type RequestKind = 'read' | 'write';
export type LimitScope = 'global' | 'client' | 'user';

export interface RateLimitMetrics {
  rateLimited(scope: LimitScope, kind: RequestKind): void;
}

export type RateLimitConfig = Config['rateLimit'];
type Rule = RateLimitConfig['global']['read'];

interface Limit {
  /** Tokens per second. */
  rate: number;
  /** Bucket capacity. */
  burst: number;
}

function limitOf(rule: Rule): Limit | undefined {
  if (!(rule.rate > 0)) return undefined;
  return { rate: rule.rate, burst: rule.burst > 0 ? rule.burst : Math.max(1, Math.ceil(rule.rate)) };
}

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly limit: Limit,
    now: number,
  ) {
    this.tokens = limit.burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.last) / 1000) * this.limit.rate);
      this.last = now;
    }
  }

  /** 0 when a token is available now, else the milliseconds until one is. */
  wait(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.limit.rate) * 1000;
  }

  take(): void {
    this.tokens -= 1;
  }

  /** Full again: nothing is lost by forgetting it. */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.limit.burst;
  }
}

/** Buckets by key, at most `max` of them; the least recently used is evicted first. */
class BucketMap {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly limit: Limit,
    private readonly max: number,
  ) {}

  get(key: string, now: number): TokenBucket {
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key);
    } else {
      b = new TokenBucket(this.limit, now);
      if (this.buckets.size >= this.max) this.evict(now);
    }
    this.buckets.set(key, b);
    return b;
  }

  private evict(now: number): void {
    // Prefer dropping a full bucket (a client that is not being limited) among the oldest few.
    let n = 0;
    for (const [key, b] of this.buckets) {
      if (b.isFull(now)) {
        this.buckets.delete(key);
        return;
      }
      if (++n >= 32) break;
    }
    this.buckets.delete(this.buckets.keys().next().value!);
  }

  get size(): number {
    return this.buckets.size;
  }
}

interface KindLimits {
  global?: TokenBucket;
  client?: BucketMap;
  user?: BucketMap;
}

export type RateLimitDecision = { ok: true } | { ok: false; scope: LimitScope; retryAfterSeconds: number };

/** This process's buckets (RateLimiter), or the one set a cluster's primary keeps (server/cluster). */
export interface RateLimiterLike {
  readonly enabled: boolean;
  update(config: RateLimitConfig): void;
  check(kind: RequestKind, client: string, user: string | undefined): RateLimitDecision | Promise<RateLimitDecision>;
}

export class RateLimiter implements RateLimiterLike {
  private limits: Record<RequestKind, KindLimits> = { read: {}, write: {} };
  private active = false;

  constructor(
    config: RateLimitConfig,
    private readonly metrics?: RateLimitMetrics,
  ) {
    this.update(config);
  }

  /** Applies a new configuration (buckets start full again). */
  update(config: RateLimitConfig, now = Date.now()): void {
    const build = (kind: RequestKind): KindLimits => {
      const g = limitOf(config.global[kind]);
      const c = limitOf(config.perClient[kind]);
      const u = limitOf(config.perUser[kind]);
      return {
        global: g && new TokenBucket(g, now),
        client: c && new BucketMap(c, config.maxTrackedKeys),
        user: u && new BucketMap(u, config.maxTrackedKeys),
      };
    };
    this.limits = { read: build('read'), write: build('write') };
    this.active = [this.limits.read, this.limits.write].some((l) => l.global || l.client || l.user);
  }

  get enabled(): boolean {
    return this.active;
  }

  check(kind: RequestKind, client: string, user: string | undefined, now = Date.now()): RateLimitDecision {
    const l = this.limits[kind];
    const buckets: [LimitScope, TokenBucket][] = [];
    if (l.global) buckets.push(['global', l.global]);
    if (l.client) buckets.push(['client', l.client.get(client, now)]);
    if (l.user && user !== undefined) buckets.push(['user', l.user.get(user, now)]);
    let worst: { scope: LimitScope; wait: number } | undefined;
    for (const [scope, b] of buckets) {
      const wait = b.wait(now);
      if (wait > 0 && (!worst || wait > worst.wait)) worst = { scope, wait };
    }
    if (worst) {
      this.metrics?.rateLimited(worst.scope, kind);
      return { ok: false, scope: worst.scope, retryAfterSeconds: Math.max(1, Math.ceil(worst.wait / 1000)) };
    }
    for (const [, b] of buckets) b.take();
    return { ok: true };
  }
}

export function requestKind(method: string): RequestKind {
  return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
}

/** Limits the registry API; mount it after health and metrics, which are never limited. */
export function rateLimit(limiter: RateLimiterLike): Middleware {
  return async (ctx, next) => {
    if (!limiter.enabled) return next();
    const decision = await limiter.check(requestKind(ctx.method), ctx.ip, requestUser(ctx));
    if (!decision.ok) {
      throw new RegistryError('TOOMANYREQUESTS', `too many requests: the ${decision.scope} ${requestKind(ctx.method)} limit is exceeded`, {
        limit: decision.scope,
        retryAfter: decision.retryAfterSeconds,
      }).withHeader('Retry-After', String(decision.retryAfterSeconds));
    }
    return next();
  };
}
