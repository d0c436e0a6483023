// The pull-through mirror: names under an upstream's prefix (or sent with containerd's `?ns=`, or
// any non-local name when this server is Docker's registry mirror) are served from storage and
// fetched from the upstream on a miss. Blobs stream to the client while they are stored (one
// shared upstream transfer per blob, see shared-fetch.ts); manifests by digest are kept, tags are
// revalidated after their TTL and served stale while the upstream is down or rate limiting.
// Proxied names are read-only; pushes go to the local namespaces.
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Context, Middleware } from 'koa';
import { RegistryResponseError } from '../../client/index.js';
import { MANIFEST_ACCEPT } from '../../client/registry-client.js';
import { parseManifest, referrerDescriptor, type Digest, type ParsedManifest } from '../../oci/index.js';
import { DigestMismatchError, type BlobInfo, type GrowingUpload, type RegistryStorage, type StoredManifest } from '../../storage/index.js';
import type { Config } from '../config.js';
import { RegistryError } from '../errors.js';
import type { Logger } from '../logger.js';
import { BLOB_MEDIA_TYPE, type RegistryEvent, type RegistryEvents } from '../registry-events.js';
import { storedBlob, type RegistryContent, type ServedBlob } from '../registry-content.js';
import { drained } from '../../util/drained.js';
import type { Reference } from '../route-params.js';
import type { MirrorConfig } from './mirror-config.js';
import { MirrorMetrics } from './mirror-metrics.js';
import { LastPulled } from './last-pulled.js';
import { BlobVerificationError, SharedBlobFetch, tempFileSpool, type Spool } from './shared-fetch.js';
import { isOutage, isUpstreamNotFound, Upstreams, type ProxiedName } from './upstreams.js';
import type { Registry } from 'prom-client';
import { kindOf } from '../../util/errors.js';

const API_PATH = /^\/v2\/(.+)\/(blobs|manifests|tags|referrers)\/(.*)$/;

/** A transfer spooled into its storage upload (see uploadSpool). */
interface UploadSpool extends Spool {
  upload: GrowingUpload;
}

/** A blob transfer in progress: from the upstream of `local` (the repository that started it). */
interface Transfer {
  fetch: SharedBlobFetch;
  stored: Promise<void>;
  local: string;
}

/** What a request state carries for the event listener: content was fetched from the upstream. */
const MISS = 'mirrorMiss';

export interface MirrorDeps {
  storage: RegistryStorage;
  config: Config;
  log: Logger;
  events: RegistryEvents;
  metricsRegistry?: Registry;
  /**
   * The other workers of a cluster (server/cluster/worker-link.ts): one of them at a time may
   * fetch a blob from the upstream, so the upstream is asked once however many workers are asked.
   */
  cluster?: {
    readonly leader: boolean;
    tryAcquire(key: string): Promise<(() => void) | undefined>;
    waitFree(key: string): Promise<void>;
    broadcast(topic: string, data: unknown): void;
    onBroadcast(topic: string, fn: (data: unknown) => void): void;
  };
}

export class PullThroughMirror {
  readonly upstreams: Upstreams;
  readonly metrics: MirrorMetrics;
  readonly lastPulled: LastPulled;
  private readonly cfg: MirrorConfig;
  /** Blob transfers in progress, with their storing (resolves when stored, or not). */
  private readonly fetches = new Map<Digest, Transfer>();
  private readonly pending = new Map<string, Promise<{ m: StoredManifest; fetched: boolean }>>();
  /** When each cached tag was last confirmed with its upstream (`repo:tag` → ms). */
  private readonly tagChecked = new Map<string, number>();
  /** Where transfers that cannot spool into a storage upload spool (see tempFileSpool). */
  private spoolDir: string | undefined;
  /** Aborts the upstream transfers when the server stops. */
  private readonly stopping = new AbortController();
  /** Transfers finished (stored or failed): see localBlob. */
  private storedCount = 0;
  /** In a cluster: blobs a request of this worker is claiming the upstream transfer of (startShared). */
  private readonly claiming = new Map<Digest, Promise<void>>();

  constructor(private readonly deps: MirrorDeps) {
    this.cfg = deps.config.mirror;
    this.upstreams = new Upstreams(this.cfg);
    this.metrics = new MirrorMetrics(deps.metricsRegistry);
    // In a cluster the leader keeps the record (its eviction reads it); the others pass it their pulls (start.ts).
    this.lastPulled = new LastPulled(deps.storage.driver, !deps.cluster || deps.cluster.leader);
    deps.events.listen((ctx, e) => this.onEvent(ctx, e));
  }

  get enabled(): boolean {
    return this.upstreams.list.length > 0;
  }

  /** The upstream of a repository name as the routes see it (after the middleware's rewrite). */
  proxied(name: string): ProxiedName | undefined {
    return this.enabled ? this.upstreams.resolve(name, undefined) : undefined;
  }

  /**
   * Before the routes: maps `?ns=` and Docker mirror names to the local repository
   * (`<prefix>/<remote>`) and refuses writes to proxied names and outside local namespaces.
   */
  middleware(): Middleware {
    return async (ctx, next) => {
      const m = API_PATH.exec(ctx.path);
      if (!m) return next();
      let name: string;
      try {
        name = decodeURIComponent(m[1]!);
      } catch {
        return next(); // the route answers NAME_INVALID
      }
      const write = ctx.method !== 'GET' && ctx.method !== 'HEAD';
      const nsRaw = ctx.query.ns;
      const ns = Array.isArray(nsRaw) ? nsRaw[0] : nsRaw;
      const p = this.upstreams.resolve(name, ns);
      if (!p) {
        if (write && !this.upstreams.isLocal(name)) {
          throw new RegistryError('DENIED', `${name} is outside the local namespaces (${this.cfg.localNamespaces.join(', ')}): pushes are not allowed there`, { name });
        }
        return next();
      }
      if (write) {
        throw new RegistryError('DENIED', `${name} is a read-only mirror of ${p.upstream.registry}; push to a local namespace instead`, {
          name,
          upstream: p.upstream.registry,
        });
      }
      if (p.local !== name) ctx.path = `/v2/${p.local}/${m[2]}/${m[3]}`;
      return next();
    };
  }

  // ---- blobs

  /**
   * For a blob this repository does not have: the blob when it is stored already (fetched through
   * another name; linked here now), else undefined, and for a GET the shared transfer is running
   * when this returns (joined or started) for blob() to follow.
   */
  private async localBlob(ctx: Context, name: string, digest: Digest): Promise<BlobInfo | undefined> {
    const p = this.proxied(name);
    if (!p) return undefined;
    const { blobs } = this.deps.storage;
    await this.spool();
    for (;;) {
      let entry = this.running(digest);
      if (entry) {
        await this.mayShare(ctx, p, digest, entry.local);
        return undefined;
      }
      // A transfer that finished between the check above and the stat below is seen by the stat
      // (it is stored before it leaves the map) or changes the count: then look again.
      const generation = this.storedCount;
      const info = await blobs.statGlobal(digest);
      if (info) {
        await this.mayShare(ctx, p, digest, undefined);
        await blobs.link(name, digest);
        return info;
      }
      entry = this.running(digest);
      if (entry) {
        await this.mayShare(ctx, p, digest, entry.local);
        return undefined;
      }
      if (generation === this.storedCount) {
        if (ctx.method === 'GET') {
          if (!(await this.startShared(p, digest))) continue; // fetched by another worker meanwhile: look again
          ctx.state.mirrorStartedFetch = true;
        }
        return undefined;
      }
    }
  }

  /**
   * Whether content stored (or arriving) for another repository may be served under `p`: the
   * digest names the content, not who may read it. A blob of a private local repository, or of
   * another upstream repository the caller may not pull, is served here only once `p`'s upstream
   * confirms it has the blob in `p.remote` (a HEAD, not counted against Docker Hub's pull limit);
   * then it is linked here and later requests need no confirmation. Throws BLOB_UNKNOWN (or the
   * upstream's error) otherwise. `ctx` remembers a confirmation for the rest of the request.
   */
  private async mayShare(ctx: Context | undefined, p: ProxiedName, digest: Digest, from: string | undefined): Promise<void> {
    if (from === p.local || ctx?.state.mirrorConfirmed === digest) return;
    let size: number | undefined;
    try {
      size = await this.upstreams.client.registryClient(p.upstream.registry).headBlob(p.remote, digest);
    } catch (err) {
      throw this.upstreamError(p, err, `blob ${digest}`);
    }
    if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', `blob unknown to ${p.upstream.registry}`, { digest });
    if (ctx) ctx.state.mirrorConfirmed = digest;
  }

  /**
   * The registry content with proxied names served through this mirror and the rest from
   * `local`: the routes get this once (app.ts) and never branch on whether a name is mirrored.
   */
  content(local: RegistryContent): RegistryContent {
    return {
      blob: (ctx, name, digest) => (this.proxied(name) ? this.blob(ctx, local, name, digest) : local.blob(ctx, name, digest)),
      manifest: (ctx, name, ref) => (this.proxied(name) ? this.manifest(ctx, name, ref) : local.manifest(ctx, name, ref)),
      tags: (name) => (this.proxied(name) ? this.tags(name) : local.tags(name)),
    };
  }

  /**
   * A blob of a proxied repository: cached (here or, once the upstream confirms it, under another
   * name), or followed from the shared upstream transfer (a GET joins or starts it), or for a HEAD
   * of a blob not being fetched, the upstream's answer. Throws BLOB_UNKNOWN or the upstream's error.
   */
  private async blob(ctx: Context, local: RegistryContent, name: string, digest: Digest): Promise<ServedBlob> {
    const p = this.proxied(name)!;
    const { storage } = this.deps;
    const cached = (await local.blob(ctx, name, digest)) ?? (await this.localBlob(ctx, name, digest));
    if (cached) return 'send' in cached ? cached : storedBlob(storage, digest, cached.size);
    if (ctx.method === 'HEAD' && !this.running(digest)) {
      let size: number | undefined;
      try {
        size = await this.upstreams.client.registryClient(p.upstream.registry).headBlob(p.remote, digest);
      } catch (err) {
        throw this.upstreamError(p, err, `blob ${digest}`);
      }
      if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', `blob unknown to ${p.upstream.registry}`, { digest });
      return headOnly(size);
    }
    const entry = this.running(digest);
    if (!entry) {
      // Stored since localBlob looked (rare): served from storage.
      const info = await storage.blobs.statGlobal(digest);
      if (!info) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
      await this.mayShare(ctx, p, digest, undefined);
      await storage.blobs.link(name, digest);
      return storedBlob(storage, digest, info.size);
    }
    await this.mayShare(ctx, p, digest, entry.local);
    if (!ctx.state.mirrorStartedFetch) this.metrics.joined(p.upstream.prefix);
    const { fetch } = entry;
    fetch.retain(); // the transfer may be stored and closed while this request gets going
    let released = false;
    const release = () => {
      if (!released) fetch.unretain();
      released = true;
    };
    try {
      await fetch.started;
    } catch (err) {
      release();
      throw this.upstreamError(p, err, `blob ${digest}`);
    }
    ctx.state[MISS] = true;
    return {
      size: fetch.size,
      redirectURL: async () => undefined,
      send: (ctx, start, end, started) => this.streamBlob(ctx, p, digest, fetch, start, end, started),
      release,
    };
  }

  private async streamBlob(ctx: Context, p: ProxiedName, digest: Digest, fetch: SharedBlobFetch, start: number, end: number | undefined, started: () => void): Promise<void> {
    // The headers wait for the first bytes: a transfer that fails before then gets a spec error.
    const body = fetch.read(start, end);
    let first: IteratorResult<Buffer>;
    try {
      first = await body.next();
    } catch (err) {
      throw this.upstreamError(p, err, `blob ${digest}`);
    }
    started();
    await streamResponse(ctx, first, body, (err) =>
      this.deps.log.warn({ reqId: ctx.state.requestId, upstream: p.upstream.registry, digest, err: err.message }, 'mirror: blob transfer failed; response cut short'),
    );
  }

  /** The transfer of `digest` that new requests may join (one that failed is not: a new one starts). */
  private running(digest: Digest): Transfer | undefined {
    const entry = this.fetches.get(digest);
    return entry && !entry.fetch.failed ? entry : undefined;
  }

  /**
   * Starts the transfer of `digest` (true), unless, in a cluster, another worker is fetching it:
   * then waits until that one is stored (or failed) and returns false for the caller to look
   * again. The cluster-wide claim is held until this worker's transfer is stored.
   */
  private async startShared(p: ProxiedName, digest: Digest): Promise<boolean> {
    const cluster = this.deps.cluster;
    if (!cluster) {
      this.startFetch(p, digest);
      return true;
    }
    const pending = this.claiming.get(digest);
    if (pending) {
      await pending; // another request here is claiming it: join what it started, or look again
      return false;
    }
    let claimed!: () => void;
    this.claiming.set(digest, new Promise<void>((r) => (claimed = r)));
    const key = `mirror-blob:${digest}`;
    try {
      const release = await cluster.tryAcquire(key);
      if (!release) {
        await cluster.waitFree(key);
        return false;
      }
      // Stored by another worker between our look and the claim: served from storage.
      if (this.running(digest) || (await this.deps.storage.blobs.statGlobal(digest))) {
        release();
        return false;
      }
      const entry = this.startFetch(p, digest);
      void entry.stored.finally(release);
      return true;
    } finally {
      this.claiming.delete(digest);
      claimed();
    }
  }

  /** Starts the transfer of `digest`, stored into `p.local` when it verifies (synchronous: no request can slip in). */
  private startFetch(p: ProxiedName, digest: Digest): Transfer {
    const dir = this.spoolDir!;
    const label = p.upstream.prefix;
    const fetch = new SharedBlobFetch(
      digest,
      async () => (await this.uploadSpool(p, digest)) ?? tempFileSpool(dir, digest),
      () => this.upstreams.openBlob(p, digest, this.stopping.signal),
      (n) => this.metrics.bytesFromUpstream(label, n),
    );
    const stored = this.store(p, fetch).finally(() => {
      this.storedCount++;
      if (this.fetches.get(digest) === entry) this.fetches.delete(digest);
      fetch.close();
    });
    const entry: Transfer = { fetch, stored, local: p.local };
    this.fetches.set(digest, entry);
    return entry;
  }

  /**
   * A spool that is the storage upload itself (storage that can read back a file it writes): the
   * blob is written and hashed once, and storing it is committing the upload; undefined elsewhere.
   */
  private async uploadSpool(p: ProxiedName, digest: Digest): Promise<UploadSpool | undefined> {
    let upload: GrowingUpload | undefined;
    try {
      upload = await this.deps.storage.uploads.createGrowing(p.local, digest);
    } catch (err) {
      // Clients can still be served through a temporary file (storing will likely fail too, logged).
      this.deps.log.warn({ upstream: p.upstream.registry, digest, err: (err as Error).message }, 'mirror: cannot create an upload to spool into');
      return undefined;
    }
    if (!upload) return undefined;
    return {
      upload,
      write: (chunk) => upload.write(chunk),
      read: (buffer, position, length) => upload.read(buffer, position, length),
      verify() {
        try {
          upload.verify();
        } catch (err) {
          if (err instanceof DigestMismatchError) throw new BlobVerificationError(`upstream content has digest ${err.actual}, not ${digest}`);
          throw err;
        }
      },
      close: () => upload.close(),
    };
  }

  /**
   * Stores the transfer once verified: commits the upload it was spooled into, or else writes it
   * into an upload and commits that (digest checked again). Never rejects: a failure is logged and
   * counted, and the blob is simply not cached.
   */
  private async store(p: ProxiedName, fetch: SharedBlobFetch): Promise<void> {
    const { uploads } = this.deps.storage;
    try {
      await fetch.started;
    } catch {
      return; // the upstream did not answer with the blob: the requests that asked report it
    }
    let uploadId: string | undefined;
    try {
      const spool = fetch.spool as Partial<UploadSpool> | undefined;
      if (spool?.upload) {
        await fetch.verified;
        await spool.upload.commit();
        return;
      }
      uploadId = (await uploads.create(p.local)).id;
      await uploads.append(p.local, uploadId, fetch.read());
      await fetch.verified;
      await uploads.commit(p.local, uploadId, fetch.digest);
    } catch (err) {
      if (uploadId) await uploads.cancel(p.local, uploadId).catch(() => undefined);
      if (fetch.failed) this.metrics.upstreamError(p.upstream.prefix);
      this.deps.log.warn({ upstream: p.upstream.registry, repository: p.remote, digest: fetch.digest, err: (err as Error).message }, 'mirror: upstream blob not stored');
    }
  }

  private spoolReady: Promise<void> | undefined;
  private spool(): Promise<void> {
    return (this.spoolReady ??= (async () => {
      const base = this.cfg.spoolDirectory || tmpdir();
      await mkdir(base, { recursive: true });
      this.spoolDir = base;
    })());
  }

  /**
   * Fetches a blob into the cache without a client (pre-fetch); resolves when it is stored.
   */
  async ensureBlob(name: string, digest: Digest): Promise<void> {
    const p = this.proxied(name);
    if (!p) return;
    if (await this.deps.storage.blobs.stat(name, digest)) return;
    await this.spool();
    while (!this.running(digest)) {
      const generation = this.storedCount;
      if (await this.deps.storage.blobs.statGlobal(digest)) {
        await this.mayShare(undefined, p, digest, undefined); // stored for another repository
        await this.deps.storage.blobs.link(name, digest);
        return;
      }
      if (!this.running(digest) && generation === this.storedCount) await this.startShared(p, digest);
    }
    const { fetch, stored, local } = this.running(digest)!;
    await this.mayShare(undefined, p, digest, local);
    await stored;
    if (fetch.failed) throw this.upstreamError(p, await fetch.verified.catch((err: unknown) => err), `blob ${digest}`);
    if (!(await this.deps.storage.blobs.statGlobal(digest))) throw new Error(`blob ${digest} could not be stored (see the log)`);
    // Stored under the repository that started the transfer; link this one too.
    await this.deps.storage.blobs.link(name, digest);
  }

  // ---- manifests

  /** A manifest of a proxied repository: from the cache, revalidated, or fetched. */
  async manifest(ctx: Context | undefined, name: string, ref: Reference, opts: { revalidate?: boolean } = {}): Promise<StoredManifest> {
    const p = this.proxied(name)!;
    const { manifests } = this.deps.storage;
    const label = p.upstream.prefix;
    if (ref.kind === 'digest') {
      const local = await manifests.get(name, ref.digest);
      if (local) return local;
      const r = await this.once(`${name}@${ref.digest}`, async () => {
        try {
          return { m: await this.fetchManifest(p, name, ref.digest), fetched: true };
        } catch (err) {
          throw this.upstreamError(p, err, `manifest ${ref.digest}`);
        }
      });
      if (ctx && r.fetched) ctx.state[MISS] = true;
      return r.m;
    }
    const key = `${name}:${ref.tag}`;
    const cachedDigest = await manifests.resolveTag(name, ref.tag);
    const local = cachedDigest && (await manifests.get(name, cachedDigest));
    const checked = this.tagChecked.get(key);
    if (local && !opts.revalidate && checked !== undefined && Date.now() - checked < this.cfg.tagTtl) return local;
    const r = await this.once(key, async () => {
      try {
        const head = await this.headManifest(p, ref.tag);
        if (!head) throw new RegistryError('MANIFEST_UNKNOWN', `${p.remote}:${ref.tag} is unknown to ${p.upstream.registry}`, { tag: ref.tag });
        if (local && head.digest === local.digest) {
          this.tagChecked.set(key, Date.now());
          return { m: local, fetched: false };
        }
        const known = head.digest && (await manifests.get(name, head.digest));
        const m = known || (await this.fetchManifest(p, name, head.digest ?? ref.tag));
        await manifests.tag(name, ref.tag, m.digest);
        this.tagChecked.set(key, Date.now());
        return { m, fetched: !known };
      } catch (err) {
        if (err instanceof RegistryError) throw err;
        if (local && isOutage(err)) {
          this.metrics.staleServed(label);
          this.metrics.upstreamError(label);
          this.deps.log.warn(
            { upstream: p.upstream.registry, repository: p.remote, tag: ref.tag, digest: local.digest, err: (err as Error).message },
            'mirror: upstream unavailable, serving the cached tag (stale)',
          );
          return { m: local, fetched: false };
        }
        throw this.upstreamError(p, err, `${p.remote}:${ref.tag}`);
      }
    });
    if (ctx && r.fetched) ctx.state[MISS] = true;
    return r.m;
  }

  /** Concurrent requests for the same manifest share one upstream exchange. */
  private once(key: string, fn: () => Promise<{ m: StoredManifest; fetched: boolean }>): Promise<{ m: StoredManifest; fetched: boolean }> {
    let p = this.pending.get(key);
    if (!p) {
      p = fn().finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  /** HEAD of a tag: its digest (undefined when the upstream does not say), or undefined when unknown. */
  private async headManifest(p: ProxiedName, tag: string): Promise<{ digest: Digest | undefined } | undefined> {
    const rc = this.upstreams.client.registryClient(p.upstream.registry);
    const req = { method: 'HEAD', path: `/v2/${p.remote}/manifests/${tag}`, headers: { accept: MANIFEST_ACCEPT } };
    const res = await rc.call(req, [`repository:${p.remote}:pull`]);
    await res.body.dump();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new RegistryResponseError('HEAD', res.url, res.status, undefined, undefined);
    const d = res.headers['docker-content-digest'];
    const digest = (Array.isArray(d) ? d[0] : d) as Digest | undefined;
    return { digest };
  }

  private async fetchManifest(p: ProxiedName, name: string, reference: string): Promise<StoredManifest> {
    const rc = this.upstreams.client.registryClient(p.upstream.registry);
    const got = await rc.getManifest(p.remote, reference);
    // Received from the upstream, whatever becomes of it: the operations view's "fetched from
    // upstream" must not read 0 after a pull whose blobs were all cached already.
    this.metrics.bytesFromUpstream(p.upstream.prefix, got.bytes.length);
    if (got.bytes.length > this.deps.config.limits.manifestMaxBytes) {
      throw new RegistryError('MANIFEST_INVALID', `the upstream manifest is larger than limits.manifestMaxBytes`, { size: got.bytes.length });
    }
    let parsed: ParsedManifest | undefined;
    try {
      parsed = parseManifest(got.bytes, got.mediaType);
    } catch {
      parsed = undefined; // served as the upstream sent it
    }
    const mediaType = parsed?.mediaType ?? got.mediaType;
    const subject = parsed?.subject?.digest;
    const { manifests } = this.deps.storage;
    await manifests.put(name, { digest: got.digest, mediaType, size: got.bytes.length, subject }, got.bytes);
    if (subject && parsed) await manifests.addReferrer(name, subject, referrerDescriptor(parsed, got.digest, got.bytes.length));
    return { digest: got.digest, mediaType, size: got.bytes.length, content: got.bytes, ...(subject ? { subject } : {}) };
  }

  /** Tags of a proxied repository: the upstream's list, or the cached tags when it is unavailable. */
  async tags(name: string): Promise<string[]> {
    const p = this.proxied(name)!;
    try {
      return (await this.upstreams.client.registryClient(p.upstream.registry).tags(p.remote)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    } catch (err) {
      if (!isOutage(err)) throw this.upstreamError(p, err, `tags of ${p.remote}`);
      this.metrics.upstreamError(p.upstream.prefix);
      return this.deps.storage.manifests.tags(name);
    }
  }

  /** A spec error for an upstream failure (for content that is not cached). */
  private upstreamError(p: ProxiedName, err: unknown, what: string): RegistryError {
    if (err instanceof RegistryError) return err;
    const where = p.upstream.registry;
    if (kindOf(err) === 'corrupt') {
      this.metrics.upstreamError(p.upstream.prefix);
      return new RegistryError('UNKNOWN', `upstream ${where} sent corrupt content for ${what}: ${(err as Error).message}`, { upstream: where }, 502);
    }
    if (isUpstreamNotFound(err)) {
      const code = /^blob /.test(what) ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN';
      return new RegistryError(code, `${what} is unknown to ${where}`, { upstream: where });
    }
    this.metrics.upstreamError(p.upstream.prefix);
    const reason = (err as Error).message;
    this.deps.log.warn({ upstream: where, what, err: reason }, 'mirror: upstream request failed');
    if (err instanceof RegistryResponseError && err.status === 429) {
      return new RegistryError('TOOMANYREQUESTS', `upstream ${where} is rate limiting and ${what} is not cached`, { upstream: where });
    }
    if (kindOf(err) === 'unauthorized' || kindOf(err) === 'denied') {
      return new RegistryError('UNKNOWN', `upstream ${where} refused the mirror's credentials for ${what}`, { upstream: where }, 502);
    }
    return new RegistryError('UNKNOWN', `upstream ${where} is unavailable and ${what} is not cached: ${reason}`, { upstream: where }, 503);
  }

  // ---- bookkeeping

  private onEvent(ctx: Context, e: RegistryEvent): void {
    if (e.action !== 'pull' || !e.digest) return;
    const p = this.proxied(e.repository);
    if (!p) return;
    this.metrics.servedContent(p.upstream.prefix, e.kind, ctx.state[MISS] ? 'miss' : 'hit', e.size);
    this.lastPulled.touch(e.repository, e.digest as Digest);
  }

  async close(): Promise<void> {
    await this.lastPulled.save().catch((err) => this.deps.log.warn({ err }, 'mirror: cannot save last-pulled times'));
    await this.upstreams.close();
    // Transfers still running are cut (nothing is stored of them); finished ones get to commit.
    this.stopping.abort();
    await Promise.allSettled([...this.fetches.values()].map((f) => f.stored));
  }
}

/** The answer to a HEAD of a blob the upstream has and nobody is fetching: its size, no body. */
function headOnly(size: number): ServedBlob {
  return {
    size,
    redirectURL: async () => undefined,
    send: () => Promise.reject(new Error('a HEAD answer has no body')),
    release: () => undefined,
  };
}

/**
 * Writes a followed transfer as the response body. When the transfer fails the connection is
 * cut (the client sees a short body, never a complete wrong one).
 */
async function streamResponse(ctx: Context, first: IteratorResult<Buffer>, source: AsyncGenerator<Buffer>, onFail: (err: Error) => void): Promise<void> {
  const res = ctx.res;
  ctx.respond = false;
  res.writeHead(ctx.status, ctx.response.headers as Record<string, string>);
  let closed = false;
  const onClose = () => (closed = true);
  res.once('close', onClose);
  async function* all(): AsyncGenerator<Buffer> {
    if (!first.done) yield first.value;
    else return;
    yield* source;
  }
  try {
    for await (const chunk of all()) {
      if (closed) break;
      if (!res.write(chunk)) {
        await drained(res);
      }
      if (closed) break;
    }
    if (!closed) res.end();
  } catch (err) {
    onFail(err as Error);
    // Without the error: koa would report it again as an unhandled application error.
    res.destroy();
  } finally {
    res.off('close', onClose);
    await source.return(undefined);
  }
}
