// The build cache: what a layer step (RUN, COPY, ADD, WORKDIR) produced, by a key chained from
// its parent's key, the instruction after substitution, the build args it can see and (COPY/ADD)
// the content and metadata of its sources. Entries are small JSON files under
// <root>/builder/cache/; the layers they name live in the content store and snapshots like any
// other, so a `prune` that removed a layer turns its entry into a miss (checked on lookup), and
// prune removes the entries themselves (removeBuildCache).
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../engine/atomic-file.js';
import type { ImageStore } from '../engine/store/image-store.js';
import type { Descriptor, Digest } from '../oci/index.js';

export interface CacheEntry {
  /** The layer the step added; absent when it changed nothing. */
  layer?: { desc: Descriptor; diffId: Digest };
  /** The image (manifest digest) a build whose last step had this key wrote: a rebuild with nothing changed gives the same image. */
  image?: Digest;
}

export function cacheDir(root: string): string {
  return join(root, 'builder', 'cache');
}

export function nextKey(parent: string, ...parts: string[]): string {
  const h = createHash('sha256').update(parent);
  for (const p of parts) h.update('\0').update(p);
  return h.digest('hex');
}

export class BuildCache {
  private readonly dir: string;
  constructor(
    root: string,
    private readonly store: ImageStore,
  ) {
    this.dir = cacheDir(root);
  }

  /** The entry for `key` when everything it names is still in the store. */
  async get(key: string): Promise<CacheEntry | undefined> {
    let entry: CacheEntry;
    try {
      entry = JSON.parse(await readFile(join(this.dir, `${key}.json`), 'utf8')) as CacheEntry;
    } catch {
      return undefined;
    }
    if (entry.layer && !(await this.store.content.has(entry.layer.desc.digest, entry.layer.desc.size))) return undefined;
    return entry;
  }

  async put(key: string, entry: CacheEntry): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(join(this.dir, `${key}.json`), JSON.stringify(entry), { durable: false });
  }
}

/** `stevedore prune`: the build cache goes with the images it could rebuild. */
export async function removeBuildCache(root: string): Promise<void> {
  await rm(cacheDir(root), { recursive: true, force: true });
  await rm(join(root, 'builder', 'cache-mounts'), { recursive: true, force: true });
  await rm(join(root, 'builder', 'context-cache'), { recursive: true, force: true });
}
