// The mirror inside `stevedore serve`: built when upstreams are configured, with its scheduled
// work (cache bound checks, pre-fetch runs), stopped with the server.
import type { MirrorDeps } from './mirror.js';
import { PullThroughMirror } from './mirror.js';
import { evictLeastRecentlyPulled } from './eviction.js';
import { prefetchImages } from './prefetch.js';

export interface RunningMirror {
  mirror: PullThroughMirror;
  /** Runs a cache bound check now (also scheduled). */
  evict(): Promise<void>;
  /** Runs the pre-fetch list now (also scheduled). */
  prefetch(): Promise<void>;
  /** Starts the scheduled work (once the server listens). */
  schedule(): void;
  stop(): Promise<void>;
}

export function createMirror(deps: MirrorDeps): RunningMirror | undefined {
  const cfg = deps.config.mirror;
  if (cfg.upstreams.length === 0) return undefined;
  const { log } = deps;
  const mirror = new PullThroughMirror(deps);
  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<void>>();
  let stopped = false;

  /** One run at a time per job; a run still going when the next is due is not doubled. */
  const job = (name: string, fn: () => Promise<void>) => {
    let current: Promise<void> | undefined;
    return () => {
      if (stopped) return Promise.resolve();
      current ??= fn()
        .catch((err: unknown) => log.error({ err: (err as Error).message }, `mirror: ${name} failed`))
        .finally(() => {
          running.delete(current!);
          current = undefined;
        });
      running.add(current);
      return current;
    };
  };

  const evict = job('cache eviction', async () => {
    const r = await evictLeastRecentlyPulled(deps.storage, {
      maxBytes: cfg.cache.maxBytes,
      gracePeriodMs: cfg.cache.gracePeriod,
      proxied: (repo) => mirror.proxied(repo) !== undefined,
      lastPulled: mirror.lastPulled,
      // With gc.enabled the scheduled runs free the data: never two collections at once.
      collect: !deps.config.gc.enabled,
    });
    if (r.evicted.length > 0) {
      mirror.metrics.evictedContent(r.evicted.length, r.bytesFreed);
      log.info(
        { totalBytes: r.totalBytes, maxBytes: cfg.cache.maxBytes, manifests: r.evicted.length, bytesFreed: r.bytesFreed, ...(deps.config.gc.enabled ? { freedBy: 'the next scheduled garbage collection' } : {}) },
        'mirror: evicted least recently pulled content',
      );
    }
  });
  const prefetch = job('pre-fetch', () => prefetchImages(mirror, cfg.prefetch.images, log));

  // In a cluster, eviction runs in the leader and goes by its record of pulls: the other workers
  // send it theirs, batched, before each check (and when they stop).
  const cluster = deps.cluster;
  const LAST_PULLED = 'mirror-last-pulled';
  let sendPulls: (() => void) | undefined;
  if (cluster && cfg.cache.maxBytes > 0) {
    if (cluster.leader) {
      cluster.onBroadcast(LAST_PULLED, (data) => Array.isArray(data) && mirror.lastPulled.merge(data as [string, number][]));
    } else {
      mirror.lastPulled.trackRecent();
      sendPulls = () => {
        const recent = mirror.lastPulled.takeRecent();
        if (recent.length > 0) cluster.broadcast(LAST_PULLED, recent);
      };
      const t = setInterval(sendPulls, Math.max(1000, Math.min(10_000, cfg.cache.checkInterval / 2)));
      t.unref();
      timers.push(t);
    }
  }

  log.info({ upstreams: cfg.upstreams.map((u) => `${u.prefix}=${u.registry}`), defaultUpstream: cfg.defaultUpstream || undefined }, 'mirror: pull-through enabled');

  return {
    mirror,
    evict,
    prefetch,
    schedule() {
      if (stopped || timers.length > 0) return;
      if (cfg.cache.maxBytes > 0) timers.push(setInterval(() => void evict(), Math.max(1000, cfg.cache.checkInterval)));
      if (cfg.prefetch.images.length > 0) {
        timers.push(setTimeout(() => void prefetch(), 0));
        timers.push(setInterval(() => void prefetch(), Math.max(1000, cfg.prefetch.interval)));
      }
      for (const t of timers) t.unref();
    },
    async stop() {
      stopped = true;
      sendPulls?.();
      for (const t of timers) clearTimeout(t);
      await Promise.allSettled([...running]);
      await mirror.close();
    },
  };
}
