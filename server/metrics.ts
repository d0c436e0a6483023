// Prometheus metrics (prom-client). Each server has its own registry, so several servers in one
// process (tests) never share counters; process metrics (CPU, memory, event loop, GC) are
// process-wide and registered once. Label values come from closed sets only (route families,
// methods, statuses, driver and operation names, configured endpoint names): never repository
// names, tags or digests.
import type { Middleware } from 'koa';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from './prometheus.js';
import type { StorageMetricsSink, StorageOperation, StorageOutcome } from '../storage/index.js';
import { emptyResponse } from './empty-response.js';
import type { NotificationMetrics } from './notifications/endpoint-queue.js';
import type { RateLimitMetrics } from './rate-limit.js';
import type { RegistryEvent } from './registry-events.js';
import type { RouteFamily } from './route-family.js';

let processRegistry: Registry | undefined;

/** Process metrics (process_*, nodejs_*), collected once per process however many servers run. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export interface HttpObservation {
  route: RouteFamily;
  method: string;
  status: number;
  seconds: number;
  bytesIn: number;
  bytesOut: number;
}

const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const STORAGE_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DELIVERY_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class RegistryMetrics implements StorageMetricsSink, NotificationMetrics, RateLimitMetrics {
  readonly registry = new Registry();
  private readonly reg = [this.registry];

  private readonly httpRequests = new Counter({
    name: 'stevedore_http_requests_total',
    help: 'HTTP requests answered, by route family, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: this.reg,
  });
  private readonly httpDuration = new Histogram({
    name: 'stevedore_http_request_duration_seconds',
    help: 'Time from request start until the response was sent, by route family and method.',
    labelNames: ['route', 'method'] as const,
    buckets: HTTP_BUCKETS,
    registers: this.reg,
  });
  private readonly httpReceived = new Counter({
    name: 'stevedore_http_received_bytes_total',
    help: 'Request body bytes received, by route family.',
    labelNames: ['route'] as const,
    registers: this.reg,
  });
  private readonly httpSent = new Counter({
    name: 'stevedore_http_sent_bytes_total',
    help: 'Response body bytes sent, by route family.',
    labelNames: ['route'] as const,
    registers: this.reg,
  });
  private readonly httpInFlight = new Gauge({
    name: 'stevedore_http_requests_in_flight',
    help: 'Requests being handled now, by route family.',
    labelNames: ['route'] as const,
    registers: this.reg,
  });

  private readonly storageOps = new Counter({
    name: 'stevedore_storage_operations_total',
    help: 'Storage driver operations, by driver, operation and outcome (ok, not_found, error).',
    labelNames: ['driver', 'operation', 'outcome'] as const,
    registers: this.reg,
  });
  private readonly storageDuration = new Histogram({
    name: 'stevedore_storage_operation_duration_seconds',
    help: 'Storage driver operation latency, by driver and operation.',
    labelNames: ['driver', 'operation'] as const,
    buckets: STORAGE_BUCKETS,
    registers: this.reg,
  });
  private readonly storageReadyGauge = new Gauge({
    name: 'stevedore_storage_ready',
    help: '1 when the last readiness probe could write, read and delete in storage, 0 when it could not.',
    registers: this.reg,
    aggregator: 'min', // across a cluster's workers: 0 when any of them cannot use the storage
  });
  private uploadCounter: (() => Promise<number>) | undefined;
  private lastUploadCount = 0;

  private readonly blobsPushed = this.counter('stevedore_blobs_pushed_total', 'Blobs uploaded and committed (monolithic or chunked).');
  private readonly blobsPushedBytes = this.counter('stevedore_blobs_pushed_bytes_total', 'Bytes of the blobs committed.');
  private readonly blobsMounted = this.counter('stevedore_blobs_mounted_total', 'Blobs mounted from another repository.');
  private readonly blobsPulled = this.counter('stevedore_blobs_pulled_total', 'Blob GETs answered with content (200 or 206) or redirected to the storage (307).');
  private readonly blobsDeleted = this.counter('stevedore_blobs_deleted_total', 'Blobs deleted from a repository.');
  private readonly manifestsPushed = this.counter('stevedore_manifests_pushed_total', 'Manifests and indexes pushed.');
  private readonly manifestsPulled = this.counter('stevedore_manifests_pulled_total', 'Manifest GETs answered with content.');
  private readonly manifestsDeleted = this.counter('stevedore_manifests_deleted_total', 'Manifests deleted or untagged.');

  private readonly notificationEvents = new Counter({
    name: 'stevedore_notifications_events_total',
    help: 'Notification events by endpoint and outcome: queued, delivered, failed (retries exhausted), dropped (queue full or endpoint removed).',
    labelNames: ['endpoint', 'outcome'] as const,
    registers: this.reg,
  });
  private readonly notificationAttempts = new Counter({
    name: 'stevedore_notifications_delivery_attempts_total',
    help: 'Delivery attempts (one POST of a batch of events) by endpoint and result (success, error).',
    labelNames: ['endpoint', 'result'] as const,
    registers: this.reg,
  });
  private readonly notificationDuration = new Histogram({
    name: 'stevedore_notifications_delivery_duration_seconds',
    help: 'Time of one delivery attempt, by endpoint.',
    labelNames: ['endpoint'] as const,
    buckets: DELIVERY_BUCKETS,
    registers: this.reg,
  });
  private readonly notificationPending = new Gauge({
    name: 'stevedore_notifications_pending',
    help: 'Events waiting for delivery (queued or being delivered), by endpoint.',
    labelNames: ['endpoint'] as const,
    registers: this.reg,
  });

  private readonly rateLimitedRequests = new Counter({
    name: 'stevedore_rate_limited_requests_total',
    help: 'Requests refused with 429, by the limit that refused them (global, client, user) and kind (read, write).',
    labelNames: ['scope', 'kind'] as const,
    registers: this.reg,
  });

  private readonly gcRuns = new Counter({
    name: 'stevedore_gc_runs_total',
    help: 'Garbage collection runs, by outcome (ok, error).',
    labelNames: ['outcome'] as const,
    registers: this.reg,
  });
  private readonly gcDuration = new Histogram({
    name: 'stevedore_gc_duration_seconds',
    help: 'Duration of garbage collection runs (retention included).',
    buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400],
    registers: this.reg,
  });
  private readonly gcFreedObjects = new Counter({
    name: 'stevedore_gc_freed_objects_total',
    help: 'Objects deleted by garbage collection and retention, by kind (blob, manifest, referrer, link, tag).',
    labelNames: ['kind'] as const,
    registers: this.reg,
  });
  private readonly gcFreedBytes = this.counter('stevedore_gc_freed_bytes_total', 'Bytes of blob data deleted by garbage collection.');

  constructor(private readonly opts: { processMetrics?: boolean } = {}) {
    const self = this;
    new Gauge({
      name: 'stevedore_uploads_in_progress',
      help: 'Blob upload sessions in storage that were started and not yet finished or cancelled.',
      registers: this.reg,
      aggregator: 'max', // every worker counts the same uploads in storage
      async collect() {
        if (!self.uploadCounter) return;
        try {
          self.lastUploadCount = await withTimeout(self.uploadCounter(), 2000);
        } catch {
          // Storage slow or unreachable: keep the last value (readiness reports the problem).
        }
        this.set(self.lastUploadCount);
      },
    });
  }

  private counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: this.reg });
  }

  // ---- HTTP

  requestStarted(route: RouteFamily): void {
    this.httpInFlight.inc({ route });
  }

  requestFinished(o: HttpObservation): void {
    this.httpInFlight.dec({ route: o.route });
    this.httpRequests.inc({ route: o.route, method: o.method, status: String(o.status) });
    this.httpDuration.observe({ route: o.route, method: o.method }, o.seconds);
    if (o.bytesIn > 0) this.httpReceived.inc({ route: o.route }, o.bytesIn);
    if (o.bytesOut > 0) this.httpSent.inc({ route: o.route }, o.bytesOut);
  }

  // ---- storage

  storageOperation(driver: string, operation: StorageOperation, outcome: StorageOutcome, seconds: number): void {
    this.storageOps.inc({ driver, operation, outcome });
    this.storageDuration.observe({ driver, operation }, seconds);
  }

  storageReady(ready: boolean): void {
    this.storageReadyGauge.set(ready ? 1 : 0);
  }

  /** How to count the upload sessions in storage (called at scrape time). */
  countUploadsWith(fn: () => Promise<number>): void {
    this.uploadCounter = fn;
  }

  // ---- registry content

  registryEvent(e: RegistryEvent): void {
    if (e.kind === 'blob') {
      if (e.action === 'push') {
        this.blobsPushed.inc();
        if (e.size !== undefined) this.blobsPushedBytes.inc(e.size);
      } else if (e.action === 'mount') this.blobsMounted.inc();
      else if (e.action === 'pull') this.blobsPulled.inc();
      else this.blobsDeleted.inc();
    } else if (e.action === 'push') this.manifestsPushed.inc();
    else if (e.action === 'pull') this.manifestsPulled.inc();
    else if (e.action === 'delete') this.manifestsDeleted.inc();
  }

  // ---- garbage collection

  gcRun(outcome: 'ok' | 'error', seconds: number, freed: { kind: 'blob' | 'manifest' | 'referrer' | 'link' | 'tag'; count: number }[] = [], bytes = 0): void {
    this.gcRuns.inc({ outcome });
    this.gcDuration.observe(seconds);
    for (const f of freed) if (f.count > 0) this.gcFreedObjects.inc({ kind: f.kind }, f.count);
    if (bytes > 0) this.gcFreedBytes.inc(bytes);
  }

  // ---- notifications

  notificationOutcome(endpoint: string, outcome: 'queued' | 'delivered' | 'failed' | 'dropped', count: number): void {
    if (count > 0) this.notificationEvents.inc({ endpoint, outcome }, count);
  }

  notificationAttempt(endpoint: string, ok: boolean, seconds: number): void {
    this.notificationAttempts.inc({ endpoint, result: ok ? 'success' : 'error' });
    this.notificationDuration.observe({ endpoint }, seconds);
  }

  notificationPendingCount(endpoint: string, pending: number): void {
    this.notificationPending.set({ endpoint }, pending);
  }

  // ---- rate limits

  rateLimited(scope: 'global' | 'client' | 'user', kind: 'read' | 'write'): void {
    this.rateLimitedRequests.inc({ scope, kind });
  }

  // ---- exposition

  get contentType(): string {
    return this.registry.contentType;
  }

  /** This process's metrics as prom-client JSON (what a cluster's worker gives for aggregation). */
  async json(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    const own = await this.registry.getMetricsAsJSON();
    if (this.opts.processMetrics === false) return own;
    return [...(await processMetrics().getMetricsAsJSON()), ...own];
  }

  private gather: (() => Promise<MetricObjectWithValues<MetricValue<string>>[][]>) | undefined;

  /**
   * Expositions from now on aggregate what `gather` returns (every worker's json()): counters
   * and histograms summed, gauges as each declares (sum unless `aggregator` says otherwise).
   */
  aggregateWith(gather: () => Promise<MetricObjectWithValues<MetricValue<string>>[][]>): void {
    this.gather = gather;
  }

  /** Every worker's metrics summed, in a registry of their own (only in a cluster's worker). */
  async aggregated(): Promise<Registry | undefined> {
    return this.gather ? AggregatorRegistry.aggregate(await this.gather()) : undefined;
  }

  async exposition(): Promise<string> {
    const all = await this.aggregated();
    if (all) return all.metrics();
    const own = await this.registry.metrics();
    if (this.opts.processMetrics === false) return own;
    return `${await processMetrics().metrics()}\n${own}`;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** GET/HEAD `path`: the exposition format. */
export function metricsEndpoint(metrics: RegistryMetrics, path: string): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== path) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      emptyResponse(ctx, 405);
      ctx.set('Allow', 'GET, HEAD');
      return;
    }
    const body = await metrics.exposition();
    ctx.status = 200;
    ctx.set('Content-Type', metrics.contentType);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body;
  };
}
