// Read-only JSON endpoints for the web UI (README "Web UI"): what the /v2 API does not say
// (compressed sizes, push and creation times, platforms of a tag, what the caller may delete).
// They live under /v2 so the registry's access control applies to them like to any other route
// (server/auth/route-scopes.ts maps each one); `_ui` cannot be a repository name component.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { isIndexMediaType, parseManifest, type Descriptor, type Digest, type ParsedManifest } from '../../oci/index.js';
import { compareCodePoints, mapLimit, type RegistryStorage } from '../../storage/index.js';
import { RegistryError } from '../errors.js';
import type { RegistryDeps } from '../registry-deps.js';
import { queryString, repositoryName } from '../route-params.js';

export const UI_REPOSITORIES = /^\/v2\/_ui\/repositories$/;
export const UI_SUMMARY = /^\/v2\/(.+)\/_ui\/summary$/;
export const UI_TAGS = /^\/v2\/(.+)\/_ui\/tags$/;

/** Storage reads in flight per request (tags of a page are described concurrently). */
const READS_AT_ONCE = 8;
/** Summaries read fewer at once: they are background work next to the page's own requests. */
const SUMMARY_READS_AT_ONCE = 4;
const SUMMARY_MAX_AGE_MS = 60_000;
const SUMMARIES_KEPT = 1000;
/** Config blobs larger than this are not read for their creation time. */
const CONFIG_READ_LIMIT = 1024 * 1024;
const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

export interface PlatformEntry {
  os: string;
  architecture: string;
  variant?: string;
  digest: string;
  /** An attestation manifest in the index (BuildKit's `unknown/unknown` entries), not a runnable image. */
  attestation: boolean;
}

export interface TagRow {
  tag: string;
  digest: string;
  mediaType: string;
  kind: 'image' | 'index' | 'artifact';
  artifactType?: string;
  platforms: PlatformEntry[];
  /** Compressed bytes: the manifest(s), configs and layers (an index: all its manifests). */
  size: number;
  /** The image config's `created` (the newest of an index's images). */
  created?: string;
  /** When the tag was last pushed. */
  pushed?: string;
}

/** The caller's actions on a repository: access control sets `ctx.state.mayDo`; without it, anything. */
function actionsOn(ctx: Context, name: string, deleteEnabled: boolean): string[] {
  const mayDo = ctx.state.mayDo as ((name: string, action: string) => boolean) | undefined;
  const out = ['pull'];
  if (deleteEnabled && (mayDo ? mayDo(name, 'delete') : true)) out.push('delete');
  return out;
}

function pageSize(ctx: Context, def: number, max: number): number {
  const raw = queryString(ctx, 'n');
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be a positive integer', { n: raw.slice(0, 50) });
  return Math.min(Number(raw), max);
}

/** Describes manifests of one repository, each read at most once per request. */
class Describer {
  private readonly manifests = new Map<string, Promise<{ parsed: ParsedManifest; size: number } | undefined>>();

  constructor(
    private readonly storage: RegistryStorage,
    private readonly repo: string,
  ) {}

  manifest(digest: Digest): Promise<{ parsed: ParsedManifest; size: number } | undefined> {
    let p = this.manifests.get(digest);
    if (!p) {
      p = this.storage.manifests.get(this.repo, digest).then((m) => {
        if (!m) return undefined;
        try {
          return { parsed: parseManifest(m.content, m.mediaType), size: m.size };
        } catch {
          return undefined; // stored before validation got stricter: shown without details
        }
      });
      this.manifests.set(digest, p);
    }
    return p;
  }

  async created(config: Descriptor): Promise<string | undefined> {
    if (!IMAGE_CONFIG_TYPES.has(config.mediaType) || config.size > CONFIG_READ_LIMIT) return undefined;
    try {
      const doc = JSON.parse((await this.storage.blobs.getContent(config.digest)).toString('utf8')) as { created?: unknown };
      return typeof doc.created === 'string' ? doc.created : undefined;
    } catch {
      return undefined;
    }
  }

  /** Size and creation time of an image manifest. */
  async image(parsed: ParsedManifest & { kind: 'image' }, size: number): Promise<{ size: number; created?: string }> {
    const d = parsed.document;
    const total = size + d.config.size + d.layers.reduce((s, l) => s + l.size, 0);
    return { size: total, created: await this.created(d.config) };
  }

  async row(tag: string): Promise<TagRow | undefined> {
    const digest = await this.storage.manifests.resolveTag(this.repo, tag);
    if (!digest) return undefined; // deleted while listing
    const [m, pushed] = await Promise.all([this.manifest(digest), this.storage.manifests.taggedAt(this.repo, tag)]);
    const base = { tag, digest, pushed: pushed?.toISOString(), platforms: [] as PlatformEntry[] };
    if (!m) return { ...base, mediaType: '', kind: 'artifact', size: 0 };
    const { parsed } = m;
    if (parsed.kind === 'image') {
      // parseManifest reports an image's config type as its artifact type (image-spec 1.1); an image is what has no artifactType of its own.
      const isImage = IMAGE_CONFIG_TYPES.has(parsed.document.config.mediaType) && !parsed.document.artifactType;
      const { size, created } = await this.image(parsed, m.size);
      return { ...base, mediaType: parsed.mediaType, kind: isImage ? 'image' : 'artifact', artifactType: isImage ? undefined : parsed.artifactType, size, created };
    }
    let size = m.size;
    let created: string | undefined;
    const children = await mapLimit(parsed.document.manifests, READS_AT_ONCE, async (child) => {
      const c = await this.manifest(child.digest);
      if (c?.parsed.kind === 'image') return this.image(c.parsed, c.size);
      return { size: child.size, created: undefined };
    });
    for (const c of children) {
      size += c.size;
      if (c.created && (!created || c.created > created)) created = c.created;
    }
    const platforms = parsed.document.manifests.map((child) => ({
      os: child.platform?.os ?? 'unknown',
      architecture: child.platform?.architecture ?? 'unknown',
      ...(child.platform?.variant ? { variant: child.platform.variant } : {}),
      digest: child.digest,
      attestation: child.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || child.platform?.os === 'unknown',
    }));
    return { ...base, mediaType: parsed.mediaType, kind: isIndexMediaType(parsed.mediaType) ? 'index' : 'artifact', artifactType: parsed.artifactType, platforms, size, created };
  }
}

export interface RepositorySummary {
  name: string;
  tags: number;
  lastPush?: string;
  size: number;
}

/** Tag count, last push and the compressed size of what the tags reference (each blob once). */
async function summarize(storage: RegistryStorage, name: string): Promise<RepositorySummary> {
  const tags = await storage.manifests.tags(name);
  if (tags.length === 0 && !(await storage.catalog.exists(name))) throw new RegistryError('NAME_UNKNOWN', undefined, { name });
  const d = new Describer(storage, name);
  const blobs = new Map<string, number>();
  let lastPush: Date | undefined;
  const addManifest = async (digest: Digest, depth: number): Promise<void> => {
    const m = await d.manifest(digest);
    blobs.set(digest, m?.size ?? 0);
    if (!m) return;
    if (m.parsed.kind === 'image') {
      for (const b of [m.parsed.document.config, ...m.parsed.document.layers]) blobs.set(b.digest, b.size);
    } else if (depth < 2) {
      await mapLimit(m.parsed.document.manifests, SUMMARY_READS_AT_ONCE, (c) => addManifest(c.digest, depth + 1));
    }
  };
  await mapLimit(tags, SUMMARY_READS_AT_ONCE, async (tag) => {
    const [digest, at] = await Promise.all([storage.manifests.resolveTag(name, tag), storage.manifests.taggedAt(name, tag)]);
    if (at && (!lastPush || at > lastPush)) lastPush = at;
    if (digest) await addManifest(digest, 0);
  });
  let size = 0;
  for (const s of blobs.values()) size += s;
  return { name, tags: tags.length, lastPush: (lastPush as Date | undefined)?.toISOString(), size };
}

export function registerUiApi(router: Router, { storage, config, events }: RegistryDeps): void {
  const deleteEnabled = () => config.storage.delete.enabled;

  // Repository names, filtered (substring, any case) and paged: the catalog with a filter.
  router.get(UI_REPOSITORIES, async (ctx) => {
    const canPull = ctx.state.canPull as ((name: string) => boolean) | undefined;
    const q = (queryString(ctx, 'q') ?? '').toLowerCase().slice(0, 256);
    const n = pageSize(ctx, 50, 1000);
    const last = queryString(ctx, 'last');
    const matching = (await storage.catalog.list()).filter((r) => (!canPull || canPull(r)) && (!q || r.includes(q)));
    const from = last === undefined ? matching : matching.filter((r) => r > last);
    const repositories = from.slice(0, n);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ repositories, total: matching.length, ...(from.length > n ? { next: repositories.at(-1) } : {}) });
  });

  // Summaries read every tag of a repository (seconds for thousands of tags): kept for a while,
  // shared by concurrent requests, and dropped when a manifest of the repository is pushed or
  // deleted here (other replicas, GC and retention change content without telling: hence the age).
  const summaries = new Map<string, { at: number; value: Promise<RepositorySummary> }>();
  events.listen((_ctx, e) => {
    if (e.kind === 'manifest' && (e.action === 'push' || e.action === 'delete')) summaries.delete(e.repository);
  });
  const summaryOf = (name: string): Promise<RepositorySummary> => {
    const hit = summaries.get(name);
    if (hit && Date.now() - hit.at < SUMMARY_MAX_AGE_MS) return hit.value;
    const value = summarize(storage, name);
    value.catch(() => summaries.delete(name));
    if (summaries.size >= SUMMARIES_KEPT) summaries.delete(summaries.keys().next().value!);
    summaries.set(name, { at: Date.now(), value });
    return value;
  };

  // One repository: tag count, last push, total compressed size of what its tags reference
  // (each blob counted once), and the caller's actions on it.
  router.get(UI_SUMMARY, async (ctx) => {
    const name = repositoryName(ctx);
    const summary = await summaryOf(name);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ ...summary, actions: actionsOn(ctx, name, deleteEnabled()) });
  });

  // A page of tags with what the tag list of /v2 lacks. Paged by tag name like tags/list.
  router.get(UI_TAGS, async (ctx) => {
    const name = repositoryName(ctx);
    const n = pageSize(ctx, 100, 1000);
    const last = queryString(ctx, 'last');
    const all = await storage.manifests.tags(name);
    if (all.length === 0 && !(await storage.catalog.exists(name))) throw new RegistryError('NAME_UNKNOWN', undefined, { name });
    const from = last === undefined ? all : all.filter((t) => compareCodePoints(t, last) > 0);
    const page = from.slice(0, n);
    const d = new Describer(storage, name);
    const rows = (await mapLimit(page, READS_AT_ONCE, (t) => d.row(t))).filter((r): r is TagRow => r !== undefined);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({
      name,
      total: all.length,
      tags: rows,
      actions: actionsOn(ctx, name, deleteEnabled()),
      ...(from.length > n ? { next: page.at(-1) } : {}),
    });
  });
}
