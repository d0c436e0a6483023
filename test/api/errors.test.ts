// Error paths: every spec error code with its status, the JSON error body, and bad input of
// every kind (malformed digests, names, tags and manifests; wrong digests and sizes; bodies that
// do not match their Content-Length). Bad input is always a 4xx, never a 5xx, and the server
// keeps serving afterwards (checked after every test).
import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, MediaType } from '../../oci/index.js';
import {
  ACCEPT_ALL_MANIFESTS,
  asManifest,
  expectError,
  imageParts,
  ociManifest,
  pushImage,
  randomBlob,
  rawRequest,
  type RawRes,
  Registry,
  repoName,
  type Res,
  SPEC_ERROR_CODES,
  UNKNOWN_DIGEST,
} from './client.js';
import { IS_CNCF, itStevedore, startTarget, type Target } from './target.js';

/**
 * Bad input. Against Stevedore: the exact status and spec code (always a 4xx). Under the cncf
 * target only "not a 5xx": distribution 2.8 turns much malformed input into a plain-text 404 at its
 * router, a 301 path-cleaning redirect, or even accepts it (uppercase names on POST), so only the
 * weaker property is common ground. Where distribution 2.8 answers 500, the test is itStevedore.
 */
function expectBadInput(res: Res, status: number | number[], codes: string | readonly string[]): void {
  expect(res.status, `${res.method} ${res.url}: ${res.text}`).toBeLessThan(500);
  if (!IS_CNCF) expectError(res, status, codes);
}

const MALFORMED_DIGESTS = [
  'sha256:abc', // too short
  `sha256:${'g'.repeat(64)}`, // not hex
  `sha256:${'A'.repeat(64)}`, // uppercase hex
  `sha256:${'a'.repeat(65)}`, // too long
  `sha512:${'a'.repeat(64)}`, // wrong length for sha512
  'sha256', // no encoded part
  'notadigest',
  `SHA256:${'a'.repeat(64)}`, // uppercase algorithm
  `sha256:${'a'.repeat(63)}%00`, // NUL byte
];

describe('errors and bad input', () => {
  let target: Target;
  let reg: Registry;
  const repo = repoName('errors');
  let image: Awaited<ReturnType<typeof pushImage>>;

  beforeAll(async () => {
    target = await startTarget();
    reg = new Registry(target.url);
    image = await pushImage(reg, repo, 'latest');
  });
  afterEach(async () => {
    await reg.expectAlive();
  });
  afterAll(async () => {
    await target?.stop();
  });

  describe('error body', () => {
    it('errors are JSON {"errors":[{"code","message","detail"}]} with Content-Type application/json', async () => {
      const res = await reg.get(`/v2/${repo}/manifests/doesnotexist`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
      const body = expectError(res, 404, 'MANIFEST_UNKNOWN');
      expect(body.errors).toHaveLength(1);
      expect(body.errors[0]!.message).toBeTruthy();
    });

    it('conformance: PUT manifest "blablabla" to reference sha256:totallywrong gives 400 with a spec code, or 404', async () => {
      const res = await reg.put(`/v2/${repo}/manifests/sha256:totallywrong`, {
        headers: { 'content-type': MediaType.OciManifest },
        body: 'blablabla',
      });
      expect([400, 404]).toContain(res.status);
      if (res.status === 400) expectError(res, 400, SPEC_ERROR_CODES);
    });
  });

  describe('one request per spec error code', () => {
    it('BLOB_UNKNOWN: GET of an unknown blob, 404', async () => {
      expectError(await reg.get(`/v2/${repo}/blobs/${UNKNOWN_DIGEST}`), 404, 'BLOB_UNKNOWN');
    });

    itStevedore('BLOB_UPLOAD_INVALID: PATCH with a malformed Content-Range, 400 (or 416)', async () => {
      const loc = await reg.startUpload(repo);
      for (const cr of ['abc', '9-0', '-1-8', '0-', '0-x', '1e3-2e3']) {
        const res = await reg.patch(loc, { headers: { 'content-type': 'application/octet-stream', 'content-range': cr }, body: randomBlob(10) });
        expectError(res, [400, 416], ['BLOB_UPLOAD_INVALID', 'RANGE_INVALID']);
      }
      // The session survived the bad requests.
      const ok = await reg.patch(loc, { headers: { 'content-type': 'application/octet-stream', 'content-range': '0-9' }, body: randomBlob(10) });
      expect(ok.status).toBe(202);
    });

    it('BLOB_UPLOAD_UNKNOWN: GET of an upload that was cancelled, 404', async () => {
      const loc = await reg.startUpload(repo);
      expect((await reg.delete(loc)).status).toBe(204);
      expectError(await reg.get(loc), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('DIGEST_INVALID: completing an upload with the wrong digest, 400; nothing is stored', async () => {
      const data = randomBlob(500);
      const wrong = digestOf(randomBlob(500));
      const loc = await reg.startUpload(repo);
      const res = await reg.put(loc, { query: { digest: wrong }, headers: { 'content-type': 'application/octet-stream' }, body: data });
      expectError(res, 400, 'DIGEST_INVALID');
      expect((await reg.head(`/v2/${repo}/blobs/${wrong}`)).status).toBe(404);
      expect((await reg.head(`/v2/${repo}/blobs/${digestOf(data)}`)).status).toBe(404);
    });

    it('DIGEST_INVALID: chunked upload completed with the wrong digest, 400', async () => {
      const loc = await reg.startUpload(repo);
      const p = await reg.patch(loc, { headers: { 'content-type': 'application/octet-stream' }, body: randomBlob(300) });
      expect(p.status).toBe(202);
      expectError(await reg.put(p.location(), { query: { digest: UNKNOWN_DIGEST } }), 400, 'DIGEST_INVALID');
    });

    it('DIGEST_INVALID: PUT upload without ?digest=, 400', async () => {
      const loc = await reg.startUpload(repo);
      expectError(await reg.put(loc, { body: randomBlob(10) }), 400, 'DIGEST_INVALID');
    });

    it('DIGEST_INVALID: PUT manifest by a digest that does not match its content, 400', async () => {
      const m = image.manifest;
      const res = await reg.put(`/v2/${repo}/manifests/${UNKNOWN_DIGEST}`, { headers: { 'content-type': m.mediaType }, body: m.bytes });
      expectError(res, 400, 'DIGEST_INVALID');
      expect((await reg.head(`/v2/${repo}/manifests/${UNKNOWN_DIGEST}`)).status).toBe(404);
    });

    it('MANIFEST_BLOB_UNKNOWN: manifest referencing a blob the repository lacks, 400', async () => {
      const parts = imageParts(1);
      const m = ociManifest(parts.configDesc, parts.layerDescs);
      expectError(await reg.put(`/v2/${repo}/manifests/orphan`, { headers: { 'content-type': m.mediaType }, body: m.bytes }), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('MANIFEST_INVALID: a manifest that is not JSON, 400', async () => {
      const res = await reg.put(`/v2/${repo}/manifests/bad`, { headers: { 'content-type': MediaType.OciManifest }, body: 'blablabla' });
      expectError(res, 400, 'MANIFEST_INVALID');
    });

    it('MANIFEST_UNKNOWN: GET of an unknown tag, 404', async () => {
      expectError(await reg.get(`/v2/${repo}/manifests/nosuchtag`, { headers: { accept: ACCEPT_ALL_MANIFESTS } }), 404, 'MANIFEST_UNKNOWN');
    });

    // distribution 2.8 answers 500 UNKNOWN for names over 255 characters.
    itStevedore('NAME_INVALID: a repository name longer than 255 characters, 400', async () => {
      const long = `${'a'.repeat(128)}/${'b'.repeat(128)}`;
      expect(long.length).toBe(257);
      expectError(await reg.get(`/v2/${long}/tags/list`), 400, 'NAME_INVALID');
      expectError(await reg.post(`/v2/${long}/blobs/uploads/`), 400, 'NAME_INVALID');
    });

    it('NAME_UNKNOWN: tags of a repository that does not exist, 404', async () => {
      expectError(await reg.get(`/v2/${repoName('nothere')}/tags/list`), 404, 'NAME_UNKNOWN');
    });

    itStevedore('SIZE_INVALID: PATCH whose Content-Length differs from its Content-Range, 400 (or 416)', async () => {
      const loc = await reg.startUpload(repo);
      const res = await reg.patch(loc, { headers: { 'content-type': 'application/octet-stream', 'content-range': '0-99' }, body: randomBlob(50) });
      expectError(res, [400, 416], ['SIZE_INVALID', 'BLOB_UPLOAD_INVALID', 'RANGE_INVALID']);
      const status = await reg.get(loc);
      expect(status.header('range')).toBe('0-0');
    });

    itStevedore('SIZE_INVALID: a body larger than its Content-Range, 400 (or 416)', async () => {
      const loc = await reg.startUpload(repo);
      const res = await reg.patch(loc, { headers: { 'content-type': 'application/octet-stream', 'content-range': '0-49' }, body: randomBlob(200) });
      expectError(res, [400, 416], ['SIZE_INVALID', 'BLOB_UPLOAD_INVALID', 'RANGE_INVALID']);
    });
  });

  describe('malformed digests: 400 DIGEST_INVALID, never 500', () => {
    it.each(MALFORMED_DIGESTS)('blob GET / HEAD / DELETE %s', async (d) => {
      expectBadInput(await reg.get(`/v2/${repo}/blobs/${d}`), 400, 'DIGEST_INVALID');
      const head = await reg.head(`/v2/${repo}/blobs/${d}`);
      expect(head.status).toBeGreaterThanOrEqual(400);
      expect(head.status).toBeLessThan(500);
      if (!IS_CNCF) expect(head.status).toBe(400);
      expectBadInput(await reg.delete(`/v2/${repo}/blobs/${d}`), 400, 'DIGEST_INVALID');
    });

    // distribution 2.8 takes these for tags and answers 500 UNKNOWN (a storage path error).
    itStevedore.each(MALFORMED_DIGESTS.filter((d) => d.includes(':')))('manifest GET / DELETE by %s', async (d) => {
      expectBadInput(await reg.get(`/v2/${repo}/manifests/${d}`, { headers: { accept: ACCEPT_ALL_MANIFESTS } }), [400, 404], ['DIGEST_INVALID', 'MANIFEST_UNKNOWN']);
      expectBadInput(await reg.delete(`/v2/${repo}/manifests/${d}`), [400, 404], ['DIGEST_INVALID', 'MANIFEST_UNKNOWN']);
    });

    it.each(MALFORMED_DIGESTS)('upload PUT ?digest=%s', async (d) => {
      const loc = await reg.startUpload(repo);
      expectBadInput(await reg.put(loc, { query: { digest: d }, body: randomBlob(10) }), 400, 'DIGEST_INVALID');
    });

    itStevedore.each(MALFORMED_DIGESTS)('monolithic POST ?digest=%s', async (d) => {
      const res = await reg.post(`/v2/${repo}/blobs/uploads/`, { query: { digest: d }, body: randomBlob(10) });
      expectError(res, 400, 'DIGEST_INVALID');
    });

    it.each(MALFORMED_DIGESTS)('mount=%s: 400 DIGEST_INVALID or a plain 202 session, never 5xx', async (d) => {
      const res = await reg.post(`/v2/${repo}/blobs/uploads/`, { query: { mount: d, from: repo } });
      if (res.status !== 202) expectBadInput(res, 400, 'DIGEST_INVALID');
    });

    // distribution 2.8: 500 with UNKNOWN, UNKNOWN, MANIFEST_BLOB_UNKNOWN.
    itStevedore('a manifest whose layer digest is malformed: 400 MANIFEST_INVALID (or DIGEST_INVALID)', async () => {
      const parts = image.parts;
      const m = asManifest(
        { schemaVersion: 2, mediaType: MediaType.OciManifest, config: parts.configDesc, layers: [{ ...parts.layerDescs[0]!, digest: 'sha256:nothex' }] },
        MediaType.OciManifest,
      );
      const res = await reg.put(`/v2/${repo}/manifests/baddigest`, { headers: { 'content-type': m.mediaType }, body: m.bytes });
      expectBadInput(res, 400, ['MANIFEST_INVALID', 'DIGEST_INVALID']);
    });

    itStevedore('an unsupported digest algorithm (md5): 400 DIGEST_INVALID or UNSUPPORTED', async () => {
      const d = `md5:${'a'.repeat(32)}`;
      expectError(await reg.get(`/v2/${repo}/blobs/${d}`), [400, 415], ['DIGEST_INVALID', 'UNSUPPORTED']);
    });
  });

  describe('malformed repository names: 400 NAME_INVALID, never 500', () => {
    const BAD_NAMES = ['Upper/case', 'UPPER', 'a//b', '-lead', 'trail-', 'a/-b', 'a__-b', 'a..b', 'a b', '_x', 'a/B'];

    it.each(BAD_NAMES)('GET tags/list of %j', async (name) => {
      expectBadInput(await reg.get(`/v2/${name}/tags/list`), 400, 'NAME_INVALID');
    });

    it.each(BAD_NAMES)('POST an upload to %j', async (name) => {
      expectBadInput(await reg.post(`/v2/${name}/blobs/uploads/`), 400, 'NAME_INVALID');
    });

    it.each(BAD_NAMES)('PUT a manifest to %j', async (name) => {
      const m = image.manifest;
      expectBadInput(await reg.put(`/v2/${name}/manifests/latest`, { headers: { 'content-type': m.mediaType }, body: m.bytes }), 400, 'NAME_INVALID');
    });

    // fetch (WHATWG URL) would resolve `.` and `..` segments; node:http sends the path as written.
    it.each(['a/../b', '../etc', 'a/..', '..', `${repo}/../${repo}`, 'a/./b', './a'])('path traversal %j is rejected', async (name) => {
      for (const [method, path] of [
        ['GET', `/v2/${name}/tags/list`],
        ['GET', `/v2/${name}/manifests/latest`],
        ['GET', `/v2/${name}/blobs/${image.parts.configDesc.digest}`],
        ['POST', `/v2/${name}/blobs/uploads/`],
      ] as const) {
        const res = await rawRequest(target.url, method, path, { 'content-length': '0' }, Buffer.alloc(0));
        expect(res.status, `${method} ${path}: ${res.text}`).toBeLessThan(500);
        if (!IS_CNCF) {
          expect([400, 404], `${method} ${path}: ${res.text}`).toContain(res.status);
          const body = JSON.parse(res.text) as { errors: { code: string }[] };
          expect(['NAME_INVALID', 'NAME_UNKNOWN'], `${method} ${path}: ${res.text}`).toContain(body.errors[0]!.code);
        }
      }
    });

    it('a name of exactly 255 characters is accepted', async () => {
      const name = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
      expect(name.length).toBe(255);
      const data = randomBlob(20);
      await reg.pushBlob(name, data);
      expect((await reg.get(`/v2/${name}/blobs/${digestOf(data)}`)).status).toBe(200);
    });

    // distribution 2.8: 500 UNKNOWN.
    itStevedore('names longer than 255 characters: 400 NAME_INVALID on every endpoint', async () => {
      const long = `${'c'.repeat(200)}/${'d'.repeat(200)}`;
      expectError(await reg.get(`/v2/${long}/manifests/latest`), 400, 'NAME_INVALID');
      expectError(await reg.get(`/v2/${long}/blobs/${UNKNOWN_DIGEST}`), 400, 'NAME_INVALID');
      const m = image.manifest;
      expectError(await reg.put(`/v2/${long}/manifests/latest`, { headers: { 'content-type': m.mediaType }, body: m.bytes }), 400, 'NAME_INVALID');
    });
  });

  describe('tags', () => {
    it('a tag of exactly 128 characters is accepted', async () => {
      const tag = 't'.repeat(128);
      await reg.pushManifest(repo, tag, image.manifest);
      const res = await reg.get(`/v2/${repo}/manifests/${tag}`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
      expect(res.status).toBe(200);
    });

    it('a tag longer than 128 characters: PUT is a 4xx and creates nothing', async () => {
      const tag = 't'.repeat(129);
      const m = image.manifest;
      const res = await reg.put(`/v2/${repo}/manifests/${tag}`, { headers: { 'content-type': m.mediaType }, body: m.bytes });
      expectBadInput(res, [400, 404], ['TAG_INVALID', 'MANIFEST_INVALID', 'NAME_INVALID']);
      const tags = (await reg.get(`/v2/${repo}/tags/list`)).json<{ tags: string[] }>().tags;
      expect(tags).not.toContain(tag);
    });

    it.each(['.dot', '-dash', 'sp ace', 'semi;colon', 'a'.repeat(129)])('GET of invalid tag %j: 4xx, never 500', async (tag) => {
      expectBadInput(await reg.get(`/v2/${repo}/manifests/${encodeURIComponent(tag)}`), [400, 404], ['TAG_INVALID', 'MANIFEST_UNKNOWN', 'MANIFEST_INVALID']);
    });

    it.each(['.dot', '-dash', 'semi;colon'])('PUT to invalid tag %j: 4xx, never 500', async (tag) => {
      const m = image.manifest;
      const res = await reg.put(`/v2/${repo}/manifests/${encodeURIComponent(tag)}`, { headers: { 'content-type': m.mediaType }, body: m.bytes });
      expectBadInput(res, [400, 404], ['TAG_INVALID', 'MANIFEST_INVALID']);
    });
  });

  describe('malformed manifests: 400 MANIFEST_INVALID', () => {
    const cfg = () => image.parts.configDesc;
    const lay = () => image.parts.layerDescs;
    const CASES: [string, () => string][] = [
      ['empty body', () => ''],
      ['truncated JSON', () => '{"schemaVersion": 2, "config": {'],
      ['a JSON array', () => '[]'],
      ['a JSON string', () => '"manifest"'],
      ['schemaVersion as a string', () => JSON.stringify({ schemaVersion: '2', mediaType: MediaType.OciManifest, config: cfg(), layers: lay() })],
      ['no config', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, layers: lay() })],
      ['layers not an array', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg(), layers: {} })],
      ['config without a digest', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, size: 10 }, layers: lay() })],
      ['negative size', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { ...cfg(), size: -1 }, layers: lay() })],
      ['size as a string', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { ...cfg(), size: String(cfg().size) }, layers: lay() })],
      ['invalid UTF-8 / binary', () => Buffer.from([0xff, 0xfe, 0x00, 0x7b]).toString('latin1')],
    ];
    // distribution 2.8 answers these with 500 UNKNOWN.
    const CASES_CNCF_500: [string, () => string][] = [
      ['null', () => 'null'],
      ['schemaVersion 3', () => JSON.stringify({ schemaVersion: 3, mediaType: MediaType.OciManifest, config: cfg(), layers: lay() })],
    ];

    async function putMalformed(body: string): Promise<void> {
      const res = await reg.put(`/v2/${repo}/manifests/malformed`, { headers: { 'content-type': MediaType.OciManifest }, body });
      expectBadInput(res, 400, 'MANIFEST_INVALID');
      // distribution 2.8 stores some of them (negative sizes, sizes as strings).
      if (!IS_CNCF) expect((await reg.head(`/v2/${repo}/manifests/malformed`)).status).toBe(404);
    }

    it.each(CASES)('%s', async (_name, body) => {
      await putMalformed(body());
    });

    itStevedore.each(CASES_CNCF_500)('%s', async (_name, body) => {
      await putMalformed(body());
    });

    it('an index whose manifests field is not an array', async () => {
      const res = await reg.put(`/v2/${repo}/manifests/malformed`, {
        headers: { 'content-type': MediaType.OciIndex },
        body: JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: 'nope' }),
      });
      expectBadInput(res, 400, 'MANIFEST_INVALID');
    });

    itStevedore('Content-Type and the mediaType field disagree', async () => {
      const m = image.manifest;
      const res = await reg.put(`/v2/${repo}/manifests/mismatch`, { headers: { 'content-type': MediaType.OciIndex }, body: m.bytes });
      expectError(res, 400, 'MANIFEST_INVALID');
    });

    itStevedore('a layer descriptor whose size differs from the blob: 400', async () => {
      const parts = image.parts;
      const m = ociManifest(parts.configDesc, [{ ...parts.layerDescs[0]!, size: parts.layerDescs[0]!.size + 1 }]);
      const res = await reg.put(`/v2/${repo}/manifests/wrongsize`, { headers: { 'content-type': m.mediaType }, body: m.bytes });
      expectError(res, 400, ['MANIFEST_INVALID', 'SIZE_INVALID', 'MANIFEST_BLOB_UNKNOWN']);
    });

    itStevedore('an index child whose size differs from the manifest: 400', async () => {
      const child = image.manifest;
      const idx = asManifest(
        { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...child.descriptor, size: child.size + 5 }] },
        MediaType.OciIndex,
      );
      const res = await reg.put(`/v2/${repo}/manifests/wrongsize-index`, { headers: { 'content-type': idx.mediaType }, body: idx.bytes });
      expectError(res, 400, ['MANIFEST_INVALID', 'SIZE_INVALID', 'MANIFEST_BLOB_UNKNOWN']);
    });
  });

  describe('bodies that do not match their declared length', () => {
    // A body longer than its Content-Length: the server reads the declared bytes as the body and the
    // rest as the start of a next request, which is malformed. Depending on which it answers first the
    // client sees the registry's own 4xx for the truncated body or the HTTP layer's 400 (bare from
    // the CNCF registry, UNSUPPORTED "malformed HTTP request" from Stevedore); either way nothing is
    // stored from it and the server keeps serving (afterEach).
    function expectOverrunRejected(res: RawRes, codes: string[]): void {
      expect(res.status, res.text).toBeGreaterThanOrEqual(400);
      expect(res.status, res.text).toBeLessThan(500);
      if (!res.text) return;
      const error = (JSON.parse(res.text) as { errors: { code: string; message: string }[] }).errors[0]!;
      if (error.code === 'UNSUPPORTED' && res.status === 400) expect(error.message).toMatch(/^malformed/);
      else expect(codes, res.text).toContain(error.code);
    }

    it('upload PUT with more bytes than Content-Length: 4xx, no blob under either digest', async () => {
      const data = randomBlob(2000);
      const loc = new URL(await reg.startUpload(repo));
      loc.searchParams.set('digest', digestOf(data));
      const res = await rawRequest(target.url, 'PUT', loc.pathname + loc.search, { 'content-type': 'application/octet-stream', 'content-length': '1000' }, data);
      expectOverrunRejected(res, ['DIGEST_INVALID', 'SIZE_INVALID']);
      expect((await reg.head(`/v2/${repo}/blobs/${digestOf(data)}`)).status).toBe(404);
      expect((await reg.head(`/v2/${repo}/blobs/${digestOf(data.subarray(0, 1000))}`)).status).toBe(404);
    });

    it('monolithic POST ?digest= with more bytes than Content-Length: 4xx, no blob', async () => {
      const data = randomBlob(2000);
      const res = await rawRequest(
        target.url,
        'POST',
        `/v2/${repo}/blobs/uploads/?digest=${digestOf(data)}`,
        { 'content-type': 'application/octet-stream', 'content-length': '1000' },
        data,
      );
      // distribution 2.8 ignores ?digest= on POST and opens a session (202).
      if (!(IS_CNCF && res.status === 202)) expectOverrunRejected(res, ['DIGEST_INVALID', 'SIZE_INVALID']);
      expect((await reg.head(`/v2/${repo}/blobs/${digestOf(data)}`)).status).toBe(404);
    });

    it('manifest PUT with more bytes than Content-Length: 4xx (MANIFEST_INVALID), nothing stored', async () => {
      const m = image.manifest;
      const res = await rawRequest(
        target.url,
        'PUT',
        `/v2/${repo}/manifests/toolong`,
        { 'content-type': m.mediaType, 'content-length': String(m.size - 20) },
        m.bytes,
      );
      expectOverrunRejected(res, ['MANIFEST_INVALID']);
      expect((await reg.head(`/v2/${repo}/manifests/toolong`)).status).toBe(404);
    });

    it('PATCH with more bytes than Content-Length: 202 for the declared bytes, or a 400', async () => {
      const data = randomBlob(3000);
      const loc = new URL(await reg.startUpload(repo));
      const res = await rawRequest(target.url, 'PATCH', loc.pathname + loc.search, { 'content-type': 'application/octet-stream', 'content-length': '1000' }, data);
      if (res.status === 202) expect(res.headers['range']).toBe('0-999');
      else expectOverrunRejected(res, ['BLOB_UPLOAD_INVALID', 'SIZE_INVALID']);
    });

    it('a client that disconnects before sending the declared body leaves no blob', async () => {
      const data = randomBlob(5000);
      const loc = new URL(await reg.startUpload(repo));
      loc.searchParams.set('digest', digestOf(data));
      await new Promise<void>((resolve) => {
        const req = httpRequest({
          host: loc.hostname,
          port: loc.port,
          method: 'PUT',
          path: loc.pathname + loc.search,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
        });
        req.on('error', () => resolve());
        req.on('response', (r) => {
          r.resume();
          resolve();
        });
        req.write(data.subarray(0, 2000), () => req.destroy());
        req.on('close', () => resolve());
      });
      await reg.expectAlive();
      expect((await reg.head(`/v2/${repo}/blobs/${digestOf(data)}`)).status).toBe(404);
    });
  });

  describe('unknown routes and methods', () => {
    it.each([
      ['GET', '/v2/x/y/z/nonsense'],
      ['POST', `/v2/${'a'}/manifests/latest`],
      ['PATCH', `/v2/a/blobs/${'sha256:' + 'a'.repeat(64)}`],
      ['GET', '/v3/'],
    ])('%s %s: 4xx, never 500', async (method, path) => {
      const res = await reg.req(method, path, method === 'GET' ? {} : { body: '' });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    });
  });
});

// storage.delete.enabled: false. distribution behaves the same way, but only Stevedore's option is
// under test here.
describe.skipIf(IS_CNCF)('deletion switched off', () => {
  let target: Target;
  let reg: Registry;
  const repo = repoName('nodelete');
  let image: Awaited<ReturnType<typeof pushImage>>;

  beforeAll(async () => {
    target = await startTarget({ deleteEnabled: false });
    reg = new Registry(target.url);
    image = await pushImage(reg, repo, 'keep');
  });
  afterAll(async () => {
    await target?.stop();
  });

  it('DELETE blob: 405 UNSUPPORTED, the blob stays', async () => {
    const d = image.parts.layerDescs[0]!.digest;
    expectError(await reg.delete(`/v2/${repo}/blobs/${d}`), 405, 'UNSUPPORTED');
    expect((await reg.head(`/v2/${repo}/blobs/${d}`)).status).toBe(200);
  });

  it('DELETE manifest by digest: 405 UNSUPPORTED, the manifest stays', async () => {
    expectError(await reg.delete(`/v2/${repo}/manifests/${image.manifest.digest}`), 405, 'UNSUPPORTED');
    expect((await reg.head(`/v2/${repo}/manifests/${image.manifest.digest}`)).status).toBe(200);
  });

  it('DELETE manifest by tag: 405 UNSUPPORTED, the tag stays', async () => {
    expectError(await reg.delete(`/v2/${repo}/manifests/keep`), 405, 'UNSUPPORTED');
    expect((await reg.head(`/v2/${repo}/manifests/keep`)).status).toBe(200);
  });

  it('cancelling an upload (DELETE on the upload URL) still works: 204', async () => {
    const loc = await reg.startUpload(repo);
    expect((await reg.delete(loc)).status).toBe(204);
  });

  it('pushing and re-tagging still work', async () => {
    const { manifest } = await pushImage(reg, repo, 'keep');
    const res = await reg.get(`/v2/${repo}/manifests/keep`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
    expect(res.header('docker-content-digest')).toBe(manifest.digest);
  });
});
