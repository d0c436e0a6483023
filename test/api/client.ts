// HTTP helpers and fixtures for the API suite: a thin wrapper over Node's global fetch that
// buffers every response, assertions for the spec's error bodies, and builders for blobs,
// manifests and indexes pushed the way a client would push them.
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';
import { digestOf, MediaType, type Descriptor, type Digest } from '../../oci/index.js';
import { IS_CNCF } from './target.js';

/** The error codes of distribution-spec "Error Codes" (plus TAG_INVALID, which the conformance suite still lists). */
export const SPEC_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  'TAG_INVALID',
] as const;
export type SpecErrorCode = (typeof SPEC_ERROR_CODES)[number];

export interface Res {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
  json<T = unknown>(): T;
  header(name: string): string | null;
  /** The Location header resolved against the request URL (it may be relative). */
  location(): string;
}

export type Body = Buffer | Uint8Array | string | ReadableStream<Uint8Array>;

export interface ReqOptions {
  headers?: Record<string, string>;
  body?: Body;
  query?: Record<string, string>;
  /**
   * Keep the status and headers even if the body is cut short (distribution 2.8 answers a 416 on
   * blobs with the blob's Content-Length and a shorter body, then closes the connection).
   */
  allowTruncatedBody?: boolean;
}

function describe(res: { method: string; url: string; status: number; text: string; headers: Headers }): string {
  const hdrs = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n  ');
  return `${res.method} ${res.url} -> ${res.status}\n  ${hdrs}\n  ${res.text.slice(0, 500)}`;
}

export class Registry {
  constructor(readonly url: string) {}

  /** Absolute URL for a path (`/v2/...`) or a Location header value (absolute or relative). */
  resolve(pathOrUrl: string, query?: Record<string, string>): string {
    const u = new URL(pathOrUrl, this.url + '/');
    for (const [k, v] of Object.entries(query ?? {})) u.searchParams.set(k, v);
    return u.toString();
  }

  async req(method: string, pathOrUrl: string, opts: ReqOptions = {}): Promise<Res> {
    const url = this.resolve(pathOrUrl, opts.query);
    const init: RequestInit & { duplex?: 'half' } = { method, headers: opts.headers, redirect: 'manual' };
    if (opts.body !== undefined) {
      init.body = opts.body as NonNullable<RequestInit['body']>;
      if (opts.body instanceof ReadableStream) init.duplex = 'half';
    }
    const r = await fetch(url, init);
    let body: Buffer;
    try {
      body = Buffer.from(await r.arrayBuffer());
    } catch (err) {
      if (!opts.allowTruncatedBody) throw err;
      body = Buffer.alloc(0);
    }
    const text = body.toString('utf8');
    const res: Res = {
      method,
      url,
      status: r.status,
      headers: r.headers,
      body,
      text,
      json<T>() {
        try {
          return JSON.parse(text) as T;
        } catch {
          throw new Error(`response is not JSON:\n${describe(res)}`);
        }
      },
      header: (name) => r.headers.get(name),
      location() {
        const loc = r.headers.get('location');
        if (!loc) throw new Error(`no Location header:\n${describe(res)}`);
        return new URL(loc, url).toString();
      },
    };
    return res;
  }

  get(p: string, o?: ReqOptions) {
    return this.req('GET', p, o);
  }
  head(p: string, o?: ReqOptions) {
    return this.req('HEAD', p, o);
  }
  put(p: string, o?: ReqOptions) {
    return this.req('PUT', p, o);
  }
  post(p: string, o?: ReqOptions) {
    return this.req('POST', p, o);
  }
  patch(p: string, o?: ReqOptions) {
    return this.req('PATCH', p, o);
  }
  delete(p: string, o?: ReqOptions) {
    return this.req('DELETE', p, o);
  }

  /** POST /v2/<name>/blobs/uploads/ and check it opened a session; returns the upload URL. */
  async startUpload(repo: string): Promise<string> {
    const res = await this.post(`/v2/${repo}/blobs/uploads/`);
    expectStatus(res, 202);
    return res.location();
  }

  /** Monolithic push: POST a session, then PUT the whole blob with ?digest=. */
  async pushBlob(repo: string, data: Buffer | string, digest: Digest = digestOf(data)): Promise<Descriptor> {
    const loc = await this.startUpload(repo);
    const res = await this.put(loc, {
      query: { digest },
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    });
    expectStatus(res, 201);
    return { mediaType: 'application/octet-stream', digest, size: Buffer.byteLength(data) };
  }

  async pushManifest(repo: string, ref: string, m: Manifest): Promise<Res> {
    const res = await this.put(`/v2/${repo}/manifests/${ref}`, {
      headers: { 'content-type': m.mediaType },
      body: m.bytes,
    });
    expectStatus(res, 201);
    return res;
  }

  /** GET /v2/ answers 200: the server is still serving. */
  async expectAlive(): Promise<void> {
    const res = await this.get('/v2/');
    expect(res.status, describe(res)).toBe(200);
  }
}

export function expectStatus(res: Res, status: number | number[]): void {
  const ok = Array.isArray(status) ? status.includes(res.status) : res.status === status;
  if (!ok) throw new Error(`expected status ${String(status)}, got:\n${describe(res)}`);
}

export interface ErrorBody {
  errors: { code: string; message?: string; detail?: unknown }[];
}

/**
 * The response is an error with the given status and a spec error body
 * `{"errors":[{"code","message","detail"}]}` whose first code is one of `codes`.
 */
export function expectError(res: Res, status: number | number[], codes: string | readonly string[]): ErrorBody {
  expectStatus(res, status);
  const allowed = typeof codes === 'string' ? [codes] : codes;
  if (res.method === 'HEAD') return { errors: [] }; // HEAD carries no body
  const ct = res.header('content-type') ?? '';
  expect(ct, describe(res)).toMatch(/^application\/json\b/);
  const body = res.json<ErrorBody>();
  expect(Array.isArray(body.errors), describe(res)).toBe(true);
  expect(body.errors.length, describe(res)).toBeGreaterThan(0);
  for (const e of body.errors) {
    expect(typeof e.code, describe(res)).toBe('string');
    if (e.message !== undefined) expect(typeof e.message).toBe('string');
    // distribution omits empty fields; Stevedore always sends the three.
    if (!IS_CNCF) {
      expect(typeof e.message, describe(res)).toBe('string');
      expect(e, describe(res)).toHaveProperty('detail');
    }
  }
  expect(allowed, describe(res)).toContain(body.errors[0]!.code);
  return body;
}

// ---------- raw HTTP for what fetch refuses to send ----------

export interface RawRes {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * One request on its own connection (`Connection: close`) with exactly the given path, headers and
 * body bytes: lets a test send `..` path segments, or declare a Content-Length that differs from the
 * bytes it sends. `path` must start with `/`.
 */
export function rawRequest(baseUrl: string, method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<RawRes> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        method,
        path, // as written: no URL parsing, which would resolve `.` and `..` segments
        headers: { connection: 'close', ...headers },
        setHost: true,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // strictContentLength is off by default: node:http sends the bytes even when they exceed the header.
    req.end(body);
  });
}

// ---------- fixtures ----------

let counter = 0;
/** A fresh repository name (unique within a run; lowercase, valid). */
export function repoName(prefix = 'test'): string {
  counter += 1;
  return `${prefix}/repo-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}

export function randomBlob(size: number): Buffer {
  return randomBytes(size);
}

export interface Manifest {
  mediaType: string;
  bytes: Buffer;
  digest: Digest;
  size: number;
  descriptor: Descriptor;
}

export function asManifest(doc: unknown, mediaType: string): Manifest {
  const bytes = Buffer.from(JSON.stringify(doc, null, '\t'));
  const digest = digestOf(bytes);
  return { mediaType, bytes, digest, size: bytes.length, descriptor: { mediaType, digest, size: bytes.length } };
}

export function configBlob(): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      author: randomBytes(8).toString('hex'),
    }),
  );
}

export interface ImageParts {
  config: Buffer;
  layers: Buffer[];
  configDesc: Descriptor;
  layerDescs: Descriptor[];
}

export function imageParts(layerCount = 1, docker = false): ImageParts {
  const config = configBlob();
  const layers = Array.from({ length: layerCount }, () => randomBlob(256 + Math.floor(Math.random() * 256)));
  return {
    config,
    layers,
    configDesc: { mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig, digest: digestOf(config), size: config.length },
    layerDescs: layers.map((l) => ({
      mediaType: docker ? MediaType.DockerLayer : MediaType.OciLayerGzip,
      digest: digestOf(l),
      size: l.length,
    })),
  };
}

export function ociManifest(
  config: Descriptor,
  layers: Descriptor[],
  extra: { subject?: Descriptor; artifactType?: string; annotations?: Record<string, string> } = {},
): Manifest {
  return asManifest(
    {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      ...(extra.artifactType ? { artifactType: extra.artifactType } : {}),
      config,
      layers,
      ...(extra.subject ? { subject: extra.subject } : {}),
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    MediaType.OciManifest,
  );
}

export function dockerManifest(config: Descriptor, layers: Descriptor[]): Manifest {
  return asManifest({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config, layers }, MediaType.DockerManifest);
}

const PLATFORMS = [
  { architecture: 'amd64', os: 'linux' },
  { architecture: 'arm64', os: 'linux', variant: 'v8' },
  { architecture: 'arm', os: 'linux', variant: 'v7' },
];

export function ociIndex(
  children: Manifest[],
  extra: { subject?: Descriptor; artifactType?: string; annotations?: Record<string, string> } = {},
): Manifest {
  return asManifest(
    {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      ...(extra.artifactType ? { artifactType: extra.artifactType } : {}),
      manifests: children.map((c, i) => ({ ...c.descriptor, platform: PLATFORMS[i % PLATFORMS.length] })),
      ...(extra.subject ? { subject: extra.subject } : {}),
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    MediaType.OciIndex,
  );
}

export function dockerManifestList(children: Manifest[]): Manifest {
  return asManifest(
    {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifestList,
      manifests: children.map((c, i) => ({ ...c.descriptor, platform: PLATFORMS[i % PLATFORMS.length] })),
    },
    MediaType.DockerManifestList,
  );
}

/** Pushes config + layers, then the manifest (OCI or Docker schema 2) under `ref` (tag or its digest). */
export async function pushImage(
  reg: Registry,
  repo: string,
  ref?: string,
  opts: { docker?: boolean; layers?: number } = {},
): Promise<{ parts: ImageParts; manifest: Manifest; res: Res }> {
  const parts = imageParts(opts.layers ?? 1, opts.docker);
  await reg.pushBlob(repo, parts.config);
  for (const l of parts.layers) await reg.pushBlob(repo, l);
  const manifest = opts.docker ? dockerManifest(parts.configDesc, parts.layerDescs) : ociManifest(parts.configDesc, parts.layerDescs);
  const res = await reg.pushManifest(repo, ref ?? manifest.digest, manifest);
  return { parts, manifest, res };
}

/** The `Accept` a modern client sends for manifests. */
export const ACCEPT_ALL_MANIFESTS = [MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList].join(', ');

/** The empty JSON blob `{}` of image-spec 1.1 (application/vnd.oci.empty.v1+json). */
export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_JSON_DESC: Descriptor = { mediaType: MediaType.OciEmpty, digest: digestOf(EMPTY_JSON), size: 2 };

/** A digest of content that no test pushes. */
export const UNKNOWN_DIGEST = digestOf('hello world, nobody pushed me');
