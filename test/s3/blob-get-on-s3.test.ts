// Blob GETs on S3 (a real Ceph RGW started for this file). A whole-blob GET starts the data's
// GetObject at once with the check of the repository's link and takes the size from that GET's
// answer (storage/blob-store.ts open()): what a client sees must be what the stat-first path gave
// — the bytes and their length, 404 BLOB_UNKNOWN for a blob the repository does not have or whose
// data is gone, ranges, HEAD — and a dropped speculative GET must not upset the next requests.
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/index.js';
import { startCephRgw, type CephRgw } from '../helpers/ceph-rgw.js';
import { content, MiB, newRoot, pushMonolithic, req, sha256, startRegistryOnS3 } from './s3-env.js';

let rgw: CephRgw;
let bucket: string;
let root: string;
let server: RunningServer;

beforeAll(async () => {
  rgw = await startCephRgw();
  bucket = await rgw.createBucket('stevedore-blob-get');
  root = newRoot('blob-get');
  server = await startRegistryOnS3({ rgw, bucket, rootDirectory: root });
});
afterAll(async () => {
  await server?.close();
  await rgw?.stop();
});

async function expectBlobUnknown(res: Response, digest: string): Promise<void> {
  expect(res.status).toBe(404);
  const body = (await res.json()) as { errors: { code: string; detail?: { digest?: string } }[] };
  expect(body.errors[0]?.code).toBe('BLOB_UNKNOWN');
  expect(body.errors[0]?.detail?.digest).toBe(digest);
}

describe('blob GET on S3', () => {
  it('serves whole blobs and ranges, and 404s a blob not linked in the repository', async () => {
    const base = server.url;
    const blob = content(3 * MiB + 5, 41);
    const digest = await pushMonolithic(base, 'get/one', blob);
    const small = content(1000, 42);
    const smallDigest = await pushMonolithic(base, 'get/one', small);

    for (let round = 0; round < 3; round++) {
      // Whole: every byte, and the length from the GetObject's answer.
      const got = await req(base, 'GET', `/v2/get/one/blobs/${digest}`);
      expect(got.status).toBe(200);
      expect(got.headers.get('content-length')).toBe(String(blob.length));
      expect(got.headers.get('docker-content-digest')).toBe(digest);
      expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(digest);

      // Stored, but not linked in this repository: unknown there (its GetObject is dropped).
      await expectBlobUnknown(await req(base, 'GET', `/v2/get/other/blobs/${digest}`), digest);
      const absent = sha256(Buffer.from(`absent-${round}`));
      await expectBlobUnknown(await req(base, 'GET', `/v2/get/one/blobs/${absent}`), absent);

      // A small blob right after a dropped GET: the kept connections are still in step.
      const s = await req(base, 'GET', `/v2/get/one/blobs/${smallDigest}`);
      expect(s.status).toBe(200);
      expect(Buffer.from(await s.arrayBuffer()).equals(small)).toBe(true);
    }

    // Ranges and HEAD take the stat: unchanged.
    const ranged = await req(base, 'GET', `/v2/get/one/blobs/${digest}`, { headers: { Range: `bytes=${2 * MiB}-${2 * MiB + 9}` } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes ${2 * MiB}-${2 * MiB + 9}/${blob.length}`);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(blob.subarray(2 * MiB, 2 * MiB + 10))).toBe(true);
    const suffix = await req(base, 'GET', `/v2/get/one/blobs/${digest}`, { headers: { Range: 'bytes=-7' } });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(blob.subarray(blob.length - 7))).toBe(true);
    const past = await req(base, 'GET', `/v2/get/one/blobs/${digest}`, { headers: { Range: `bytes=${blob.length}-` } });
    expect(past.status).toBe(416);
    await past.arrayBuffer();
    const head = await req(base, 'HEAD', `/v2/get/one/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(blob.length));

    // The empty blob (empty layers are common): a GetObject with no body.
    const emptyDigest = await pushMonolithic(base, 'get/one', Buffer.alloc(0));
    const empty = await req(base, 'GET', `/v2/get/one/blobs/${emptyDigest}`);
    expect(empty.status).toBe(200);
    expect(empty.headers.get('content-length')).toBe('0');
    expect((await empty.arrayBuffer()).byteLength).toBe(0);
  });

  it('answers 404 BLOB_UNKNOWN for a blob whose data was deleted after the client saw it', async () => {
    const base = server.url;
    const blob = content(2 * MiB, 43);
    const digest = await pushMonolithic(base, 'get/gone', blob);
    expect((await req(base, 'HEAD', `/v2/get/gone/blobs/${digest}`)).status).toBe(200);

    // The data goes (as garbage collection would delete it) while the repository's link stays.
    const hex = digest.slice('sha256:'.length);
    const s3 = rgw.client();
    try {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${root}/blobs/sha256/${hex.slice(0, 2)}/${hex}/data` }));
    } finally {
      s3.destroy();
    }
    expect((await req(base, 'HEAD', `/v2/get/gone/blobs/${digest}`)).status).toBe(404);
    await expectBlobUnknown(await req(base, 'GET', `/v2/get/gone/blobs/${digest}`), digest);
  });
});
