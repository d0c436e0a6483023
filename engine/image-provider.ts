// The image side of the engine as the container side sees it (engine/local-image.ts): find a
// local image, or pull it through the client into the store. The client and the pull code load
// only when an image has to be pulled: `run` of an image already here does not pay for them (its
// start-up time is benchmarked against bare runc).
import type { Client } from '../client/index.js';
import { lookupImage } from './image-lookup.js';
import type { ImageConfigFile, LocalImage, PullOptions } from './local-image.js';
import type { ImageRecord, ImageStore, Lease } from './store/image-store.js';

export class StoreImageProvider {
  constructor(
    readonly store: ImageStore,
    /** Makes the client for a pull (mirrors, insecure registries and credentials from its configuration). */
    private readonly clientFactory: () => Promise<Client>,
  ) {}

  /**
   * A store lease, held from finding (or pulling) an image until the container's record names it:
   * a `prune` running meanwhile waits, so it cannot remove the image in between.
   */
  hold(): Promise<Lease> {
    return this.store.lease();
  }

  /** A local image by reference (`busybox`, `localhost:5000/app:1`), digest reference or image-id prefix. */
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

  /** Pulls through the client (mirrors and insecure registries apply), unpacks, and returns it. */
  async pull(ref: string, opts: PullOptions = {}): Promise<LocalImage> {
    const [{ pullImage, pullEventLines }, client] = await Promise.all([import('./image-pull.js'), this.clientFactory()]);
    try {
      const record = await pullImage(this.store, client, ref, { platform: opts.platform, onEvent: opts.onProgress && pullEventLines(opts.onProgress) });
      return this.localImage(record.record, record.name);
    } finally {
      await client.close();
    }
  }
}

