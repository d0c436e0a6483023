// Storage quotas (config policy.quotas): a namespace of repository globs may hold at most `limit`
// unique blob bytes. Usage is accounted in storage by storage/quota-ledger.ts (on every link:
// blob upload, mount, manifest push; corrected by garbage collection); this module decides
// whether a new link fits and says why not, with the spec's DENIED.
import { createHash } from 'node:crypto';
import { Counter, Gauge, type Registry } from '../prometheus.js';
import type { Digest } from '../../oci/index.js';
import type { QuotaLedger, QuotaNamespace } from '../../storage/index.js';
import { RegistryError } from '../errors.js';
import { formatByteSize } from './byte-size.js';
import type { PolicyConfig } from './policy-config.js';

export interface QuotaRule extends QuotaNamespace {
  name: string;
  limit: number;
}

/**
 * The configured quotas. A namespace's storage key is derived from its globs (not its name), so
 * renaming a quota keeps its accounting, and changing its globs starts a new one (filled in at
 * start and by garbage collection).
 */
export function quotaRules(config: PolicyConfig): QuotaRule[] {
  return config.quotas.map((q) => {
    const globs = [...q.repositories].sort();
    const key = `q-${createHash('sha256').update(JSON.stringify(globs)).digest('hex').slice(0, 16)}`;
    return { key, name: q.name ?? q.repositories.join(','), repositories: q.repositories, limit: q.limit };
  });
}

export interface QuotaReport {
  name: string;
  repositories: readonly string[];
  limitBytes: number;
  usedBytes: number;
  blobs: number;
  measuredAt: string;
}

export class QuotaExceededError extends RegistryError {
  constructor(
    readonly rule: QuotaRule,
    readonly used: number,
    readonly requested: number,
    /** The upload streamed without an announced size and was stopped at `requested` bytes. */
    stopped = false,
  ) {
    super(
      'DENIED',
      `storage quota "${rule.name}" (${rule.repositories.join(', ')}) exceeded: ${formatByteSize(used)} of ${formatByteSize(rule.limit)} used ` +
        `(${used} of ${rule.limit} bytes), this upload needs ${stopped ? 'at least ' : ''}${formatByteSize(requested)} more`,
      { quota: rule.name, limit: rule.limit, used, requested },
    );
  }
}

export class QuotaEnforcer {
  private readonly denied?: Counter<'quota'>;

  constructor(
    readonly rules: readonly QuotaRule[],
    private readonly ledger: QuotaLedger | undefined,
    metrics?: Registry,
  ) {
    if (!metrics || rules.length === 0 || !ledger) return;
    const byKey = new Map(rules.map((r) => [r.key, r]));
    new Gauge({
      name: 'stevedore_quota_limit_bytes',
      help: 'Configured storage quota, by quota name.',
      labelNames: ['quota'] as const,
      registers: [metrics],
      aggregator: 'max', // the same figure in every worker of a cluster
      collect() {
        for (const r of rules) this.set({ quota: r.name }, r.limit);
      },
    });
    new Gauge({
      name: 'stevedore_quota_used_bytes',
      help: 'Unique blob bytes linked into the repositories of each quota (as accounted in storage).',
      labelNames: ['quota'] as const,
      registers: [metrics],
      aggregator: 'max', // every worker reads the same accounting in storage
      async collect() {
        for (const ns of ledger.namespaces) {
          const r = byKey.get(ns.key);
          if (r) this.set({ quota: r.name }, (await ledger.usage(ns)).bytes);
        }
      },
    });
    this.denied = new Counter({
      name: 'stevedore_quota_denied_total',
      help: 'Uploads, mounts and manifest pushes refused because they would exceed a storage quota.',
      labelNames: ['quota'] as const,
      registers: [metrics],
    });
  }

  get enabled(): boolean {
    return this.ledger !== undefined && this.rules.length > 0;
  }

  private rulesFor(repo: string): QuotaRule[] {
    return this.rules.filter((r) => this.ledger?.matching(repo).some((ns) => ns.key === r.key));
  }

  /**
   * Refuses (QuotaExceededError, DENIED) linking `size` bytes into `repo` when a quota of the
   * repository would be exceeded. With `digest`, a blob the namespace already counts adds nothing;
   * without (an upload whose digest is not known yet) the bytes count in full.
   */
  async admit(repo: string, digest: Digest | undefined, size: number): Promise<void> {
    if (!this.ledger || size <= 0) return;
    for (const rule of this.rulesFor(repo)) {
      if (digest && (await this.ledger.counts(rule, digest))) continue;
      const used = (await this.ledger.usage(rule)).bytes;
      if (used + size > rule.limit) {
        this.denied?.inc({ quota: rule.name });
        throw new QuotaExceededError(rule, used, size);
      }
    }
  }

  /**
   * The bytes `repo` may still take under its tightest quota (Infinity without one); with
   * `digest`, quotas that already count that blob are left out.
   */
  async remaining(repo: string, digest?: Digest): Promise<{ bytes: number; rule?: QuotaRule; used?: number }> {
    let best: { bytes: number; rule?: QuotaRule; used?: number } = { bytes: Infinity };
    if (!this.ledger) return best;
    for (const rule of this.rulesFor(repo)) {
      if (digest && (await this.ledger.counts(rule, digest))) continue;
      const used = (await this.ledger.usage(rule)).bytes;
      const left = Math.max(0, rule.limit - used);
      if (left < best.bytes) best = { bytes: left, rule, used };
    }
    return best;
  }

  /** A refusal for an upload that streamed past what was left (its size was not announced): `requested` is where it was stopped. */
  exceeded(rule: QuotaRule, used: number, requested: number): QuotaExceededError {
    this.denied?.inc({ quota: rule.name });
    return new QuotaExceededError(rule, used, requested, true);
  }

  async report(): Promise<QuotaReport[]> {
    const ledger = this.ledger;
    if (!ledger) return [];
    return Promise.all(
      this.rules.map(async (r) => {
        const u = await ledger.usage(r);
        return { name: r.name, repositories: r.repositories, limitBytes: r.limit, usedBytes: u.bytes, blobs: u.blobs, measuredAt: u.measuredAt.toISOString() };
      }),
    );
  }
}
