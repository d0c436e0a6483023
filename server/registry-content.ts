// What the read routes serve: blobs, manifests and tag lists of a repository, behind one interface
// so that the routes have one code path. The local store implements it here; the pull-through
// mirror (server/mirror/mirror.ts) wraps it for proxied names, the way distribution models its
// proxy as a blob store and manifest service under the same handlers. Which one the routes get is
// chosen once, when the app is built (app.ts); the routes never ask whether a name is mirrored.
import type { Context } from 'koa';
import type { Digest } from '../oci/index.js';
import { isNotFound, type OpenedBlob, type RegistryStorage, type StoredManifest } from '../storage/index.js';
import { RegistryError } from './errors.js';
import type { Reference } from './route-params.js';
import { sendFileRange } from './send-file-range.js';

/** A blob found for a GET or HEAD. The route sets the headers and the range; the blob writes the bytes. */
export interface ServedBlob {
  /** Its size; undefined only for an upstream transfer whose size the upstream did not say (no ranges then). */
  size: number | undefined;
  /** For a GET: a URL the client may fetch the bytes from instead (a presigned storage URL), or undefined. */
  redirectURL(): Promise<string | undefined>;
  /**
   * Answers with the status and headers set on `ctx` and bytes [start, end] (end undefined: to the
   * end). `started` runs once the body is certain to be sent (the pull event): an upstream transfer
   * that fails before its first bytes throws a spec error instead, and the headers are not sent.
   */
  send(ctx: Context, start: number, end: number | undefined, started: () => void): Promise<void>;
  /** Releases what the blob holds (an upstream transfer's spool); called once the request is answered. */
  release(): void;
}

export interface RegistryContent {
  /** The blob `name` may serve, or undefined when it is unknown there. */
  blob(ctx: Context, name: string, digest: Digest): Promise<ServedBlob | undefined>;
  /** The manifest a tag or digest names; throws MANIFEST_UNKNOWN. */
  manifest(ctx: Context, name: string, ref: Reference): Promise<StoredManifest>;
  /** The repository's tags, sorted. */
  tags(name: string): Promise<string[]>;
}

/** The local store's content. */
export function localContent(storage: RegistryStorage): RegistryContent {
  const { blobs, manifests } = storage;
  return {
    async blob(ctx, name, digest) {
      // A GET of the whole blob (the common pull) opens it: on S3 one request to the store before
      // the first byte instead of three (storage/blob-store.ts). HEADs, ranges and conditional
      // GETs (a 304 sends no bytes) take the stat.
      if (ctx.method === 'GET' && !ctx.get('range') && !ctx.get('if-none-match')) {
        const opened = await blobs.open(name, digest);
        return opened && storedBlob(storage, digest, opened.size, opened);
      }
      const info = await blobs.stat(name, digest);
      return info ? storedBlob(storage, digest, info.size) : undefined;
    },
    async manifest(_ctx, name, ref) {
      const digest = ref.kind === 'digest' ? ref.digest : await manifests.resolveTag(name, ref.tag);
      const found = digest && (await manifests.get(name, digest));
      if (!found) {
        throw new RegistryError('MANIFEST_UNKNOWN', undefined, ref.kind === 'tag' ? { tag: ref.tag } : { digest: ref.digest });
      }
      return found;
    },
    tags: (name) => manifests.tags(name),
  };
}

/** A blob in storage (pushed here, or fetched from an upstream earlier); `opened`: as BlobStore.open gave it. */
export function storedBlob(storage: RegistryStorage, digest: Digest, size: number, opened?: OpenedBlob): ServedBlob {
  const { blobs } = storage;
  const reader = opened ? opened.reader : (start: number, end: number) => blobs.reader(digest, start, end);
  return {
    size,
    redirectURL: () => blobs.redirectURL(digest),
    async send(ctx, start, end = size - 1, started) {
      started();
      if (end < start) {
        ctx.body = Buffer.alloc(0);
        return;
      }
      // Deleted since the stat (e.g. by garbage collection): unknown, not an internal error.
      const gone = (err: unknown): never => {
        if (isNotFound(err)) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
        throw err;
      };
      // Local files go out through reused buffers; other backends as a stream.
      const file = await blobs.openRandomAccess(digest)?.catch(gone);
      if (file) return sendFileRange(ctx, file, start, end);
      ctx.body = await reader(start, end).catch(gone);
      ctx.set('Content-Length', String(end - start + 1)); // koa drops it when a stream body is set
    },
    release: () => opened?.close(),
  };
}
