// The workers' views of state the primary holds once for all of them (server/cluster/primary.ts):
// the rate-limit buckets and the failed-login counters. Same interfaces as the in-process
// RateLimiter and LoginGuard, answered over the IPC channel.
import type { GuardDecision, LoginGuardLike } from '../auth/login-guard.js';
import type { RateLimitConfig, RateLimitDecision, RateLimiterLike, RateLimitMetrics, RequestKind } from '../rate-limit.js';
import type { WorkerLink } from './worker-link.js';

export class SharedRateLimiter implements RateLimiterLike {
  private active: boolean;

  constructor(
    config: RateLimitConfig,
    private readonly link: WorkerLink,
    private readonly metrics?: RateLimitMetrics,
  ) {
    this.active = hasLimits(config);
  }

  /** The primary applies the new limits itself on SIGHUP; a worker only learns whether there are any. */
  update(config: RateLimitConfig): void {
    this.active = hasLimits(config);
  }

  get enabled(): boolean {
    return this.active;
  }

  async check(kind: RequestKind, client: string, user: string | undefined): Promise<RateLimitDecision> {
    const d = await this.link.request<RateLimitDecision>('rate', { kind, client, user });
    if (!d.ok) this.metrics?.rateLimited(d.scope, kind);
    return d;
  }
}

function hasLimits(c: RateLimitConfig): boolean {
  return [c.global, c.perClient, c.perUser].some((r) => r.read.rate > 0 || r.write.rate > 0);
}

export class SharedLoginGuard implements LoginGuardLike {
  constructor(private readonly link: WorkerLink) {}

  check(user: string, client: string): Promise<GuardDecision> {
    return this.link.request<GuardDecision>('login-check', { user, client });
  }

  async failed(user: string, client: string, _now?: number, password?: string): Promise<void> {
    await this.link.request('login-failed', { user, client, password });
  }

  async succeeded(user: string): Promise<void> {
    await this.link.request('login-ok', { user });
  }
}
