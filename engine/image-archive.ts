// save / load: the local store as a client ImageSource (copied into a docker-archive with the
// client's DockerArchiveDestination), and the images a docker-archive holds (to load each one with
// the client's DockerArchiveSource).
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ClientError, type ImageSource, type ManifestBytes } from '../client/index.js';
import type { Descriptor, Digest } from '../oci/index.js';
import type { ImageRecord, ImageStore } from './store/image-store.js';
import { detectCompression } from './unpack/decompress.js';
import { readTar } from './unpack/tar-reader.js';

export class LocalStoreSource implements ImageSource {
  readonly description: string;

  constructor(
    readonly store: ImageStore,
    readonly record: ImageRecord,
    name?: string,
  ) {
    this.description = `local image ${name ?? record.config}`;
  }

  async topManifest(): Promise<ManifestBytes> {
    return this.manifest(this.record.manifest);
  }

  async manifest(digest: Digest): Promise<ManifestBytes> {
    return { digest, mediaType: this.record.mediaType, bytes: await this.store.content.readBytes(digest) };
  }

  async openBlob(desc: Descriptor, offset = 0): Promise<Readable> {
    if (!(await this.store.content.has(desc.digest))) throw new ClientError(`${this.description}: blob ${desc.digest} is missing from the store`);
    return this.store.content.open(desc.digest, offset);
  }
}

/** The RepoTags of each image in a docker-archive (its manifest.json), in order. */
export async function archiveImages(file: string): Promise<string[][]> {
  let compression;
  try {
    compression = await detectCompression(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ClientError(`${file}: no such file`);
    throw new ClientError(`${file}: ${(err as Error).message}`);
  }
  if (compression === 'zstd') throw new ClientError(`${file}: zstd-compressed archives are not supported; decompress it first`);
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  const input = compression === 'gzip' ? raw.pipe(createGunzip()) : raw;
  if (compression === 'gzip') raw.on('error', (err) => input.destroy(err));
  let manifest: Buffer | undefined;
  try {
    await readTar(input, async (h, body) => {
      const name = h.name.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
      if (name === 'manifest.json' && h.type === 'file') {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const c of body as AsyncIterable<Buffer>) {
          size += c.length;
          if (size > 16 << 20) throw new ClientError(`${file}: manifest.json is too large`);
          chunks.push(c);
        }
        manifest = Buffer.concat(chunks);
      } else {
        for await (const _ of body) {
          /* skip */
        }
      }
    });
  } catch (err) {
    if (err instanceof ClientError) throw err;
    throw new ClientError(`${file}: not a docker save archive (${(err as Error).message})`);
  }
  if (!manifest) throw new ClientError(`${file}: no manifest.json in it: not a docker save archive`);
  let items: unknown;
  try {
    items = JSON.parse(manifest.toString('utf8'));
  } catch {
    throw new ClientError(`${file}: manifest.json is not JSON`);
  }
  if (!Array.isArray(items)) throw new ClientError(`${file}: manifest.json is not a list of images`);
  return items.map((i: { RepoTags?: unknown }) => (Array.isArray(i?.RepoTags) ? i.RepoTags.filter((t): t is string => typeof t === 'string') : []));
}
