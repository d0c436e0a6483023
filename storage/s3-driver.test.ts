// The storage driver contract and S3-specific behaviour, against a real S3 server: Ceph RGW
// started for this file (test/helpers/ceph-rgw.ts).
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCephRgw, type CephRgw } from '../test/helpers/ceph-rgw.js';
import { describeDriverContract, MiB, patternBytes, patternDigest, readAll, streamDigest } from '../test/helpers/storage-driver-contract.js';
import { openRegistryStorage } from './index.js';
import { GiB, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, S3Driver, segmentSize, type S3DriverOptions } from './s3-driver.js';
import { UnsupportedError } from '../util/errors.js';
import { PathNotFoundError } from './driver.js';

let rgw: CephRgw;
let bucket: string;
let raw: S3Client;

beforeAll(async () => {
  rgw = await startCephRgw();
  bucket = await rgw.createBucket();
  raw = rgw.client();
});
afterAll(async () => {
  raw?.destroy();
  await rgw?.stop();
});

function driverOptions(root: string, extra: Partial<S3DriverOptions> = {}): S3DriverOptions {
  return {
    bucket,
    endpoint: rgw.endpoint,
    region: rgw.region,
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
    rootDirectory: root,
    chunkSize: MIN_PART_SIZE,
    ...extra,
  };
}

/** Every key in the bucket under a prefix. */
async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const res = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of res.Contents ?? []) keys.push(o.Key!);
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

describeDriverContract('s3 (Ceph RGW)', () => ({
  partSize: MIN_PART_SIZE,
  async fresh() {
    const root = `contract-${randomBytes(6).toString('hex')}`;
    const opened: S3Driver[] = [];
    return {
      open: () => {
        const d = new S3Driver(driverOptions(root));
        opened.push(d);
        return d;
      },
      cleanup: async () => opened.forEach((d) => d.destroy()),
    };
  },
}));

describe('S3Driver specifics', () => {
  it('keeps everything under rootDirectory', async () => {
    const d = new S3Driver(driverOptions('/deep/root/'));
    await d.putContent('/x/y', Buffer.from('1'));
    const w = await d.writer('/x/z', false);
    await w.write(Buffer.from('2'));
    await w.commit();
    await w.close();
    const keys = await keysUnder('');
    expect(keys.filter((k) => !k.startsWith('contract-') && !k.startsWith('deep/root/'))).toEqual([]);
    expect(keys.filter((k) => k.startsWith('deep/root/'))).toEqual(['deep/root/x/y', 'deep/root/x/z!0000000000000000']);
    d.destroy();
  });

  it('rewrites only a last piece shorter than a part: small appends grow it until it is one', async () => {
    const root = `tail-${randomBytes(4).toString('hex')}`;
    let size = 0;
    for (let i = 0; i < 12; i++) {
      const d = new S3Driver(driverOptions(root));
      const w = await d.writer('/u/data', true);
      await w.write(patternBytes(size, MiB + 1000, 9));
      await w.commit();
      size = w.size;
      await w.close();
      d.destroy();
    }
    // 5 appends make a piece of at least 5 MiB, which is kept; the 11th starts a new one.
    const keys = await keysUnder(`${root}/u/`);
    expect(keys).toHaveLength(3);
    const d = new S3Driver(driverOptions(root));
    expect(await streamDigest(await d.reader('/u/data'))).toEqual({ sha256: patternDigest(size, 9), size });
    d.destroy();
  });

  it('uploads the bytes of appends of at least a part once, never reading stored ones back', async () => {
    // The registry's chunked push: 8 MiB PATCHes against 10 MiB parts, each by a new writer.
    const root = `append-${randomBytes(4).toString('hex')}`;
    const counts = new Map<string, number>();
    const opts = driverOptions(root, { chunkSize: 10 * MiB, onRequest: (c) => counts.set(c, (counts.get(c) ?? 0) + 1) });
    const d = new S3Driver(opts);
    const chunk = 8 * MiB;
    for (let i = 0; i < 4; i++) {
      const w = await d.writer('/u/data', i > 0);
      expect(w.size).toBe(i * chunk);
      await w.write(patternBytes(i * chunk, chunk, 4));
      await w.commit();
      await w.close();
    }
    expect(counts.get('PutObjectCommand')).toBe(4);
    expect(counts.get('GetObjectCommand')).toBeUndefined();
    expect(await keysUnder(`${root}/u/`)).toHaveLength(4);
    counts.clear();
    await d.move('/u/data', '/blob');
    expect(counts.get('UploadPartCopyCommand')).toBe(4);
    expect(await streamDigest(await d.reader('/blob'))).toEqual({ sha256: patternDigest(4 * chunk, 4), size: 4 * chunk });
    expect(await keysUnder(`${root}/u/`)).toEqual([]);
    d.destroy();
  });

  it('assembles a file of more pieces than S3 allows parts in groups first', async () => {
    const root = `groups-${randomBytes(4).toString('hex')}`;
    const counts = new Map<string, number>();
    const d = new S3Driver(driverOptions(root, { maxParts: 4, copyObjectMaxSize: 10 * MiB, onRequest: (c) => counts.set(c, (counts.get(c) ?? 0) + 1) }));
    let size = 0;
    for (const n of [5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, 1000]) {
      const w = await d.writer('/u/data', size > 0);
      await w.write(patternBytes(size, n, 6));
      await w.commit();
      size = w.size;
      await w.close();
    }
    expect(await keysUnder(`${root}/u/`)).toHaveLength(8);
    counts.clear();
    await d.move('/u/data', '/blob');
    // 4 groups of 2 pieces (4 multipart copies of 2 parts), then the 4 groups: 5 multipart copies.
    expect(counts.get('CreateMultipartUploadCommand')).toBe(5);
    expect(counts.get('UploadPartCopyCommand')).toBe(12);
    expect(await streamDigest(await d.reader('/blob'))).toEqual({ sha256: patternDigest(size, 6), size });
    expect(await keysUnder(`${root}/u/`)).toEqual([]);
    d.destroy();
  });

  it('lists, stats and deletes past 1,000 keys (paginated), with siblings sorting before the directory', async () => {
    const d = new S3Driver(driverOptions(`many-${randomBytes(4).toString('hex')}`));
    const names = Array.from({ length: 1050 }, (_, i) => `a-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((n) => d.putContent(`/p/${n}`, Buffer.from(n))));
    }
    await d.putContent('/p/a/inside', Buffer.from('in'));
    expect(await d.list('/p')).toHaveLength(1051);
    expect(await d.stat('/p/a')).toMatchObject({ isDir: true });
    await d.delete('/p/a');
    await expect(d.stat('/p/a/inside')).rejects.toThrow(/not found/);
    expect(await d.list('/p')).toHaveLength(1050);
    await d.delete('/p');
    await expect(d.list('/p')).rejects.toThrow(/not found/);
    d.destroy();
  });

  it('copies objects above the single-copy limit with a multipart copy', async () => {
    const counts = new Map<string, number>();
    const d = new S3Driver(
      driverOptions(`copy-${randomBytes(4).toString('hex')}`, {
        copyObjectMaxSize: 10 * MiB,
        onRequest: (c) => counts.set(c, (counts.get(c) ?? 0) + 1),
      }),
    );
    const total = 23 * MiB + 5;
    const w = await d.writer('/src', false);
    await w.write(patternBytes(0, total, 5));
    await w.commit();
    await w.close();
    counts.clear();
    await d.move('/src', '/plain'); // 5 segments → one object, a part per segment
    expect(counts.get('UploadPartCopyCommand')).toBe(5);
    counts.clear();
    await d.move('/plain', '/moved'); // 23 MiB plain object > 10 MiB: 3 ranged UploadPartCopy
    expect(counts.get('UploadPartCopyCommand')).toBe(3);
    expect(counts.get('CopyObjectCommand')).toBeUndefined();
    expect(await streamDigest(await d.reader('/moved'))).toEqual({ sha256: patternDigest(total, 5), size: total });
    // Appending to a big plain object copies it to a segment first (also a multipart copy).
    const w2 = await d.writer('/moved', true);
    expect(w2.size).toBe(total);
    await w2.write(patternBytes(total, 10, 5));
    await w2.commit();
    await w2.close();
    expect(await streamDigest(await d.reader('/moved'))).toEqual({ sha256: patternDigest(total + 10, 5), size: total + 10 });
    d.destroy();
  });

  it('redirects to presigned GET URLs only when enabled', async () => {
    const root = `redirect-${randomBytes(4).toString('hex')}`;
    const off = new S3Driver(driverOptions(root));
    await off.putContent('/blob', Buffer.from('presigned content'));
    expect(off.capabilities.redirect).toBe(false);
    await expect(off.redirectURL('/blob')).rejects.toThrow(UnsupportedError);
    const on = new S3Driver(driverOptions(root, { redirectExpirySeconds: 60 }));
    expect(on.capabilities.redirect).toBe(true);
    const url = await on.redirectURL('/blob');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.*X-Amz-Signature=/);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('presigned content');
    off.destroy();
    on.destroy();
  });

  it('downloads objects from presigned URLs over its own connections (the SDK only when told to)', async () => {
    // A pass-through proxy in front of the gateway notes how each object GET was made (the Host
    // header is passed unchanged: it is signed).
    const gets: { presigned: boolean; agent: string; range: string | undefined }[] = [];
    const proxy = createServer((req, res) => {
      const url = req.url ?? '/';
      if (req.method === 'GET' && !url.includes('list-type')) {
        gets.push({ presigned: url.includes('X-Amz-Signature='), agent: req.headers['user-agent'] ?? '', range: req.headers.range });
      }
      const upstream = request(`${rgw.endpoint}${url}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      req.pipe(upstream);
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const root = `direct-${randomBytes(4).toString('hex')}`;
    try {
      const data = patternBytes(0, 3 * MiB + 5, 8);
      const direct = new S3Driver({ ...driverOptions(root), endpoint });
      await direct.putContent('/obj', data);
      // (Buffer.equals: toEqual on megabytes takes vitest minutes.)
      expect((await readAll(await direct.reader('/obj'))).equals(data)).toBe(true);
      expect((await readAll(await direct.reader('/obj', MiB, 2 * MiB))).equals(data.subarray(MiB, 2 * MiB + 1))).toBe(true);
      expect(await readAll(await direct.reader('/obj', data.length))).toHaveLength(0); // 416: past the end
      await expect(direct.reader('/missing')).rejects.toThrow(/not found/);
      expect(gets.map((g) => g.presigned)).toEqual([true, true, true, true]);
      expect(gets.map((g) => g.range)).toEqual([undefined, `bytes=${MiB}-${2 * MiB}`, `bytes=${data.length}-`, undefined]);
      // readWhole: the size from the GET's own answer, no HEAD first.
      gets.length = 0;
      const whole = await direct.readWhole('/obj');
      expect(whole.size).toBe(data.length);
      expect((await readAll(whole.body)).equals(data)).toBe(true);
      expect(gets.map((g) => g.range)).toEqual([undefined]);
      await expect(direct.readWhole('/missing')).rejects.toThrow(/not found/);
      // One not read is dropped; the driver's next reads are unaffected.
      (await direct.readWhole('/obj')).body.destroy();
      expect((await readAll(await direct.reader('/obj', 0, 9))).equals(data.subarray(0, 10))).toBe(true);
      // getContent: presigned GETs read whole; a missing key is a PathNotFoundError.
      gets.length = 0;
      await direct.putContent('/small', Buffer.from('{"schemaVersion":2}'));
      const small = await direct.getContent('/small');
      expect(small.toString()).toBe('{"schemaVersion":2}');
      expect(small.length).toBe(19);
      expect((await direct.getContent('/obj')).equals(data)).toBe(true);
      await expect(direct.getContent('/missing')).rejects.toBeInstanceOf(PathNotFoundError);
      expect(gets).toEqual([0, 1, 2].map(() => ({ presigned: true, agent: 'stevedore', range: undefined })));
      direct.destroy();
      gets.length = 0;
      const sdk = new S3Driver({ ...driverOptions(root), endpoint, directGets: false });
      expect((await readAll(await sdk.reader('/obj', MiB, 2 * MiB))).equals(data.subarray(MiB, 2 * MiB + 1))).toBe(true);
      expect(gets).toEqual([{ presigned: false, agent: expect.stringMatching(/aws-sdk/), range: `bytes=${MiB}-${2 * MiB}` }]);
      gets.length = 0;
      expect((await sdk.getContent('/small')).toString()).toBe('{"schemaVersion":2}');
      await expect(sdk.getContent('/missing')).rejects.toBeInstanceOf(PathNotFoundError);
      expect(gets.map((g) => g.presigned)).toEqual([false, false]);
      sdk.destroy();
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('aborts multipart uploads left behind, but only old ones', async () => {
    const root = `stale-${randomBytes(4).toString('hex')}`;
    const d = new S3Driver(driverOptions(root));
    await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${root}/blobs/abandoned` }));
    // Not ours: outside the root, or inside it but outside the registry's layout.
    await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `elsewhere-${root}` }));
    await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${root}/backups/x` }));
    const uploads = async () => (await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [];
    expect(await d.purgeStale(new Date(Date.now() - 3_600_000))).toBe(0);
    expect(await d.purgeStale(new Date(Date.now() + 60_000))).toBe(1);
    expect((await uploads()).map((u) => u.Key).sort()).toEqual([`elsewhere-${root}`, `${root}/backups/x`]);
    d.destroy();
  });

  it('lets the upload purger remove old sessions with their data and abort abandoned multipart uploads', async () => {
    const root = `purge-${randomBytes(4).toString('hex')}`;
    const d = new S3Driver(driverOptions(root));
    const store = openRegistryStorage(d);
    const up = await store.uploads.create('p/q');
    await store.uploads.append('p/q', up.id, Readable.from([patternBytes(0, 6 * MiB, 2)]), 0);
    await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${root}/blobs/sha256/ab/abandoned/data` }));
    expect(await store.uploads.purge(new Date(Date.now() - 3_600_000))).toBe(0);
    expect(await store.uploads.purge(new Date(Date.now() + 60_000))).toBe(2); // the session and the multipart upload
    expect(await keysUnder(`${root}/`)).toEqual([]);
    const left = (await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${root}/` }))).Uploads ?? [];
    expect(left).toEqual([]);
    d.destroy();
  });

  it('counts S3 requests: one HEAD per stat of an object, a HEAD and a LIST for a missing one', async () => {
    const counts = new Map<string, number>();
    const d = new S3Driver(driverOptions(`count-${randomBytes(4).toString('hex')}`, { onRequest: (c) => counts.set(c, (counts.get(c) ?? 0) + 1) }));
    await d.putContent('/link', Buffer.from('x'));
    counts.clear();
    await d.stat('/link');
    expect(Object.fromEntries(counts)).toEqual({ HeadObjectCommand: 1 });
    counts.clear();
    await expect(d.stat('/nope')).rejects.toThrow(/not found/);
    expect(Object.fromEntries(counts)).toEqual({ HeadObjectCommand: 1, ListObjectsV2Command: 1 });
    counts.clear();
    await d.getContent('/link');
    expect(Object.fromEntries(counts)).toEqual({ GetObjectCommand: 1 });
    counts.clear();
    await readAll(await d.reader('/link', 0, 0));
    expect(Object.fromEntries(counts)).toEqual({ GetObjectCommand: 1 });
    d.destroy();
  });

  it('reports a missing bucket as an error, not as a missing path', async () => {
    const d = new S3Driver({ ...driverOptions('x'), bucket: `missing-${randomBytes(4).toString('hex')}` });
    await expect(d.getContent('/a')).rejects.toMatchObject({ name: 'NoSuchBucket' });
    d.destroy();
  });

  it('ignores keys that are not paths of ours when listing', async () => {
    const root = `foreign-${randomBytes(4).toString('hex')}`;
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: `${root}/dir/`, Body: Buffer.alloc(0) })); // a "folder" marker
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: `${root}/dir/with space`, Body: Buffer.from('x') }));
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: `${root}/dir/ok`, Body: Buffer.from('x') }));
    const d = new S3Driver(driverOptions(root));
    expect(await d.list('/dir')).toEqual(['/dir/ok']);
    d.destroy();
  });
});

describe('segment sizes', () => {
  it('reach S3’s 5 TiB object limit within 10,000 parts, each a valid part size', () => {
    for (const chunk of [MIN_PART_SIZE, 10 * MiB, 64 * MiB, MAX_PART_SIZE]) {
      const sizes = Array.from({ length: MAX_PARTS }, (_, i) => segmentSize(chunk, i));
      expect(Math.min(...sizes)).toBe(chunk);
      expect(Math.max(...sizes)).toBe(MAX_PART_SIZE);
      expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(5 * 1024 * GiB);
    }
  });
});
