// Blob GET/HEAD (with Range) and DELETE.
import type Router from '@koa/router';
import { emptyResponse } from '../empty-response.js';
import { sendFileRange } from '../send-file-range.js';
import { isNotFound } from '../../storage/index.js';
import { RegistryError } from '../errors.js';
import { blobHeaders, rangeResponse, requestedRange } from '../blob-response.js';
import type { RegistryDeps } from '../registry-deps.js';
import { BLOB_MEDIA_TYPE } from '../registry-events.js';
import { capture, digestParam, repositoryName } from '../route-params.js';
import { requireDeleteEnabled } from './delete-guard.js';

export const BLOB = /^\/v2\/(.+)\/blobs\/([^/]+)$/;

export function registerBlobs(router: Router, { storage, config, events, mirror }: RegistryDeps): void {
  router.get(BLOB, async (ctx) => {
    const name = repositoryName(ctx);
    const digest = digestParam(capture(ctx, 1));
    const blob = (await storage.blobs.stat(name, digest)) ?? (await mirror?.localBlob(ctx, name, digest));
    if (!blob) {
      if (await mirror?.serveBlob(ctx, name, digest)) return; // a proxied name: fetched from its upstream
      throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    }
    if (blobHeaders(ctx, digest)) return;
    const range = requestedRange(ctx, blob.size);
    // A GET (never a HEAD) may be sent to the storage itself (a presigned S3 URL, when the driver
    // has redirects on). Clients repeat the request's Range header when they follow a 307 and S3
    // honours it, so ranged GETs are redirected too (an unsatisfiable range is answered here).
    // The URL is signed locally: no storage request. A 307 is not cached (the URL expires).
    if (ctx.method === 'GET') {
      const location = await storage.blobs.redirectURL(digest);
      if (location) {
        emptyResponse(ctx, 307);
        for (const h of ['ETag', 'Cache-Control', 'Accept-Ranges']) ctx.remove(h);
        ctx.set('Location', location);
        events.emit(ctx, { kind: 'blob', action: 'pull', repository: name, digest, mediaType: BLOB_MEDIA_TYPE, size: blob.size });
        return;
      }
    }
    const { start, end, length } = rangeResponse(ctx, blob.size, range);
    if (ctx.method === 'GET') {
      events.emit(ctx, { kind: 'blob', action: 'pull', repository: name, digest, mediaType: BLOB_MEDIA_TYPE, size: blob.size });
    }
    // HEAD: koa sends headers only; the body is never opened.
    if (ctx.method !== 'HEAD' && length > 0) {
      // Local files go out through reused buffers; other backends as a stream.
      // (Deleted since the stat above, e.g. by garbage collection: unknown, not an internal error.)
      const gone = (err: unknown): never => {
        if (isNotFound(err)) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
        throw err;
      };
      const file = await storage.blobs.openRandomAccess(digest)?.catch(gone);
      if (file) {
        await sendFileRange(ctx, file, start, end);
        return;
      }
      ctx.body = await storage.blobs.reader(digest, start, end).catch(gone);
      ctx.set('Content-Length', String(length)); // koa drops it when a stream body is set
    } else if (ctx.method !== 'HEAD') {
      ctx.body = Buffer.alloc(0);
    }
  });

  router.delete(BLOB, async (ctx) => {
    const name = repositoryName(ctx);
    const digest = digestParam(capture(ctx, 1));
    requireDeleteEnabled(config);
    if (!(await storage.blobs.unlink(name, digest))) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    emptyResponse(ctx, 202);
    ctx.set('Docker-Content-Digest', digest);
    events.emit(ctx, { kind: 'blob', action: 'delete', repository: name, digest });
  });
}
