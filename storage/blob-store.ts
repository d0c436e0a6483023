// Content-addressed blobs and the per-repository links that make them reachable.
import type { Readable } from 'node:stream';
import { asDigest, type Digest } from '../oci/index.js';
import { isNotFound, type MoveOptions, type RandomAccessFile, type StorageDriver } from './driver.js';
import { ContentCache } from './content-cache.js';
import { layout } from './layout.js';
import { refreshTime } from './refresh-time.js';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** A blob opened to be served (BlobStore.open): its size, and its bytes when asked. */
export interface OpenedBlob {
  readonly size: number;
  /** Bytes [offset, end] (end inclusive; undefined: to the end), as BlobStore.reader. */
  reader(offset?: number, end?: number): Promise<Readable>;
  /** Releases a read started ahead and not taken by reader(); call once the request is answered. */
  close(): void;
}

/** Called after a blob or manifest was linked into a repository (quota accounting, storage/quota-ledger.ts). */
export type LinkHook = (repo: string, digest: Digest, size: number) => Promise<void>;

export class BlobStore {
  private readonly cache: ContentCache;

  constructor(
    private readonly driver: StorageDriver,
    opts: { contentCacheBytes?: number; onRepositoryWrite?: (repo: string) => Promise<void>; onLinked?: LinkHook } = {},
  ) {
    this.cache = new ContentCache(opts.contentCacheBytes ?? 32 * 1024 * 1024);
    this.onRepositoryWrite = opts.onRepositoryWrite;
    this.onLinked = opts.onLinked;
  }

  private readonly onRepositoryWrite?: (repo: string) => Promise<void>;
  private readonly onLinked?: LinkHook;

  /** Size of a stored blob, or undefined. Ignores repositories. */
  async statGlobal(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const info = await this.driver.stat(layout.blobData(digest));
      return { digest, size: info.size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The blob as seen from a repository: present only when linked there and stored. */
  async stat(repo: string, digest: Digest): Promise<BlobInfo | undefined> {
    if (!(await this.isLinked(repo, digest))) return undefined;
    return this.statGlobal(digest);
  }

  /**
   * The blob as seen from a repository (as stat()), opened to be read whole. Where one request to
   * the store both starts the bytes and says the size (StorageDriver.readWhole: S3), that read
   * runs at once with the check of the repository's link, instead of a stat of the link, a stat of
   * the data, then the read, one after the other (three round trips to the first byte, one now).
   * The read is dropped when the blob is not linked there, and when the caller reads a part only.
   * For GETs of the whole blob: a HEAD needs no bytes, a ranged GET other ones.
   */
  async open(repo: string, digest: Digest): Promise<OpenedBlob | undefined> {
    const path = layout.blobData(digest);
    // (With redirects on, a GET is answered with a URL: no bytes to start.)
    if (!this.driver.capabilities.readWhole || !this.driver.readWhole || this.driver.capabilities.redirect) {
      const info = await this.stat(repo, digest);
      return info && { size: info.size, reader: (offset, end) => this.reader(digest, offset, end), close: () => undefined };
    }
    const whole = this.driver.readWhole(path).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    let linked: boolean;
    try {
      linked = await this.isLinked(repo, digest);
    } catch (err) {
      void whole.then((w) => w?.body.destroy(), () => undefined);
      throw err;
    }
    const read = await whole.catch((err: unknown) => {
      if (linked) throw err;
      return undefined; // not linked here: the read's failure is no concern of this request
    });
    if (!linked || !read) {
      read?.body.destroy();
      return undefined;
    }
    let pending: Readable | undefined = read.body;
    return {
      size: read.size,
      reader: (offset = 0, end) => {
        const body = pending;
        pending = undefined;
        if (body && offset === 0 && (end === undefined || end >= read.size - 1)) return Promise.resolve(body);
        body?.destroy();
        return this.reader(digest, offset, end);
      },
      close: () => {
        pending?.destroy();
        pending = undefined;
      },
    };
  }

  async isLinked(repo: string, digest: Digest): Promise<boolean> {
    try {
      await this.driver.stat(layout.layerLink(repo, digest));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /**
   * For a manifest push: gives the repository's link, when there is one, a new modification time
   * (so garbage collection sees the blob as recently used, see storage/garbage-collector.ts), then
   * stats the blob: the link is refreshed before the data is checked, never after. Where the
   * driver can touch an object that is one call, not a rewrite with two rounds of fsyncs; a link
   * gone meanwhile (deleted by a GC running now) is then no link, and the blob is unknown.
   */
  async refreshLink(repo: string, digest: Digest): Promise<BlobInfo | undefined> {
    if (!(await refreshTime(this.driver, layout.layerLink(repo, digest), () => this.writeLink(repo, digest)))) return undefined;
    const info = await this.statGlobal(digest);
    if (info) await this.onLinked?.(repo, digest, info.size);
    return info;
  }

  /** Links a stored blob into a repository; `size` when the caller knows it (saves a stat for the link hook). */
  async link(repo: string, digest: Digest, size?: number): Promise<void> {
    await this.writeLink(repo, digest);
    if (!this.onLinked) return;
    const known = size ?? (await this.statGlobal(digest))?.size;
    if (known !== undefined) await this.onLinked(repo, digest, known);
  }

  private async writeLink(repo: string, digest: Digest): Promise<void> {
    await this.onRepositoryWrite?.(repo);
    await this.driver.putContent(layout.layerLink(repo, digest), Buffer.from(digest));
  }

  /** Removes the repository's link; the content stays until garbage collection. */
  async unlink(repo: string, digest: Digest): Promise<boolean> {
    try {
      await this.driver.delete(layout.layerLink(repo, digest).replace(/\/link$/, ''));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Positional access to a blob's data, when the driver offers it (see StorageDriver.openRandomAccess). */
  openRandomAccess(digest: Digest): Promise<RandomAccessFile> | undefined {
    return this.driver.capabilities.randomAccess ? this.driver.openRandomAccess(layout.blobData(digest)) : undefined;
  }

  reader(digest: Digest, offset?: number, end?: number): Promise<Readable> {
    return this.driver.reader(layout.blobData(digest), offset, end);
  }

  /** Reads small content (manifests) whole; cached, since content under a digest never changes. */
  async getContent(digest: Digest): Promise<Buffer> {
    const cached = this.cache.get(digest);
    if (cached) return cached;
    const content = await this.driver.getContent(layout.blobData(digest));
    this.cache.set(digest, content);
    return content;
  }

  /** Stores small content (manifests) whose digest the caller has computed. */
  async putContent(digest: Digest, content: Uint8Array): Promise<void> {
    if (await this.statGlobal(digest)) return;
    await this.driver.putContent(layout.blobData(digest), content);
  }

  /**
   * Verified upload data into place under a second name, the upload keeping its own
   * (capabilities.link): durable when this resolves (content already present: nothing to do).
   */
  async linkFrom(dataPath: string, digest: Digest): Promise<void> {
    if (await this.statGlobal(digest)) return;
    await this.driver.linkFile!(dataPath, layout.blobData(digest));
  }

  /**
   * Verified upload data into place (`how`: linkFrom or commitFrom) and linked to `repo`, the two
   * at once: each is durable when this resolves, and their fsyncs overlap (one round of them fewer
   * than one after the other). Either order is safe after a crash: a link whose data is missing
   * is no blob to the repository (stat() wants both), and data without a link is garbage.
   * The link hook runs once both are done. `opts.syncData`, when the data is not durable yet: run
   * (its fsync) while the link is written, and before the data is placed.
   */
  async placeAndLink(repo: string, dataPath: string, digest: Digest, size: number, how: 'link' | 'move', opts: MoveOptions & { syncData?: () => Promise<void> } = {}): Promise<void> {
    const place = async () => {
      await opts.syncData?.();
      await (how === 'link' ? this.linkFrom(dataPath, digest) : this.commitFrom(dataPath, digest, { sourceDurable: opts.sourceDurable }));
    };
    // Both settled before this returns, also on a failure (the caller then cleans up the upload).
    const [placed, linked] = await Promise.allSettled([
      place(),
      this.writeLink(repo, digest),
    ]);
    if (placed.status === 'rejected') throw placed.reason;
    if (linked.status === 'rejected') throw linked.reason;
    await this.onLinked?.(repo, digest, size);
  }

  /** Moves verified upload data into place (content already present: the upload is dropped). */
  async commitFrom(dataPath: string, digest: Digest, opts?: MoveOptions): Promise<void> {
    if (await this.statGlobal(digest)) return;
    await this.driver.move(dataPath, layout.blobData(digest), opts);
  }

  redirectURL(digest: Digest): Promise<string | undefined> {
    return this.driver.capabilities.redirect ? this.driver.redirectURL(layout.blobData(digest)) : Promise.resolve(undefined);
  }

  /** Every blob's digest in the store (for garbage collection and scrubbing). */
  async *all(): AsyncGenerator<Digest> {
    let algs: string[];
    try {
      algs = await this.driver.list(layout.blobsRoot);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    for (const alg of algs) {
      for (const prefix of await this.driver.list(alg)) {
        for (const dir of await this.driver.list(prefix)) {
          yield asDigest(`${alg.split('/').pop()}:${dir.split('/').pop()}`);
        }
      }
    }
  }
}
