// The outermost middleware: request id, one access-log line per request and the HTTP metrics.
// Both are recorded when the response is over (sent, or the client went away) and the handler
// has returned, so durations include streaming the body and byte counts are what was transferred.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Middleware } from 'koa';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { RegistryMetrics } from './metrics.js';
import { isOperationalFamily, methodLabel, routeFamily } from './route-family.js';
import { requestUser } from './request-user.js';
import { safeCallback } from './safe-callback.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface AccessLogOptions {
  log: Logger;
  /** The live configuration: `log.access` is read per request, so a reload applies at once. */
  config: Config;
  metrics?: RegistryMetrics;
  /** The metrics path when it is served on this listener (a route family of its own). */
  metricsPath?: string;
}

export function accessLog({ log, config, metrics, metricsPath }: AccessLogOptions): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('X-Request-Id');
    const id = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = id;
    ctx.set('X-Request-Id', id);
    // Read now, while the socket is there: koa keeps the value, and the socket is gone by the time
    // a response sent while the client was still sending is over (reading it then threw).
    const remote = ctx.ip;
    const route = routeFamily(ctx.path, metricsPath);
    const bytesIn = countRequestBytes(ctx.req);
    const bytesOut = countResponseBytes(ctx.res);
    metrics?.requestStarted(route);

    let handled = false;
    let closed = false;
    let recorded = false;
    const finish = safeCallback(log, 'access log', () => {
      if (!handled || !closed || recorded) return;
      recorded = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = ctx.status;
      const aborted = !ctx.res.writableFinished;
      metrics?.requestFinished({ route, method: methodLabel(ctx.method), status, seconds, bytesIn: bytesIn(), bytesOut: bytesOut() });
      const settings = config.log.access;
      if (!settings.enabled) return;
      const quiet = isOperationalFamily(route) && !settings.probes;
      const record = {
        reqId: id,
        method: ctx.method,
        path: ctx.path,
        route,
        status,
        bytesIn: bytesIn(),
        bytesOut: bytesOut(),
        ms: Math.round(seconds * 1e4) / 10,
        user: requestUser(ctx),
        remote,
        ...(aborted ? { aborted: true } : {}),
      };
      if (quiet) log.debug(record, 'request');
      else log.info(record, 'request');
    });
    if (ctx.res.closed) closed = true;
    else
      ctx.res.once('close', () => {
        closed = true;
        finish();
      });
    try {
      await next();
    } finally {
      // koa writes the response after the middleware chain returns: recorded on 'close'.
      handled = true;
      finish();
    }
  };
}

/**
 * Counts request body bytes as they arrive from the socket, whoever reads them and whenever
 * (the HTTP parser hands body chunks to `push`), without changing the stream's flow.
 */
function countRequestBytes(req: IncomingMessage): () => number {
  let n = 0;
  const push = req.push;
  req.push = function (chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk) n += typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding) : (chunk as Uint8Array).length;
    return push.call(this, chunk, encoding);
  };
  return () => n;
}

/** Counts response body bytes handed to the connection (koa uses `end` for buffers, `write` when piping). */
function countResponseBytes(res: ServerResponse): () => number {
  let n = 0;
  const count = (chunk: unknown, encoding: unknown) => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
    n += typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : (chunk as Uint8Array).length;
  };
  const write = res.write;
  const end = res.end;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
    count(chunk, rest[0]);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]): ServerResponse {
    count(chunk, rest[0]);
    return (end as (...a: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as ServerResponse['end'];
  return () => n;
}
