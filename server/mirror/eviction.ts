// Keeps the mirror's cache under its size bound: when the stored blobs add up to more than
// mirror.cache.maxBytes, the least recently pulled manifests of proxied repositories are removed
// (with their tags and the repository's links to blobs nothing else there uses) until what only
// they reference would bring the total under the bound; the garbage collector
// (storage/garbage-collector.ts) then deletes the unreferenced data, honouring its grace period.
import { parseManifest, referencedBlobs, type Digest } from '../../oci/index.js';
import { collectGarbage, scanBlobs, scanRepositories, type RegistryStorage } from '../../storage/index.js';
import type { LastPulled } from './last-pulled.js';

export interface EvictionOptions {
  maxBytes: number;
  gracePeriodMs: number;
  /** Whether a repository is a proxied one (only those are evicted). */
  proxied: (repo: string) => boolean;
  lastPulled: LastPulled;
  /** Run the garbage collector afterwards (false: scheduled GC runs, and two runs must not overlap). */
  collect: boolean;
  now?: () => number;
}

export interface EvictionResult {
  totalBytes: number;
  evicted: { repository: string; digest: Digest }[];
  bytesFreed: number;
}

interface Revision {
  repository: string;
  digest: Digest;
  /** Content this revision keeps alive: its own bytes, its blobs. */
  refs: Digest[];
  lastUsed: number;
}

export async function evictLeastRecentlyPulled(storage: RegistryStorage, opts: EvictionOptions): Promise<EvictionResult> {
  const now = (opts.now ?? Date.now)();
  const blobs = await scanBlobs(storage.driver);
  let total = 0;
  for (const f of blobs.values()) total += f.size;
  if (total <= opts.maxBytes) return { totalBytes: total, evicted: [], bytesFreed: 0 };

  await opts.lastPulled.load();
  const repos = await scanRepositories(storage.driver);
  const refCount = new Map<Digest, number>();
  const revisions: Revision[] = [];
  for (const repo of repos.values()) {
    for (const [digest, stamp] of repo.revisions) {
      const refs: Digest[] = [digest];
      try {
        const parsed = parseManifest(await storage.blobs.getContent(digest));
        refs.push(...referencedBlobs(parsed).map((d) => d.digest));
      } catch {
        /* unreadable: only its own bytes */
      }
      for (const d of new Set(refs)) refCount.set(d, (refCount.get(d) ?? 0) + 1);
      const pulled = await opts.lastPulled.get(repo.name, digest);
      revisions.push({ repository: repo.name, digest, refs: [...new Set(refs)], lastUsed: Math.max(pulled ?? 0, stamp.modTime.getTime()) });
    }
  }
  const candidates = revisions
    .filter((r) => opts.proxied(r.repository) && now - r.lastUsed >= opts.gracePeriodMs)
    .sort((a, b) => a.lastUsed - b.lastUsed);
  let freed = 0;
  const chosen: Revision[] = [];
  for (const r of candidates) {
    if (total - freed <= opts.maxBytes) break;
    chosen.push(r);
    for (const d of r.refs) {
      const n = (refCount.get(d) ?? 1) - 1;
      refCount.set(d, n);
      if (n === 0) freed += blobs.get(d)?.size ?? 0;
    }
  }
  for (const r of chosen) {
    await storage.manifests.delete(r.repository, r.digest);
    opts.lastPulled.forget(r.repository, r.digest);
    // Links this repository no longer needs (nothing left in it references them).
    const stillUsed = new Set(revisions.filter((x) => x.repository === r.repository && !chosen.includes(x)).flatMap((x) => x.refs));
    for (const d of r.refs.slice(1)) if (!stillUsed.has(d)) await storage.blobs.unlink(r.repository, d);
  }
  await opts.lastPulled.save();
  const report = chosen.length > 0 && opts.collect ? await collectGarbage(storage.driver, { gracePeriodMs: opts.gracePeriodMs }) : undefined;
  return { totalBytes: total, evicted: chosen.map((r) => ({ repository: r.repository, digest: r.digest })), bytesFreed: report?.bytesFreed ?? 0 };
}
