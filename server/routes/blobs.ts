// Blob GET/HEAD (with Range) and DELETE.
import type Router from '@koa/router';
import { emptyResponse } from '../empty-response.js';
import { RegistryError } from '../errors.js';
import { parseRangeHeader } from '../http-range.js';
import type { RegistryDeps } from '../registry-deps.js';
import { BLOB_MEDIA_TYPE } from '../registry-events.js';
import { capture, digestParam, repositoryName } from '../route-params.js';
import { requireDeleteEnabled } from './delete-guard.js';

export const BLOB = /^\/v2\/(.+)\/blobs\/([^/]+)$/;

export function registerBlobs(router: Router, { storage, config, events }: RegistryDeps): void {
  router.get(BLOB, async (ctx) => {
    const name = repositoryName(ctx);
    const digest = digestParam(capture(ctx, 1));
    const blob = await storage.blobs.stat(name, digest);
    if (!blob) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    const etag = `"${digest}"`;
    ctx.set('Docker-Content-Digest', digest);
    ctx.set('ETag', etag);
    ctx.set('Accept-Ranges', 'bytes');
    ctx.set('Cache-Control', 'max-age=31536000');
    ctx.type = 'application/octet-stream';
    if (ctx.get('If-None-Match') === etag) {
      ctx.status = 304;
      return;
    }
    const range = parseRangeHeader(ctx.get('Range') || undefined, blob.size);
    if (range === 'unsatisfiable') {
      throw new RegistryError('RANGE_INVALID', 'requested range not satisfiable', { size: blob.size }).withHeader(
        'Content-Range',
        `bytes */${blob.size}`,
      );
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? blob.size - 1;
    if (range) {
      ctx.status = 206;
      ctx.set('Content-Range', `bytes ${start}-${end}/${blob.size}`);
    } else {
      ctx.status = 200;
    }
    const length = blob.size === 0 ? 0 : end - start + 1;
    // HEAD: koa sends headers only; the body is never opened.
    if (ctx.method !== 'HEAD') ctx.body = length === 0 ? Buffer.alloc(0) : await storage.blobs.reader(digest, start, end);
    ctx.set('Content-Length', String(length));
    if (ctx.method === 'GET') {
      events.emit(ctx, { kind: 'blob', action: 'pull', repository: name, digest, mediaType: BLOB_MEDIA_TYPE, size: blob.size });
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
