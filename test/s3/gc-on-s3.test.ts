// Online garbage collection on S3 (a real Ceph RGW): the mark phase lists the bucket flatly and in
// parallel; an untagged image is collected while a tagged one stays pullable. A run's summary is
// recorded in the bucket, and every registry on it shows that last run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/index.js';
import { loadConfig } from '../../server/config.js';
import { runGc } from '../../server/gc-scheduler.js';
import { collectGarbage, scrub } from '../../storage/index.js';
import { S3Driver } from '../../storage/s3-driver.js';
import { startCephRgw, type CephRgw } from '../helpers/ceph-rgw.js';
import { configBlob, content, imageManifest, newRoot, OCI_MANIFEST, pushMonolithic, putManifest, req, sha256, startRegistryOnS3 } from './s3-env.js';

let rgw: CephRgw;
let bucket: string;
let server: RunningServer | undefined;
const others: RunningServer[] = [];

beforeAll(async () => {
  rgw = await startCephRgw();
  bucket = await rgw.createBucket('stevedore-gc');
});
afterAll(async () => {
  await server?.close();
  for (const s of others) await s.close();
  await rgw?.stop();
});

describe('GC on S3', () => {
  it('collects an untagged image and keeps the tagged one', async () => {
    const rootDirectory = newRoot('gc');
    server = await startRegistryOnS3({ rgw, bucket, rootDirectory });
    const base = server.url.replace(/\/+$/, '');
    const name = 'gc/app';
    const push = async (seed: number, ref: string | undefined) => {
      const cfg = configBlob(seed);
      const layer = content(1000 + seed, seed);
      const cfgDigest = await pushMonolithic(base, name, cfg);
      const layerDigest = await pushMonolithic(base, name, layer);
      const manifest = imageManifest({ digest: cfgDigest, size: cfg.length }, [{ digest: layerDigest, size: layer.length }]);
      const res = await putManifest(base, name, ref ?? sha256(manifest), manifest);
      expect(res.status).toBe(201);
      return { manifest, layerDigest, cfgDigest };
    };
    const kept = await push(1, 'v1');
    const gone = await push(2, undefined);
    const driver = new S3Driver({
      bucket,
      endpoint: rgw.endpoint,
      region: rgw.region,
      forcePathStyle: true,
      credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
      rootDirectory,
    });
    try {
      const opts = { gracePeriodMs: 60_000, deleteUntagged: true, now: () => Date.now() + 3_600_000 };
      const dry = await collectGarbage(driver, { ...opts, dryRun: true });
      const real = await collectGarbage(driver, opts);
      expect(real.deleted).toEqual(dry.deleted);
      expect(real.deleted.filter((d) => d.kind === 'manifest').map((d) => d.digest)).toEqual([sha256(gone.manifest)]);
      expect(real.blobsFreed).toBe(3);
      expect(real.bytesFreed).toBe(configBlob(2).length + 1002 + gone.manifest.length);
      expect((await req(base, 'GET', `/v2/${name}/blobs/${gone.layerDigest}`)).status).toBe(404);
      const m = await req(base, 'GET', `/v2/${name}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
      expect(m.status).toBe(200);
      for (const d of [kept.cfgDigest, kept.layerDigest]) {
        const b = await req(base, 'GET', `/v2/${name}/blobs/${d}`);
        expect(b.status).toBe(200);
        expect(sha256(new Uint8Array(await b.arrayBuffer()))).toBe(d);
      }
      const again = await collectGarbage(driver, opts);
      expect(again.deleted).toEqual([]);
      expect((await scrub(driver)).problems).toEqual([]);
    } finally {
      driver.destroy();
    }
  });

  it('records the run in the bucket: every registry on it shows the last run', async () => {
    const rootDirectory = newRoot('gc-record');
    const a = await startRegistryOnS3({ rgw, bucket, rootDirectory });
    others.push(a);
    const b = await startRegistryOnS3({ rgw, bucket, rootDirectory });
    others.push(b);
    const base = a.url.replace(/\/+$/, '');
    const name = 'gc/record';
    const cfg = configBlob(7);
    const layer = content(5000, 7);
    const cfgDigest = await pushMonolithic(base, name, cfg);
    const layerDigest = await pushMonolithic(base, name, layer);
    const manifest = imageManifest({ digest: cfgDigest, size: cfg.length }, [{ digest: layerDigest, size: layer.length }]);
    expect((await putManifest(base, name, sha256(manifest), manifest)).status).toBe(201); // untagged
    const lastRun = async (s: RunningServer) =>
      ((await (await fetch(new URL('/v2/_ui/operations', s.url))).json()) as { gc: { lastRun?: { ok: boolean; result?: { bytesFreed: number }; by?: { runner: string } } } }).gc.lastRun;
    expect(await lastRun(b)).toBeUndefined();
    const driver = new S3Driver({
      bucket,
      endpoint: rgw.endpoint,
      region: rgw.region,
      forcePathStyle: true,
      credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
      rootDirectory,
    });
    try {
      const gc = loadConfig({ overrides: { gc: { gracePeriod: '0s', deleteUntagged: true } } });
      const result = await runGc(driver, gc);
      expect(result.recordError).toBeUndefined();
      expect(result.gc.bytesFreed).toBe(cfg.length + layer.length + manifest.length);
      for (const s of [a, b]) expect(await lastRun(s)).toMatchObject({ ok: true, result: { bytesFreed: result.gc.bytesFreed }, by: { runner: 'command' } });
    } finally {
      driver.destroy();
    }
  });
});
