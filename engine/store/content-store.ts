// The content store: blobs by digest under content/blobs/<alg>/<hex>. A download goes to
// content/ingest/ first (one file per digest, so a pull that was interrupted — Ctrl-C, crash,
// network — continues from the bytes already there with a Range request) and is committed by a
// rename only after its size and digest were checked. One process downloads a blob at a time
// (a lock per digest); the others wait and then find it committed.
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { ContentMismatchError } from '../../util/errors.js';
import { syncDir, writeFileAtomic } from '../../util/atomic-file.js';
import type { Descriptor } from '../../oci/index.js';
import { Digester, digestOf, parseDigest, type Digest } from '../../oci/digest.js'; // not the index: `run` loads only this
import { withLock } from '../file-lock.js';

export type BlobOpener = (offset: number) => Promise<Readable>;

export interface IngestResult {
  /** `present`: it was already committed (by an earlier pull, or by another process meanwhile). */
  status: 'present' | 'downloaded';
  /** Bytes that were already in the ingest area from an interrupted download. */
  resumedFrom: number;
}

export class ContentStore {
  readonly blobsDir: string;
  readonly ingestDir: string;

  constructor(readonly root: string) {
    this.blobsDir = join(root, 'content', 'blobs');
    this.ingestDir = join(root, 'content', 'ingest');
  }

  private madePrivate?: Promise<void>;

  /**
   * content/ is the caller's only (like snapshots/): pulled blobs can be a private image's layers.
   * Also tightens a directory an older version made world-readable.
   */
  private ensurePrivate(): Promise<void> {
    return (this.madePrivate ??= (async () => {
      const dir = join(this.root, 'content');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o700);
    })());
  }

  path(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.blobsDir, algorithm.name, hex);
  }

  private ingestBase(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.ingestDir, `${algorithm.name}-${hex}`);
  }

  async has(digest: Digest, size?: number): Promise<boolean> {
    const st = await stat(this.path(digest)).catch(() => undefined);
    return st !== undefined && (size === undefined || st.size === size);
  }

  /** Downloads a blob into the store (resuming an earlier partial download), verified; no-op when present. */
  async ingest(desc: Descriptor, openBlob: BlobOpener, onProgress?: (bytes: number) => void, onWait?: () => void): Promise<IngestResult> {
    await this.ensurePrivate();
    await mkdir(this.ingestDir, { recursive: true });
    const base = this.ingestBase(desc.digest);
    return withLock(
      `${base}.lock`,
      async () => {
        if (await this.has(desc.digest, desc.size)) return { status: 'present', resumedFrom: 0 };
        const partial = `${base}.partial`;
        let resumedFrom = (await stat(partial).catch(() => undefined))?.size ?? 0;
        if (resumedFrom > desc.size) resumedFrom = 0;
        try {
          await this.download(desc, partial, resumedFrom, openBlob, onProgress);
        } catch (err) {
          // Bytes kept from an earlier attempt can be what is wrong: start over once.
          if (!(err instanceof ContentMismatchError) || resumedFrom === 0) throw err;
          resumedFrom = 0;
          await this.download(desc, partial, 0, openBlob, onProgress);
        }
        const final = this.path(desc.digest);
        await mkdir(dirname(final), { recursive: true });
        await rename(partial, final);
        await syncDir(dirname(final));
        return { status: 'downloaded', resumedFrom };
      },
      onWait,
    );
  }

  private async download(desc: Descriptor, partial: string, from: number, openBlob: BlobOpener, onProgress?: (bytes: number) => void): Promise<void> {
    const digester = new Digester(parseDigest(desc.digest).algorithm.name);
    const fh = await open(partial, from === 0 ? 'w' : 'r+', 0o644);
    try {
      if (from > 0) {
        // Hash what is already there, then append after it.
        for await (const chunk of createReadStream('', { fd: fh.fd, autoClose: false, start: 0, end: from - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
          digester.update(chunk);
        }
        onProgress?.(from);
      }
      try {
        // Loaded here, not with the store: `run` reads the store and never writes a blob.
        const { verifiedRead } = await import('../../oci/verified-read.js');
        // The write keeps no chunk once it resolved: a bulk HTTP body reads into their memory again
        // (recycleChunks), instead of a fresh buffer and its page faults per MiB.
        await verifiedRead({ desc, open: openBlob, from, digester, onProgress, recycleChunks: true, write: (chunk, at) => fh.write(chunk, 0, chunk.length, at) });
      } catch (err) {
        // Content that does not match is no base to resume from.
        if (err instanceof ContentMismatchError) await fh.truncate(0);
        throw err;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** Stores small content (manifests, configs) already in memory, after checking its digest. */
  async putBytes(digest: Digest, bytes: Uint8Array): Promise<void> {
    const d = new Digester(parseDigest(digest).algorithm.name);
    d.update(bytes);
    if (d.digest() !== digest) throw new ContentMismatchError(`content has digest ${d.digest()}, expected ${digest}`);
    if (await this.has(digest, bytes.length)) return;
    await this.ensurePrivate();
    const final = this.path(digest);
    await mkdir(dirname(final), { recursive: true });
    await writeFileAtomic(final, bytes);
  }

  /**
   * Moves a file already written in the ingest area (same file system) into the store as `digest`,
   * which the writer computed while writing it (the builder's layers); a blob already present wins.
   */
  async commitFile(file: string, digest: Digest): Promise<void> {
    if (await this.has(digest)) {
      await rm(file, { force: true });
      return;
    }
    const final = this.path(digest);
    await mkdir(dirname(final), { recursive: true });
    await rename(file, final);
    await syncDir(dirname(final));
  }

  /**
   * A stored blob's bytes, checked against the digest: manifests, indexes and configs (a few KB),
   * so read synchronously (on `run`'s short path each asynchronous fs call is a trip through
   * libuv's thread pool).
   */
  async readBytes(digest: Digest): Promise<Buffer> {
    const bytes = process.getBuiltinModule('node:fs').readFileSync(this.path(digest));
    // Checked at every read, also of a config `run` reads from the store (a few KB: oci/digest
    // hashes those without loading node:crypto).
    const actual = digestOf(bytes, parseDigest(digest).algorithm.name);
    if (actual !== digest) throw new ContentMismatchError(`stored blob ${digest} is corrupt (digest ${actual})`);
    return bytes;
  }

  open(digest: Digest, offset = 0): Readable {
    return createReadStream(this.path(digest), { start: offset, highWaterMark: 1 << 20 });
  }

  /** Every committed blob. */
  async list(): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const alg of await readdir(this.blobsDir).catch(() => [] as string[])) {
      for (const hex of await readdir(join(this.blobsDir, alg))) {
        if (/^[a-f0-9]+$/.test(hex)) out.push(`${alg}:${hex}` as Digest);
      }
    }
    return out;
  }

  async remove(digest: Digest): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  /** Partial downloads and their locks (for prune, while no pull can run). */
  async removeIngests(): Promise<void> {
    for (const n of await readdir(this.ingestDir).catch(() => [] as string[])) await rm(join(this.ingestDir, n), { force: true });
  }
}
