// The main listener: HTTP, or HTTPS when tls.certificate and tls.key are set (TLS 1.2 minimum,
// Node's default cipher list, optional client certificates checked against tls.clientCAs).
// The certificate, key and CA files are polled and the new ones applied to new connections when
// they change (certificate renewals need no restart); a broken pair keeps the old one.
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { RequestListener, Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Config } from './config.js';
import { guardConnections } from './connection-guards.js';
import type { Logger } from './logger.js';

function serverTimeouts(config: Config) {
  return { keepAliveTimeout: 65_000, requestTimeout: config.http.requestTimeout, headersTimeout: 60_000 };
}
const POLL_MS = 1000;

function secureOptions(tls: Config['tls']): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    cert: readFileSync(tls.certificate),
    key: readFileSync(tls.key),
    ...(tls.clientCAs ? { ca: readFileSync(tls.clientCAs) } : {}),
    minVersion: tls.minVersion,
    requestCert: !!tls.clientCAs,
    rejectUnauthorized: !!tls.clientCAs,
  };
}

export interface Listener {
  server: Server;
  scheme: 'http' | 'https';
  /** Stops watching the certificate files. */
  stop(): void;
}

export function createListener(config: Config, handler: RequestListener, log: Logger): Listener {
  const tls = config.tls;
  if (!tls.certificate) {
    // Not `import … from 'node:http'`: an ES module namespace of node:http reads every export,
    // and Node 24's lazy `WebSocket` getter then loads its bundled undici (with http2, tls, zlib,
    // worker_threads): ~14 MiB of RSS per process for nothing. getBuiltinModule gives the plain
    // CommonJS exports (3 MiB).
    const server = process.getBuiltinModule('node:http').createServer(serverTimeouts(config), handler);
    guardConnections(server, config, log, false);
    return { server, scheme: 'http', stop: () => undefined };
  }
  let opts: ReturnType<typeof secureOptions>;
  try {
    opts = secureOptions(tls);
  } catch (err) {
    throw new Error(`tls: ${(err as Error).message}`);
  }
  const server: HttpsServer = process.getBuiltinModule('node:https').createServer({ ...serverTimeouts(config), ...opts }, handler);
  guardConnections(server as unknown as Server, config, log, true);
  const files = [tls.certificate, tls.key, ...(tls.clientCAs ? [tls.clientCAs] : [])];
  const onChange = (cur: { mtimeMs: number }, prev: { mtimeMs: number }) => {
    if (cur.mtimeMs === prev.mtimeMs) return;
    try {
      server.setSecureContext(secureOptions(tls));
      log.info({ certificate: tls.certificate }, 'tls: certificate reloaded');
    } catch (err) {
      // Often the moment between writing the certificate and the key: the next change fixes it.
      log.warn({ err: (err as Error).message }, 'tls: cannot load the changed certificate or key; keeping the previous one');
    }
  };
  for (const f of files) watchFile(f, { interval: POLL_MS, persistent: false }, onChange);
  return {
    server: server as unknown as Server,
    scheme: 'https',
    stop: () => files.forEach((f) => unwatchFile(f, onChange)),
  };
}
