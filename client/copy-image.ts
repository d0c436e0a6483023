// Copying an image (manifest or index, and everything it references) from any source to any
// destination: blobs first (skipped when present, mounted when possible, transferred
// concurrently), then manifests children-first, so a destination never holds a manifest whose
// content is missing.
import { parseManifest, referencedBlobs, type Descriptor, type Digest, type Platform } from '../oci/index.js';
import { ClientError } from './errors.js';
import type { ImageDestination, ImageSource, ManifestBytes } from './image-location.js';
import { formatPlatform, hostPlatform, selectPlatform } from './platform.js';
import { mapLimit } from '../util/limit.js';

export type CopyEvent =
  | { type: 'blob-exists'; desc: Descriptor }
  | { type: 'blob-mounted'; desc: Descriptor; from: string }
  | { type: 'blob-start'; desc: Descriptor }
  | { type: 'blob-progress'; desc: Descriptor; bytes: number }
  | { type: 'blob-done'; desc: Descriptor }
  | { type: 'blob-failed'; desc: Descriptor }
  | { type: 'manifest'; digest: Digest; mediaType: string; top: boolean }
  | { type: 'platform'; platform: string; digest: Digest }
  | { type: 'source'; servedBy: string };

export interface CopyOptions {
  /** Copy every platform of an index (default: only `platform`). */
  allPlatforms?: boolean;
  platform?: Platform;
  /** Blobs transferred at once. */
  concurrency?: number;
  onEvent?: (e: CopyEvent) => void;
}

export interface CopyResult {
  /** Digest of the manifest or index written as the destination's top. */
  digest: Digest;
  mediaType: string;
  blobs: { copied: number; skipped: number; mounted: number; bytes: number };
  /** The mirror or registry that served the image, when the source had a choice. */
  servedBy?: string;
}

export async function copyImage(src: ImageSource, dst: ImageDestination, opts: CopyOptions = {}): Promise<CopyResult> {
  const emit = opts.onEvent ?? (() => undefined);
  const stats = { copied: 0, skipped: 0, mounted: 0, bytes: 0 };
  const done = new Map<Digest, Promise<void>>();

  const copyBlob = (desc: Descriptor): Promise<void> => {
    // Several manifests of an index often share blobs: transfer each once.
    let p = done.get(desc.digest);
    if (!p) {
      p = (async () => {
        if (await dst.hasBlob(desc)) {
          stats.skipped++;
          emit({ type: 'blob-exists', desc });
          return;
        }
        if (src.registryRepository && dst.tryMount && (await dst.tryMount(desc, src.registryRepository))) {
          stats.mounted++;
          emit({ type: 'blob-mounted', desc, from: src.registryRepository.repository });
          return;
        }
        emit({ type: 'blob-start', desc });
        try {
          await dst.putBlob(desc, src, (bytes) => {
            stats.bytes += bytes;
            emit({ type: 'blob-progress', desc, bytes });
          });
        } catch (err) {
          emit({ type: 'blob-failed', desc });
          throw err;
        }
        stats.copied++;
        emit({ type: 'blob-done', desc });
      })();
      done.set(desc.digest, p);
    }
    return p;
  };

  const copyManifest = async (m: ManifestBytes, top: boolean): Promise<void> => {
    let parsed;
    try {
      parsed = parseManifest(m.bytes, m.mediaType);
    } catch (err) {
      throw new ClientError(`${src.description}: manifest ${m.digest} is invalid: ${(err as Error).message}`);
    }
    if (parsed.kind === 'index') {
      for (const child of parsed.document.manifests) {
        if (!top || !(await dst.hasManifest(child.digest))) await copyManifest(await src.manifest(child.digest), false);
      }
    } else {
      await mapLimit(referencedBlobs(parsed), opts.concurrency ?? 4, copyBlob);
    }
    await dst.putManifest(m, top);
    emit({ type: 'manifest', digest: m.digest, mediaType: m.mediaType, top });
  };

  let top = await src.topManifest();
  if (src.servedBy) emit({ type: 'source', servedBy: src.servedBy.description });
  const parsedTop = parseManifest(top.bytes, top.mediaType);
  if (parsedTop.kind === 'index' && !opts.allPlatforms) {
    const want = opts.platform ?? hostPlatform();
    const entry = selectPlatform(parsedTop.document.manifests, want);
    if (!entry) {
      const have = parsedTop.document.manifests.filter((d) => d.platform).map((d) => formatPlatform(d.platform!));
      throw new ClientError(`${src.description}: no image for platform ${formatPlatform(want)} (available: ${have.join(', ') || 'none'})`);
    }
    emit({ type: 'platform', platform: formatPlatform(want), digest: entry.digest });
    top = await src.manifest(entry.digest);
  }
  await copyManifest(top, true);
  await dst.commit();
  const result: CopyResult = { digest: top.digest, mediaType: top.mediaType, blobs: stats };
  if (src.servedBy) result.servedBy = src.servedBy.description;
  return result;
}
