// Pre-fetch: images from mirror.prefetch.images kept warm. Each run revalidates the tag with the
// upstream and fetches what is missing (for an index, the configured platforms' manifests), marking
// everything as pulled so eviction keeps it.
import { selectPlatform, parsePlatform } from '../../client/platform.js';
import { DEFAULT_TAG, parseManifest, parseRepositoryReference, referencedBlobs, type Digest } from '../../oci/index.js';
import type { Logger } from '../logger.js';
import type { Reference } from '../route-params.js';
import type { MirrorConfig } from './mirror-config.js';
import type { PullThroughMirror } from './mirror.js';

/** `dockerhub/library/busybox:1.36` or `…@sha256:…` → name and reference (default tag latest); undefined when invalid. */
export function parseImage(image: string): { name: string; ref: Reference } | undefined {
  let parsed;
  try {
    parsed = parseRepositoryReference(image);
  } catch {
    return undefined;
  }
  // The digest wins, as Docker does for `name:tag@digest`.
  const ref: Reference = parsed.digest ? { kind: 'digest', digest: parsed.digest } : { kind: 'tag', tag: parsed.tag ?? DEFAULT_TAG };
  return { name: parsed.repository, ref };
}

export async function prefetchImages(mirror: PullThroughMirror, images: MirrorConfig['prefetch']['images'], log: Logger): Promise<void> {
  for (const item of images) {
    const parsed = parseImage(item.image);
    if (!parsed || !mirror.proxied(parsed.name)) {
      log.warn({ image: item.image }, 'mirror: pre-fetch image is not under an upstream prefix; skipped');
      continue;
    }
    const { name, ref } = parsed;
    try {
      const top = await mirror.manifest(undefined, name, ref, { revalidate: true });
      mirror.lastPulled.touch(name, top.digest);
      const doc = parseManifest(top.content, top.mediaType);
      const images: Digest[] = [];
      if (doc.kind === 'index') {
        const wanted = item.platforms.length === 0 ? doc.document.manifests : item.platforms.map((p) => selectPlatform(doc.document.manifests, parsePlatform(p)));
        for (const d of wanted) if (d) images.push(d.digest);
      } else {
        images.push(top.digest);
      }
      let blobs = 0;
      for (const digest of images) {
        const m = digest === top.digest ? top : await mirror.manifest(undefined, name, { kind: 'digest', digest });
        mirror.lastPulled.touch(name, m.digest);
        const child = parseManifest(m.content, m.mediaType);
        for (const b of referencedBlobs(child)) {
          await mirror.ensureBlob(name, b.digest);
          mirror.lastPulled.touch(name, b.digest);
          blobs++;
        }
      }
      log.info({ image: item.image, digest: top.digest, manifests: images.length, blobs }, 'mirror: pre-fetched');
    } catch (err) {
      log.warn({ image: item.image, err: (err as Error).message }, 'mirror: pre-fetch failed');
    }
  }
}
