// How many S3 requests each registry request costs, measured with a counting proxy between the
// registry and Ceph RGW. The table is printed; the assertions are upper bounds that catch a
// regression (a new backend call on a hot path), documented in docs/operations.md ("S3 storage").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/index.js';
import { startCephRgw, type CephRgw } from '../helpers/ceph-rgw.js';
import { startCountingProxy, type CountingProxy } from './counting-proxy.js';
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
let proxy: CountingProxy;
let server: RunningServer;

beforeAll(async () => {
  rgw = await startCephRgw();
  const bucket = await rgw.createBucket('stevedore-counts');
  proxy = await startCountingProxy(rgw.endpoint);
  server = await startRegistryOnS3({ rgw, bucket, rootDirectory: newRoot('counts'), endpoint: proxy.url });
});
afterAll(async () => {
  await server?.close();
  await proxy?.close();
  await rgw?.stop();
});

const table: Record<string, { total: number; ops: Record<string, number> }> = {};

/** Runs one registry request and records the S3 requests it caused. */
async function measure(label: string, fn: () => Promise<Response | void>): Promise<number> {
  proxy.reset();
  const res = await fn();
  if (res) await res.arrayBuffer();
  table[label] = { total: proxy.total(), ops: proxy.counts() };
  return proxy.total();
}

describe('S3 requests per registry request', () => {
  it('stays small for pulls and bounded for pushes', async () => {
    const base = server.url;
    const name = 'count/app';
    const layer = content(7 * MiB + 11, 9);
    const digest = sha256(layer);
    let location = '';
    await measure('POST upload session', async () => {
      location = await startUpload(base, name);
    });
    await measure('PATCH first chunk (3 MiB)', async () => {
      location = await patchChunk(base, location, layer.subarray(0, 3 * MiB), 0);
    });
    await measure('PATCH next chunk (4 MiB + 11, crosses a part)', async () => {
      location = await patchChunk(base, location, layer.subarray(3 * MiB), 3 * MiB);
    });
    await measure('GET upload status', () => req(base, 'GET', location));
    await measure('PUT finish upload (2 segments)', () => finishUpload(base, location, digest));
    const cfg = configBlob(9);
    let cfgDigest = '';
    await measure('POST monolithic blob (small)', async () => {
      cfgDigest = await pushMonolithic(base, name, cfg);
    });
    const manifest = imageManifest({ digest: cfgDigest, size: cfg.length }, [{ digest, size: layer.length }]);
    const mDigest = sha256(manifest);
    await measure('PUT manifest by tag', () => putManifest(base, name, 'v1', manifest));

    const hot = {
      blobHead: await measure('HEAD blob', () => req(base, 'HEAD', `/v2/${name}/blobs/${digest}`)),
      blobHeadMissing: await measure('HEAD blob (absent)', () => req(base, 'HEAD', `/v2/${name}/blobs/${sha256(Buffer.from('no'))}`)),
      blobGet: await measure('GET blob', () => req(base, 'GET', `/v2/${name}/blobs/${digest}`)),
      blobRange: await measure('GET blob range', () => req(base, 'GET', `/v2/${name}/blobs/${digest}`, { headers: { Range: 'bytes=0-99' } })),
      manifestByTag: await measure('GET manifest by tag', () => req(base, 'GET', `/v2/${name}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })),
      manifestByTagAgain: await measure('GET manifest by tag (again)', () =>
        req(base, 'GET', `/v2/${name}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } }),
      ),
      manifestByDigest: await measure('GET manifest by digest', () =>
        req(base, 'GET', `/v2/${name}/manifests/${mDigest}`, { headers: { Accept: OCI_MANIFEST } }),
      ),
      manifestHead: await measure('HEAD manifest by tag', () => req(base, 'HEAD', `/v2/${name}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })),
      tags: await measure('GET tags/list', () => req(base, 'GET', `/v2/${name}/tags/list`)),
    };
    console.log(
      ['S3 requests per registry request (Ceph RGW, via counting proxy):']
        .concat(Object.entries(table).map(([k, v]) => `  ${k.padEnd(48)} ${String(v.total).padStart(3)}  ${JSON.stringify(v.ops)}`))
        .join('\n'),
    );
    expect(hot.blobHead).toBeLessThanOrEqual(2);
    expect(hot.blobHeadMissing).toBeLessThanOrEqual(2);
    // A whole-blob GET: the link's HeadObject and the data's GetObject (at once), no stat of the data.
    expect(hot.blobGet).toBeLessThanOrEqual(2);
    expect(hot.blobRange).toBeLessThanOrEqual(3);
    expect(hot.manifestByTag).toBeLessThanOrEqual(3);
    expect(hot.manifestByTagAgain).toBeLessThanOrEqual(3);
    expect(hot.manifestByDigest).toBeLessThanOrEqual(2);
    expect(hot.manifestHead).toBeLessThanOrEqual(3);
    expect(hot.tags).toBeLessThanOrEqual(2);
  });
});
