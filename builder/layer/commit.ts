// A step's changes made permanent: the workspace's upper directory written as a layer blob (gzip or zstd)
// into the content store, then renamed into place as the layer's snapshot (no second unpack); or
// (COPY/ADD) a planned layer's entries written as the blob alone, its snapshot unpacked from it
// when something needs it. A step that changed nothing gives no layer (Docker's empty_layer).
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { digestOf, type Descriptor, type Digest } from '../../oci/index.js';
import type { ImageStore } from '../../engine/store/image-store.js';
import type { PlannedEntry } from './planned-layer.js';
import { diffEntries, LAYER_MEDIA_TYPE, writeLayer, type LayerCompression, type WrittenLayer } from './upper-diff.js';
import type { Workspace } from './workspace.js';

export interface BuiltLayer {
  desc: Descriptor;
  diffId: Digest;
  chainId: Digest;
}

export function chainOf(parent: Digest | undefined, diffId: Digest): Digest {
  return parent ? digestOf(`${parent} ${diffId}`) : diffId;
}

/** Writes the entries as a layer blob into the content store. */
async function storeLayer(store: ImageStore, entries: PlannedEntry[], compression: LayerCompression | undefined): Promise<WrittenLayer> {
  await mkdir(store.content.ingestDir, { recursive: true });
  const file = join(store.content.ingestDir, `build-${randomUUID()}`);
  try {
    const written = await writeLayer(entries, file, compression);
    await store.content.commitFile(file, written.digest);
    return written;
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
}

function built(written: WrittenLayer, parentChain: Digest | undefined, compression: LayerCompression | undefined): BuiltLayer {
  return { desc: { mediaType: LAYER_MEDIA_TYPE[compression ?? 'gzip'], digest: written.digest, size: written.size }, diffId: written.diffId, chainId: chainOf(parentChain, written.diffId) };
}

/** Commits the (unmounted or mounted) workspace on top of `parentChain`; removes the workspace. */
export async function commitWorkspace(store: ImageStore, ws: Workspace, parentChain: Digest | undefined, opts: { epoch?: number; compression?: LayerCompression } = {}): Promise<BuiltLayer | undefined> {
  try {
    await ws.unmount();
    const entries = await diffEntries(ws.upper, opts);
    if (entries.length === 0) return undefined;
    const written = await storeLayer(store, entries, opts.compression);
    const layer = built(written, parentChain, opts.compression);
    await store.snapshots.adopt(layer.chainId, layer.diffId, written.tarSize, ws.upper);
    return layer;
  } finally {
    await ws.remove();
  }
}

/**
 * Commits a planned layer (COPY/ADD) on top of `parentChain`: the blob only, no snapshot (made
 * from the blob when a later step or a container needs it). Removes the workspace afterwards: its
 * directory may hold files the entries are read from.
 */
export async function commitPlanned(store: ImageStore, ws: Workspace, entries: PlannedEntry[], parentChain: Digest | undefined, opts: { compression?: LayerCompression } = {}): Promise<BuiltLayer | undefined> {
  try {
    if (entries.length === 0) return undefined;
    return built(await storeLayer(store, entries, opts.compression), parentChain, opts.compression);
  } finally {
    await ws.remove();
  }
}
