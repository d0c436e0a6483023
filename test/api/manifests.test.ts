// Manifests: PUT / GET / HEAD / DELETE /v2/<name>/manifests/<reference> by tag and by digest, for
// OCI image manifests, OCI indexes, Docker schema 2 manifests and manifest lists
// (distribution-spec "Pulling manifests", "Pushing manifests", "Deleting manifests").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, MediaType } from '../../oci/index.js';
import {
  ACCEPT_ALL_MANIFESTS,
  asManifest,
  dockerManifest,
  dockerManifestList,
  expectError,
  imageParts,
  type Manifest,
  ociIndex,
  ociManifest,
  pushImage,
  randomBlob,
  Registry,
  repoName,
  UNKNOWN_DIGEST,
} from './client.js';
import { itStevedore, startTarget, type Target } from './target.js';

describe('manifests', () => {
  let target: Target;
  let reg: Registry;

  beforeAll(async () => {
    target = await startTarget();
    reg = new Registry(target.url);
  });
  afterAll(async () => {
    await target?.stop();
  });

  async function expectManifest(repo: string, ref: string, m: Manifest, accept = ACCEPT_ALL_MANIFESTS): Promise<void> {
    const res = await reg.get(`/v2/${repo}/manifests/${ref}`, { headers: { accept } });
    expect(res.status).toBe(200);
    expect(res.body.equals(m.bytes)).toBe(true);
    expect(res.header('content-type')).toBe(m.mediaType);
    expect(res.header('docker-content-digest')).toBe(m.digest);
    expect(res.header('content-length')).toBe(String(m.size));
  }

  async function tags(repo: string): Promise<string[]> {
    const res = await reg.get(`/v2/${repo}/tags/list`);
    if (res.status === 404) return [];
    expect(res.status).toBe(200);
    return res.json<{ tags: string[] | null }>().tags ?? [];
  }

  describe('PUT', () => {
    it('an OCI image manifest by tag: 201 with Location and Docker-Content-Digest', async () => {
      const repo = repoName('man');
      const { manifest, res } = await pushImage(reg, repo, 'v1');
      expect(res.status).toBe(201);
      expect(res.header('docker-content-digest')).toBe(manifest.digest);
      expect(new URL(res.location()).pathname).toBe(`/v2/${repo}/manifests/${manifest.digest}`);
      await expectManifest(repo, 'v1', manifest);
      await expectManifest(repo, manifest.digest, manifest);
    });

    it('the same manifest under several tags: 201 each time, every tag resolves to it', async () => {
      const repo = repoName('man');
      const { manifest } = await pushImage(reg, repo, 'test0');
      for (const tag of ['test1', 'test2', 'test3']) {
        const res = await reg.put(`/v2/${repo}/manifests/${tag}`, { headers: { 'content-type': manifest.mediaType }, body: manifest.bytes });
        expect(res.status).toBe(201);
        expect(res.header('location')).toBeTruthy();
      }
      for (const tag of ['test0', 'test1', 'test2', 'test3']) await expectManifest(repo, tag, manifest);
      expect((await tags(repo)).sort()).toEqual(['test0', 'test1', 'test2', 'test3']);
    });

    it('by digest: 201, and no tag is created', async () => {
      const repo = repoName('man');
      const { manifest, res } = await pushImage(reg, repo);
      expect(res.status).toBe(201);
      expect(res.header('docker-content-digest')).toBe(manifest.digest);
      await expectManifest(repo, manifest.digest, manifest);
      expect(await tags(repo)).toEqual([]);
    });

    it('a manifest with no layers: 201', async () => {
      const repo = repoName('man');
      const parts = imageParts(0);
      await reg.pushBlob(repo, parts.config);
      const m = ociManifest(parts.configDesc, []);
      await reg.pushManifest(repo, 'emptylayer', m);
      await expectManifest(repo, 'emptylayer', m);
    });

    it('descriptors with `data` and unknown fields are accepted and stored byte for byte', async () => {
      const repo = repoName('man');
      const parts = imageParts(1);
      await reg.pushBlob(repo, parts.config);
      await reg.pushBlob(repo, parts.layers[0]!);
      const m = asManifest(
        {
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: { ...parts.configDesc, data: parts.config.toString('base64'), newUnspecifiedField: 'aGVsbG8gd29ybGQ=' },
          layers: parts.layerDescs,
          annotations: { 'org.example.note': 'x' },
          somethingNew: { nested: [1, 2, 3] },
        },
        MediaType.OciManifest,
      );
      await reg.pushManifest(repo, 'extra', m);
      await expectManifest(repo, 'extra', m);
    });

    it('a Docker schema 2 manifest: 201, GET returns it with its media type', async () => {
      const repo = repoName('man');
      const { manifest } = await pushImage(reg, repo, 'docker', { docker: true, layers: 2 });
      expect(manifest.mediaType).toBe(MediaType.DockerManifest);
      await expectManifest(repo, 'docker', manifest);
      await expectManifest(repo, manifest.digest, manifest, MediaType.DockerManifest);
    });

    it('an OCI index whose children exist: 201, GET returns it with the index media type', async () => {
      const repo = repoName('man');
      const a = (await pushImage(reg, repo)).manifest;
      const b = (await pushImage(reg, repo)).manifest;
      const idx = ociIndex([a, b]);
      const res = await reg.pushManifest(repo, 'multi', idx);
      expect(res.header('docker-content-digest')).toBe(idx.digest);
      await expectManifest(repo, 'multi', idx);
      await expectManifest(repo, idx.digest, idx, MediaType.OciIndex);
      // The children stay reachable by digest.
      await expectManifest(repo, a.digest, a);
    });

    it('a Docker manifest list whose children exist: 201, GET returns it with its media type', async () => {
      const repo = repoName('man');
      const a = (await pushImage(reg, repo, undefined, { docker: true })).manifest;
      const b = (await pushImage(reg, repo, undefined, { docker: true })).manifest;
      const list = dockerManifestList([a, b]);
      await reg.pushManifest(repo, 'list', list);
      await expectManifest(repo, 'list', list);
      await expectManifest(repo, list.digest, list, MediaType.DockerManifestList);
    });

    it('an index of indexes is accepted', async () => {
      const repo = repoName('man');
      const a = (await pushImage(reg, repo)).manifest;
      const inner = ociIndex([a]);
      await reg.pushManifest(repo, inner.digest, inner);
      const outer = ociIndex([inner]);
      await reg.pushManifest(repo, 'nested', outer);
      await expectManifest(repo, 'nested', outer);
    });

    it('re-tagging: PUT another manifest to an existing tag moves the tag, the old manifest stays by digest', async () => {
      const repo = repoName('man');
      const first = (await pushImage(reg, repo, 'latest')).manifest;
      const second = (await pushImage(reg, repo, 'latest')).manifest;
      await expectManifest(repo, 'latest', second);
      await expectManifest(repo, first.digest, first);
    });

    it('an OCI index whose children are missing: 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = repoName('man');
      await pushImage(reg, repo, 'present');
      const ghost = ociManifest(imageParts(1).configDesc, imageParts(1).layerDescs);
      const idx = ociIndex([ghost]);
      const res = await reg.put(`/v2/${repo}/manifests/broken`, { headers: { 'content-type': idx.mediaType }, body: idx.bytes });
      expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
      expect((await reg.head(`/v2/${repo}/manifests/broken`)).status).toBe(404);
    });

    it('a Docker manifest list whose children are missing: 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = repoName('man');
      await pushImage(reg, repo, 'present', { docker: true });
      const ghost = dockerManifest(imageParts(1, true).configDesc, imageParts(1, true).layerDescs);
      const list = dockerManifestList([ghost]);
      const res = await reg.put(`/v2/${repo}/manifests/broken`, { headers: { 'content-type': list.mediaType }, body: list.bytes });
      expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('a manifest whose layer blob is missing: 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = repoName('man');
      const parts = imageParts(2);
      await reg.pushBlob(repo, parts.config);
      await reg.pushBlob(repo, parts.layers[0]!); // the second layer is never pushed
      const m = ociManifest(parts.configDesc, parts.layerDescs);
      const res = await reg.put(`/v2/${repo}/manifests/v1`, { headers: { 'content-type': m.mediaType }, body: m.bytes });
      expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
      expect((await reg.head(`/v2/${repo}/manifests/v1`)).status).toBe(404);
    });

    it('a manifest whose config blob is missing: 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = repoName('man');
      const parts = imageParts(1);
      await reg.pushBlob(repo, parts.layers[0]!);
      const m = ociManifest(parts.configDesc, parts.layerDescs);
      const res = await reg.put(`/v2/${repo}/manifests/v1`, { headers: { 'content-type': m.mediaType }, body: m.bytes });
      expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('a manifest whose blobs exist only in another repository: 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const other = repoName('man');
      const { manifest } = await pushImage(reg, other, 'v1');
      const repo = repoName('man');
      await reg.pushBlob(repo, randomBlob(10));
      const res = await reg.put(`/v2/${repo}/manifests/v1`, { headers: { 'content-type': manifest.mediaType }, body: manifest.bytes });
      expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('a Docker schema 1 manifest is refused with a 4xx (MANIFEST_INVALID or UNSUPPORTED)', async () => {
      const repo = repoName('man');
      const s1 = Buffer.from(
        JSON.stringify({ schemaVersion: 1, name: repo, tag: 'old', architecture: 'amd64', fsLayers: [], history: [] }),
      );
      for (const ct of [MediaType.DockerSchema1Manifest, MediaType.DockerSchema1SignedManifest]) {
        const res = await reg.put(`/v2/${repo}/manifests/old`, { headers: { 'content-type': ct }, body: s1 });
        expectError(res, [400, 415], ['MANIFEST_INVALID', 'UNSUPPORTED']);
      }
      expect((await reg.head(`/v2/${repo}/manifests/old`)).status).toBe(404);
    });
  });

  describe('GET / HEAD', () => {
    let repo: string;
    let oci: Manifest;
    let docker: Manifest;
    let index: Manifest;
    let list: Manifest;

    beforeAll(async () => {
      repo = repoName('man-get');
      oci = (await pushImage(reg, repo, 'oci')).manifest;
      docker = (await pushImage(reg, repo, 'docker', { docker: true })).manifest;
      index = ociIndex([oci]);
      await reg.pushManifest(repo, 'index', index);
      list = dockerManifestList([docker]);
      await reg.pushManifest(repo, 'list', list);
    });

    it('HEAD by tag and by digest: 200 with Content-Type, Docker-Content-Digest, Content-Length, no body', async () => {
      for (const ref of ['oci', oci.digest]) {
        const res = await reg.head(`/v2/${repo}/manifests/${ref}`, { headers: { accept: MediaType.OciManifest } });
        expect(res.status).toBe(200);
        expect(res.header('content-type')).toBe(MediaType.OciManifest);
        expect(res.header('docker-content-digest')).toBe(oci.digest);
        expect(res.header('content-length')).toBe(String(oci.size));
        expect(res.body.length).toBe(0);
      }
    });

    it('GET by tag and by digest with the conformance Accept header: 200 and the exact bytes', async () => {
      await expectManifest(repo, 'oci', oci, MediaType.OciManifest);
      await expectManifest(repo, oci.digest, oci, MediaType.OciManifest);
    });

    it('each kind is returned with its stored media type as Content-Type (Accept lists all four)', async () => {
      for (const [ref, m] of [
        ['oci', oci],
        ['docker', docker],
        ['index', index],
        ['list', list],
      ] as const) {
        await expectManifest(repo, ref, m);
        const head = await reg.head(`/v2/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
        expect(head.header('content-type')).toBe(m.mediaType);
        expect(head.header('docker-content-digest')).toBe(m.digest);
      }
    });

    it('Accept with q-values and parameters still gets the stored type', async () => {
      const res = await reg.get(`/v2/${repo}/manifests/index`, {
        headers: { accept: `${MediaType.OciIndex};q=0.9, ${MediaType.OciManifest};q=0.5` },
      });
      expect(res.status).toBe(200);
      expect(res.header('content-type')).toBe(MediaType.OciIndex);
    });

    // distribution 2.8 refuses OCI content to clients that do not list the OCI types (404 MANIFEST_UNKNOWN).
    itStevedore('without Accept, or with Accept: */*, GET still returns the stored manifest and type', async () => {
      for (const [ref, m] of [
        ['oci', oci],
        ['docker', docker],
        ['index', index],
        ['list', list],
      ] as const) {
        await expectManifest(repo, ref, m, '*/*');
        const res = await reg.get(`/v2/${repo}/manifests/${m.digest}`);
        expect(res.status).toBe(200);
        expect(res.header('content-type')).toBe(m.mediaType);
        expect(res.body.equals(m.bytes)).toBe(true);
      }
    });

    it('nonexistent tag: GET 404 MANIFEST_UNKNOWN, HEAD 404', async () => {
      expectError(await reg.get(`/v2/${repo}/manifests/nope`, { headers: { accept: ACCEPT_ALL_MANIFESTS } }), 404, 'MANIFEST_UNKNOWN');
      expect((await reg.head(`/v2/${repo}/manifests/nope`)).status).toBe(404);
    });

    it('nonexistent digest: GET 404 MANIFEST_UNKNOWN, HEAD 404', async () => {
      expectError(await reg.get(`/v2/${repo}/manifests/${UNKNOWN_DIGEST}`), 404, 'MANIFEST_UNKNOWN');
      expect((await reg.head(`/v2/${repo}/manifests/${UNKNOWN_DIGEST}`)).status).toBe(404);
    });

    it('the conformance suite\'s nonexistent reference ".INVALID_MANIFEST_NAME": GET and HEAD 404', async () => {
      expect((await reg.get(`/v2/${repo}/manifests/.INVALID_MANIFEST_NAME`)).status).toBe(404);
      expect((await reg.head(`/v2/${repo}/manifests/.INVALID_MANIFEST_NAME`)).status).toBe(404);
    });

    it('a manifest in a repository that does not exist: 404 MANIFEST_UNKNOWN or NAME_UNKNOWN', async () => {
      expectError(await reg.get(`/v2/${repoName('nothere')}/manifests/latest`), 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
    });

    it('a manifest is only visible in its repository', async () => {
      const other = repoName('man-other');
      await pushImage(reg, other, 'x');
      expectError(await reg.get(`/v2/${other}/manifests/${oci.digest}`, { headers: { accept: ACCEPT_ALL_MANIFESTS } }), 404, 'MANIFEST_UNKNOWN');
    });

    it('GET has an ETag; If-None-Match with it gives 304', async () => {
      const first = await reg.get(`/v2/${repo}/manifests/oci`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
      const etag = first.header('etag');
      expect(etag).toContain(oci.digest);
      const res = await reg.get(`/v2/${repo}/manifests/oci`, { headers: { accept: ACCEPT_ALL_MANIFESTS, 'if-none-match': etag! } });
      expect(res.status).toBe(304);
      expect(res.body.length).toBe(0);
    });
  });

  describe('DELETE', () => {
    it('by digest: 202, then GET by digest and by tag give 404 and the tag leaves the tag list', async () => {
      const repo = repoName('man-del');
      const { manifest } = await pushImage(reg, repo, 'gone');
      await pushImage(reg, repo, 'kept');
      const res = await reg.delete(`/v2/${repo}/manifests/${manifest.digest}`);
      expect(res.status).toBe(202);
      expectError(await reg.get(`/v2/${repo}/manifests/${manifest.digest}`, { headers: { accept: ACCEPT_ALL_MANIFESTS } }), 404, 'MANIFEST_UNKNOWN');
      expectError(await reg.get(`/v2/${repo}/manifests/gone`, { headers: { accept: ACCEPT_ALL_MANIFESTS } }), 404, 'MANIFEST_UNKNOWN');
      expect(await tags(repo)).toEqual(['kept']);
    });

    it('DELETE an already-deleted or unknown digest: 404 MANIFEST_UNKNOWN', async () => {
      const repo = repoName('man-del');
      const { manifest } = await pushImage(reg, repo);
      expect((await reg.delete(`/v2/${repo}/manifests/${manifest.digest}`)).status).toBe(202);
      expectError(await reg.delete(`/v2/${repo}/manifests/${manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
      expectError(await reg.delete(`/v2/${repo}/manifests/${UNKNOWN_DIGEST}`), 404, 'MANIFEST_UNKNOWN');
    });

    // The conformance suite allows 202, or 400 UNSUPPORTED / 405 where tag deletion is not offered;
    // distribution 2.8 answers 400 DIGEST_INVALID, which is neither. Stevedore untags (202).
    itStevedore('by tag untags: 202, the tag is gone, the manifest stays by digest and under other tags', async () => {
      const repo = repoName('man-del');
      const { manifest } = await pushImage(reg, repo, 'a');
      await reg.pushManifest(repo, 'b', manifest);
      const res = await reg.delete(`/v2/${repo}/manifests/a`);
      expect(res.status).toBe(202);
      expectError(await reg.get(`/v2/${repo}/manifests/a`, { headers: { accept: ACCEPT_ALL_MANIFESTS } }), 404, 'MANIFEST_UNKNOWN');
      await expectManifest(repo, manifest.digest, manifest);
      await expectManifest(repo, 'b', manifest);
      expect(await tags(repo)).toEqual(['b']);
    });

    itStevedore('DELETE an unknown tag: 404 MANIFEST_UNKNOWN', async () => {
      const repo = repoName('man-del');
      await pushImage(reg, repo, 'a');
      expectError(await reg.delete(`/v2/${repo}/manifests/nosuchtag`), 404, 'MANIFEST_UNKNOWN');
    });

    it('blobs of a deleted manifest can be deleted too (202), then are gone (404)', async () => {
      const repo = repoName('man-del');
      const { manifest, parts } = await pushImage(reg, repo, 'x');
      expect((await reg.delete(`/v2/${repo}/manifests/${manifest.digest}`)).status).toBe(202);
      for (const d of [parts.configDesc.digest, parts.layerDescs[0]!.digest]) {
        expect((await reg.delete(`/v2/${repo}/blobs/${d}`)).status).toBe(202);
        expect((await reg.get(`/v2/${repo}/blobs/${d}`)).status).toBe(404);
      }
    });

    it('deleting a manifest in one repository leaves it in another', async () => {
      const a = repoName('man-del');
      const b = repoName('man-del');
      const { manifest, parts } = await pushImage(reg, a, 'x');
      await reg.pushBlob(b, parts.config);
      await reg.pushBlob(b, parts.layers[0]!);
      await reg.pushManifest(b, 'x', manifest);
      expect((await reg.delete(`/v2/${a}/manifests/${manifest.digest}`)).status).toBe(202);
      await expectManifest(b, 'x', manifest);
      expect(digestOf(manifest.bytes)).toBe(manifest.digest);
    });
  });
  describe('heavy manifests', () => {
    itStevedore('23,000 copies of one layer (4 MB): a clear MANIFEST_INVALID, and other clients are served meanwhile', async () => {
      const repo = repoName('heavy');
      const { parts, manifest: small } = await pushImage(reg, repo, 'small');
      const heavy = ociManifest(parts.configDesc, Array.from({ length: 23_000 }, () => parts.layerDescs[0]!));
      expect(heavy.bytes.length).toBeLessThan(4 * 1024 * 1024); // under the size limit: the count is what is refused
      const pending = reg.put(`/v2/${repo}/manifests/heavy`, { headers: { 'content-type': heavy.mediaType }, body: heavy.bytes });
      const other = await reg.get(`/v2/${repo}/manifests/small`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
      expect(other.status).toBe(200);
      expect(other.body.equals(small.bytes)).toBe(true);
      const err = expectError(await pending, 400, 'MANIFEST_INVALID');
      expect(err.errors[0]!.message).toContain('at most 1000');
      expect(await tags(repo)).toEqual(['small']);
    });

    it('many copies of one layer under the limit are accepted (each blob checked once)', async () => {
      const repo = repoName('copies');
      const { parts } = await pushImage(reg, repo, 'small');
      const m = ociManifest(parts.configDesc, Array.from({ length: 900 }, () => parts.layerDescs[0]!));
      expect((await reg.pushManifest(repo, 'copies', m)).status).toBe(201);
      await expectManifest(repo, 'copies', m);
    });
  });
});
