// Garbage collection runs: retention policies, then mark and sweep (storage/garbage-collector.ts),
// from `stevedore gc` or on a schedule inside `stevedore serve` (config section `gc`). Every run
// that is not a dry run leaves its summary in the storage (storage/gc-run-record.ts), so the web
// UI of any server on that storage shows the last run, whoever made it.
import { hostname } from 'node:os';
import {
  applyRetention,
  collectGarbage,
  QuotaLedger,
  reconcileQuotaUsage,
  recoverGcTrash,
  writeGcRunRecord,
  type ReconcileResult,
  type GcHooks,
  type GcReport,
  type GcRunRecord,
  type RetentionPolicy,
  type StorageDriver,
  type TagDeletion,
} from '../storage/index.js';
import type { Config } from './config.js';
import { ImmutableTags } from './policy/immutable-tags.js';
import type { Logger } from './logger.js';
import type { RegistryMetrics } from './metrics.js';

export interface GcRunOptions {
  dryRun?: boolean;
  /** Overrides gc.deleteUntagged. */
  deleteUntagged?: boolean;
  hooks?: GcHooks;
  /** Who runs it, for the record (default: the `stevedore gc` command). */
  runner?: 'scheduler' | 'command';
  /** The server's quota ledger (its cached usage is refreshed); else one is opened from `policy.quotas`. */
  quotaLedger?: QuotaLedger;
}

export interface GcRunResult {
  tags: TagDeletion[];
  gc: GcReport;
  durationMs: number;
  /** The run's record could not be written (the run itself succeeded). */
  recordError?: Error;
  /** Quota usage recomputed after the collection (not on a dry run). */
  quotas: ReconcileResult[];
}

export type { GcRunRecord };

export function retentionPolicies(gc: Config['gc']): RetentionPolicy[] {
  return gc.retention.map((p) => ({
    repositories: p.repositories,
    keepLast: p.keepLast,
    keepTags: p.keepTags,
    deleteOlderThan: p.deleteOlderThan,
    protect: p.protect,
  }));
}

/**
/**
 * Retention (never of an immutable tag), then garbage collection, then the quota usage recomputed
 * from what is left. A dry run's GC counts the tags retention would delete as gone. A real run
 * records its summary (or its failure) in the storage; a record that cannot be written is reported
 * in the result, never as the run's failure.
 */
export async function runGc(driver: StorageDriver, config: Pick<Config, 'gc' | 'policy'>, opts: GcRunOptions = {}): Promise<GcRunResult> {
  const started = Date.now();
  const dryRun = opts.dryRun ?? false;
  const gc = config.gc;
  const record = (r: Omit<GcRunRecord, 'startedAt' | 'finishedAt' | 'by'>) =>
    writeGcRunRecord(driver, {
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date().toISOString(),
      ...r,
      by: { runner: opts.runner ?? 'command', host: hostname(), pid: process.pid },
    });
  let result: GcRunResult;
  try {
    const immutable = new ImmutableTags(config.policy.immutableTags);
    const tags = await applyRetention(driver, retentionPolicies(gc), { dryRun, keepTag: immutable.protects });
    const report = await collectGarbage(driver, {
      gracePeriodMs: gc.gracePeriod,
      deleteUntagged: opts.deleteUntagged ?? gc.deleteUntagged,
      keepReferrers: gc.keepReferrers,
      dryRun,
      ignoreTags: dryRun ? new Set(tags.map((t) => `${t.repository}:${t.tag}`)) : undefined,
      hooks: opts.hooks,
    });
    // Loaded only when quotas are configured (it brings prom-client; `stevedore gc` starts faster without).
    const rules = config.policy.quotas.length > 0 ? (await import('./policy/quotas.js')).quotaRules(config.policy) : [];
    const ledger = opts.quotaLedger ?? (rules.length > 0 ? new QuotaLedger(driver, rules, { maxAgeMs: 0 }) : undefined);
    const quotas = ledger && !dryRun ? await reconcileQuotaUsage(driver, ledger) : [];
    result = { tags, gc: report, durationMs: Date.now() - started, quotas };
  } catch (err) {
    if (!dryRun) await record({ ok: false, error: (err as Error).message }).catch(() => undefined); // the run's own error is the one to report
    throw err;
  }
  if (!dryRun) {
    try {
      await record({ ok: true, result: summary(result) });
    } catch (err) {
      result.recordError = err as Error;
    }
  }
  return result;
}

/** What a run freed, by kind (for metrics and logs). */
export function freedByKind(r: GcRunResult): { kind: 'blob' | 'manifest' | 'referrer' | 'link' | 'tag'; count: number }[] {
  const n = (kind: string) => r.gc.deleted.filter((d) => d.kind === kind).length;
  return [
    { kind: 'tag', count: r.tags.length },
    { kind: 'manifest', count: n('manifest') },
    { kind: 'referrer', count: n('referrer') },
    { kind: 'link', count: n('link') },
    { kind: 'blob', count: n('blob') },
  ];
}

export function summary(r: GcRunResult): Record<string, unknown> {
  return {
    dryRun: r.gc.dryRun,
    durationMs: r.durationMs,
    tagsDeleted: r.tags.length,
    manifestsDeleted: r.gc.deleted.filter((d) => d.kind === 'manifest').length,
    linksDeleted: r.gc.deleted.filter((d) => d.kind === 'link' || d.kind === 'referrer').length,
    blobsFreed: r.gc.blobsFreed,
    bytesFreed: r.gc.bytesFreed,
    objectsFreed: r.gc.objectsFreed + r.tags.length,
    restored: r.gc.restored,
    repositories: r.gc.repositories,
    blobsScanned: r.gc.blobsScanned,
  };
}

/**
 * What this server's scheduler did and will do, for the web UI's Operations view (which shows the
 * last run recorded in the storage, by whoever ran it, and this one's when that cannot be read).
 */
export class GcStatus {
  lastRun: GcRunRecord | undefined;
  nextRunAt: Date | undefined;
  running = false;
  /** Told after each change (a cluster's leader passes its status on to the other workers). */
  onChange: (() => void) | undefined;

  changed(): void {
    this.onChange?.();
  }

  snapshot(): { lastRun?: GcRunRecord; nextRunAt?: string; running: boolean } {
    return { lastRun: this.lastRun, nextRunAt: this.nextRunAt?.toISOString(), running: this.running };
  }

  /** Takes another process's snapshot() as this one's. */
  apply(s: { lastRun?: GcRunRecord; nextRunAt?: string; running?: boolean }): void {
    this.lastRun = s.lastRun;
    this.nextRunAt = s.nextRunAt ? new Date(s.nextRunAt) : undefined;
    this.running = s.running === true;
  }
}

/**
 * Runs GC every gc.interval (the first run one interval after start) while the server serves.
 * Runs never overlap; a failed run is logged and counted, the next one is tried as scheduled.
 */
export function startGcScheduler(
  driver: StorageDriver,
  config: Config,
  log: Logger,
  metrics?: RegistryMetrics,
  status = new GcStatus(),
  quotaLedger?: QuotaLedger,
  /** Told what each run deleted (the audit log). */
  onRun?: (result: GcRunResult) => void,
): () => void {
  const gc = config.gc;
  // Whether or not this server collects: blobs a crashed run left in the trash go back now.
  recoverGcTrash(driver).catch((err: unknown) => log.error({ err }, 'restoring blobs left in the garbage collection trash failed'));
  if (!gc.enabled) return () => undefined;
  let running = false;
  const every = Math.max(gc.interval, 1000);
  status.nextRunAt = new Date(Date.now() + every);
  status.changed();
  const run = async () => {
    status.nextRunAt = new Date(Date.now() + every);
    if (running) return status.changed();
    running = status.running = true;
    status.changed();
    const started = Date.now();
    log.info({ gracePeriodMs: gc.gracePeriod, deleteUntagged: gc.deleteUntagged }, 'garbage collection started');
    try {
      const result = await runGc(driver, config, { runner: 'scheduler', quotaLedger });
      metrics?.gcRun('ok', result.durationMs / 1000, freedByKind(result), result.gc.bytesFreed);
      log.info(summary(result), 'garbage collection finished');
      if (result.recordError) log.warn({ err: result.recordError }, 'the garbage collection run could not be recorded in the storage');
      onRun?.(result);
      status.lastRun = { startedAt: new Date(started).toISOString(), finishedAt: new Date().toISOString(), ok: true, result: summary(result) };
    } catch (err) {
      metrics?.gcRun('error', (Date.now() - started) / 1000);
      status.lastRun = { startedAt: new Date(started).toISOString(), finishedAt: new Date().toISOString(), ok: false, error: (err as Error).message };
      log.error({ err }, 'garbage collection failed');
    } finally {
      running = status.running = false;
      status.changed();
    }
  };
  const timer = setInterval(() => void run(), every);
  timer.unref();
  return () => {
    clearInterval(timer);
    status.nextRunAt = undefined;
    status.changed();
  };
}
