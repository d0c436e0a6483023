// The koa application: request ids and access logs, health and metrics endpoints, rate limits,
// spec-format errors, and the v2 routes.
import { createRequire } from 'node:module';
import type RouterClass from '@koa/router';
import Koa, { type Middleware } from 'koa';
import { accessLog } from './access-log.js';
import { RegistryError } from './errors.js';
import { healthEndpoints, type ReadinessCheck } from './health.js';
import { metricsEndpoint, type RegistryMetrics } from './metrics.js';
import { rateLimit, type RateLimiterLike } from './rate-limit.js';
import { localContent } from './registry-content.js';
import type { RegistryDeps } from './registry-deps.js';
import { registerBase } from './routes/base.js';
import { registerBlobs } from './routes/blobs.js';
import { registerListing } from './routes/listing.js';
import { registerManifests } from './routes/manifests.js';
import { registerQuotas } from './routes/quotas.js';
import { registerReferrers } from './routes/referrers.js';
import { registerUploads } from './routes/uploads.js';
import { registerOperationsApi } from './ui/operations.js';
import { registerUiApi } from './ui/ui-api.js';
import { uiStatic } from './ui/static-assets.js';
import { uiSession } from './ui/ui-session.js';

// The router's CommonJS build: its ES build says `import http from "http"`, and an ES import of
// node:http reads every export, whose lazy `WebSocket` getter loads Node 24's bundled undici
// (with http2, tls, zlib, worker_threads): ~14 MiB of RSS in every process (server/tls.ts).
const Router = createRequire(import.meta.url)('@koa/router') as typeof RouterClass;

/** The operational parts around the registry API; each is optional. */
export interface AppServices {
  metrics?: RegistryMetrics;
  /** Serve the metrics on this app (config metrics.enabled with an empty metrics.addr). */
  serveMetrics?: boolean;
  readiness?: ReadinessCheck;
  rateLimiter?: RateLimiterLike;
  /** Access control and the built-in token service (server/auth); they set the user rate limits key on. */
  auth?: Middleware[];
  /** The audit trail's view of requests (server/audit): before access control, to see refusals. */
  audit?: Middleware;
  /** In a cluster: this worker's name, sent as `Stevedore-Worker` on every response (which process answered). */
  worker?: string;
}

export function createApp(deps: RegistryDeps, services: AppServices = {}): Koa {
  const app = new Koa();
  app.proxy = false;
  const { log, config } = deps;
  const { metrics, readiness, rateLimiter } = services;
  const metricsPath = services.serveMetrics && metrics ? config.metrics.path : undefined;

  // Errors koa itself catches (a middleware above the error writer below, a failed response
  // write): one log line, never koa's multi-line stderr dump.
  app.on('error', (err: unknown) => {
    if (isClientAbort(err)) log.debug({ err: (err as Error).message }, 'client went away');
    else log.error({ err }, 'request failed outside the error handler');
  });
  if (services.worker) {
    const worker = services.worker;
    app.use((ctx, next) => {
      ctx.set('Stevedore-Worker', worker);
      return next();
    });
  }
  app.use(accessLog({ log, config, metrics, metricsPath }));
  app.use(async (ctx, next) => {
    ctx.set('Docker-Distribution-API-Version', 'registry/2.0');
    try {
      // HTTP/1.1 requires Host; Node's own answer to its absence is an empty 400 (see connection-guards.ts).
      if (ctx.req.httpVersion === '1.1' && ctx.get('Host') === '') {
        throw new RegistryError('UNSUPPORTED', 'the request has no Host header', undefined, 400);
      }
      await next();
    } catch (err) {
      writeError(ctx, err, String(ctx.state.requestId));
    }
  });
  // Health and metrics come before rate limiting and before any authentication middleware.
  if (readiness) app.use(healthEndpoints(readiness));
  if (metricsPath && metrics) app.use(metricsEndpoint(metrics, metricsPath));
  // The mirror maps `?ns=` and Docker mirror names to the repository they are stored under before
  // access control looks at the path: the check and the routes must see the same repository.
  if (deps.mirror) app.use(deps.mirror.middleware());
  if (services.audit) app.use(services.audit);
  for (const m of services.auth ?? []) app.use(m);
  if (rateLimiter) app.use(rateLimit(rateLimiter));
  // The web UI's page and files are public (server/ui), rate limited like the rest; its data comes
  // from /v2 under access control.
  if (config.ui.enabled) {
    // With token authentication the page signs in through these (the token service may be elsewhere).
    if (config.auth.mode === 'token' && !config.auth.tokenService.standalone) app.use(uiSession(config.auth, log));
    app.use(uiStatic());
  }

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
  // Chosen once: proxied names are served by the mirror through the same routes as local ones.
  const local = localContent(deps.storage);
  const content = deps.mirror ? deps.mirror.content(local) : local;
  registerBlobs(router, deps, content);
  registerManifests(router, deps, content);
  registerReferrers(router, deps);
  registerListing(router, deps, content);
  registerQuotas(router, deps);
  if (config.ui.enabled) {
    registerUiApi(router, deps);
    registerOperationsApi(router, deps);
  }
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
