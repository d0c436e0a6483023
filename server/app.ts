// The koa application: request ids and access logs, spec-format errors, and the v2 routes.
import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import { RegistryError } from './errors.js';
import type { RegistryDeps } from './registry-deps.js';
import { registerBase } from './routes/base.js';
import { registerBlobs } from './routes/blobs.js';
import { registerListing } from './routes/listing.js';
import { registerManifests } from './routes/manifests.js';
import { registerReferrers } from './routes/referrers.js';
import { registerUploads } from './routes/uploads.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createApp(deps: RegistryDeps): Koa {
  const app = new Koa();
  app.proxy = false;
  const { log } = deps;

  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('X-Request-Id');
    const id = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = id;
    ctx.set('X-Request-Id', id);
    ctx.set('Docker-Distribution-API-Version', 'registry/2.0');
    try {
      await next();
    } catch (err) {
      writeError(ctx, err, id);
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info(
        {
          reqId: id,
          method: ctx.method,
          path: ctx.path,
          status: ctx.status,
          bytesIn: Number(ctx.get('Content-Length')) || 0,
          ms: Math.round(ms * 10) / 10,
          remote: ctx.ip,
        },
        'request',
      );
    }
  });

  function writeError(ctx: Koa.Context, err: unknown, id: string): void {
    let re: RegistryError;
    if (err instanceof RegistryError) {
      re = err;
    } else if (isClientAbort(err)) {
      log.warn({ reqId: id, err: (err as Error).message }, 'client went away');
      re = new RegistryError('BLOB_UPLOAD_INVALID', 'request body was interrupted', undefined, 400);
    } else {
      log.error({ reqId: id, err }, 'internal error');
      re = new RegistryError('UNKNOWN', 'internal server error', { requestId: id });
    }
    if (ctx.headerSent || !ctx.writable) return;
    ctx.status = re.status;
    for (const [k, v] of Object.entries(re.headers)) ctx.set(k, v);
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(re.body());
  }

  const router = new Router();
  registerBase(router);
  registerUploads(router, deps); // before blobs: /blobs/uploads/… is not a digest
  registerBlobs(router, deps);
  registerManifests(router, deps);
  registerReferrers(router, deps);
  registerListing(router, deps);
  app.use(router.routes());
  app.use(async (ctx) => {
    // Nothing handled the request: a known endpoint with another method (405), or no endpoint (404).
    if (router.match(ctx.path, ctx.method).path.length > 0) {
      throw new RegistryError('UNSUPPORTED', `${ctx.method} is not supported on ${ctx.path}`);
    }
    throw new RegistryError('UNSUPPORTED', `${ctx.path} is not part of the registry API`, undefined, 404);
  });
  return app;
}

function isClientAbort(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error | undefined)?.message === 'aborted';
}
