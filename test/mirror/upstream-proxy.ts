// Fault injection between the mirror and its upstream: a reverse proxy that counts blob GETs by
// digest and the blob bytes it passed on, and on request throttles blob bodies, corrupts one blob
// or every manifest, or stops answering (the upstream "goes down": its listener closes).
import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UpstreamProxy {
  url: string;
  host: string;
  /** Blob GETs answered 200, by digest. */
  blobGets: Map<string, number>;
  /** Requests by `METHOD kind` (kind: blob, manifest, tags, other). */
  requests: Map<string, number>;
  /** Blob body bytes passed to the mirror. */
  blobBytes(): number;
  /** Blob bodies trickle out at this many bytes per second (0: full speed). */
  throttle(bytesPerSecond: number): void;
  /** This blob's body is sent with its first byte flipped (same length). */
  corrupt(digest: string | undefined): void;
  /** Manifest GET bodies get a trailing space (still JSON, but no longer matching their digest). */
  corruptManifests(on: boolean): void;
  /** Every request is answered with this status and a spec error body (429: rate limited); undefined: normal. */
  failWith(status: number | undefined): void;
  /**
   * Blob GETs are answered with a 307 to a one-time "CDN" URL on this proxy (as Docker Hub
   * redirects to its CDN); the CDN URL needs no credentials.
   */
  redirectBlobs(on: boolean): void;
  /** CDN requests that came with an Authorization header (credentials leaked off the registry). */
  cdnRequestsWithAuth(): number;
  /** CDN requests served. */
  cdnRequests(): number;
  /** Closes the listener and every connection (the upstream is unreachable). */
  stop(): Promise<void>;
  reset(): void;
}

export async function startUpstreamProxy(target: string): Promise<UpstreamProxy> {
  const upstream = new URL(target);
  const blobGets = new Map<string, number>();
  const requests = new Map<string, number>();
  let bytes = 0;
  let rate = 0;
  let corruptDigest: string | undefined;
  let failStatus: number | undefined;
  let manifestFlip = false;
  let redirect = false;
  /** CDN token → the original request's path and credentials. */
  const cdn = new Map<string, { path: string; authorization: string | undefined }>();
  let cdnServed = 0;
  let cdnWithAuth = 0;
  const server: Server = createServer((req, res) => {
    let path = req.url ?? '/';
    const cdnHit = /^\/_cdn\/([0-9a-f]+)$/.exec(path);
    if (cdnHit) {
      const entry = cdn.get(cdnHit[1]!);
      cdn.delete(cdnHit[1]!);
      if (!entry) {
        res.writeHead(403).end();
        return;
      }
      cdnServed++;
      if (req.headers.authorization) cdnWithAuth++;
      // The "CDN" fetches from the registry with the credentials the redirect was issued for.
      path = entry.path;
      if (entry.authorization) req.headers.authorization = entry.authorization;
      else delete req.headers.authorization;
    } else if (redirect && req.method === 'GET' && /^\/v2\/.+\/blobs\/sha256:[0-9a-f]{64}$/.test(path) && failStatus === undefined) {
      const token = randomBytes(8).toString('hex');
      cdn.set(token, { path, authorization: req.headers.authorization });
      req.resume();
      res.writeHead(307, { location: `http://${host}/_cdn/${token}` }).end();
      return;
    }
    const m = /^\/v2\/.+\/(blobs|manifests|tags)\/([^/?]+)/.exec(path);
    const kind = m?.[1] === 'blobs' ? 'blob' : m?.[1] === 'manifests' ? 'manifest' : m?.[1] === 'tags' ? 'tags' : 'other';
    const key = `${req.method} ${kind}`;
    requests.set(key, (requests.get(key) ?? 0) + 1);
    if (failStatus !== undefined) {
      req.resume();
      res.writeHead(failStatus, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: failStatus === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE', message: 'injected failure' }] }));
      return;
    }
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path, headers: { ...req.headers, host: upstream.host } },
      (ur) => {
        const isBlobBody = kind === 'blob' && req.method === 'GET' && ur.statusCode === 200;
        if (isBlobBody) blobGets.set(m![2]!, (blobGets.get(m![2]!) ?? 0) + 1);
        const headers = { ...ur.headers };
        if (manifestFlip && kind === 'manifest' && req.method === 'GET' && ur.statusCode === 200) {
          delete headers['content-length'];
          res.writeHead(200, headers);
          ur.pipe(res, { end: false });
          ur.on('end', () => res.end(' '));
          return;
        }
        // Redirects point at the upstream itself: keep them on this proxy.
        if (typeof headers.location === 'string') headers.location = headers.location.replace(upstream.origin, `http://${host}`);
        res.writeHead(ur.statusCode ?? 502, headers);
        if (!isBlobBody) {
          ur.pipe(res);
          return;
        }
        const flip = corruptDigest === m![2];
        let first = true;
        ur.on('data', (chunk: Buffer) => {
          if (flip && first && chunk.length > 0) {
            chunk = Buffer.from(chunk);
            chunk[0] = chunk[0]! ^ 0xff;
          }
          first = false;
          bytes += chunk.length;
          res.write(chunk);
          if (rate > 0) {
            ur.pause();
            setTimeout(() => ur.resume(), Math.ceil((chunk.length / rate) * 1000));
          }
        });
        ur.on('end', () => res.end());
        ur.on('error', () => res.destroy());
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${host}`,
    host,
    blobGets,
    requests,
    blobBytes: () => bytes,
    throttle: (r) => (rate = r),
    corrupt: (d) => (corruptDigest = d),
    failWith: (s) => (failStatus = s),
    corruptManifests: (on) => (manifestFlip = on),
    redirectBlobs: (on) => (redirect = on),
    cdnRequestsWithAuth: () => cdnWithAuth,
    cdnRequests: () => cdnServed,
    reset: () => {
      blobGets.clear();
      requests.clear();
      bytes = 0;
    },
    stop: () =>
      (stopped ??= new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      })),
  };
}
