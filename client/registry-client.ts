// The Distribution API as a client sees it, for one registry: manifests, blobs, uploads,
// tags and catalog, with authentication handled on the way.
import type { Readable } from 'node:stream';
// oci's modules themselves, not its index: `tags` loads this, and needs no manifest parser.
import type { Descriptor, ManifestBytes } from '../oci/descriptor.js';
import { digestOf, isDigest, parseDigest, type Digest } from '../oci/digest.js';
import { guessManifestMediaType, MANIFEST_MEDIA_TYPES } from '../oci/media-types.js';
import { Authenticator } from './auth/authenticator.js';
import { parseChallenges } from './auth/challenge.js';
import { ContentMismatchError, RegistryResponseError, parseErrorBody } from './errors.js';
import { FileBody } from './file-body.js';
import { header, type Transport, type TransportRequest, type TransportResponse } from './transport.js';

/** A manifest as fetched: oci's ManifestBytes (kept under this name for callers of the client). */
export type Manifest = ManifestBytes;

export interface BlobSource {
  /** A fresh stream of the blob from `offset`. */
  open(offset?: number): Promise<Readable> | Readable;
  /** The blob's local file, when it is one: sent from there through reused buffers (file-body.ts). */
  file?(): Promise<string | undefined>;
}

// node:stream from process.getBuiltinModule when a blob is streamed: `tags` loads this module, and an
// ESM import would build node:stream's facade (reading its every export) for nothing.
const stream = () => process.getBuiltinModule('node:stream');

export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

/** Blobs up to this size go in one request; larger ones in chunks. */
export const DEFAULT_MONOLITHIC_MAX = 32 * 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;

const pull = (repo: string) => `repository:${repo}:pull`;
const push = (repo: string) => `repository:${repo}:pull,push`;

export class RegistryClient {
  constructor(
    readonly registry: string,
    private readonly transport: Transport,
    private readonly auth: Authenticator,
  ) {}

  /** Sends a request, answering one auth challenge if the registry asks. */
  async call(req: TransportRequest, scopes: string[]): Promise<TransportResponse> {
    const authorization = await this.auth.cached(this.registry, scopes);
    const withAuth = (value?: string): TransportRequest => ({ ...req, headers: { ...req.headers, ...(value ? { authorization: value } : {}) } });
    let res = await this.transport.send(this.registry, withAuth(authorization));
    if (res.status === 401) {
      const challenge = parseChallenges(header(res, 'www-authenticate') ?? '')[0];
      await res.body.dump();
      if (!challenge) throw new RegistryResponseError(req.method, res.url, 401, 'UNAUTHORIZED', 'no WWW-Authenticate challenge');
      const value = await this.auth.authorize(this.registry, scopes, challenge);
      res = await this.transport.send(this.registry, withAuth(value));
    }
    return res;
  }

  private async fail(req: TransportRequest, res: TransportResponse): Promise<never> {
    const text = await res.body.text().catch(() => '');
    const parsed = parseErrorBody(text);
    let { code, message } = parsed;
    // A 401 that remains after a new token was fetched for the scope is a refusal: say so, also
    // for a HEAD (no body), as the challenge names it (distribution's insufficient_scope).
    const challenge = res.status === 401 ? parseChallenges(header(res, 'www-authenticate') ?? '')[0] : undefined;
    if (challenge?.params.error === 'insufficient_scope' && code === undefined) {
      code = 'DENIED';
      message = `requested access to the resource is denied${challenge.params.scope ? ` (${challenge.params.scope})` : ''}`;
    }
    throw new RegistryResponseError(req.method, res.url, res.status, code, message, parsed.errors);
  }

  private async expect(req: TransportRequest, scopes: string[], ok: number[]): Promise<TransportResponse> {
    const res = await this.call(req, scopes);
    if (!ok.includes(res.status)) await this.fail(req, res);
    return res;
  }

  /** GET /v2/: checks the registry is reachable and the credentials work. */
  async ping(): Promise<void> {
    const req = { method: 'GET', path: '/v2/' };
    const res = await this.expect(req, [], [200]);
    await res.body.dump();
  }

  async getManifest(repo: string, reference: string, accept = MANIFEST_ACCEPT): Promise<Manifest> {
    const req = { method: 'GET', path: `/v2/${repo}/manifests/${reference}`, headers: { accept } };
    const res = await this.expect(req, [pull(repo)], [200]);
    const bytes = Buffer.from(await res.body.arrayBuffer());
    const mediaType = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
    const digest = verifyManifestDigest(bytes, reference.includes(':') ? reference : header(res, 'docker-content-digest'), res.url);
    return { digest, mediaType: mediaType || sniffMediaType(bytes), bytes };
  }

  /** HEAD a manifest: its digest, media type and size, or undefined when it does not exist. */
  async headManifest(repo: string, reference: string, accept = MANIFEST_ACCEPT): Promise<Descriptor | undefined> {
    const req = { method: 'HEAD', path: `/v2/${repo}/manifests/${reference}`, headers: { accept } };
    const res = await this.expect(req, [pull(repo)], [200, 404]);
    await res.body.dump();
    if (res.status === 404) return undefined;
    const digest = header(res, 'docker-content-digest');
    if (!digest) return undefined; // cannot tell without the body
    return { mediaType: (header(res, 'content-type') ?? '').split(';')[0]!.trim(), digest: digest as Digest, size: Number(header(res, 'content-length') ?? 0) };
  }

  async putManifest(repo: string, reference: string, manifest: { mediaType: string; bytes: Buffer }): Promise<Digest> {
    const req = { method: 'PUT', path: `/v2/${repo}/manifests/${reference}`, headers: { 'content-type': manifest.mediaType }, body: manifest.bytes };
    const res = await this.expect(req, [push(repo)], [200, 201, 202]);
    await res.body.dump();
    return (header(res, 'docker-content-digest') as Digest | undefined) ?? verifyManifestDigest(manifest.bytes, undefined, res.url);
  }

  async deleteManifest(repo: string, reference: string): Promise<void> {
    const req = { method: 'DELETE', path: `/v2/${repo}/manifests/${reference}` };
    const res = await this.expect(req, [`repository:${repo}:delete`], [200, 202]);
    await res.body.dump();
  }

  /** The stored size of a blob, or undefined. */
  async headBlob(repo: string, digest: Digest): Promise<number | undefined> {
    const req = { method: 'HEAD', path: `/v2/${repo}/blobs/${digest}` };
    const res = await this.expect(req, [pull(repo)], [200, 404]);
    await res.body.dump();
    return res.status === 404 ? undefined : Number(header(res, 'content-length') ?? 0);
  }

  /** Streams a blob from `offset` (the registry must honour Range for offset > 0). */
  async openBlob(repo: string, digest: Digest, offset = 0): Promise<Readable> {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const req = { method: 'GET', path: `/v2/${repo}/blobs/${digest}`, headers, bulk: true };
    const res = await this.expect(req, [pull(repo)], offset > 0 ? [206] : [200]);
    return res.body;
  }

  /** Tries a cross-repository mount; true when the registry mounted the blob. */
  async mountBlob(repo: string, digest: Digest, from: string): Promise<boolean> {
    const q = new URLSearchParams({ mount: digest, from });
    const req = { method: 'POST', path: `/v2/${repo}/blobs/uploads/?${q.toString()}` };
    const res = await this.expect(req, [push(repo), pull(from)], [201, 202]);
    await res.body.dump();
    if (res.status === 202) {
      // Not mounted: the registry opened an upload session we will not use.
      const location = header(res, 'location');
      if (location) await this.call({ method: 'DELETE', path: this.resolveLocation(location) }, [push(repo)]).then((r) => r.body.dump(), () => undefined);
    }
    return res.status === 201;
  }

  private resolveLocation(location: string): string {
    return /^https?:\/\//.test(location) ? location : new URL(location, `${this.transport.baseUrl(this.registry)}/`).toString();
  }

  /**
   * Uploads a blob: in one request when small, else in chunks (at least the registry's
   * OCI-Chunk-Min-Length). The registry verifies the digest when the upload is finished.
   */
  async uploadBlob(repo: string, desc: Descriptor, source: BlobSource, opts: { monolithicMax?: number; chunkSize?: number; onProgress?: (bytes: number) => void } = {}): Promise<void> {
    const start = { method: 'POST', path: `/v2/${repo}/blobs/uploads/` };
    const res = await this.expect(start, [push(repo)], [202]);
    await res.body.dump();
    let location = header(res, 'location');
    if (!location) throw new RegistryResponseError('POST', res.url, 202, undefined, 'no Location for the upload');
    const minChunk = Number(header(res, 'oci-chunk-min-length') ?? 0) || 0;
    const monolithicMax = opts.monolithicMax ?? DEFAULT_MONOLITHIC_MAX;
    const finish = (loc: string) => {
      const url = new URL(this.resolveLocation(loc));
      url.searchParams.set('digest', desc.digest);
      return url.toString();
    };

    // Bodies are made afresh for each attempt, so 429/5xx answers are retried.
    const file = await source.file?.();

    if (desc.size <= monolithicMax) {
      const req: TransportRequest = {
        method: 'PUT',
        path: finish(location),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
        body: file !== undefined ? () => new FileBody(file, 0, desc.size, opts.onProgress) : () => counting(source.open(0), opts.onProgress),
      };
      const done = await this.expect(req, [push(repo)], [201]);
      await done.body.dump();
      return;
    }

    const chunkSize = Math.max(opts.chunkSize ?? DEFAULT_CHUNK_SIZE, minChunk);
    let offset = 0;
    while (offset < desc.size) {
      const end = Math.min(desc.size, offset + chunkSize) - 1;
      const from = offset;
      const req: TransportRequest = {
        method: 'PATCH',
        path: this.resolveLocation(location),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - from + 1), 'content-range': `${from}-${end}` },
        body: file !== undefined ? () => new FileBody(file, from, end - from + 1, opts.onProgress) : () => counting(sliceStream(source.open(from), end - from + 1), opts.onProgress),
      };
      const r = await this.expect(req, [push(repo)], [202]);
      await r.body.dump();
      location = header(r, 'location') ?? location;
      offset = end + 1;
    }
    const req = { method: 'PUT', path: finish(location), headers: { 'content-length': '0' } };
    const done = await this.expect(req, [push(repo)], [201]);
    await done.body.dump();
  }

  /** All tags, following `Link` pagination. */
  async tags(repo: string): Promise<string[]> {
    return this.paginate(`/v2/${repo}/tags/list`, [pull(repo)], (b) => (b as { tags?: string[] | null }).tags ?? []);
  }

  async catalog(): Promise<string[]> {
    return this.paginate('/v2/_catalog', ['registry:catalog:*'], (b) => (b as { repositories?: string[] }).repositories ?? []);
  }

  private async paginate(first: string, scopes: string[], pick: (body: unknown) => string[]): Promise<string[]> {
    const out: string[] = [];
    let path: string | undefined = first;
    for (let pages = 0; path && pages < 100_000; pages++) {
      const req: TransportRequest = { method: 'GET', path };
      const res = await this.expect(req, scopes, [200]);
      out.push(...pick(await res.body.json()));
      const link = header(res, 'link');
      const next = link && /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1];
      path = next ? (next.startsWith('/') ? next : this.resolveLocation(next)) : undefined;
    }
    return out;
  }
}

/** A manifest's digest; when the registry or the reference names one, the content must match it. */
export function verifyManifestDigest(bytes: Buffer, expected: string | undefined, where: string): Digest {
  const named = expected && isDigest(expected) ? expected : undefined;
  const actual = digestOf(bytes, named ? parseDigest(named).algorithm.name : 'sha256');
  if (named && actual !== named) throw new ContentMismatchError(`${where}: manifest content has digest ${actual}, expected ${named}`);
  return actual;
}

function sniffMediaType(bytes: Buffer): string {
  return guessManifestMediaType(bytes) ?? 'application/octet-stream';
}

async function* countingGen(src: AsyncIterable<Buffer>, onProgress?: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of src) {
    onProgress?.(chunk.length);
    yield chunk;
  }
}

function counting(src: Promise<Readable> | Readable, onProgress?: (n: number) => void): Readable {
  return stream().Readable.from(
    (async function* () {
      yield* countingGen(await src, onProgress);
    })(),
    { objectMode: false },
  );
}

/** The first `length` bytes of a stream (then it is destroyed). */
function sliceStream(src: Promise<Readable> | Readable, length: number): Readable {
  return stream().Readable.from(
    (async function* () {
      const s = await src;
      let left = length;
      for await (const chunk of s as AsyncIterable<Buffer>) {
        if (chunk.length >= left) {
          yield chunk.subarray(0, left);
          left = 0;
          break;
        }
        left -= chunk.length;
        yield chunk;
      }
      s.destroy();
    })(),
    { objectMode: false },
  );
}
