// The web UI's Operations view, for admins (README "Web UI"): storage used, garbage collection
// (the last run recorded in the storage, by whoever ran it, and what it freed; the next scheduled run), what the retention policies would delete now (a
// dry run) and the pull-through mirror's counters per upstream. Read-only: nothing here changes
// the store. route-scopes.ts maps both endpoints to `registry:admin:*`, which only `auth.admins`
// hold (htpasswd) or are granted (the built-in token service).
import type Router from '@koa/router';
import { applyRetention, policyFor, readGcRunRecord, scanBlobs, type GcRunRecord, type RetentionPolicy, type StorageDriver } from '../../storage/index.js';
import type { Config } from '../config.js';
import { retentionPolicies } from '../gc-scheduler.js';
import { ImmutableTags } from '../policy/immutable-tags.js';
import type { RegistryDeps } from '../registry-deps.js';

export const UI_OPERATIONS = /^\/v2\/_ui\/operations$/;
/** Whether the caller is an admin (the page shows the Operations view only then): cheap, no storage reads. */
export const UI_ADMIN = /^\/v2\/_ui\/admin$/;

/** Storage and retention scans read the whole store: one at a time, and the answer kept a while. */
const SCAN_MAX_AGE_MS = 60_000;
/** Retention deletions listed by name (all are counted). */
const DELETIONS_LISTED = 200;

export interface StorageUsage {
  driver: string;
  blobs: number;
  bytes: number;
  measuredAt: string;
}

export interface RetentionDryRun {
  policies: (RetentionPolicy & { wouldDelete: number })[];
  wouldDelete: { repository: string; tag: string; digest?: string; pushedAt: string }[];
  total: number;
  measuredAt: string;
}

export async function storageUsage(driver: StorageDriver, kind: string): Promise<StorageUsage> {
  let bytes = 0;
  const blobs = await scanBlobs(driver);
  for (const f of blobs.values()) bytes += f.size;
  return { driver: kind, blobs: blobs.size, bytes, measuredAt: new Date().toISOString() };
}

export async function retentionDryRun(driver: StorageDriver, config: Pick<Config, 'gc' | 'policy'>): Promise<RetentionDryRun> {
  const policies = retentionPolicies(config.gc);
  const immutable = new ImmutableTags(config.policy.immutableTags);
  const deletions = await applyRetention(driver, policies, { dryRun: true, keepTag: immutable.protects });
  const perPolicy = new Map<RetentionPolicy, number>();
  for (const d of deletions) {
    const p = policyFor(policies, d.repository);
    if (p) perPolicy.set(p, (perPolicy.get(p) ?? 0) + 1);
  }
  return {
    policies: policies.map((p) => ({ ...p, wouldDelete: perPolicy.get(p) ?? 0 })),
    wouldDelete: deletions.slice(0, DELETIONS_LISTED).map((d) => ({ repository: d.repository, tag: d.tag, digest: d.digest, pushedAt: d.pushedAt.toISOString() })),
    total: deletions.length,
    measuredAt: new Date().toISOString(),
  };
}

/** A value computed at most once per max age; concurrent callers share the computation in flight. */
export function cached<T>(compute: () => Promise<T>, maxAgeMs: number): () => Promise<T> {
  let entry: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (entry && Date.now() - entry.at < maxAgeMs) return entry.value;
    const value = compute();
    const mine = { at: Date.now(), value };
    entry = mine;
    value.catch(() => {
      if (entry === mine) entry = undefined; // a failure is not kept
    });
    return value;
  };
}

/** The run that finished last (this server's own is kept too, should its record not have been written). */
export function latest(a: GcRunRecord | undefined, b: GcRunRecord | undefined): GcRunRecord | undefined {
  if (!a || !b) return a ?? b;
  return Date.parse(b.finishedAt) > Date.parse(a.finishedAt) ? b : a;
}

export function registerOperationsApi(router: Router, { storage, config, mirror, gcStatus }: RegistryDeps): void {
  const usage = cached(() => storageUsage(storage.driver, config.storage.driver), SCAN_MAX_AGE_MS);
  const retention = cached(() => retentionDryRun(storage.driver, config), SCAN_MAX_AGE_MS);

  router.get(UI_ADMIN, (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ admin: true });
  });

  router.get(UI_OPERATIONS, async (ctx) => {
    const gc = config.gc;
    const [used, dryRun, counts, recorded] = await Promise.all([
      usage(),
      retention(),
      mirror ? mirror.metrics.byUpstream() : undefined,
      // The last run by anyone (any server's scheduler, `stevedore gc`), read afresh: one small object.
      readGcRunRecord(storage.driver).catch(() => undefined),
    ]);
    const upstreams = (config.mirror.upstreams ?? []).map((u) => {
      const c = counts?.get(u.prefix) ?? { hits: 0, misses: 0, cacheBytesServed: 0, upstreamBytes: 0, staleServed: 0, upstreamErrors: 0 };
      const served = c.hits + c.misses;
      return { prefix: u.prefix, registry: u.registry, ...c, hitRatio: served > 0 ? c.hits / served : undefined };
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({
      storage: used,
      gc: {
        enabled: gc.enabled,
        intervalMs: gc.interval,
        gracePeriodMs: gc.gracePeriod,
        deleteUntagged: gc.deleteUntagged,
        running: gcStatus?.running ?? false,
        lastRun: latest(recorded, gcStatus?.lastRun),
        nextRunAt: gc.enabled ? gcStatus?.nextRunAt?.toISOString() : undefined,
      },
      retention: dryRun,
      mirror: { enabled: upstreams.length > 0, upstreams },
    });
  });
}
