// Per-upstream mirror metrics, registered on the server's own metrics registry. The `upstream`
// label is a configured prefix (a closed set), never a repository name.
import { Counter, type Registry } from '../prometheus.js';

export type MirrorResult = 'hit' | 'miss';

export class MirrorMetrics {
  private readonly served: Counter<'upstream' | 'kind' | 'result'>;
  private readonly upstreamBytes: Counter<'upstream'>;
  private readonly upstreamErrors: Counter<'upstream'>;
  private readonly stale: Counter<'upstream'>;
  private readonly joins: Counter<'upstream'>;
  private readonly evicted: Counter<'kind'>;
  private readonly cacheBytes: Counter<'upstream'>;

  constructor(registry: Registry | undefined) {
    const registers = registry ? [registry] : [];
    this.served = new Counter({
      name: 'stevedore_mirror_requests_total',
      help: 'Proxied content served, by upstream, kind (manifest, blob) and result: hit (from the cache) or miss (fetched from the upstream).',
      labelNames: ['upstream', 'kind', 'result'] as const,
      registers,
    });
    this.upstreamBytes = new Counter({
      name: 'stevedore_mirror_upstream_bytes_total',
      help: 'Blob and manifest bytes received from each upstream.',
      labelNames: ['upstream'] as const,
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'stevedore_mirror_upstream_errors_total',
      help: 'Upstream requests that failed (unreachable, rate limited, 5xx, corrupt content), by upstream.',
      labelNames: ['upstream'] as const,
      registers,
    });
    this.stale = new Counter({
      name: 'stevedore_mirror_stale_served_total',
      help: 'Cached tags served past their TTL because the upstream was unreachable or rate limiting, by upstream.',
      labelNames: ['upstream'] as const,
      registers,
    });
    this.joins = new Counter({
      name: 'stevedore_mirror_shared_fetch_joins_total',
      help: 'Blob requests that joined a transfer already in progress instead of starting one, by upstream.',
      labelNames: ['upstream'] as const,
      registers,
    });
    this.cacheBytes = new Counter({
      name: 'stevedore_mirror_cache_bytes_served_total',
      help: 'Blob bytes served from the cache (hits), by upstream.',
      labelNames: ['upstream'] as const,
      registers,
    });
    this.evicted = new Counter({
      name: 'stevedore_mirror_evicted_total',
      help: 'Cached manifests removed to keep the cache under its bound (kind=manifests) and the bytes that freed (kind=bytes).',
      labelNames: ['kind'] as const,
      registers,
    });
  }

  servedContent(upstream: string, kind: 'manifest' | 'blob', result: MirrorResult, size?: number): void {
    this.served.inc({ upstream, kind, result });
    if (kind === 'blob' && result === 'hit' && size) this.cacheBytes.inc({ upstream }, size);
  }
  /** Bytes received from an upstream: blobs as they arrive, manifests once fetched. */
  bytesFromUpstream(upstream: string, n: number): void {
    this.upstreamBytes.inc({ upstream }, n);
  }
  upstreamError(upstream: string): void {
    this.upstreamErrors.inc({ upstream });
  }
  staleServed(upstream: string): void {
    this.stale.inc({ upstream });
  }
  joined(upstream: string): void {
    this.joins.inc({ upstream });
  }
  evictedContent(manifests: number, bytes: number): void {
    this.evicted.inc({ kind: 'manifests' }, manifests);
    this.evicted.inc({ kind: 'bytes' }, bytes);
  }

  private aggregated: (() => Promise<Registry>) | undefined;

  /** The counters are read from what this returns: every worker's metrics summed (server/cluster). */
  aggregateWith(fn: () => Promise<Registry>): void {
    this.aggregated = fn;
  }

  /** The counters per upstream since the server started (the web UI's Operations view). */
  async byUpstream(): Promise<Map<string, UpstreamCounts>> {
    const reg = this.aggregated ? await this.aggregated() : undefined;
    type Values = { labels: Record<string, string | number | undefined>; value: number }[];
    const values = async (name: string, own: Counter<string>): Promise<Values> =>
      (reg ? (await reg.getSingleMetric(name)?.get())?.values : (await own.get()).values) ?? [];
    const out = new Map<string, UpstreamCounts>();
    const of = (upstream: unknown): UpstreamCounts => {
      const key = String(upstream);
      let c = out.get(key);
      if (!c) out.set(key, (c = { hits: 0, misses: 0, cacheBytesServed: 0, upstreamBytes: 0, staleServed: 0, upstreamErrors: 0 }));
      return c;
    };
    for (const v of await values('stevedore_mirror_requests_total', this.served)) {
      if (v.labels.result === 'hit') of(v.labels.upstream).hits += v.value;
      else of(v.labels.upstream).misses += v.value;
    }
    for (const v of await values('stevedore_mirror_cache_bytes_served_total', this.cacheBytes)) of(v.labels.upstream).cacheBytesServed += v.value;
    for (const v of await values('stevedore_mirror_upstream_bytes_total', this.upstreamBytes)) of(v.labels.upstream).upstreamBytes += v.value;
    for (const v of await values('stevedore_mirror_stale_served_total', this.stale)) of(v.labels.upstream).staleServed += v.value;
    for (const v of await values('stevedore_mirror_upstream_errors_total', this.upstreamErrors)) of(v.labels.upstream).upstreamErrors += v.value;
    return out;
  }
}

export interface UpstreamCounts {
  /** Manifests and blobs served from the cache. */
  hits: number;
  /** Manifests and blobs fetched from the upstream to answer. */
  misses: number;
  cacheBytesServed: number;
  upstreamBytes: number;
  staleServed: number;
  upstreamErrors: number;
}
