// Blobs: GET / HEAD / DELETE /v2/<name>/blobs/<digest> (distribution-spec "Pulling blobs",
// "Deleting blobs"), with Range requests, ETag / If-None-Match and repository isolation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../oci/index.js';
import { expectError, randomBlob, Registry, repoName, UNKNOWN_DIGEST } from './client.js';
import { itStevedore, startTarget, type Target } from './target.js';

describe('blobs', () => {
  let target: Target;
  let reg: Registry;
  const repo = repoName('blobs');
  const data = randomBlob(1000);
  const digest = digestOf(data);

  beforeAll(async () => {
    target = await startTarget();
    reg = new Registry(target.url);
    await reg.pushBlob(repo, data);
  });
  afterAll(async () => {
    await target?.stop();
  });

  describe('HEAD', () => {
    it('nonexistent blob: 404', async () => {
      const res = await reg.head(`/v2/${repo}/blobs/${UNKNOWN_DIGEST}`);
      expect(res.status).toBe(404);
      expect(res.body.length).toBe(0);
    });

    it('existing blob: 200 with Docker-Content-Digest, Content-Length and no body', async () => {
      const res = await reg.head(`/v2/${repo}/blobs/${digest}`);
      expect(res.status).toBe(200);
      expect(res.header('docker-content-digest')).toBe(digest);
      expect(res.header('content-length')).toBe(String(data.length));
      expect(res.body.length).toBe(0);
    });
  });

  describe('GET', () => {
    it('nonexistent blob: 404 BLOB_UNKNOWN', async () => {
      expectError(await reg.get(`/v2/${repo}/blobs/${UNKNOWN_DIGEST}`), 404, 'BLOB_UNKNOWN');
    });

    it('existing blob: 200 with the exact content, Docker-Content-Digest and Content-Length', async () => {
      const res = await reg.get(`/v2/${repo}/blobs/${digest}`);
      expect(res.status).toBe(200);
      expect(res.body.equals(data)).toBe(true);
      expect(res.header('docker-content-digest')).toBe(digest);
      expect(res.header('content-length')).toBe(String(data.length));
    });

    it('several large blobs and ranges at once each come back byte for byte (buffers reused across responses)', async () => {
      const blobs = [randomBlob(3 * 1024 * 1024 + 17), randomBlob(2 * 1024 * 1024 + 5), randomBlob(5 * 1024 * 1024 + 3)];
      for (const b of blobs) await reg.pushBlob(repo, b);
      for (let round = 0; round < 2; round++) {
        const all = await Promise.all([
          ...blobs.map((b) => reg.get(`/v2/${repo}/blobs/${digestOf(b)}`).then((res) => res.body.equals(b))),
          reg.get(`/v2/${repo}/blobs/${digestOf(blobs[2]!)}`, { headers: { range: 'bytes=1000000-2999999' } }).then((res) => res.status === 206 && res.body.equals(blobs[2]!.subarray(1000000, 3000000))),
        ]);
        expect(all).toEqual([true, true, true, true]);
      }
    });

    it('blob in a repository that does not exist: 404 with BLOB_UNKNOWN or NAME_UNKNOWN', async () => {
      expectError(await reg.get(`/v2/${repoName('nothere')}/blobs/${digest}`), 404, ['BLOB_UNKNOWN', 'NAME_UNKNOWN']);
    });

    it('a blob is only visible in the repository it was pushed (or mounted) to', async () => {
      const other = repoName('blobs-other');
      await reg.pushBlob(other, randomBlob(10)); // the other repository exists
      expect((await reg.head(`/v2/${other}/blobs/${digest}`)).status).toBe(404);
      expectError(await reg.get(`/v2/${other}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    });

    it('an empty (zero-byte) blob can be pushed and pulled', async () => {
      const empty = Buffer.alloc(0);
      await reg.pushBlob(repo, empty);
      const res = await reg.get(`/v2/${repo}/blobs/${digestOf(empty)}`);
      expect(res.status).toBe(200);
      expect(res.body.length).toBe(0);
      expect(res.header('docker-content-digest')).toBe(digestOf(empty));
    });

    itStevedore('sha512 blobs can be pushed and pulled by their sha512 digest', async () => {
      const blob = randomBlob(300);
      const d512 = digestOf(blob, 'sha512');
      await reg.pushBlob(repo, blob, d512);
      const res = await reg.get(`/v2/${repo}/blobs/${d512}`);
      expect(res.status).toBe(200);
      expect(res.body.equals(blob)).toBe(true);
      expect(res.header('docker-content-digest')).toBe(d512);
    });
  });

  describe('Range requests', () => {
    it('a byte range: 206 with Content-Range and the slice', async () => {
      const res = await reg.get(`/v2/${repo}/blobs/${digest}`, { headers: { range: 'bytes=10-19' } });
      expect(res.status).toBe(206);
      expect(res.header('content-range')).toBe(`bytes 10-19/${data.length}`);
      expect(res.header('content-length')).toBe('10');
      expect(res.body.equals(data.subarray(10, 20))).toBe(true);
    });

    it('an open-ended range: 206 up to the end', async () => {
      const res = await reg.get(`/v2/${repo}/blobs/${digest}`, { headers: { range: 'bytes=900-' } });
      expect(res.status).toBe(206);
      expect(res.header('content-range')).toBe(`bytes 900-999/${data.length}`);
      expect(res.body.equals(data.subarray(900))).toBe(true);
    });

    it('a suffix range: 206 with the last bytes', async () => {
      const res = await reg.get(`/v2/${repo}/blobs/${digest}`, { headers: { range: 'bytes=-5' } });
      expect(res.status).toBe(206);
      expect(res.header('content-range')).toBe(`bytes 995-999/${data.length}`);
      expect(res.body.equals(data.subarray(995))).toBe(true);
    });

    it('a range past the end is clipped to the blob', async () => {
      const res = await reg.get(`/v2/${repo}/blobs/${digest}`, { headers: { range: 'bytes=990-5000' } });
      expect(res.status).toBe(206);
      expect(res.header('content-range')).toBe(`bytes 990-999/${data.length}`);
      expect(res.body.equals(data.subarray(990))).toBe(true);
    });

    // distribution 2.8 sends these 416s with the blob's Content-Length and a shorter body.
    it.each([
      ['starting at the blob size', `bytes=1000-`],
      ['starting past the end', 'bytes=2000-3000'],
    ])('an unsatisfiable range (%s): 416 with Content-Range bytes */size', async (_name, range) => {
      const res = await reg.get(`/v2/${repo}/blobs/${digest}`, { headers: { range }, allowTruncatedBody: true });
      expect(res.status).toBe(416);
      expect(res.header('content-range')).toBe(`bytes */${data.length}`);
    });

    it('Accept-Ranges: bytes is advertised', async () => {
      const res = await reg.get(`/v2/${repo}/blobs/${digest}`);
      expect(res.header('accept-ranges')).toBe('bytes');
    });
  });

  describe('ETag / If-None-Match', () => {
    it('GET returns an ETag; If-None-Match with it gives 304 and no body', async () => {
      const first = await reg.get(`/v2/${repo}/blobs/${digest}`);
      const etag = first.header('etag');
      expect(etag).toBeTruthy();
      expect(etag).toContain(digest);
      const res = await reg.get(`/v2/${repo}/blobs/${digest}`, { headers: { 'if-none-match': etag! } });
      expect(res.status).toBe(304);
      expect(res.body.length).toBe(0);
    });

    it('If-None-Match with another ETag gives the full blob', async () => {
      const res = await reg.get(`/v2/${repo}/blobs/${digest}`, { headers: { 'if-none-match': `"${UNKNOWN_DIGEST}"` } });
      expect(res.status).toBe(200);
      expect(res.body.equals(data)).toBe(true);
    });

    it('HEAD also returns the ETag', async () => {
      const res = await reg.head(`/v2/${repo}/blobs/${digest}`);
      expect(res.header('etag')).toContain(digest);
    });
  });

  describe('DELETE', () => {
    it('DELETE an existing blob: 202, then HEAD/GET 404 BLOB_UNKNOWN, DELETE again 404', async () => {
      const r = repoName('blobs-del');
      const blob = randomBlob(64);
      const d = digestOf(blob);
      await reg.pushBlob(r, blob);
      const del = await reg.delete(`/v2/${r}/blobs/${d}`);
      expect(del.status).toBe(202);
      expect((await reg.head(`/v2/${r}/blobs/${d}`)).status).toBe(404);
      expectError(await reg.get(`/v2/${r}/blobs/${d}`), 404, 'BLOB_UNKNOWN');
      expectError(await reg.delete(`/v2/${r}/blobs/${d}`), 404, 'BLOB_UNKNOWN');
    });

    it('DELETE an unknown blob: 404 BLOB_UNKNOWN', async () => {
      expectError(await reg.delete(`/v2/${repo}/blobs/${UNKNOWN_DIGEST}`), 404, 'BLOB_UNKNOWN');
    });

    it('deleting a blob in one repository leaves the same blob in another repository', async () => {
      const a = repoName('blobs-del-a');
      const b = repoName('blobs-del-b');
      const blob = randomBlob(80);
      const d = digestOf(blob);
      await reg.pushBlob(a, blob);
      await reg.pushBlob(b, blob);
      expect((await reg.delete(`/v2/${a}/blobs/${d}`)).status).toBe(202);
      expect((await reg.head(`/v2/${a}/blobs/${d}`)).status).toBe(404);
      const res = await reg.get(`/v2/${b}/blobs/${d}`);
      expect(res.status).toBe(200);
      expect(res.body.equals(blob)).toBe(true);
    });
  });
});
