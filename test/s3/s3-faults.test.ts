// The S3 server goes away in the middle of a push: the client gets a clean 5xx (the registry's
// JSON error), no partial blob or manifest becomes visible, and once the server is back the same
// push resumes from what the registry reports and succeeds.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/index.js';
import { startCephRgw, type CephRgw } from '../helpers/ceph-rgw.js';
import {
  configBlob,
  content,
  finishUpload,
  imageManifest,
  MiB,
  newRoot,
  OCI_MANIFEST,
  patchChunk,
  pushMonolithic,
  putManifest,
  req,
  sha256,
  startRegistryOnS3,
  startUpload,
} from './s3-env.js';

let rgw: CephRgw;
let server: RunningServer;

beforeAll(async () => {
  rgw = await startCephRgw();
  const bucket = await rgw.createBucket('stevedore-faults');
  server = await startRegistryOnS3({ rgw, bucket, rootDirectory: newRoot('faults') });
});
afterAll(async () => {
  await server?.close();
  await rgw?.stop();
});

async function expectCleanServerError(res: Response): Promise<void> {
  expect(res.status).toBeGreaterThanOrEqual(500);
  expect(res.status).toBeLessThan(600);
  const body = (await res.json()) as { errors: { code: string }[] };
  expect(body.errors[0]?.code).toBeTypeOf('string');
}

/**
 * A PATCH whose body is streamed: `first` is sent, then `between()` runs (the S3 server is
 * stopped), then `rest` is sent and the request ends.
 */
function streamedPatch(url: string, first: Buffer, rest: Buffer, between: () => Promise<void>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request(url, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    r.on('error', reject);
    r.write(first, () => {
      between().then(
        () => r.end(rest),
        (err: unknown) => {
          r.destroy();
          reject(err as Error);
        },
      );
    });
  });
}

describe('S3 server failures', () => {
  it('fails cleanly while S3 is down, exposes nothing partial, and the push resumes when it is back', async () => {
    const base = server.url;
    const name = 'faults/app';
    const layer = content(12 * MiB + 99, 6);
    const digest = sha256(layer);
    const blobPath = `/v2/${name}/blobs/${digest}`;
    let location = await startUpload(base, name);
    location = await patchChunk(base, location, layer.subarray(0, 3 * MiB), 0);

    // The gateway stops while the next chunk is being streamed in.
    const streamed = await streamedPatch(`${base}${location}`, layer.subarray(3 * MiB, 6 * MiB), layer.subarray(6 * MiB, 9 * MiB), () => rgw.stopGateway());
    expect(streamed.status).toBeGreaterThanOrEqual(500);
    expect(streamed.status).toBeLessThan(600);
    expect(JSON.parse(streamed.body).errors[0].code).toBeTypeOf('string');

    // Everything that needs S3 answers 5xx, never a wrong 404 or a success.
    const head = await req(base, 'HEAD', blobPath);
    expect(head.status).toBeGreaterThanOrEqual(500); // (HEAD: no body)
    expect(head.status).toBeLessThan(600);
    await expectCleanServerError(await finishUpload(base, location, digest));
    await expectCleanServerError(await req(base, 'GET', `/v2/${name}/manifests/v1`));

    await rgw.startGateway();

    // Nothing partial is visible: no blob, no manifest.
    expect((await req(base, 'HEAD', blobPath)).status).toBe(404);
    // The upload reports what was stored; the client resumes from there.
    const status = await req(base, 'GET', location);
    expect(status.status).toBe(204);
    const stored = Number(status.headers.get('range')!.split('-')[1]) + 1;
    expect(stored).toBeGreaterThanOrEqual(3 * MiB);
    expect(stored).toBeLessThanOrEqual(9 * MiB);
    location = await patchChunk(base, location, layer.subarray(stored), stored);

    // S3 stops again just before the upload is finished: 5xx, and still no blob.
    await rgw.stopGateway();
    await expectCleanServerError(await finishUpload(base, location, digest));
    await rgw.startGateway();
    expect((await req(base, 'HEAD', blobPath)).status).toBe(404);

    const put = await finishUpload(base, location, digest);
    expect(put.status, await put.text()).toBe(201);
    const got = await req(base, 'GET', blobPath);
    expect(got.status).toBe(200);
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(digest);

    // A manifest pushed while S3 is down is refused and not visible afterwards; pushed again, it is.
    const cfg = configBlob(6);
    const cfgDigest = await pushMonolithic(base, name, cfg);
    const manifest = imageManifest({ digest: cfgDigest, size: cfg.length }, [{ digest, size: layer.length }]);
    await rgw.stopGateway();
    await expectCleanServerError(await putManifest(base, name, 'v1', manifest));
    await rgw.startGateway();
    expect((await req(base, 'GET', `/v2/${name}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })).status).toBe(404);
    expect((await putManifest(base, name, 'v1', manifest)).status).toBe(201);
    const pulled = await req(base, 'GET', `/v2/${name}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    expect(Buffer.from(await pulled.arrayBuffer()).equals(manifest)).toBe(true);
  });
});
