// The image side of the engine as the container side sees it (engine/local-image.ts): find a
// local image, or pull it through the client into the store.
import { ClientError, openSource, parseLocation, parsePlatform, type Client, type PlatformSpec } from '../client/index.js';
import { formatReference, type Digest } from '../oci/index.js';
import { importImage, type PullEvent } from './image-pull.js';
import { lookupImage } from './image-lookup.js';
import type { ImageConfigFile, ImageProvider, LocalImage, PullOptions } from './local-image.js';
import type { ImageRecord, ImageStore } from './store/image-store.js';

export class StoreImageProvider implements ImageProvider {
  constructor(
    readonly store: ImageStore,
    readonly client: Client,
  ) {}

  async find(ref: string): Promise<LocalImage | undefined> {
    const found = lookupImage(await this.store.state(), ref);
    if (!found) return undefined;
    return this.localImage(found.record, found.name);
  }

  /** A record as LocalImage; a snapshot lost (e.g. removed by hand) is unpacked again from its blob. */
  async localImage(record: ImageRecord, name?: string): Promise<LocalImage> {
    const config = JSON.parse((await this.store.content.readBytes(record.config)).toString('utf8')) as ImageConfigFile;
    for (const [i, chain] of record.chainIds.entries()) {
      if (await this.store.snapshots.has(chain)) continue;
      const lease = await this.store.lease();
      try {
        const lowers = async () => record.chainIds.slice(0, i).map((c) => this.store.snapshots.fsDir(c));
        await this.store.snapshots.ensure(chain, record.diffIds[i]!, this.store.content.path(record.layers[i]!.digest), { lowers });
      } finally {
        await lease.release();
      }
    }
    const image: LocalImage = {
      manifestDigest: record.manifest,
      configDigest: record.config,
      config,
      layerDirs: record.chainIds.map((c) => this.store.snapshots.fsDir(c)),
    };
    if (name) image.reference = name;
    return image;
  }

  async pull(ref: string, opts: PullOptions = {}): Promise<LocalImage> {
    const record = await pullImage(this.store, this.client, ref, { platform: opts.platform, onEvent: opts.onProgress && pullEventLines(opts.onProgress) });
    return this.localImage(record.record, record.name);
  }
}

/** Pulls a registry image into the store under its normalised name. */
export async function pullImage(
  store: ImageStore,
  client: Client,
  refText: string,
  opts: { platform?: string | PlatformSpec; onEvent?: (e: PullEvent) => void; concurrency?: number } = {},
): Promise<{ record: ImageRecord; name: string }> {
  const loc = parseLocation(refText);
  if (loc.kind !== 'registry') throw new ClientError(`${refText}: pull into the local store takes a registry reference (use -o for oci: and docker-archive: destinations)`);
  let platform: PlatformSpec | undefined;
  try {
    platform = typeof opts.platform === 'string' ? parsePlatform(opts.platform) : opts.platform;
  } catch (err) {
    throw new ClientError((err as Error).message);
  }
  const source = openSource(loc, { registryClient: (r) => client.registryClient(r), mirrorsFor: (r) => client.mirrorsFor(r), onMirrorFallback: client.onMirrorFallback });
  const name = formatReference(loc.ref);
  try {
    const record = await importImage(store, source, { names: [name], platform, onEvent: opts.onEvent, concurrency: opts.concurrency });
    return { record, name };
  } finally {
    await source.close?.();
  }
}

const short = (d: Digest | string) => d.replace(/^sha256:/, '').slice(0, 12);

/** Plain progress lines for a pull (one per layer state change). */
export function pullEventLines(say: (line: string) => void): (e: PullEvent) => void {
  return (e) => {
    if (e.type === 'source') say(`Pulling from ${e.servedBy}`);
    else if (e.type === 'platform') say(`platform ${e.platform}: ${e.digest}`);
    else if (e.type === 'layer') {
      if (e.state === 'resuming') say(`${short(e.desc.digest)}: resuming download at byte ${e.from}`);
      else if (e.state === 'waiting') say(`${short(e.desc.digest)}: waiting for another stevedore process`);
      else say(`${short(e.desc.digest)}: ${e.state === 'present' ? 'already downloaded' : e.state}`);
    }
  };
}
