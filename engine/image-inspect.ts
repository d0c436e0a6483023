// `inspect` of a local image, shaped like `docker image inspect` (one object per image).
import type { ImageConfigFile } from './local-image.js';
import { lookupImage, namesOf } from './image-lookup.js';
import type { ImageStore } from './store/image-store.js';

export interface LocalImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  ManifestDigest: string;
  IndexDigest?: string;
  Platform: string;
  Created?: string;
  Architecture?: string;
  Os?: string;
  Variant?: string;
  Config: ImageConfigFile['config'];
  RootFS: { Type: string; Layers: string[] };
  /** Unpacked size in bytes (sum of the layer tars). */
  Size: number;
  /** The unpacked layer directories, lowest first. */
  LayerDirs: string[];
  Pulled: string;
}

/** The inspect object of a local image, or undefined when there is none by that name or id. */
export async function inspectLocalImage(store: ImageStore, ref: string): Promise<LocalImageInspect | undefined> {
  const state = await store.state();
  const found = lookupImage(state, ref);
  if (!found) return undefined;
  const r = found.record;
  const config = JSON.parse((await store.content.readBytes(r.config)).toString('utf8')) as ImageConfigFile & { created?: string };
  let size = 0;
  for (const c of r.chainIds) size += (await store.snapshots.info(c))?.size ?? 0;
  const names = namesOf(state, r.manifest);
  const repoDigests = [...new Set(names.map((n) => `${n.replace(/[:@][^/]*$/, '')}@${state.refs[n]!.target}`))];
  const out: LocalImageInspect = {
    Id: r.config,
    RepoTags: names.filter((n) => !n.includes('@')),
    RepoDigests: repoDigests,
    ManifestDigest: r.manifest,
    Platform: r.platform,
    Created: config.created,
    Architecture: config.architecture,
    Os: config.os,
    Variant: config.variant,
    Config: config.config ?? {},
    RootFS: { Type: config.rootfs?.type ?? 'layers', Layers: r.diffIds },
    Size: size,
    LayerDirs: r.chainIds.map((c) => store.snapshots.fsDir(c)),
    Pulled: r.added,
  };
  if (r.index) out.IndexDigest = r.index;
  return out;
}
