// Garbage collection runs: retention policies, then mark and sweep (storage/garbage-collector.ts),
// from `stevedore gc` or on a schedule inside `stevedore serve` (config section `gc`).
import {
  applyRetention,
  collectGarbage,
  recoverGcTrash,
  type GcHooks,
  type GcReport,
  type RetentionPolicy,
  type StorageDriver,
  type TagDeletion,
} from '../storage/index.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { RegistryMetrics } from './metrics.js';

export interface GcRunOptions {
  dryRun?: boolean;
  /** Overrides gc.deleteUntagged. */
  deleteUntagged?: boolean;
  hooks?: GcHooks;
}

export interface GcRunResult {
  tags: TagDeletion[];
  gc: GcReport;
  durationMs: number;
}

export function retentionPolicies(gc: Config['gc']): RetentionPolicy[] {
  return gc.retention.map((p) => ({
    repositories: p.repositories,
    keepLast: p.keepLast,
    keepTags: p.keepTags,
    deleteOlderThan: p.deleteOlderThan,
    protect: p.protect,
  }));
}

/** Retention, then garbage collection. A dry run's GC counts the tags retention would delete as gone. */
export async function runGc(driver: StorageDriver, gc: Config['gc'], opts: GcRunOptions = {}): Promise<GcRunResult> {
  const started = Date.now();
  const dryRun = opts.dryRun ?? false;
  const tags = await applyRetention(driver, retentionPolicies(gc), { dryRun });
  const report = await collectGarbage(driver, {
    gracePeriodMs: gc.gracePeriod,
    deleteUntagged: opts.deleteUntagged ?? gc.deleteUntagged,
    keepReferrers: gc.keepReferrers,
    dryRun,
    ignoreTags: dryRun ? new Set(tags.map((t) => `${t.repository}:${t.tag}`)) : undefined,
    hooks: opts.hooks,
  });
  return { tags, gc: report, durationMs: Date.now() - started };
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

export interface GcRunRecord {
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  /** What the run freed (summary() of the run); undefined when it failed. */
  result?: Record<string, unknown>;
  error?: string;
}

/** What the scheduler did and will do, for the web UI's Operations view. */
export class GcStatus {
  lastRun: GcRunRecord | undefined;
  nextRunAt: Date | undefined;
  running = false;
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
  const run = async () => {
    status.nextRunAt = new Date(Date.now() + every);
    if (running) return;
    running = status.running = true;
    const started = Date.now();
    log.info({ gracePeriodMs: gc.gracePeriod, deleteUntagged: gc.deleteUntagged }, 'garbage collection started');
    try {
      const result = await runGc(driver, gc);
      metrics?.gcRun('ok', result.durationMs / 1000, freedByKind(result), result.gc.bytesFreed);
      log.info(summary(result), 'garbage collection finished');
      onRun?.(result);
      status.lastRun = { startedAt: new Date(started).toISOString(), finishedAt: new Date().toISOString(), ok: true, result: summary(result) };
    } catch (err) {
      metrics?.gcRun('error', (Date.now() - started) / 1000);
      status.lastRun = { startedAt: new Date(started).toISOString(), finishedAt: new Date().toISOString(), ok: false, error: (err as Error).message };
      log.error({ err }, 'garbage collection failed');
    } finally {
      running = status.running = false;
    }
  };
  const timer = setInterval(() => void run(), every);
  timer.unref();
  return () => {
    clearInterval(timer);
    status.nextRunAt = undefined;
  };
}
