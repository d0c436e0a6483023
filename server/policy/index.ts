// Registry governance policies: immutable tags and storage quotas (config section `policy`).
import type { Registry } from 'prom-client';
import { reconcileQuotaUsage, type RegistryStorage } from '../../storage/index.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { ImmutableTags } from './immutable-tags.js';
import { QuotaEnforcer, quotaRules } from './quotas.js';

export { ImmutableTags, isSemverTag, type ImmutableTagRule } from './immutable-tags.js';
export { QuotaEnforcer, QuotaExceededError, quotaRules, type QuotaReport, type QuotaRule } from './quotas.js';
export type { PolicyConfig } from './policy-config.js';

export interface RegistryPolicy {
  immutableTags: ImmutableTags;
  quotas: QuotaEnforcer;
}

/** The storage options that turn on quota accounting (openRegistryStorage). */
export function quotaStorageOptions(config: Pick<Config, 'policy'>): { namespaces: ReturnType<typeof quotaRules>; maxAgeMs: number } {
  return { namespaces: quotaRules(config.policy), maxAgeMs: config.policy.quotaUsageMaxAge };
}

/** `metrics`: where the quota gauges go (the server's registry); none in apps built for tests. */
export function createPolicy(config: Pick<Config, 'policy'>, storage: RegistryStorage, metrics?: Registry): RegistryPolicy {
  return { immutableTags: new ImmutableTags(config.policy.immutableTags), quotas: new QuotaEnforcer(quotaRules(config.policy), storage.quotas, metrics) };
}

/**
 * At start: a quota never reconciled (new in the configuration, on a registry that already holds
 * data) has markers only for what was linked since; one scan fills in the rest. In the background:
 * until it finishes such a quota undercounts.
 */
export function completeQuotaAccounting(storage: RegistryStorage, log: Logger): void {
  const ledger = storage.quotas;
  if (!ledger) return;
  void (async () => {
    const fresh = [];
    for (const ns of ledger.namespaces) if (!(await ledger.reconciled(ns))) fresh.push(ns);
    if (fresh.length === 0) return;
    const results = await reconcileQuotaUsage(storage.driver, ledger);
    log.info({ quotas: results.map((r) => ({ key: r.key, bytes: r.bytes, blobs: r.blobs })) }, 'quota usage computed from storage');
  })().catch((err: unknown) => log.error({ err }, 'computing quota usage from storage failed'));
}

const built = new WeakMap<object, RegistryPolicy>();

/** The policy of an app: the one started with it, or one built once from its configuration and storage. */
export function policyOf(deps: { policy?: RegistryPolicy; config: Pick<Config, 'policy'>; storage: RegistryStorage }): RegistryPolicy {
  if (deps.policy) return deps.policy;
  let p = built.get(deps);
  if (!p) built.set(deps, (p = createPolicy(deps.config, deps.storage)));
  return p;
}
