// Blob GETs redirected to presigned S3 URLs (`storage.s3.redirect.enabled`), on a real Ceph RGW.
// Two registries share one bucket and root: one with redirects on, one with the default (off).
// With redirects, a GET answers 307 with a presigned Location that serves the exact bytes (ranges
// too, when the client repeats its Range header, as Go's and undici's clients do), a HEAD is
// answered by the registry itself, and skopeo pulls an image through the redirects without a blob
// byte passing through the registry. Without redirects the blob is streamed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../oci/index.js';
import type { RunningServer } from '../../server/index.js';
import { startCephRgw, type CephRgw } from '../helpers/ceph-rgw.js';
import { multiLayerImage, OciLayoutReader, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { content, MiB, newRoot, pushMonolithic, req, sha256, startRegistryOnS3 } from './s3-env.js';

let rgw: CephRgw;
let bucket: string;
let work: string;
let direct: RunningServer;
let redirecting: RunningServer;
let image: BuiltImage;
const name = 'redirect/app';
const blob = content(6 * MiB + 123, 21);
let digest: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'stevedore-redirect-'));
  rgw = await startCephRgw();
  bucket = await rgw.createBucket('stevedore-redirect');
  const rootDirectory = newRoot('redirect');
  direct = await startRegistryOnS3({ rgw, bucket, rootDirectory });
  redirecting = await startRegistryOnS3({ rgw, bucket, rootDirectory }, { redirect: { enabled: true, expiry: '5m' } });
  digest = await pushMonolithic(direct.url, name, blob);
  image = multiLayerImage({ tag: 'v1', randomBytes: 7 * MiB });
  await writeLayout(join(work, 'src'), image);
});
afterAll(async () => {
  await Promise.allSettled([direct?.close(), redirecting?.close()]);
  await rgw?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A counter of the registry's /metrics (summed over label sets matching `labels`). */
async function metric(server: RunningServer, metricName: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(metricName)) continue;
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === metricName && (m[2] ?? '').includes(labels)) sum += Number(m[3]);
  }
  return sum;
}

describe('blob GET redirects to presigned S3 URLs', () => {
  it('answers a GET with 307 and a presigned Location that serves the exact bytes', async () => {
    const res = await req(redirecting.url, 'GET', `/v2/${name}/blobs/${digest}`);
    expect(res.status).toBe(307);
    expect(await res.text()).toBe('');
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(res.headers.get('content-length')).toBe('0');
    expect(res.headers.get('cache-control')).toBeNull();
    const location = new URL(res.headers.get('location')!);
    // Path-style URL of the blob's data object on the gateway, signed for the configured expiry.
    expect(`${location.origin}`).toBe(rgw.endpoint);
    expect(location.pathname).toMatch(new RegExp(`^/${bucket}/redirect-[0-9a-f]+/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data$`));
    expect(location.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(location.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(location.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);

    // The URL works without any credentials of ours.
    const fromS3 = await fetch(location);
    expect(fromS3.status).toBe(200);
    const bytes = Buffer.from(await fromS3.arrayBuffer());
    expect(bytes.length).toBe(blob.length);
    expect(sha256(bytes)).toBe(digest);

    // A client that follows redirects (fetch's default) just gets the blob.
    const followed = await fetch(`${redirecting.url}/v2/${name}/blobs/${digest}`);
    expect(followed.status).toBe(200);
    expect(followed.redirected).toBe(true);
    expect(sha256(Buffer.from(await followed.arrayBuffer()))).toBe(digest);
  });

  it('redirects ranged GETs too: the presigned URL honours the Range the client repeats', async () => {
    const start = 5 * MiB - 3;
    const range = `bytes=${start}-${start + 999}`;
    const res = await req(redirecting.url, 'GET', `/v2/${name}/blobs/${digest}`, { headers: { Range: range } });
    expect(res.status).toBe(307);
    await res.arrayBuffer();
    const partial = await fetch(res.headers.get('location')!, { headers: { Range: range } });
    expect(partial.status).toBe(206);
    expect(partial.headers.get('content-range')).toBe(`bytes ${start}-${start + 999}/${blob.length}`);
    expect(Buffer.from(await partial.arrayBuffer()).equals(blob.subarray(start, start + 1000))).toBe(true);
    // A suffix range, followed automatically (undici repeats the header on the redirect).
    const tail = await fetch(`${redirecting.url}/v2/${name}/blobs/${digest}`, { headers: { Range: 'bytes=-100' } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(blob.subarray(blob.length - 100))).toBe(true);
    // An unsatisfiable range is answered by the registry, as without redirects.
    const bad = await req(redirecting.url, 'GET', `/v2/${name}/blobs/${digest}`, { headers: { Range: `bytes=${blob.length}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${blob.length}`);
    expect(bad.headers.get('location')).toBeNull();
  });

  it('never redirects a HEAD, an unknown blob, a blob of another repository or a matching If-None-Match', async () => {
    const head = await req(redirecting.url, 'HEAD', `/v2/${name}/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(head.headers.get('location')).toBeNull();
    expect(head.headers.get('content-length')).toBe(String(blob.length));
    expect(head.headers.get('docker-content-digest')).toBe(digest);

    const unknown = await req(redirecting.url, 'GET', `/v2/${name}/blobs/${sha256(Buffer.from('absent'))}`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('BLOB_UNKNOWN');
    const elsewhere = await req(redirecting.url, 'GET', `/v2/other/repo/blobs/${digest}`);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.headers.get('location')).toBeNull();
    await elsewhere.arrayBuffer();

    const cached = await req(redirecting.url, 'GET', `/v2/${name}/blobs/${digest}`, { headers: { 'If-None-Match': `"${digest}"` } });
    expect(cached.status).toBe(304);
    expect(cached.headers.get('location')).toBeNull();
  });

  it('streams the blob when redirects are off (the default)', async () => {
    const res = await req(direct.url, 'GET', `/v2/${name}/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-length')).toBe(String(blob.length));
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(digest);
    // (The byte counter that the skopeo case relies on does count streamed blobs.)
    expect(await metric(direct, 'stevedore_http_sent_bytes_total', 'route="blobs"')).toBeGreaterThanOrEqual(blob.length);
  });

  it('lets skopeo pull an image through the redirects, no blob byte passing through the registry', async () => {
    const host = (s: RunningServer) => new URL(s.url).host;
    await skopeoCopy(`oci:${join(work, 'src')}:v1`, `docker://${host(direct)}/redirect/image:v1`);
    const sentBefore = await metric(redirecting, 'stevedore_http_sent_bytes_total', 'route="blobs"');
    const pulledBefore = await metric(redirecting, 'stevedore_blobs_pulled_total');
    const out = join(work, 'pulled');
    await skopeoCopy(`docker://${host(redirecting)}/redirect/image:v1`, `oci:${out}:pulled`);
    const layout = await OciLayoutReader.open(out);
    expect(layout.resolve('pulled').digest).toBe(image.manifest.digest);
    for (const b of image.blobs) {
      const got = await layout.blob(b.descriptor.digest);
      expect(digestOf(got), b.descriptor.mediaType).toBe(b.descriptor.digest);
    }
    // Every blob (config and layers) was a GET answered with a redirect: pulled, but no bytes sent.
    expect(await metric(redirecting, 'stevedore_blobs_pulled_total')).toBe(pulledBefore + image.blobs.length);
    expect(await metric(redirecting, 'stevedore_http_sent_bytes_total', 'route="blobs"')).toBe(sentBefore);
  });
});
