// Shared pieces of the registry-on-S3 suites: a registry started with `storage.driver: s3` against
// the test's Ceph RGW, and a small OCI client over fetch (push in chunks, pull, manifests).
import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { loadConfig, startServer, type ConfigInput, type RunningServer } from '../../server/index.js';
import type { CephRgw } from '../helpers/ceph-rgw.js';

export const MiB = 1024 * 1024;

export interface S3Target {
  rgw: CephRgw;
  bucket: string;
  rootDirectory: string;
  /** An endpoint other than the gateway's own (a counting proxy in front of it). */
  endpoint?: string;
}

/** A registry on S3, as `stevedore serve` would run it with this configuration. */
export function startRegistryOnS3(target: S3Target, s3Extra: Record<string, unknown> = {}, extra: Omit<ConfigInput, 'storage' | 'http' | 'log'> = {}): Promise<RunningServer> {
  const config = loadConfig({
    overrides: {
      ...extra,
      http: { addr: '127.0.0.1:0', drainTimeout: '5s' },
      log: { level: 'silent' },
      storage: {
        driver: 's3',
        s3: {
          bucket: target.bucket,
          endpoint: target.endpoint ?? target.rgw.endpoint,
          region: target.rgw.region,
          forcePathStyle: true,
          accessKeyId: target.rgw.accessKeyId,
          secretAccessKey: target.rgw.secretAccessKey,
          rootDirectory: target.rootDirectory,
          chunkSize: 5 * MiB,
          ...s3Extra,
        },
        uploadPurging: { enabled: false },
      },
    },
  });
  return startServer({ config });
}

export function newRoot(label: string): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

export function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Deterministic test content of any size. */
export function content(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = Math.imul((i + seed * 7919) ^ seed, 2654435761) >>> 24;
  return out;
}

export async function req(base: string, method: string, path: string, init: { body?: Uint8Array; headers?: Record<string, string> } = {}): Promise<Response> {
  const url = /^https?:/.test(path) ? path : `${base}${path}`;
  return fetch(url, { method, body: init.body, headers: init.headers, redirect: 'manual' });
}

/** POST a session; returns its Location (a path). */
export async function startUpload(base: string, name: string): Promise<string> {
  const res = await req(base, 'POST', `/v2/${name}/blobs/uploads/`);
  expect(res.status).toBe(202);
  return new URL(res.headers.get('location')!, base).pathname;
}

/** PATCH one chunk at `start` with Content-Range; returns the next Location. */
export async function patchChunk(base: string, location: string, chunk: Buffer, start: number): Promise<string> {
  const res = await req(base, 'PATCH', location, {
    body: chunk,
    headers: {
      'Content-Type': 'application/octet-stream',
      'Content-Range': `${start}-${start + chunk.length - 1}`,
      'Content-Length': String(chunk.length),
    },
  });
  const text = await res.text();
  expect(res.status, text).toBe(202);
  expect(res.headers.get('range')).toBe(`0-${start + chunk.length - 1}`);
  return new URL(res.headers.get('location')!, base).pathname;
}

export async function finishUpload(base: string, location: string, digest: string): Promise<Response> {
  const url = new URL(location, base);
  url.searchParams.set('digest', digest);
  return req(base, 'PUT', url.toString(), { headers: { 'Content-Length': '0' } });
}

/** Monolithic POST ?digest= (small blobs). */
export async function pushMonolithic(base: string, name: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const res = await req(base, 'POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, {
    body: data,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) },
  });
  expect(res.status, await res.text()).toBe(201);
  return digest;
}

export function imageManifest(config: { digest: string; size: number }, layers: { digest: string; size: number }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
    }),
  );
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export async function putManifest(base: string, name: string, ref: string, manifest: Buffer): Promise<Response> {
  return req(base, 'PUT', `/v2/${name}/manifests/${ref}`, { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
}

export function configBlob(seed: number): Buffer {
  return Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed }));
}
