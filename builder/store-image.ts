// Writes a new image into the engine's store: its config and manifest documents (OCI) as content,
// then its record and names in one state update. Used by `build` and by `commit`/`import`, so an
// image made either way has the same documents and record.
import { formatPlatform } from '../client/platform.js';
import { digestOf, MediaType, type Descriptor, type Digest, type Platform } from '../oci/index.js';
import type { ImageRecord, ImageStore } from '../engine/store/image-store.js';
import { configDocument, manifestDocument, type ContainerConfig, type HistoryEntry, type ImageConfigJson } from './image-config.js';

export interface NewImage {
  platform: Platform;
  author?: string;
  created: string;
  config: ContainerConfig;
  /** Bottom first, with each layer's diff and chain ids. */
  layers: { desc: Descriptor; diffId: Digest; chainId: Digest }[];
  history: HistoryEntry[];
  /** Names to point at the image. */
  tags: string[];
}

export async function storeImage(store: ImageStore, img: NewImage): Promise<{ manifest: Digest; configDesc: Descriptor; config: ImageConfigJson; record: ImageRecord }> {
  const doc = configDocument({
    platform: img.platform,
    ...(img.author ? { author: img.author } : {}),
    created: img.created,
    config: img.config,
    diffIds: img.layers.map((l) => l.diffId),
    history: img.history,
  });
  const configBytes = Buffer.from(JSON.stringify(doc));
  const configDesc: Descriptor = { mediaType: MediaType.OciConfig, digest: digestOf(configBytes), size: configBytes.length };
  const manifestBytes = Buffer.from(JSON.stringify(manifestDocument(configDesc, img.layers.map((l) => l.desc))));
  const manifest = digestOf(manifestBytes);
  await store.content.putBytes(configDesc.digest, configBytes);
  await store.content.putBytes(manifest, manifestBytes);
  const record: ImageRecord = {
    manifest,
    mediaType: MediaType.OciManifest,
    config: configDesc.digest,
    layers: img.layers.map((l) => l.desc),
    diffIds: img.layers.map((l) => l.diffId),
    chainIds: img.layers.map((l) => l.chainId),
    platform: formatPlatform(img.platform),
    added: new Date().toISOString(),
  };
  await store.update((s) => {
    // The same image written again (a rebuild of identical content) keeps when it was first added.
    const previous = s.images[manifest];
    s.images[manifest] = previous ? { ...record, added: previous.added } : record;
    for (const name of img.tags) s.refs[name] = { target: manifest, manifest };
  });
  return { manifest, configDesc, config: doc, record };
}
