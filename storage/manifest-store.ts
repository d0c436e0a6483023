// Manifests of a repository: revisions (by digest, with their media type), tags and the
// referrers index (subject digest → referring manifests' descriptors).
import { asDigest, type Descriptor, type Digest } from '../oci/index.js';
import type { BlobStore, LinkHook } from './blob-store.js';
import { isNotFound, type StorageDriver } from './driver.js';
import { layout } from './layout.js';
import { refreshTime } from './refresh-time.js';

export interface ManifestRevision {
  digest: Digest;
  mediaType: string;
  size: number;
  subject?: Digest;
}

export interface StoredManifest extends ManifestRevision {
  content: Buffer;
}

export class ManifestStore {
  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    private readonly onRepositoryWrite?: (repo: string) => Promise<void>,
    private readonly onLinked?: LinkHook,
  ) {}

  async revision(repo: string, digest: Digest): Promise<ManifestRevision | undefined> {
    try {
      const raw = await this.driver.getContent(layout.revisionLink(repo, digest));
      const rec = JSON.parse(raw.toString('utf8')) as Omit<ManifestRevision, 'digest'>;
      return { ...rec, digest };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * For a push of an index: gives a child's revision record a new modification time (touched, or
   * rewritten unchanged) so garbage collection sees it as recently used
   * (storage/garbage-collector.ts); undefined when there is none.
   */
  async refreshRevision(repo: string, digest: Digest): Promise<ManifestRevision | undefined> {
    const path = layout.revisionLink(repo, digest);
    let raw: Buffer;
    try {
      raw = await this.driver.getContent(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    if (!(await refreshTime(this.driver, path, () => this.driver.putContent(path, raw), { known: true }))) return undefined;
    const rec = JSON.parse(raw.toString('utf8')) as Omit<ManifestRevision, 'digest'>;
    await this.onLinked?.(repo, digest, rec.size);
    return { ...rec, digest };
  }

  async get(repo: string, digest: Digest): Promise<StoredManifest | undefined> {
    const rev = await this.revision(repo, digest);
    if (!rev) return undefined;
    try {
      return { ...rev, content: await this.blobs.getContent(digest) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Stores the content, then the revision link: a revision is never visible without its content. */
  async put(repo: string, rev: ManifestRevision, content: Uint8Array): Promise<void> {
    await this.blobs.putContent(rev.digest, content);
    await this.onRepositoryWrite?.(repo);
    const rec: Omit<ManifestRevision, 'digest'> = { mediaType: rev.mediaType, size: rev.size };
    if (rev.subject) rec.subject = rev.subject;
    await this.driver.putContent(layout.revisionLink(repo, rev.digest), Buffer.from(JSON.stringify(rec)));
    await this.onLinked?.(repo, rev.digest, content.length);
  }

  /** Removes a revision, the tags that point at it and its entry in its subject's referrers. */
  async delete(repo: string, digest: Digest): Promise<boolean> {
    const rev = await this.revision(repo, digest);
    if (!rev) return false;
    for (const tag of await this.tags(repo)) {
      if ((await this.resolveTag(repo, tag)) === digest) await this.untag(repo, tag);
    }
    if (rev.subject) await this.deletePath(layout.referrerLink(repo, rev.subject, digest).replace(/\/link$/, ''));
    await this.deletePath(layout.revisionLink(repo, digest).replace(/\/link$/, ''));
    return true;
  }

  async resolveTag(repo: string, tag: string): Promise<Digest | undefined> {
    try {
      return asDigest((await this.driver.getContent(layout.tagLink(repo, tag))).toString('utf8'));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** When the tag was last pointed at a manifest (its link's modification time); undefined when it does not exist. */
  async taggedAt(repo: string, tag: string): Promise<Date | undefined> {
    try {
      return (await this.driver.stat(layout.tagLink(repo, tag))).modTime;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async tag(repo: string, tag: string, digest: Digest): Promise<void> {
    await this.driver.putContent(layout.tagLink(repo, tag), Buffer.from(digest));
  }

  async untag(repo: string, tag: string): Promise<boolean> {
    return this.deletePath(layout.tagDir(repo, tag));
  }

  /** Tags in lexical (code point) order. */
  async tags(repo: string): Promise<string[]> {
    try {
      const dirs = await this.driver.list(layout.tagsDir(repo));
      return dirs.map((d) => d.slice(d.lastIndexOf('/') + 1)).sort(compareCodePoints);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  async addReferrer(repo: string, subject: Digest, descriptor: Descriptor): Promise<void> {
    await this.driver.putContent(layout.referrerLink(repo, subject, descriptor.digest), Buffer.from(JSON.stringify(descriptor)));
  }

  async referrers(repo: string, subject: Digest): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    let algs: string[];
    try {
      algs = await this.driver.list(layout.referrersDir(repo, subject));
    } catch (err) {
      if (isNotFound(err)) return out;
      throw err;
    }
    for (const alg of algs) {
      for (const dir of await this.driver.list(alg)) {
        try {
          out.push(JSON.parse((await this.driver.getContent(`${dir}/link`)).toString('utf8')) as Descriptor);
        } catch (err) {
          if (!isNotFound(err)) throw err; // deleted meanwhile
        }
      }
    }
    return out.sort((a, b) => compareCodePoints(a.digest, b.digest));
  }

  private async deletePath(path: string): Promise<boolean> {
    try {
      await this.driver.delete(path);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}

export function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
