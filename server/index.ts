// Starting and stopping the registry server.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openRegistryStorage } from '../storage/index.js';
import { createApp } from './app.js';
import { loadConfig, parseAddr, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { createStorageDriver, describeStorage } from './storage-driver.js';
import { startUploadPurger } from './upload-purger.js';

export { loadConfig, ConfigError, type Config, type ConfigInput } from './config.js';

export interface StartOptions {
  /** A complete configuration (from loadConfig); the shortcuts below override it. */
  config?: Config;
  dataDir?: string;
  addr?: string;
  logLevel?: Config['log']['level'];
  deleteEnabled?: boolean;
  logger?: Logger;
}

export interface RunningServer {
  url: string;
  config: Config;
  server: Server;
  log: Logger;
  /** Stops accepting connections and waits for in-flight requests (up to http.drainTimeout). */
  close(): Promise<void>;
}

function applyShortcuts(base: Config, opts: StartOptions): Config {
  const c = structuredClone(base);
  if (opts.dataDir) c.storage.filesystem.rootDirectory = opts.dataDir;
  if (opts.addr) c.http.addr = opts.addr;
  if (opts.logLevel) c.log.level = opts.logLevel;
  if (opts.deleteEnabled !== undefined) c.storage.delete.enabled = opts.deleteEnabled;
  return c;
}

export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const config = applyShortcuts(opts.config ?? loadConfig(), opts);
  const log = opts.logger ?? createLogger(config.log.level);
  const driver = createStorageDriver(config);
  const storage = openRegistryStorage(driver);
  const app = createApp({ storage, config, log });
  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, app.callback());
  const { host, port } = parseAddr(config.http.addr)!;
  server.listen({ host, port });
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address === '::' ? '::1' : address.address}]` : address.address === '0.0.0.0' ? '127.0.0.1' : address.address;
  const url = `http://${urlHost}:${address.port}`;
  const stopPurger = startUploadPurger(storage.uploads, config, log);
  log.info({ url, addr: config.http.addr, ...describeStorage(config) }, 'listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      stopPurger();
      const closed = new Promise<void>((r) => server.close(() => r()));
      // Keep-alive connections become idle as their in-flight requests finish: close them then.
      const sweeper = setInterval(() => server.closeIdleConnections(), 100);
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), config.http.drainTimeout);
      timer.unref();
      await closed;
      clearInterval(sweeper);
      clearTimeout(timer);
      log.info('stopped');
      await new Promise<void>((r) => log.flush(() => r()));
    })());
  return { url, config, server, log, close };
}
