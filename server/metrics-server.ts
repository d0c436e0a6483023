// The separate metrics listener (config metrics.addr): /metrics, /healthz and /readyz only, so
// the metrics can be kept off the address clients use.
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { guardConnections } from './connection-guards.js';
import { accessLog } from './access-log.js';
import { emptyResponse } from './empty-response.js';
import type { Config } from './config.js';
import { parseAddr } from './listen-addr.js';
import { healthEndpoints, type ReadinessCheck } from './health.js';
import type { Logger } from './logger.js';
import { metricsEndpoint, type RegistryMetrics } from './metrics.js';

export interface MetricsServer {
  /** Base URL of the listener. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startMetricsServer(opts: {
  config: Config;
  log: Logger;
  metrics: RegistryMetrics;
  readiness: ReadinessCheck;
}): Promise<MetricsServer> {
  const { config, log, metrics, readiness } = opts;
  const app = new Koa();
  app.proxy = false;
  // Requests here are logged (quietly) but not counted in the HTTP metrics of the registry API.
  app.use(accessLog({ log, config, metricsPath: config.metrics.path }));
  app.use(healthEndpoints(readiness));
  app.use(metricsEndpoint(metrics, config.metrics.path));
  app.use((ctx) => emptyResponse(ctx, 404));
  // Same guards as the main listener: a koa error logged in one line, parser errors answered.
  app.on('error', (err: unknown) => log.warn({ err: (err as Error)?.message }, 'metrics listener: request failed'));
  // Not an ES import of node:http (it costs ~14 MiB of RSS): see server/tls.ts.
  const server = process.getBuiltinModule('node:http').createServer({ keepAliveTimeout: 65_000 }, app.callback());
  guardConnections(server, config, log, false);
  const { host, port } = parseAddr(config.metrics.addr)!;
  server.listen({ host, port });
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
  const url = urlOf(server.address() as AddressInfo);
  return {
    url,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function urlOf(address: AddressInfo): string {
  const host =
    address.family === 'IPv6'
      ? `[${address.address === '::' ? '::1' : address.address}]`
      : address.address === '0.0.0.0'
        ? '127.0.0.1'
        : address.address;
  return `http://${host}:${address.port}`;
}
