// `push IMAGE [DEST]`: what the local store holds, as a client ImageSource for copyImage.
// A multi-platform image keeps its index: the store holds the index and the platform pulled here,
// so the other platforms' manifests and blobs come from the registry the image was pulled from
// (another of its names pointing at the same index), and are mounted there when both
// repositories are on one registry instead of being downloaded and uploaded again.
import type { Readable } from 'node:stream';
import { ClientError, type ImageSource, type ManifestBytes } from '../client/index.js';
import { parseManifest, parseReference, type Descriptor, type Digest } from '../oci/index.js';
import { LocalStoreSource } from './image-archive.js';
import type { Found } from './image-lookup.js';
import type { ImageRecord, ImageStore, StoreState } from './store/image-store.js';

/** Content the store does not hold: a registry image the same content came from. */
export type Fallback = ImageSource & { registryRepository?: { registry: string; repository: string } };

export interface PushPlan {
  source: ImageSource;
  /** Whether the top is an index (copy every platform of it). */
  index: boolean;
  /** When the index could not be kept (its other platforms are nowhere to be had): why. */
  note?: string;
}

/** Registry names of the image other than `except` that point at the same top (index or manifest). */
export function originNames(state: StoreState, found: Found, except?: string): string[] {
  const target = found.name ? state.refs[found.name]?.target : (found.record.index ?? found.record.manifest);
  return Object.entries(state.refs)
    .filter(([n, r]) => r.target === target && n !== except)
    .map(([n]) => n)
    .sort();
}

/** The local store first; what it lacks from the fallback (the registry the image came from). */
export class StorePushSource implements ImageSource {
  readonly description: string;
  readonly registryRepository?: { registry: string; repository: string };
  private readonly local: LocalStoreSource;

  constructor(
    readonly store: ImageStore,
    readonly record: ImageRecord,
    private readonly top: Digest,
    name: string | undefined,
    mountFrom: { registry: string; repository: string } | undefined,
    private readonly fallback?: Fallback,
  ) {
    this.local = new LocalStoreSource(store, record, name);
    this.description = this.local.description;
    // Cross-repository mounts from where the image came from (the destination only mounts from
    // the same registry, and says no for blobs that repository lacks).
    this.registryRepository = fallback?.registryRepository ?? mountFrom;
  }

  topManifest(): Promise<ManifestBytes> {
    return this.manifest(this.top);
  }

  async manifest(digest: Digest): Promise<ManifestBytes> {
    if (await this.store.content.has(digest)) {
      const bytes = await this.store.content.readBytes(digest);
      return { digest, mediaType: mediaTypeOf(bytes, digest === this.record.manifest ? this.record.mediaType : undefined), bytes };
    }
    if (!this.fallback) throw new ClientError(`${this.description}: manifest ${digest} is not in the local store`);
    return this.fallback.manifest(digest);
  }

  async openBlob(desc: Descriptor, offset = 0): Promise<Readable> {
    if (await this.store.content.has(desc.digest)) return this.store.content.open(desc.digest, offset);
    if (!this.fallback) throw new ClientError(`${this.description}: blob ${desc.digest} is not in the local store`);
    return this.fallback.openBlob(desc, offset);
  }

  /** The content store's file of a blob it holds; a blob only the fallback has is streamed (openBlob). */
  async blobFile(desc: Descriptor): Promise<string | undefined> {
    return (await this.store.content.has(desc.digest)) ? this.store.content.path(desc.digest) : undefined;
  }

  async close(): Promise<void> {
    await this.fallback?.close?.();
  }
}

/** The media type of a stored manifest (the store keeps bytes by digest only): as it declares, else as its fields say. */
function mediaTypeOf(bytes: Buffer, known?: string): string {
  if (known) return known;
  try {
    return parseManifest(bytes).mediaType;
  } catch (err) {
    throw new ClientError(`a stored manifest is invalid: ${(err as Error).message}`);
  }
}

/**
 * What to push for a local image: its index when the name points at one and every platform can
 * be had (locally, or from `openFallback` for one of the image's other registry names), else its
 * platform manifest alone, with a note saying why.
 */
export async function planPush(store: ImageStore, state: StoreState, found: Found, dest: string, openFallback: (name: string) => Fallback): Promise<PushPlan> {
  const { record, name } = found;
  // Prefer an origin that is not the destination itself (that one may not hold the image yet).
  const destName = parseReference(dest);
  const origins = originNames(state, found)
    .filter((n) => !n.includes('@'))
    .sort((a, b) => Number(sameRepo(a, destName)) - Number(sameRepo(b, destName)));
  const mountFrom = origins.map((n) => parseReference(n)).find((r) => r.registry === destName.registry && r.repository !== destName.repository);
  const mount = mountFrom && { registry: mountFrom.registry, repository: mountFrom.repository };
  const target = name ? state.refs[name]?.target : undefined;
  const indexDigest = target && target !== record.manifest ? target : record.index;
  if (!indexDigest || !(await store.content.has(indexDigest))) {
    return { source: new StorePushSource(store, record, record.manifest, name, mount), index: false };
  }
  const parsed = parseManifest(await store.content.readBytes(indexDigest));
  if (parsed.kind !== 'index') return { source: new StorePushSource(store, record, record.manifest, name, mount), index: false };
  const missing: Digest[] = [];
  for (const m of parsed.document.manifests) if (!(await store.content.has(m.digest))) missing.push(m.digest);
  if (missing.length === 0) return { source: new StorePushSource(store, record, indexDigest, name, mount), index: true };
  for (const origin of origins) {
    const fallback = openFallback(origin);
    try {
      // The origin must still hold what is missing (by digest: a tag moved since makes no difference).
      await fallback.manifest(missing[0]!);
      return { source: new StorePushSource(store, record, indexDigest, name, mount, fallback), index: true };
    } catch {
      await fallback.close?.();
    }
  }
  return {
    source: new StorePushSource(store, record, record.manifest, name, mount),
    index: false,
    note: `the other platforms of ${name ?? record.config} are not in the local store nor in the registry it came from: pushing ${record.platform} only`,
  };
}

function sameRepo(name: string, ref: { registry: string; repository: string }): boolean {
  const r = parseReference(name);
  return r.registry === ref.registry && r.repository === ref.repository;
}
