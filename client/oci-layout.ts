// OCI image layouts (image-spec image-layout.md) as image source and destination. Blobs are
// written to a temporary file, verified against their digest and size, fsynced and renamed into
// place; index.json is replaced atomically at commit. A failed or interrupted copy leaves no
// partial blob under blobs/.
import { createReadStream, type Stats } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Digester, guessManifestMediaType, MediaType, parseDigest, type Descriptor, type Digest, type ImageIndex } from '../oci/index.js';
import { verifiedRead } from '../oci/verified-read.js';
import { syncDir, writeFileAtomic } from '../util/atomic-file.js';
import { ClientError, ContentMismatchError } from './errors.js';
import type { ImageDestination, ImageSource, ManifestBytes } from './image-location.js';
import { createTempFileSync, untrackTempFile } from './temp-files.js';

// node:crypto from process.getBuiltinModule, not an ESM import, whose export facade reads every
// export and so loads WebCrypto.
const randomUUID = () => process.getBuiltinModule('node:crypto').randomUUID();

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

function blobPath(dir: string, digest: Digest): string {
  const { algorithm, hex } = parseDigest(digest);
  return join(dir, 'blobs', algorithm.name, hex);
}

async function readIndex(dir: string): Promise<ImageIndex> {
  let text: string;
  try {
    text = await readFile(join(dir, 'index.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ClientError(`${dir} is not an OCI image layout (no index.json)`);
    throw err;
  }
  try {
    return JSON.parse(text) as ImageIndex;
  } catch {
    throw new ClientError(`${join(dir, 'index.json')} is not valid JSON`);
  }
}

export class OciLayoutSource implements ImageSource {
  readonly description: string;
  constructor(
    readonly dir: string,
    readonly tag?: string,
  ) {
    this.description = `oci:${dir}${tag ? `:${tag}` : ''}`;
  }

  async topManifest(): Promise<ManifestBytes> {
    const index = await readIndex(this.dir);
    const entries = index.manifests ?? [];
    const entry = this.tag ? entries.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === this.tag) : entries.length === 1 ? entries[0] : undefined;
    if (!entry) {
      throw new ClientError(
        this.tag ? `${this.description}: no image tagged ${this.tag}` : `${this.description}: the layout holds ${entries.length} images; name one with oci:DIR:TAG`,
      );
    }
    const m = await this.manifest(entry.digest);
    return { ...m, mediaType: entry.mediaType };
  }

  async manifest(digest: Digest): Promise<ManifestBytes> {
    const bytes = await readFile(blobPath(this.dir, digest)).catch((err: NodeJS.ErrnoException) => {
      throw new ClientError(`${this.description}: missing blob ${digest} (${err.code})`);
    });
    const d = new Digester(parseDigest(digest).algorithm.name);
    d.update(bytes);
    if (d.digest() !== digest) throw new ContentMismatchError(`${this.description}: blob ${digest} is corrupt`);
    const mediaType = guessManifestMediaType(bytes);
    if (!mediaType) throw new ClientError(`${this.description}: manifest ${digest} is not JSON`);
    return { digest, mediaType, bytes };
  }

  async openBlob(desc: Descriptor, offset = 0): Promise<Readable> {
    return createReadStream(await this.blobFile(desc), { start: offset, highWaterMark: 1024 * 1024 });
  }

  async blobFile(desc: Descriptor): Promise<string> {
    const path = blobPath(this.dir, desc.digest);
    await stat(path).catch((err: NodeJS.ErrnoException) => {
      throw new ClientError(`${this.description}: missing blob ${desc.digest} (${err.code})`);
    });
    return path;
  }
}

export class OciLayoutDestination implements ImageDestination {
  readonly description: string;
  private top?: ManifestBytes;
  /** Directories blobs were renamed into: fsynced once at commit, before index.json names them. */
  private readonly unsyncedDirs = new Set<string>();

  constructor(
    readonly dir: string,
    readonly tag?: string,
  ) {
    this.description = `oci:${dir}${tag ? `:${tag}` : ''}`;
  }

  private async exists(path: string): Promise<Stats | undefined> {
    return stat(path).catch(() => undefined);
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return (await this.exists(blobPath(this.dir, desc.digest)))?.size === desc.size;
  }

  async putBlob(desc: Descriptor, source: ImageSource, onProgress?: (bytes: number) => void): Promise<void> {
    const final = blobPath(this.dir, desc.digest);
    await mkdir(dirname(final), { recursive: true });
    const tmp = `${final}.part-${randomUUID()}`;
    createTempFileSync(tmp);
    const fh = await open(tmp, 'r+');
    try {
      await verifiedRead({
        desc,
        what: source.description,
        open: (offset) => source.openBlob(desc, offset),
        write: (chunk, at) => fh.write(chunk, 0, chunk.length, at),
        writev: (chunks, at) => writevAll(fh, chunks, at),
        recycleChunks: true,
        onProgress,
      });
      await fh.sync();
    } catch (err) {
      await fh.close();
      await rm(tmp, { force: true });
      untrackTempFile(tmp);
      throw err;
    }
    await fh.close();
    await rename(tmp, final);
    untrackTempFile(tmp);
    this.unsyncedDirs.add(dirname(final));
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    return (await this.exists(blobPath(this.dir, digest))) !== undefined;
  }

  async putManifest(manifest: ManifestBytes, top: boolean): Promise<void> {
    const final = blobPath(this.dir, manifest.digest);
    await mkdir(dirname(final), { recursive: true });
    // Its name is made durable at commit with the blobs' (one directory fsync for all of them),
    // before index.json can name it.
    await writeFileAtomic(final, manifest.bytes, { syncDirectory: false });
    this.unsyncedDirs.add(dirname(final));
    if (top) this.top = manifest;
  }

  async commit(): Promise<void> {
    // The blobs' names are made durable together (one fsync of blobs/sha256 instead of one per
    // blob), before index.json, written durably below, can refer to them: while the new index
    // and oci-layout are written and synced (fsyncs at the same time share a journal commit),
    // and before they are renamed into place.
    const dirsSynced = Promise.all([...this.unsyncedDirs].map((d) => syncDir(d)));
    dirsSynced.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    this.unsyncedDirs.clear();
    if (!this.top) {
      await dirsSynced;
      return;
    }
    await mkdir(this.dir, { recursive: true });
    let index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    if (await this.exists(join(this.dir, 'index.json'))) index = await readIndex(this.dir);
    const entry: Descriptor = { mediaType: this.top.mediaType, digest: this.top.digest, size: this.top.bytes.length };
    if (this.tag) entry.annotations = { [REF_NAME_ANNOTATION]: this.tag };
    // One entry per tag: a new image under an existing tag replaces it; untagged entries by digest.
    index.manifests = (index.manifests ?? []).filter((d) =>
      this.tag ? d.annotations?.[REF_NAME_ANNOTATION] !== this.tag : !(d.digest === entry.digest && !d.annotations?.[REF_NAME_ANNOTATION]),
    );
    index.manifests.push(entry);
    const beforeRename = async () => {
      await dirsSynced;
    };
    const written = await Promise.allSettled([
      writeFileAtomic(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }), { beforeRename }),
      writeFileAtomic(join(this.dir, 'index.json'), JSON.stringify(index), { beforeRename }),
      dirsSynced,
    ]);
    for (const r of written) if (r.status === 'rejected') throw r.reason;
  }
}

/** Writes all of `chunks` at `position` (FileHandle.writev may write less than asked). */
async function writevAll(fh: FileHandle, chunks: Uint8Array[], position: number): Promise<void> {
  let rest = chunks;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, position);
    position += bytesWritten;
    let n = bytesWritten;
    let i = 0;
    while (i < rest.length && n >= rest[i]!.length) n -= rest[i++]!.length;
    rest = rest.slice(i);
    if (n > 0) rest[0] = rest[0]!.subarray(n);
  }
}
