// The registry end to end on S3 (a real Ceph RGW started for this file): push a blob in chunks
// and a manifest over HTTP and pull them back; then two registry instances sharing one bucket,
// as replicas behind a load balancer would: an upload started on one and continued and finished
// on the other, a manifest pushed to one and pulled at once from the other, the same image pushed
// to both at the same time.
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
let bucket: string;
const servers: RunningServer[] = [];

beforeAll(async () => {
  rgw = await startCephRgw();
  bucket = await rgw.createBucket('stevedore-e2e');
});
afterAll(async () => {
  await Promise.allSettled(servers.map((s) => s.close()));
  await rgw?.stop();
});

async function registry(rootDirectory: string): Promise<string> {
  const s = await startRegistryOnS3({ rgw, bucket, rootDirectory });
  servers.push(s);
  return s.url;
}

describe('registry on S3', () => {
  it('pushes a blob in chunks and a manifest, and pulls them back whole and by range', async () => {
    const base = await registry(newRoot('single'));
    const name = 'e2e/app';
    // 13 MiB in chunks of 1, 4, 4 MiB and the rest: below, across and beyond the 5 MiB part size.
    const layer = content(13 * MiB + 321, 1);
    const digest = sha256(layer);
    let location = await startUpload(base, name);
    let offset = 0;
    for (const n of [MiB, 4 * MiB, 4 * MiB, layer.length - 9 * MiB]) {
      location = await patchChunk(base, location, layer.subarray(offset, offset + n), offset);
      offset += n;
    }
    const status = await req(base, 'GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${layer.length - 1}`);
    const put = await finishUpload(base, location, digest);
    expect(put.status, await put.text()).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(digest);

    const head = await req(base, 'HEAD', `/v2/${name}/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(layer.length));
    expect(head.headers.get('docker-content-digest')).toBe(digest);
    const get = await req(base, 'GET', `/v2/${name}/blobs/${digest}`);
    expect(get.status).toBe(200);
    expect(sha256(Buffer.from(await get.arrayBuffer()))).toBe(digest);
    const start = 5 * MiB - 7;
    const ranged = await req(base, 'GET', `/v2/${name}/blobs/${digest}`, { headers: { Range: `bytes=${start}-${start + 99}` } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(layer.subarray(start, start + 100))).toBe(true);

    const cfg = configBlob(1);
    const cfgDigest = await pushMonolithic(base, name, cfg);
    const manifest = imageManifest({ digest: cfgDigest, size: cfg.length }, [{ digest, size: layer.length }]);
    const putM = await putManifest(base, name, 'v1', manifest);
    expect(putM.status, await putM.text()).toBe(201);
    const byTag = await req(base, 'GET', `/v2/${name}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    expect(byTag.status).toBe(200);
    expect(byTag.headers.get('content-type')).toBe(OCI_MANIFEST);
    expect(byTag.headers.get('docker-content-digest')).toBe(sha256(manifest));
    expect(Buffer.from(await byTag.arrayBuffer()).equals(manifest)).toBe(true);
    const byDigest = await req(base, 'GET', `/v2/${name}/manifests/${sha256(manifest)}`, { headers: { Accept: OCI_MANIFEST } });
    expect(Buffer.from(await byDigest.arrayBuffer()).equals(manifest)).toBe(true);
    expect(await (await req(base, 'GET', `/v2/${name}/tags/list`)).json()).toEqual({ name, tags: ['v1'] });
    expect(await (await req(base, 'GET', '/v2/_catalog')).json()).toEqual({ repositories: [name] });

    // A blob that is not there, and an upload that is cancelled, leave nothing behind.
    expect((await req(base, 'HEAD', `/v2/${name}/blobs/${sha256(Buffer.from('absent'))}`)).status).toBe(404);
    const doomed = await startUpload(base, name);
    await patchChunk(base, doomed, content(6 * MiB, 2), 0);
    expect((await req(base, 'DELETE', doomed)).status).toBe(204);
    expect((await req(base, 'GET', doomed)).status).toBe(404);
  });

  it('shares one bucket between two registries: an upload moves between them, a manifest is seen by both', async () => {
    const root = newRoot('shared');
    const a = await registry(root);
    const b = await registry(root);
    const name = 'scale/out';
    const layer = content(11 * MiB + 5, 3);
    const digest = sha256(layer);
    // Started on A, continued alternately on B and A (each must re-read the other's progress),
    // status asked of B, finished on B.
    let location = await startUpload(a, name);
    location = await patchChunk(a, location, layer.subarray(0, 3 * MiB), 0);
    location = await patchChunk(b, location, layer.subarray(3 * MiB, 6 * MiB), 3 * MiB);
    const statusB = await req(b, 'GET', location);
    expect(statusB.status).toBe(204);
    expect(statusB.headers.get('range')).toBe(`0-${6 * MiB - 1}`);
    // A stale offset from A's point of view is refused with the real end.
    const stale = await req(a, 'PATCH', location, {
      body: layer.subarray(3 * MiB, 4 * MiB),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${3 * MiB}-${4 * MiB - 1}`, 'Content-Length': String(MiB) },
    });
    expect(stale.status).toBe(416);
    expect(stale.headers.get('range')).toBe(`0-${6 * MiB - 1}`);
    location = await patchChunk(a, location, layer.subarray(6 * MiB), 6 * MiB);
    const put = await finishUpload(b, location, digest);
    expect(put.status, await put.text()).toBe(201);
    for (const base of [a, b]) {
      const got = await req(base, 'GET', `/v2/${name}/blobs/${digest}`);
      expect(got.status).toBe(200);
      expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(digest);
    }

    // A manifest pushed to A is immediately pulled from B, by tag and by digest.
    const cfg = configBlob(3);
    const cfgDigest = await pushMonolithic(a, name, cfg);
    const manifest = imageManifest({ digest: cfgDigest, size: cfg.length }, [{ digest, size: layer.length }]);
    expect((await putManifest(a, name, 'latest', manifest)).status).toBe(201);
    const fromB = await req(b, 'GET', `/v2/${name}/manifests/latest`, { headers: { Accept: OCI_MANIFEST } });
    expect(fromB.status).toBe(200);
    expect(Buffer.from(await fromB.arrayBuffer()).equals(manifest)).toBe(true);
    expect((await req(b, 'HEAD', `/v2/${name}/manifests/${sha256(manifest)}`)).status).toBe(200);
    expect(await (await req(b, 'GET', `/v2/${name}/tags/list`)).json()).toEqual({ name, tags: ['latest'] });
  });

  it('accepts the same image pushed to both registries at the same time', async () => {
    const root = newRoot('race');
    const [a, b] = [await registry(root), await registry(root)];
    const name = 'race/img';
    const layer = content(7 * MiB + 1, 4);
    const digest = sha256(layer);
    const cfg = configBlob(4);
    const manifest = imageManifest({ digest: sha256(cfg), size: cfg.length }, [{ digest, size: layer.length }]);
    const push = async (base: string) => {
      let location = await startUpload(base, name);
      location = await patchChunk(base, location, layer.subarray(0, 4 * MiB), 0);
      location = await patchChunk(base, location, layer.subarray(4 * MiB), 4 * MiB);
      const put = await finishUpload(base, location, digest);
      expect(put.status, await put.text()).toBe(201);
      await pushMonolithic(base, name, cfg);
      const res = await putManifest(base, name, 'v1', manifest);
      expect(res.status, await res.text()).toBe(201);
    };
    await Promise.all([push(a), push(b)]);
    for (const base of [a, b]) {
      const m = await req(base, 'GET', `/v2/${name}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
      expect(Buffer.from(await m.arrayBuffer()).equals(manifest)).toBe(true);
      const blob = await req(base, 'GET', `/v2/${name}/blobs/${digest}`);
      expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(digest);
    }
  });
});
