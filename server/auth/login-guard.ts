// Brute-force protection for password checks: failures are counted per user name and per client
// address; past `maxFailures` (`maxFailuresPerClient`) within `window`, that user or address is locked out for `lockout`,
// doubling with each further failure up to `maxLockout`. A locked caller is refused (429 with
// Retry-After) before its password is even looked at, so guessing gets no answers. Every failure
// and every refusal is logged.
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { AuthConfig } from './auth-config.js';

interface Record_ {
  failures: number[];
  lockedUntil: number;
  lockMs: number;
  /** Fingerprints of the wrong credentials counted lately (→ when), see SAME_CREDENTIALS_MS. */
  recent: Map<string, number>;
}

const MAX_TRACKED = 10_000;
/**
 * The same wrong credentials sent again within this time are one failure, not several: clients
 * retry on their own (containerd's `ctr` sends a refused password five times), and repeating a
 * password that was wrong teaches a guesser nothing.
 */
const SAME_CREDENTIALS_MS = 60_000;
const MAX_RECENT = 16;

export type GuardDecision = { ok: true } | { ok: false; retryAfterSeconds: number; by: 'user' | 'client' };

/** This process's counters (LoginGuard), or the one set a cluster's primary keeps (server/cluster). */
export interface LoginGuardLike {
  check(user: string, client: string): GuardDecision | Promise<GuardDecision>;
  failed(user: string, client: string, now?: number, password?: string): void | Promise<void>;
  succeeded(user: string): void | Promise<void>;
}

export class LoginGuard implements LoginGuardLike {
  private readonly records = new Map<string, Record_>();
  /** Fingerprints are salted per process: never the password, nor a hash that could be looked up. */
  private readonly salt = randomBytes(16);

  constructor(
    private readonly config: AuthConfig['bruteForce'],
    private readonly log: Logger,
  ) {}

  private get(key: string): Record_ | undefined {
    return this.records.get(key);
  }

  /** Whether a login for this user from this address may be checked now. */
  check(user: string, client: string, now = Date.now()): GuardDecision {
    for (const [by, key] of [['user', `u:${user}`], ['client', `c:${client}`]] as const) {
      const r = this.get(key);
      if (r && r.lockedUntil > now) {
        const retryAfterSeconds = Math.max(1, Math.ceil((r.lockedUntil - now) / 1000));
        this.log.warn({ user, client, lockedBy: by, retryAfter: retryAfterSeconds }, 'login refused: too many failed logins');
        return { ok: false, retryAfterSeconds, by };
      }
    }
    return { ok: true };
  }

  /** `password`: the wrong password, so that the same one retried soon counts once. */
  failed(user: string, client: string, now = Date.now(), password?: string): void {
    const { window, lockout, maxLockout } = this.config;
    const fingerprint =
      password === undefined ? undefined : createHash('sha256').update(this.salt).update(user).update('\0').update(password).digest('base64url');
    let lockedFor = 0;
    let skipped = 0;
    for (const [key, maxFailures] of [
      [`u:${user}`, this.config.maxFailures],
      [`c:${client}`, this.config.maxFailuresPerClient],
    ] as const) {
      let r = this.records.get(key);
      if (!r) {
        if (this.records.size >= MAX_TRACKED) this.records.delete(this.records.keys().next().value!);
        r = { failures: [], lockedUntil: 0, lockMs: 0, recent: new Map() };
      }
      this.records.delete(key);
      this.records.set(key, r); // most recently used last
      if (fingerprint !== undefined) {
        const seen = r.recent.get(fingerprint);
        if (seen !== undefined && now - seen < SAME_CREDENTIALS_MS) {
          skipped++;
          continue;
        }
        r.recent.delete(fingerprint);
        r.recent.set(fingerprint, now);
        if (r.recent.size > MAX_RECENT) r.recent.delete(r.recent.keys().next().value!);
      }
      r.failures = r.failures.filter((t) => t > now - window);
      r.failures.push(now);
      if (r.failures.length >= maxFailures) {
        r.lockMs = r.lockMs ? Math.min(maxLockout, r.lockMs * 2) : lockout;
        r.lockedUntil = now + r.lockMs;
        lockedFor = Math.max(lockedFor, r.lockMs);
      }
    }
    const repeated = skipped === 2;
    this.log.warn(
      { user, client, ...(repeated ? { repeated: true } : {}), ...(lockedFor ? { lockedForSeconds: Math.ceil(lockedFor / 1000) } : {}) },
      repeated ? 'login failed (the same credentials again: not counted)' : 'login failed',
    );
  }

  succeeded(user: string): void {
    // The address keeps its record: one good account must not unlock guessing at others.
    this.records.delete(`u:${user}`);
  }
}
