// A step's changes made permanent: the workspace's upper directory written as a layer blob (gzip or zstd)
// into the content store, then renamed into place as the layer's snapshot (no second unpack).
// A step that changed nothing gives no layer (Docker's empty_layer).
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { digestOf, type Descriptor, type Digest } from '../../oci/index.js';
import type { ImageStore } from '../../engine/store/image-store.js';
import { diffEntries, LAYER_MEDIA_TYPE, writeLayer, type LayerCompression } from './upper-diff.js';
import type { Workspace } from './workspace.js';

export interface BuiltLayer {
  desc: Descriptor;
  diffId: Digest;
  chainId: Digest;
}

export function chainOf(parent: Digest | undefined, diffId: Digest): Digest {
  return parent ? digestOf(`${parent} ${diffId}`) : diffId;
}

/** Commits the (unmounted or mounted) workspace on top of `parentChain`; removes the workspace. */
export async function commitWorkspace(store: ImageStore, ws: Workspace, parentChain: Digest | undefined, opts: { epoch?: number; compression?: LayerCompression } = {}): Promise<BuiltLayer | undefined> {
  try {
    await ws.unmount();
    const entries = await diffEntries(ws.upper, opts);
    if (entries.length === 0) return undefined;
    await mkdir(store.content.ingestDir, { recursive: true });
    const file = join(store.content.ingestDir, `build-${randomUUID()}`);
    let written;
    try {
      written = await writeLayer(entries, file, opts.compression);
      await store.content.commitFile(file, written.digest);
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
    const chainId = chainOf(parentChain, written.diffId);
    await store.snapshots.adopt(chainId, written.diffId, written.tarSize, ws.upper);
    return { desc: { mediaType: LAYER_MEDIA_TYPE[opts.compression ?? 'gzip'], digest: written.digest, size: written.size }, diffId: written.diffId, chainId };
  } finally {
    await ws.remove();
  }
}
