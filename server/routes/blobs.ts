// Blob GET/HEAD (with Range) and DELETE. Local and mirrored blobs take the same path: the route
// asks the app's content (server/registry-content.ts) and answers with the same headers and ranges.
import type Router from '@koa/router';
import { emptyResponse } from '../empty-response.js';
import { RegistryError } from '../errors.js';
import { blobHeaders, rangeResponse, requestedRange } from '../blob-response.js';
import type { RegistryContent } from '../registry-content.js';
import type { RegistryDeps } from '../registry-deps.js';
import { BLOB_MEDIA_TYPE } from '../registry-events.js';
import { capture, digestParam, repositoryName } from '../route-params.js';
import { requireDeleteEnabled } from './delete-guard.js';

export const BLOB = /^\/v2\/(.+)\/blobs\/([^/]+)$/;

export function registerBlobs(router: Router, { storage, config, events }: RegistryDeps, content: RegistryContent): void {
  router.get(BLOB, async (ctx) => {
    const name = repositoryName(ctx);
    const digest = digestParam(capture(ctx, 1));
    const blob = await content.blob(ctx, name, digest);
    if (!blob) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    try {
      const { size } = blob;
      const pulled = () =>
        events.emit(ctx, { kind: 'blob', action: 'pull', repository: name, digest, mediaType: BLOB_MEDIA_TYPE, ...(size !== undefined ? { size } : {}) });
      if (blobHeaders(ctx, digest)) return;
      // Without a known size (an upstream that did not say), the whole blob: no range can be checked.
      const range = size === undefined ? undefined : requestedRange(ctx, size);
      // A GET (never a HEAD) may be sent to the storage itself (a presigned S3 URL, when the driver
      // has redirects on). Clients repeat the request's Range header when they follow a 307 and S3
      // honours it, so ranged GETs are redirected too (an unsatisfiable range is answered here).
      // The URL is signed locally: no storage request. A 307 is not cached (the URL expires).
      if (ctx.method === 'GET') {
        const location = await blob.redirectURL();
        if (location) {
          emptyResponse(ctx, 307);
          for (const h of ['ETag', 'Cache-Control', 'Accept-Ranges']) ctx.remove(h);
          ctx.set('Location', location);
          pulled();
          return;
        }
      }
      let start = 0;
      let end: number | undefined;
      if (size !== undefined) ({ start, end } = rangeResponse(ctx, size, range));
      else ctx.status = 200;
      // HEAD: koa sends headers only; the body is never opened.
      if (ctx.method === 'HEAD') return;
      await blob.send(ctx, start, end, pulled);
    } finally {
      blob.release();
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
