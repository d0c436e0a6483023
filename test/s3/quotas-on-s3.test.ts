// Storage quotas on S3 (a real Ceph RGW) with two registry processes sharing the bucket, as
// replicas do: a blob pushed through both at once counts once, each replica refuses what would
// exceed given the other's pushes, and garbage collection brings the usage back after deletes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGc } from '../../server/gc-scheduler.js';
import type { RunningServer } from '../../server/index.js';
import { S3Driver } from '../../storage/s3-driver.js';
import { startCephRgw, type CephRgw } from '../helpers/ceph-rgw.js';
import { content, newRoot, pushMonolithic, req, sha256, startRegistryOnS3 } from './s3-env.js';

const LIMIT = 10_000;
let rgw: CephRgw;
let bucket: string;
let rootDirectory: string;
const servers: RunningServer[] = [];

beforeAll(async () => {
  rgw = await startCephRgw();
  bucket = await rgw.createBucket('stevedore-quotas');
  rootDirectory = newRoot('quotas');
  const policy = { quotas: [{ name: 'team', repositories: ['team/**'], limit: LIMIT }], quotaUsageMaxAge: 0 };
  for (let i = 0; i < 2; i++) servers.push(await startRegistryOnS3({ rgw, bucket, rootDirectory }, {}, { policy, gc: { gracePeriod: 0 } }));
}, 120_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  await rgw?.stop();
});

const base = (i: number) => servers[i]!.url.replace(/\/+$/, '');

async function used(i: number): Promise<number> {
  const res = await req(base(i), 'GET', '/v2/_quotas');
  expect(res.status).toBe(200);
  return ((await res.json()) as { quotas: { usedBytes: number }[] }).quotas[0]!.usedBytes;
}

async function monolithic(i: number, name: string, data: Buffer): Promise<Response> {
  return req(base(i), 'POST', `/v2/${name}/blobs/uploads/?digest=${sha256(data)}`, { body: data, headers: { 'Content-Type': 'application/octet-stream' } });
}

describe('quotas on S3 with two replicas', () => {
  it('counts a blob pushed through both replicas at once once; each refuses what the other made too much', async () => {
    const a = content(4000, 1);
    await Promise.all([pushMonolithic(base(0), 'team/one', a), pushMonolithic(base(1), 'team/two', a), pushMonolithic(base(1), 'team/one', a)]);
    expect(await used(0)).toBe(4000);
    expect(await used(1)).toBe(4000);
    const b = content(5000, 2);
    await pushMonolithic(base(0), 'team/one', b);
    // Replica 1 sees replica 0's push (quotaUsageMaxAge 0) and refuses what no longer fits.
    const refused = await monolithic(1, 'team/three', content(2000, 3));
    expect(refused.status).toBe(403);
    const body = (await refused.json()) as { errors: { code: string; detail: unknown }[] };
    expect(body.errors[0]).toMatchObject({ code: 'DENIED', detail: { quota: 'team', used: 9000, requested: 2000, limit: LIMIT } });
    expect(await used(1)).toBe(9000);
  });

  it('garbage collection takes the usage of deleted blobs back', async () => {
    const b = content(5000, 2);
    expect((await req(base(1), 'DELETE', `/v2/team/one/blobs/${sha256(b)}`)).status).toBe(202);
    expect(await used(0)).toBe(9000); // unlinked, not collected yet
    const driver = new S3Driver({
      bucket,
      endpoint: rgw.endpoint,
      region: rgw.region,
      forcePathStyle: true,
      credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
      rootDirectory,
    });
    try {
      // No manifest references anything here: with a grace period of 0 GC takes every blob. S3
      // stamps whole seconds: a marker written in the second the reconciliation starts is kept
      // until the next run, so runs repeat until one starts a second later.
      await expect
        .poll(async () => {
          const r = await runGc(driver, servers[0]!.config);
          return r.quotas[0]?.bytes;
        }, { timeout: 15_000, interval: 200 })
        .toBe(0);
      expect(await used(0)).toBe(0);
      expect(await used(1)).toBe(0);
    } finally {
      driver.destroy?.();
    }
  });
});
