// Blob uploads: POST /v2/<name>/blobs/uploads/ sessions, monolithic POST/PUT, chunked and
// streamed PATCH, upload status, cancellation and cross-repository mounts
// (distribution-spec "Pushing blobs", "Mounting a blob from another repository").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../oci/index.js';
import { expectError, randomBlob, Registry, repoName, type Res, UNKNOWN_DIGEST } from './client.js';
import { IS_CNCF, itStevedore, startTarget, type Target } from './target.js';

/**
 * The error code of a 416 on PATCH. The spec's error table has no code for it; distribution 3 uses
 * RANGE_INVALID, the closest spec code is BLOB_UPLOAD_INVALID.
 */
const RANGE_CODES = ['BLOB_UPLOAD_INVALID', 'RANGE_INVALID'];

/** distribution 2.8 reports an upload URL it cannot decode as BLOB_UPLOAD_INVALID (404); the spec says BLOB_UPLOAD_UNKNOWN. */
const UPLOAD_GONE = IS_CNCF ? ['BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_INVALID'] : ['BLOB_UPLOAD_UNKNOWN'];

function rangeOf(n: number): string {
  return `0-${n - 1}`;
}

function stream(chunks: Buffer[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(new Uint8Array(chunks[i++]!));
      else controller.close();
    },
  });
}

describe('blob uploads', () => {
  let target: Target;
  let reg: Registry;
  const repo = repoName('uploads');

  beforeAll(async () => {
    target = await startTarget();
    reg = new Registry(target.url);
  });
  afterAll(async () => {
    await target?.stop();
  });

  async function expectBlob(r: string, data: Buffer): Promise<void> {
    const res = await reg.get(`/v2/${r}/blobs/${digestOf(data)}`);
    expect(res.status).toBe(200);
    expect(res.body.equals(data)).toBe(true);
  }

  function expectCreated(res: Res, r: string, digest: string): void {
    expect(res.status).toBe(201);
    expect(new URL(res.location()).pathname).toBe(`/v2/${r}/blobs/${digest}`);
    expect(res.header('docker-content-digest')).toBe(digest);
  }

  describe('POST session', () => {
    it('POST opens a session: 202 with Location, Docker-Upload-UUID and Range 0-0', async () => {
      const res = await reg.post(`/v2/${repo}/blobs/uploads/`);
      expect(res.status).toBe(202);
      const loc = new URL(res.location());
      expect(loc.pathname.startsWith(`/v2/${repo}/blobs/uploads/`)).toBe(true);
      const uuid = res.header('docker-upload-uuid');
      expect(uuid).toBeTruthy();
      expect(loc.pathname).toContain(uuid!);
      expect(res.header('range')).toBe('0-0');
    });

    it('two sessions get different upload URLs', async () => {
      const a = await reg.startUpload(repo);
      const b = await reg.startUpload(repo);
      expect(a).not.toBe(b);
    });

    it('POST in a repository that does not exist yet creates it on first push', async () => {
      const r = repoName('fresh');
      const data = randomBlob(50);
      await reg.pushBlob(r, data);
      await expectBlob(r, data);
    });
  });

  describe('monolithic', () => {
    it('POST ?digest= with the whole blob: 201 with Location of the blob (conformance allows 202 + session)', async () => {
      const data = randomBlob(333);
      const digest = digestOf(data);
      const res = await reg.post(`/v2/${repo}/blobs/uploads/`, {
        query: { digest },
        headers: { 'content-type': 'application/octet-stream' },
        body: data,
      });
      expect(res.header('location')).toBeTruthy();
      if (IS_CNCF && res.status === 202) {
        // distribution 2.8 ignores ?digest= on POST and only opens a session.
        expect((await reg.head(`/v2/${repo}/blobs/${digest}`)).status).toBe(404);
        return;
      }
      expectCreated(res, repo, digest);
      await expectBlob(repo, data);
    });

    it('POST then PUT ?digest= with the whole blob: 201 with Location and Docker-Content-Digest', async () => {
      const data = randomBlob(1234);
      const digest = digestOf(data);
      const loc = await reg.startUpload(repo);
      const res = await reg.put(loc, { query: { digest }, headers: { 'content-type': 'application/octet-stream' }, body: data });
      expectCreated(res, repo, digest);
      const pulled = await reg.get(res.location());
      expect(pulled.status).toBe(200);
      expect(pulled.body.equals(data)).toBe(true);
    });

    it('pushing a blob that already exists succeeds again (201)', async () => {
      const data = randomBlob(100);
      await reg.pushBlob(repo, data);
      await reg.pushBlob(repo, data);
      await expectBlob(repo, data);
    });
  });

  describe('streamed (PATCH without Content-Range)', () => {
    it('PATCH with the blob in the body: 202, then PUT ?digest= without body: 201', async () => {
      const data = randomBlob(4096);
      const digest = digestOf(data);
      const loc = await reg.startUpload(repo);
      const p = await reg.patch(loc, { headers: { 'content-type': 'application/octet-stream' }, body: data });
      expect(p.status).toBe(202);
      expect(p.header('range')).toBe(rangeOf(data.length));
      expect(p.header('docker-upload-uuid')).toBeTruthy();
      const put = await reg.put(p.location(), { query: { digest }, headers: { 'content-length': '0' } });
      expectCreated(put, repo, digest);
      await expectBlob(repo, data);
    });

    it('PATCH with a chunked-encoded stream (no Content-Length) is accepted and stored whole', async () => {
      const parts = [randomBlob(10_000), randomBlob(30_000), randomBlob(7)];
      const data = Buffer.concat(parts);
      const digest = digestOf(data);
      const loc = await reg.startUpload(repo);
      const p = await reg.patch(loc, { headers: { 'content-type': 'application/octet-stream' }, body: stream(parts) });
      expect(p.status).toBe(202);
      expect(p.header('range')).toBe(rangeOf(data.length));
      const put = await reg.put(p.location(), { query: { digest } });
      expectCreated(put, repo, digest);
      await expectBlob(repo, data);
    });

    it('several streamed PATCHes append in order', async () => {
      const parts = [randomBlob(1000), randomBlob(2000), randomBlob(3000)];
      const data = Buffer.concat(parts);
      let loc = await reg.startUpload(repo);
      let total = 0;
      for (const part of parts) {
        const p = await reg.patch(loc, { headers: { 'content-type': 'application/octet-stream' }, body: part });
        total += part.length;
        expect(p.status).toBe(202);
        expect(p.header('range')).toBe(rangeOf(total));
        loc = p.location();
      }
      expectCreated(await reg.put(loc, { query: { digest: digestOf(data) } }), repo, digestOf(data));
      await expectBlob(repo, data);
    });
  });

  describe('chunked (PATCH with Content-Range)', () => {
    // Chunk sizes honour OCI-Chunk-Min-Length when the registry advertises one.
    async function session(): Promise<{ loc: string; minChunk: number }> {
      const res = await reg.post(`/v2/${repo}/blobs/uploads/`, { headers: { 'content-length': '0' } });
      expect(res.status).toBe(202);
      const min = Number(res.header('oci-chunk-min-length') ?? '0');
      return { loc: res.location(), minChunk: Number.isFinite(min) ? min : 0 };
    }

    function patchChunk(loc: string, chunk: Buffer, start: number): Promise<Res> {
      return reg.patch(loc, {
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${start}-${start + chunk.length - 1}`,
        },
        body: chunk,
      });
    }

    it('two in-order chunks: 202 with Range each time, status 204, PUT ?digest= 201', async () => {
      const { loc, minChunk } = await session();
      const size = Math.max(2 * minChunk, 2048);
      const blob = randomBlob(size);
      const c1 = blob.subarray(0, size / 2 + 1);
      const c2 = blob.subarray(size / 2 + 1);

      const first = await patchChunk(loc, c1, 0);
      expect(first.status).toBe(202);
      expect(first.header('range')).toBe(rangeOf(c1.length));
      expect(first.header('location')).toBeTruthy();

      const status = await reg.get(first.location());
      expect(status.status).toBe(204);
      expect(status.header('location')).toBeTruthy();
      expect(status.header('range')).toBe(rangeOf(c1.length));

      const second = await patchChunk(status.location(), c2, c1.length);
      expect(second.status).toBe(202);
      expect(second.header('range')).toBe(rangeOf(blob.length));

      const put = await reg.put(second.location(), {
        query: { digest: digestOf(blob) },
        headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
      });
      expectCreated(put, repo, digestOf(blob));
      await expectBlob(repo, blob);
    });

    // distribution 2.8 signs the offset into the upload URL and rejects an older URL (404 BLOB_UPLOAD_INVALID);
    // the conformance suite (and Stevedore) expect the upload's URL to stay valid.
    itStevedore('the upload URL from before a chunk still reports the current status (204 + Range)', async () => {
      const { loc, minChunk } = await session();
      const c1 = randomBlob(Math.max(minChunk, 100));
      expect((await patchChunk(loc, c1, 0)).status).toBe(202);
      const status = await reg.get(loc);
      expect(status.status).toBe(204);
      expect(status.header('location')).toBeTruthy();
      expect(status.header('range')).toBe(rangeOf(c1.length));
    });

    // distribution 2.8 does not check Content-Range against the upload's offset (distribution 3 does):
    // these are Stevedore-only.
    itStevedore('an out-of-order first chunk: 416 with Range 0-0 and an error body', async () => {
      const { loc, minChunk } = await session();
      const n = Math.max(minChunk, 100);
      const res = await patchChunk(loc, randomBlob(n), n);
      expectError(res, 416, RANGE_CODES);
      expect(res.header('range')).toBe('0-0');
      // The session is still usable from offset 0.
      const data = randomBlob(n);
      const ok = await patchChunk(loc, data, 0);
      expect(ok.status).toBe(202);
      expect(ok.header('range')).toBe(rangeOf(n));
    });

    itStevedore('a chunked body longer or shorter than its Content-Range: 416 with the Range to go on from', async () => {
      const { loc } = await session();
      const stream = (data: Buffer) => new ReadableStream<Uint8Array>({ start: (c) => (c.enqueue(data), c.close()) });
      for (const [range, body] of [
        ['0-9', randomBlob(100)],
        ['0-99', randomBlob(10)],
      ] as const) {
        const res = await reg.patch(loc, { headers: { 'content-type': 'application/octet-stream', 'content-range': range }, body: stream(body) });
        expectError(res, 416, RANGE_CODES);
        expect(res.header('range')).toMatch(/^0-\d+$/);
      }
      // The upload goes on from where the server says it is.
      const status = await reg.get(loc);
      expect(status.status).toBe(204);
      const have = Number(status.header('range')!.split('-')[1]) + 1;
      expect(have).toBeLessThanOrEqual(10);
      const data = randomBlob(50);
      const ok = await patchChunk(loc, data, have === 1 && status.header('range') === '0-0' ? 0 : have);
      expect(ok.status).toBe(202);
    });

    itStevedore('retrying the previous chunk (overlap): 416 with the current Range; upload unchanged', async () => {
      const { loc, minChunk } = await session();
      const c1 = randomBlob(Math.max(minChunk, 100));
      const first = await patchChunk(loc, c1, 0);
      expect(first.status).toBe(202);
      const retry = await patchChunk(loc, c1, 0);
      expectError(retry, 416, RANGE_CODES);
      expect(retry.header('range')).toBe(rangeOf(c1.length));
      const partial = await patchChunk(first.location(), c1.subarray(50), 50);
      expectError(partial, 416, RANGE_CODES);
      expect(partial.header('range')).toBe(rangeOf(c1.length));
      const status = await reg.get(first.location());
      expect(status.status).toBe(204);
      expect(status.header('range')).toBe(rangeOf(c1.length));
      // Completing with the right data still works.
      const c2 = randomBlob(Math.max(minChunk, 100));
      const second = await patchChunk(first.location(), c2, c1.length);
      expect(second.status).toBe(202);
      const blob = Buffer.concat([c1, c2]);
      expectCreated(await reg.put(second.location(), { query: { digest: digestOf(blob) } }), repo, digestOf(blob));
      await expectBlob(repo, blob);
    });

    itStevedore('a chunk that leaves a gap: 416 with the current Range', async () => {
      const { loc, minChunk } = await session();
      const c1 = randomBlob(Math.max(minChunk, 100));
      const first = await patchChunk(loc, c1, 0);
      expect(first.status).toBe(202);
      const gap = await patchChunk(first.location(), randomBlob(Math.max(minChunk, 100)), c1.length + 10);
      expectError(gap, 416, RANGE_CODES);
      expect(gap.header('range')).toBe(rangeOf(c1.length));
    });

    it('PUT with the last chunk (and Content-Range) completes the upload: 201', async () => {
      const { loc, minChunk } = await session();
      const blob = randomBlob(Math.max(2 * minChunk, 3000));
      const c1 = blob.subarray(0, 1000 + minChunk);
      const c2 = blob.subarray(c1.length);
      const first = await patchChunk(loc, c1, 0);
      expect(first.status).toBe(202);
      const put = await reg.put(first.location(), {
        query: { digest: digestOf(blob) },
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${c1.length}-${blob.length - 1}`,
        },
        body: c2,
      });
      expectCreated(put, repo, digestOf(blob));
      await expectBlob(repo, blob);
    });

    it('PUT with the last chunk and no Content-Range completes the upload: 201', async () => {
      const { loc, minChunk } = await session();
      const blob = randomBlob(Math.max(2 * minChunk, 3000));
      const c1 = blob.subarray(0, 1000 + minChunk);
      const first = await patchChunk(loc, c1, 0);
      expect(first.status).toBe(202);
      const put = await reg.put(first.location(), {
        query: { digest: digestOf(blob) },
        headers: { 'content-type': 'application/octet-stream' },
        body: blob.subarray(c1.length),
      });
      expectCreated(put, repo, digestOf(blob));
      await expectBlob(repo, blob);
    });
  });

  describe('upload status (GET on the upload URL)', () => {
    it('a fresh session: 204 with Range 0-0, Location and Docker-Upload-UUID', async () => {
      const loc = await reg.startUpload(repo);
      const res = await reg.get(loc);
      expect(res.status).toBe(204);
      expect(res.header('range')).toBe('0-0');
      expect(res.header('location')).toBeTruthy();
      expect(res.header('docker-upload-uuid')).toBeTruthy();
      expect(res.body.length).toBe(0);
    });

    it('after data: 204 with Range 0-<last byte>', async () => {
      const loc = await reg.startUpload(repo);
      const p = await reg.patch(loc, { headers: { 'content-type': 'application/octet-stream' }, body: randomBlob(777) });
      expect(p.status).toBe(202);
      const res = await reg.get(p.location());
      expect(res.status).toBe(204);
      expect(res.header('range')).toBe('0-776');
    });

    it('an upload id that never existed: 404 BLOB_UPLOAD_UNKNOWN', async () => {
      const res = await reg.get(`/v2/${repo}/blobs/uploads/00000000-0000-4000-8000-000000000000`);
      expectError(res, 404, UPLOAD_GONE);
    });

    it('a completed upload is gone: GET and PUT on its URL give 404 BLOB_UPLOAD_UNKNOWN', async () => {
      const data = randomBlob(99);
      const loc = await reg.startUpload(repo);
      const put = await reg.put(loc, { query: { digest: digestOf(data) }, body: data });
      expect(put.status).toBe(201);
      expectError(await reg.get(loc), 404, UPLOAD_GONE);
      expectError(await reg.put(loc, { query: { digest: digestOf(data) }, body: data }), 404, UPLOAD_GONE);
    });
  });

  describe('DELETE upload (cancel)', () => {
    it('DELETE the session: 204, then GET/PATCH/PUT on it give 404 BLOB_UPLOAD_UNKNOWN', async () => {
      const loc = await reg.startUpload(repo);
      const data = randomBlob(500);
      const p = await reg.patch(loc, { headers: { 'content-type': 'application/octet-stream' }, body: data });
      expect(p.status).toBe(202);
      const cur = p.location();
      const del = await reg.delete(cur);
      expect(del.status).toBe(204);
      expectError(await reg.get(cur), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await reg.patch(cur, { headers: { 'content-type': 'application/octet-stream' }, body: data }), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await reg.put(cur, { query: { digest: digestOf(data) } }), 404, 'BLOB_UPLOAD_UNKNOWN');
      // Nothing of the cancelled upload became a blob.
      expect((await reg.head(`/v2/${repo}/blobs/${digestOf(data)}`)).status).toBe(404);
    });

    it('DELETE an unknown upload: 404 BLOB_UPLOAD_UNKNOWN', async () => {
      expectError(await reg.delete(`/v2/${repo}/blobs/uploads/00000000-0000-4000-8000-000000000000`), 404, UPLOAD_GONE);
    });
  });

  describe('cross-repository mount', () => {
    it('POST ?mount=<digest>&from=<repo> of a blob in <repo>: 201 with the blob Location', async () => {
      const from = repoName('mount-src');
      const to = repoName('mount-dst');
      const data = randomBlob(2000);
      const digest = digestOf(data);
      await reg.pushBlob(from, data);
      const res = await reg.post(`/v2/${to}/blobs/uploads/`, { query: { mount: digest, from } });
      expectCreated(res, to, digest);
      await expectBlob(to, data);
      // The source keeps its blob.
      await expectBlob(from, data);
    });

    it('mounting a blob the source does not have falls back to a 202 upload session', async () => {
      const from = repoName('mount-src');
      const to = repoName('mount-dst');
      await reg.pushBlob(from, randomBlob(10)); // the source repository exists, without this blob
      const data = randomBlob(300);
      const digest = digestOf(data);
      const res = await reg.post(`/v2/${to}/blobs/uploads/`, { query: { mount: digest, from } });
      expect(res.status).toBe(202);
      expect(new URL(res.location()).pathname.startsWith(`/v2/${to}/blobs/uploads/`)).toBe(true);
      expect(res.header('docker-upload-uuid')).toBeTruthy();
      // The session works like any other.
      const put = await reg.put(res.location(), { query: { digest }, body: data });
      expectCreated(put, to, digest);
      await expectBlob(to, data);
    });

    it('mounting from a repository that does not exist: 202 upload session', async () => {
      const res = await reg.post(`/v2/${repoName('mount-dst')}/blobs/uploads/`, {
        query: { mount: UNKNOWN_DIGEST, from: repoName('no-such-repo') },
      });
      expect(res.status).toBe(202);
      expect(res.header('location')).toBeTruthy();
    });

    it('mount without from, of a digest nobody has: 202 upload session', async () => {
      const to = repoName('mount-dst');
      const res = await reg.post(`/v2/${to}/blobs/uploads/`, { query: { mount: UNKNOWN_DIGEST } });
      expect(res.status).toBe(202);
      expect(new URL(res.location()).pathname.startsWith(`/v2/${to}/blobs/uploads/`)).toBe(true);
    });
  });
});
