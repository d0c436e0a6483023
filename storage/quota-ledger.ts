// Storage quota accounting: how many unique bytes of blobs are linked into the repositories of a
// quota namespace (a set of repository globs), kept in storage so it survives restarts and is
// shared by every registry process on the same storage.
//
// Why markers and not a counter: a stored counter needs read-modify-write, which two replicas on
// S3 (no compare-and-swap) interleave and lose updates with, and a push retried after a crash
// would count twice. Instead each blob linked into the namespace has one empty marker object,
// `/_quota/<key>/<alg>/<hex>/<size>` (storage/layout.ts): writing it is idempotent (the same blob
// pushed twice, by two replicas at once or mounted into a second repository of the namespace is
// one marker), no write depends on a read, and the usage is the sum of the sizes in one listing of
// the namespace (no object read: on S3 one ListObjectsV2 per 1,000 blobs). Each process keeps the
// listing in memory and lists again when it is older than `maxAgeMs`; its own writes are applied
// at once.
//
// Every link rewrites its markers (BlobStore.link, ManifestStore.put: a push, a mount, a manifest
// push refreshing its references), so a marker is young whenever its blob was linked recently.
// Garbage collection then reconciles (reconcile()): markers missing for a linked blob are written
// (a quota added to a registry that already holds data), markers of blobs no longer linked in the
// namespace are deleted, but only when older than the scan (a push linking the blob meanwhile has
// rewritten the marker), and the recomputed total is stored.
import { randomUUID } from 'node:crypto';
import { type Digest } from '../oci/index.js';
import { mapLimit } from '../util/limit.js';
import { isNotFound, type FileInfo, type StorageDriver } from './driver.js';
import { scanBlobs, scanRepositories } from './garbage-collector.js';
import { layout, parsePath } from './layout.js';
import { matchesAny } from './retention.js';
import { walkFiles } from './walk.js';

export interface QuotaNamespace {
  /** Path-safe and stable: where its markers live (derived from its globs by the caller). */
  key: string;
  /** Repository globs (`*` within a component, `**` across). */
  repositories: readonly string[];
}

export interface QuotaUsage {
  bytes: number;
  blobs: number;
  /** When the listing this is based on was taken (own writes since are included). */
  measuredAt: Date;
}

export interface ReconcileResult {
  key: string;
  bytes: number;
  blobs: number;
  /** Markers written for linked blobs that had none. */
  added: number;
  /** Markers deleted for blobs no longer linked in the namespace. */
  removed: number;
}

/** The repositories' links a reconciliation needs: repository → digests linked (layers and manifests). */
export type LinkedDigests = ReadonlyMap<string, Iterable<Digest>>;

interface Loaded {
  sizes: Map<Digest, number>;
  at: number;
}

export class QuotaLedger {
  private readonly loaded = new Map<string, Loaded>();
  private readonly loading = new Map<string, Promise<Loaded>>();
  /** Markers written while a listing of the namespace is in flight. */
  private readonly sinceListing = new Map<string, Map<Digest, number>>();
  private readonly concurrency: number;

  constructor(
    private readonly driver: StorageDriver,
    readonly namespaces: readonly QuotaNamespace[],
    private readonly opts: { maxAgeMs: number; concurrency?: number; now?: () => number },
  ) {
    this.concurrency = opts.concurrency ?? 8;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** The namespaces a repository belongs to. */
  matching(repo: string): QuotaNamespace[] {
    return this.namespaces.filter((ns) => matchesAny(ns.repositories, repo));
  }

  /** A blob was linked into `repo`: (re)writes its marker in every namespace of the repository. */
  async record(repo: string, digest: Digest, size: number): Promise<void> {
    for (const ns of this.matching(repo)) {
      await this.driver.putContent(layout.quotaMarker(ns.key, digest, size), new Uint8Array(0));
      this.loaded.get(ns.key)?.sizes.set(digest, size);
      this.sinceListing.get(ns.key)?.set(digest, size);
    }
  }

  /** The namespace's usage, from a listing at most maxAgeMs old. */
  async usage(ns: QuotaNamespace): Promise<QuotaUsage> {
    const l = await this.current(ns);
    let bytes = 0;
    for (const s of l.sizes.values()) bytes += s;
    return { bytes, blobs: l.sizes.size, measuredAt: new Date(l.at) };
  }

  /** Whether the blob is already counted in the namespace (linking it again adds nothing). */
  async counts(ns: QuotaNamespace, digest: Digest): Promise<boolean> {
    return (await this.current(ns)).sizes.has(digest);
  }

  /** The next usage() lists again (after a reconciliation by another process, in tests). */
  invalidate(): void {
    this.loaded.clear();
  }

  private current(ns: QuotaNamespace): Promise<Loaded> {
    const l = this.loaded.get(ns.key);
    if (l && this.now() - l.at < this.opts.maxAgeMs) return Promise.resolve(l);
    let p = this.loading.get(ns.key);
    if (!p) {
      const at = this.now();
      this.sinceListing.set(ns.key, new Map());
      p = this.list(ns.key).then(
        (sizes) => {
          // Markers this process wrote while listing may be missing from the listing: keep them.
          for (const [d, s] of this.sinceListing.get(ns.key) ?? []) sizes.set(d, s);
          this.sinceListing.delete(ns.key);
          const fresh = { sizes, at };
          this.loaded.set(ns.key, fresh);
          this.loading.delete(ns.key);
          return fresh;
        },
        (err: unknown) => {
          this.sinceListing.delete(ns.key);
          this.loading.delete(ns.key);
          throw err;
        },
      );
      this.loading.set(ns.key, p);
    }
    return p;
  }

  private async list(key: string): Promise<Map<Digest, number>> {
    const sizes = new Map<Digest, number>();
    for (const f of await this.markers(key)) sizes.set(f.digest, f.size);
    return sizes;
  }

  private async markers(key: string): Promise<{ digest: Digest; size: number; file: FileInfo }[]> {
    const out: { digest: Digest; size: number; file: FileInfo }[] = [];
    for (const f of await walkFiles(this.driver, layout.quotaNamespace(key), this.concurrency)) {
      const p = parsePath(f.path);
      if (p?.kind === 'quota-marker' && p.key === key) out.push({ digest: p.digest, size: p.size, file: f });
    }
    return out;
  }

  /**
   * Makes the markers match the links (see the header): `linked` and `sizes` come from a scan
   * that started at `scanStartedAt`, a time of the storage's clock (markers' modification times
   * are compared with it: the registry's own clock may differ). Also deletes the markers of
   * namespaces no longer configured.
   */
  async reconcile(linked: LinkedDigests, sizes: ReadonlyMap<Digest, number>, scanStartedAt: Date): Promise<ReconcileResult[]> {
    const cutoff = scanStartedAt.getTime();
    const results: ReconcileResult[] = [];
    for (const ns of this.namespaces) {
      const expected = new Map<Digest, number>();
      for (const [repo, digests] of linked) {
        if (!matchesAny(ns.repositories, repo)) continue;
        for (const d of digests) {
          const size = sizes.get(d);
          if (size !== undefined) expected.set(d, size);
        }
      }
      const present = await this.markers(ns.key);
      const have = new Set(present.map((m) => m.digest));
      const missing = [...expected].filter(([d]) => !have.has(d));
      await mapLimit(missing, this.concurrency, ([d, size]) => this.driver.putContent(layout.quotaMarker(ns.key, d, size), new Uint8Array(0)));
      let removed = 0;
      const extra = present.filter((m) => expected.get(m.digest) !== m.size);
      await mapLimit(extra, this.concurrency, async (m) => {
        // Rewritten since the scan: linked again by a push; it stays.
        const st = await this.driver.stat(m.file.path).catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
        if (!st || st.modTime.getTime() >= cutoff) return;
        await ignoreNotFound(this.driver.delete(m.file.path));
        removed++;
      });
      this.loaded.delete(ns.key);
      const usage = await this.usage(ns);
      await this.driver.putContent(
        layout.quotaTotal(ns.key),
        Buffer.from(JSON.stringify({ bytes: usage.bytes, blobs: usage.blobs, reconciledAt: new Date(this.now()).toISOString() })),
      );
      results.push({ key: ns.key, bytes: usage.bytes, blobs: usage.blobs, added: missing.length, removed });
    }
    // Namespaces no longer configured: their markers would otherwise stay forever.
    const keys = new Set(this.namespaces.map((ns) => ns.key));
    let dirs: string[] = [];
    try {
      dirs = await this.driver.list(layout.quotaRoot);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    for (const dir of dirs) {
      const key = dir.slice(dir.lastIndexOf('/') + 1);
      if (!keys.has(key) && !key.startsWith('_scan-')) await ignoreNotFound(this.driver.delete(layout.quotaNamespace(key)));
    }
    return results;
  }

  /** Whether a reconciliation has ever stored a total for the namespace (else its markers may be incomplete). */
  async reconciled(ns: QuotaNamespace): Promise<boolean> {
    try {
      await this.driver.stat(layout.quotaTotal(ns.key));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * Scans the repositories and blobs and reconciles the ledger's markers with them (after a garbage
 * collection, and at start for a namespace never reconciled).
 */
export async function reconcileQuotaUsage(driver: StorageDriver, ledger: QuotaLedger, concurrency = 8): Promise<ReconcileResult[]> {
  // The scan's start as the storage stamps it: a marker rewritten after it is at least as new,
  // whatever the clock of this host or the storage's timestamp granularity (S3: whole seconds).
  const stamp = layout.quotaScanStamp(randomUUID());
  await driver.putContent(stamp, new Uint8Array(0));
  try {
    const started = (await driver.stat(stamp)).modTime;
    const repos = await scanRepositories(driver, concurrency);
    const blobs = await scanBlobs(driver, concurrency);
    const linked = new Map<string, Digest[]>();
    for (const r of repos.values()) linked.set(r.name, [...r.layers.keys(), ...r.revisions.keys()]);
    const sizes = new Map<Digest, number>();
    for (const [d, f] of blobs) sizes.set(d, f.size);
    return await ledger.reconcile(linked, sizes, started);
  } finally {
    await ignoreNotFound(driver.delete(stamp));
  }
}
