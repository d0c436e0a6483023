// The referrers API: manifests with a `subject`, the OCI-Subject header on PUT, and
// GET /v2/<name>/referrers/<digest> with and without the artifactType filter
// (distribution-spec "Pushing manifests with subject", "Listing referrers"; conformance 03_discovery).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, MediaType, type Descriptor } from '../../oci/index.js';
import {
  asManifest,
  EMPTY_JSON,
  EMPTY_JSON_DESC,
  expectError,
  imageParts,
  type Manifest,
  pushImage,
  Registry,
  repoName,
  UNKNOWN_DIGEST,
} from './client.js';
import { IS_CNCF, itStevedore, startTarget, type Target } from './target.js';

const ANNOTATION = 'org.opencontainers.conformance.test';
const TYPE_A = 'application/vnd.nhl.peanut.butter.bagel';
const TYPE_B = 'application/vnd.nba.strawberry.jam.croissant';
const TYPE_INDEX = 'application/vnd.food.stand';
const REF_BLOB_A = Buffer.from('NHL Peanut Butter on my NHL bagel');
const REF_BLOB_B = Buffer.from('NBA Strawberry Jam on my NBA croissant');

interface Index {
  schemaVersion: number;
  mediaType?: string;
  manifests: (Descriptor & { artifactType?: string })[];
}

function blobDesc(mediaType: string, data: Buffer): Descriptor {
  return { mediaType, digest: digestOf(data), size: data.length };
}

function artifact(subject: Descriptor, opts: { artifactType?: string; config: Descriptor; layers: Descriptor[]; note?: string }): Manifest {
  return asManifest(
    {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
      config: opts.config,
      layers: opts.layers,
      subject,
      ...(opts.note ? { annotations: { [ANNOTATION]: opts.note } } : {}),
    },
    MediaType.OciManifest,
  );
}

// distribution 2.8 predates distribution-spec 1.1: no referrers API and no OCI-Subject header.
describe('referrers', () => {
  let target: Target;
  let reg: Registry;
  const repo = repoName('refs');
  let subject: Manifest;
  let missingSubject: Descriptor;
  const expected = new Map<string, { note?: string; artifactType: string; manifest: Manifest }>();
  let cLayer: Manifest;
  const putResponses: { name: string; ociSubject: string | null; expectedSubject: string }[] = [];

  async function putRef(name: string, m: Manifest, subj: string): Promise<void> {
    const res = await reg.put(`/v2/${repo}/manifests/${m.digest}`, { headers: { 'content-type': m.mediaType }, body: m.bytes });
    expect(res.status, `${name}: ${res.text}`).toBe(201);
    putResponses.push({ name, ociSubject: res.header('oci-subject'), expectedSubject: subj });
  }

  beforeAll(async () => {
    target = await startTarget();
    reg = new Registry(target.url);

    // The subject image is built first but pushed in the middle, as in the conformance suite:
    // referrers may arrive before their subject.
    const parts = imageParts(1);
    const subjectManifest = asManifest(
      { schemaVersion: 2, mediaType: MediaType.OciManifest, config: parts.configDesc, layers: parts.layerDescs },
      MediaType.OciManifest,
    );
    subject = subjectManifest;
    const subj = subject.descriptor;
    // A subject that is never pushed.
    missingSubject = { mediaType: MediaType.OciManifest, digest: digestOf('never pushed subject'), size: 1234 };

    await reg.pushBlob(repo, EMPTY_JSON);
    await reg.pushBlob(repo, REF_BLOB_A);

    const aConfig = artifact(subj, { config: blobDesc(TYPE_A, REF_BLOB_A), layers: [EMPTY_JSON_DESC], note: 'test config a' });
    const aLayer = artifact(subj, { artifactType: TYPE_A, config: EMPTY_JSON_DESC, layers: [blobDesc(TYPE_A, REF_BLOB_A)], note: 'test layer a' });
    await putRef('A config', aConfig, subject.digest);
    await putRef('A layer', aLayer, subject.digest);
    expected.set(aConfig.digest, { note: 'test config a', artifactType: TYPE_A, manifest: aConfig });
    expected.set(aLayer.digest, { note: 'test layer a', artifactType: TYPE_A, manifest: aLayer });

    const idx = asManifest(
      {
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        artifactType: TYPE_INDEX,
        manifests: [aConfig.descriptor, aLayer.descriptor],
        subject: subj,
        annotations: { [ANNOTATION]: 'test index' },
      },
      MediaType.OciIndex,
    );
    await putRef('index', idx, subject.digest);
    expected.set(idx.digest, { note: 'test index', artifactType: TYPE_INDEX, manifest: idx });

    await reg.pushBlob(repo, parts.config);
    for (const l of parts.layers) await reg.pushBlob(repo, l);
    await reg.pushManifest(repo, 'tagtest0', subject);

    await reg.pushBlob(repo, REF_BLOB_B);
    const bConfig = artifact(subj, { config: blobDesc(TYPE_B, REF_BLOB_B), layers: [EMPTY_JSON_DESC], note: 'test config b' });
    const bLayer = artifact(subj, { artifactType: TYPE_B, config: EMPTY_JSON_DESC, layers: [blobDesc(TYPE_B, REF_BLOB_B)], note: 'test layer b' });
    await putRef('B config', bConfig, subject.digest);
    await putRef('B layer', bLayer, subject.digest);
    expected.set(bConfig.digest, { note: 'test config b', artifactType: TYPE_B, manifest: bConfig });
    expected.set(bLayer.digest, { note: 'test layer b', artifactType: TYPE_B, manifest: bLayer });

    cLayer = artifact(missingSubject, { artifactType: TYPE_B, config: EMPTY_JSON_DESC, layers: [blobDesc(TYPE_B, REF_BLOB_B)] });
    await putRef('C layer (missing subject)', cLayer, missingSubject.digest);
  });
  afterAll(async () => {
    await target?.stop();
  });

  async function referrers(digest: string, query?: Record<string, string>): Promise<{ index: Index; filters: string | null }> {
    const res = await reg.get(`/v2/${repo}/referrers/${digest}`, { query });
    expect(res.status).toBe(200);
    expect(res.header('content-type')).toBe(MediaType.OciIndex);
    const index = res.json<Index>();
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe(MediaType.OciIndex);
    expect(Array.isArray(index.manifests)).toBe(true);
    return { index, filters: res.header('oci-filters-applied') };
  }

  it('manifests with a subject are accepted (201), even before the subject exists', () => {
    expect(putResponses.map((p) => p.name)).toEqual(['A config', 'A layer', 'index', 'B config', 'B layer', 'C layer (missing subject)']);
  });

  itStevedore('PUT of a manifest or index with a subject answers OCI-Subject: <subject digest>', () => {
    for (const p of putResponses) expect(p.ociSubject, p.name).toBe(p.expectedSubject);
  });

  itStevedore('PUT of a manifest without a subject has no OCI-Subject header', async () => {
    const { res } = await pushImage(reg, repo, 'plain');
    expect(res.header('oci-subject')).toBeNull();
  });

  describe.skipIf(IS_CNCF)('GET /v2/<name>/referrers/<digest>', () => {
    it('a digest with no referrers: 200, an empty OCI index', async () => {
      const { index } = await referrers(UNKNOWN_DIGEST);
      expect(index.manifests).toEqual([]);
    });

    it('the subject: all five referrers, each with mediaType, size, artifactType and annotations', async () => {
      const { index } = await referrers(subject.digest);
      expect(index.manifests).toHaveLength(5);
      const digests = index.manifests.map((m) => m.digest);
      expect(new Set(digests).size).toBe(5);
      expect([...digests].sort()).toEqual([...expected.keys()].sort());
      for (const d of index.manifests) {
        const want = expected.get(d.digest)!;
        expect(d.mediaType).toBe(want.manifest.mediaType);
        expect(d.size).toBe(want.manifest.size);
        expect(d.artifactType).toBe(want.artifactType);
        expect(Object.keys(d.annotations ?? {})).toHaveLength(1);
        expect(d.annotations?.[ANNOTATION]).toBe(want.note);
      }
    });

    it('artifactType filter: only matching referrers, with OCI-Filters-Applied: artifactType', async () => {
      const { index, filters } = await referrers(subject.digest, { artifactType: TYPE_A });
      expect(filters).toBe('artifactType');
      expect(index.manifests).toHaveLength(2);
      for (const d of index.manifests) {
        expect(d.artifactType).toBe(TYPE_A);
        expect(d.annotations?.[ANNOTATION]).toBe(expected.get(d.digest)!.note);
      }
      const idx = await referrers(subject.digest, { artifactType: TYPE_INDEX });
      expect(idx.index.manifests.map((m) => m.digest)).toEqual([...expected.entries()].filter(([, v]) => v.artifactType === TYPE_INDEX).map(([k]) => k));
    });

    it('artifactType filter that matches nothing: empty index, still OCI-Filters-Applied', async () => {
      const { index, filters } = await referrers(subject.digest, { artifactType: 'application/vnd.example.nothing' });
      expect(filters).toBe('artifactType');
      expect(index.manifests).toEqual([]);
    });

    it('no filter: no OCI-Filters-Applied header', async () => {
      const { filters } = await referrers(subject.digest);
      expect(filters).toBeNull();
    });

    it('a subject that was never pushed: 200 with its one referrer', async () => {
      const { index } = await referrers(missingSubject.digest);
      expect(index.manifests.map((m) => m.digest)).toEqual([cLayer.digest]);
      expect(index.manifests[0]!.artifactType).toBe(TYPE_B);
    });

    it('a deleted referrer leaves the list', async () => {
      const r = repoName('refs-del');
      const { manifest: subj } = await pushImage(reg, r, 'subj');
      await reg.pushBlob(r, EMPTY_JSON);
      const sig = artifact(subj.descriptor, { artifactType: 'application/vnd.example.sig', config: EMPTY_JSON_DESC, layers: [EMPTY_JSON_DESC] });
      await reg.pushManifest(r, sig.digest, sig);
      const before = await reg.get(`/v2/${r}/referrers/${subj.digest}`);
      expect(before.json<Index>().manifests.map((m) => m.digest)).toEqual([sig.digest]);
      expect((await reg.delete(`/v2/${r}/manifests/${sig.digest}`)).status).toBe(202);
      const after = await reg.get(`/v2/${r}/referrers/${subj.digest}`);
      expect(after.status).toBe(200);
      expect(after.json<Index>().manifests).toEqual([]);
    });

    it('referrers are per repository', async () => {
      const other = repoName('refs-other');
      await pushImage(reg, other, 'x');
      const res = await reg.get(`/v2/${other}/referrers/${subject.digest}`);
      expect(res.status).toBe(200);
      expect(res.json<Index>().manifests).toEqual([]);
    });

    it('a malformed digest: 400 DIGEST_INVALID', async () => {
      expectError(await reg.get(`/v2/${repo}/referrers/sha256:nothex`), 400, 'DIGEST_INVALID');
    });
  });
});
