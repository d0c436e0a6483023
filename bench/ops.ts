// The OCI distribution requests the benchmark times, done with undici.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Pool, type Dispatcher } from 'undici';
import { randomStream } from './random.js';

export class HttpError extends Error {}

type ResponseData = Dispatcher.ResponseData;

async function expectStatus(res: ResponseData, ok: number[], what: string): Promise<void> {
  if (ok.includes(res.statusCode)) return;
  const body = await res.body.text().catch(() => '');
  throw new HttpError(`${what}: HTTP ${res.statusCode} ${body.slice(0, 500)}`);
}

function header(res: ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Resolves a Location header against the registry and returns path+query for the pool. */
function locationPath(base: string, res: ResponseData, what: string): string {
  const loc = header(res, 'location');
  if (!loc) throw new HttpError(`${what}: no Location header`);
  const u = new URL(loc, base);
  return u.pathname + u.search;
}

function withDigest(path: string, digest: string): string {
  const u = new URL(path, 'http://x');
  u.searchParams.set('digest', digest);
  return u.pathname + u.search;
}

/** One registry's HTTP client for the sequential blob operations (one keep-alive connection). */
export class RegistryClient {
  readonly pool: Pool;

  constructor(readonly baseUrl: string) {
    this.pool = new Pool(baseUrl, {
      connections: 1,
      headersTimeout: 300_000,
      bodyTimeout: 300_000,
      keepAliveTimeout: 60_000,
    });
  }

  private async startUpload(repo: string): Promise<string> {
    const res = await this.pool.request({ path: `/v2/${repo}/blobs/uploads/`, method: 'POST' });
    await expectStatus(res, [202], 'POST upload');
    const path = locationPath(this.baseUrl, res, 'POST upload');
    await res.body.dump();
    return path;
  }

  /** POST, then PUT ?digest= with the whole blob as the body. Returns elapsed seconds. */
  async pushMonolithic(repo: string, seed: string, size: number, digest: string): Promise<number> {
    const t0 = performance.now();
    const loc = await this.startUpload(repo);
    const res = await this.pool.request({
      path: withDigest(loc, digest),
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: randomStream(seed, 0, size),
    });
    await expectStatus(res, [201], 'monolithic PUT');
    await res.body.dump();
    return (performance.now() - t0) / 1000;
  }

  /** POST, PATCH chunks with Content-Range, then PUT ?digest= with no body. Returns seconds. */
  async pushChunked(repo: string, seed: string, size: number, digest: string, chunk: number): Promise<number> {
    const t0 = performance.now();
    let loc = await this.startUpload(repo);
    for (let start = 0; start < size; start += chunk) {
      const end = Math.min(size, start + chunk);
      const res = await this.pool.request({
        path: loc,
        method: 'PATCH',
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(end - start),
          'content-range': `${start}-${end - 1}`,
        },
        body: randomStream(seed, start, end),
      });
      await expectStatus(res, [202], `PATCH ${start}-${end - 1}`);
      loc = locationPath(this.baseUrl, res, 'PATCH');
      await res.body.dump();
    }
    const res = await this.pool.request({
      path: withDigest(loc, digest),
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
    });
    await expectStatus(res, [201], 'chunked final PUT');
    await res.body.dump();
    return (performance.now() - t0) / 1000;
  }

  /**
   * GET the whole blob, reading and discarding the body. Returns seconds. With `verify`, the
   * body is also hashed (client CPU, so only used for the untimed correctness check).
   */
  async pullBlob(repo: string, digest: string, size: number, verify = false): Promise<number> {
    const t0 = performance.now();
    const res = await this.pool.request({ path: `/v2/${repo}/blobs/${digest}`, method: 'GET' });
    await expectStatus(res, [200], 'GET blob');
    const h = verify ? createHash('sha256') : undefined;
    let n = 0;
    for await (const piece of res.body as AsyncIterable<Buffer>) {
      n += piece.length;
      h?.update(piece);
    }
    const secs = (performance.now() - t0) / 1000;
    if (n !== size) throw new HttpError(`GET blob: got ${n} bytes, expected ${size}`);
    if (h && `sha256:${h.digest('hex')}` !== digest) throw new HttpError('GET blob: digest mismatch');
    return secs;
  }

  /**
   * GET /blobs/<digest> expecting a 307 to the storage (S3 redirects on), then the blob from the
   * Location through `storage` (a keep-alive pool to the S3 endpoint). Returns elapsed seconds,
   * both requests included.
   */
  async pullBlobRedirected(repo: string, digest: string, size: number, storage: { origin: string; pool: Pool }, verify = false): Promise<number> {
    const t0 = performance.now();
    const res = await this.pool.request({ path: `/v2/${repo}/blobs/${digest}`, method: 'GET' });
    await expectStatus(res, [307], 'GET blob (redirect)');
    await res.body.dump();
    const location = res.headers.location;
    if (typeof location !== 'string') throw new HttpError('GET blob: a 307 without a Location');
    const url = new URL(location);
    if (url.origin !== storage.origin) throw new HttpError(`GET blob: redirected to ${url.origin}, not the storage`);
    const blob = await storage.pool.request({ path: url.pathname + url.search, method: 'GET' });
    await expectStatus(blob, [200], 'GET blob from the storage');
    const h = verify ? createHash('sha256') : undefined;
    let n = 0;
    for await (const piece of blob.body as AsyncIterable<Buffer>) {
      n += piece.length;
      h?.update(piece);
    }
    const secs = (performance.now() - t0) / 1000;
    if (n !== size) throw new HttpError(`GET blob from the storage: got ${n} bytes, expected ${size}`);
    if (h && `sha256:${h.digest('hex')}` !== digest) throw new HttpError('GET blob from the storage: digest mismatch');
    return secs;
  }

  /** Pushes a small blob in one POST+PUT (setup, untimed). */
  async pushSmallBlob(repo: string, data: Buffer): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const loc = await this.startUpload(repo);
    const res = await this.pool.request({
      path: withDigest(loc, digest),
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
      body: data,
    });
    await expectStatus(res, [201], 'small blob PUT');
    await res.body.dump();
    return digest;
  }

  /** Pushes a one-layer OCI image manifest under `tag` (setup, untimed). Returns its body. */
  async pushImage(repo: string, tag: string): Promise<Buffer> {
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/true'] },
        rootfs: { type: 'layers', diff_ids: [] },
      }),
    );
    const layer = Buffer.from('stevedore bench layer\n'.repeat(100));
    const configDigest = await this.pushSmallBlob(repo, config);
    const layerDigest = await this.pushSmallBlob(repo, layer);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
        annotations: { 'org.opencontainers.image.title': 'stevedore-bench' },
      }),
    );
    const res = await this.pool.request({
      path: `/v2/${repo}/manifests/${tag}`,
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: manifest,
    });
    await expectStatus(res, [201], 'manifest PUT');
    await res.body.dump();
    return manifest;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  perSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

/**
 * Closed-loop load: `concurrency` workers on a pool of `concurrency` keep-alive connections,
 * each sending GET manifest-by-tag back to back for `seconds`. Every response body is read
 * in full and its length checked against the pushed manifest.
 */
export async function manifestLoad(
  pool: Pool,
  repo: string,
  tag: string,
  expectedLength: number,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let requests = 0;
  let errors = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const s = performance.now();
      try {
        const res = await pool.request({
          path: `/v2/${repo}/manifests/${tag}`,
          method: 'GET',
          headers: { accept: MANIFEST_ACCEPT },
        });
        const body = await res.body.arrayBuffer();
        if (res.statusCode !== 200 || body.byteLength !== expectedLength) {
          errors++;
          firstError ??= `HTTP ${res.statusCode}, ${body.byteLength} bytes`;
        } else {
          requests++;
          latencies.push(performance.now() - s);
        }
      } catch (err) {
        errors++;
        firstError ??= String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  if (errors > 0 && requests === 0) throw new HttpError(`manifest GET failed: ${firstError}`);
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return {
    requests,
    errors,
    seconds: elapsed,
    perSecond: requests / elapsed,
    latencyMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: latencies[latencies.length - 1] ?? 0 },
  };
}

export function manifestPool(baseUrl: string, connections: number): Pool {
  return new Pool(baseUrl, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
}
