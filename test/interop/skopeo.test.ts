// skopeo (containers/image, the library under podman, buildah and cri-o) as a real client of
// Stevedore: push images from OCI layouts, read them back, and check that nothing changed on the
// way — manifest digests, blob bytes, multi-arch indexes, Docker schema 2, and OCI 1.1 artifacts
// with their referrers.
//
// STEVEDORE_INTEROP_TARGET=cncf runs the same file against docker-registry (CNCF distribution 2.8)
// instead, to check the tests themselves against the reference implementation; distribution 2.8
// has no referrers API, so those checks are skipped there.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { baseMediaType, digestOf, MediaType, type Descriptor, type ImageIndex } from '../../oci/index.js';
import { startCncfRegistry } from '../helpers/cncf-registry.js';
import {
  artifactFor,
  DirImageReader,
  dockerImage,
  multiArchIndex,
  multiLayerImage,
  OciLayoutReader,
  TEST_ARTIFACT_TYPE,
  writeDirImage,
  writeLayout,
  type Blob,
  type BuiltArtifact,
  type BuiltImage,
  type BuiltIndex,
} from '../helpers/oci-image-builder.js';
import { skopeoCopy, skopeoInspect, skopeoInspectRaw, skopeoListTags } from '../helpers/skopeo.js';
import { startStevedore } from '../helpers/stevedore-process.js';

const TARGET = process.env.STEVEDORE_INTEROP_TARGET === 'cncf' ? 'cncf' : 'stevedore';
const SUPPORTS_REFERRERS = TARGET === 'stevedore';

interface Target {
  url: string;
  host: string;
  logs: string[];
  stop(): Promise<unknown>;
}

async function startTarget(dataDir: string): Promise<Target> {
  if (TARGET === 'cncf') return startCncfRegistry();
  await mkdir(dataDir, { recursive: true });
  return startStevedore({ dataDir });
}

const ALL_MANIFEST_TYPES = [MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList].join(', ');

let work: string;
let registry: Target | undefined;
let image: BuiltImage;
let index: BuiltIndex;
let docker: BuiltImage;
let artifact: BuiltArtifact;

const repo = {
  image: 'interop/skopeo/multi-layer',
  index: 'interop/skopeo/multi-arch',
  docker: 'interop/skopeo/docker',
};

function ref(repository: string, tagOrDigest: string): string {
  const sep = tagOrDigest.includes(':') ? '@' : ':';
  return `docker://${registry!.host}/${repository}${sep}${tagOrDigest}`;
}

/** What a client sees for a manifest: status, digest header, content type. */
async function headManifest(repository: string, reference: string) {
  const res = await fetch(`${registry!.url}/v2/${repository}/manifests/${reference}`, {
    method: 'HEAD',
    headers: { Accept: ALL_MANIFEST_TYPES },
  });
  return {
    status: res.status,
    digest: res.headers.get('docker-content-digest'),
    // Clients (containers/image, containerd) ignore media type parameters.
    contentType: baseMediaType(res.headers.get('content-type') ?? ''),
    length: res.headers.get('content-length'),
  };
}

function expectSameBytes(actual: Buffer, expected: Blob, what: string): void {
  expect(digestOf(actual), `${what}: digest`).toBe(expected.descriptor.digest);
  expect(actual.length, `${what}: size`).toBe(expected.descriptor.size);
  expect(actual.equals(expected.bytes), `${what}: bytes`).toBe(true);
}

async function expectImageInLayout(layout: OciLayoutReader, img: BuiltImage): Promise<void> {
  expectSameBytes(await layout.blob(img.manifest.digest), img.manifest, `${img.tag} manifest`);
  for (const b of img.blobs) expectSameBytes(await layout.blob(b.descriptor.digest), b, `${img.tag} blob ${b.descriptor.mediaType}`);
}

async function expectImageInDir(dir: string, img: BuiltImage): Promise<void> {
  const copy = await DirImageReader.open(dir);
  expect(copy.manifestDigest).toBe(img.manifest.digest);
  expect(copy.manifestBytes.equals(img.manifest.bytes)).toBe(true);
  for (const b of img.blobs) expectSameBytes(await copy.blob(b.descriptor.digest), b, `${img.tag} blob ${b.descriptor.mediaType}`);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'stevedore-skopeo-interop-'));
  image = multiLayerImage({ tag: 'v1' });
  index = multiArchIndex({ tag: 'v1' });
  docker = dockerImage({ tag: 'v1' });
  artifact = artifactFor(image.manifest.descriptor, { tag: 'sbom' });
  await writeLayout(join(work, 'src-image'), image);
  await writeLayout(join(work, 'src-index'), index);
  await writeDirImage(join(work, 'src-docker'), docker); // skopeo 1.9 reads Docker types only from dir:
  await writeLayout(join(work, 'src-artifact'), artifact);
  registry = await startTarget(join(work, 'registry-data'));
});

afterEach((ctx) => {
  // A failure is easier to explain with what the registry logged.
  if (ctx.task.result?.state === 'fail' && registry) {
    console.error(`--- last ${TARGET} log lines ---\n${registry.logs.slice(-40).join('\n')}`);
  }
});

afterAll(async () => {
  try {
    await registry?.stop();
  } finally {
    if (work) await rm(work, { recursive: true, force: true });
  }
});

describe(`skopeo ↔ ${TARGET}: multi-layer OCI image`, () => {
  it('pushes from an OCI layout and serves the exact manifest', async () => {
    await skopeoCopy(`oci:${join(work, 'src-image')}:v1`, ref(repo.image, 'v1'));

    const raw = await skopeoInspectRaw(ref(repo.image, 'v1'));
    expectSameBytes(raw, image.manifest, 'manifest by tag');
    expect(await headManifest(repo.image, 'v1')).toEqual({
      status: 200,
      digest: image.manifest.digest,
      contentType: MediaType.OciManifest,
      length: String(image.manifest.bytes.length),
    });
    expectSameBytes(await skopeoInspectRaw(ref(repo.image, image.manifest.digest)), image.manifest, 'manifest by digest');
  });

  it('is described by skopeo inspect as pushed', async () => {
    const info = await skopeoInspect(ref(repo.image, 'v1'));
    expect(info.Digest).toBe(image.manifest.digest);
    expect(info.Architecture).toBe('amd64');
    expect(info.Os).toBe('linux');
    expect(info.Layers).toEqual(image.layers.map((l) => l.descriptor.digest));
    expect(info.Labels).toMatchObject({ 'org.opencontainers.image.title': 'v1' });
  });

  it('pulls back into a new OCI layout byte for byte', async () => {
    const out = join(work, 'pull-image-oci');
    await skopeoCopy(ref(repo.image, 'v1'), `oci:${out}:pulled`);
    const layout = await OciLayoutReader.open(out);
    expect(layout.resolve('pulled')).toMatchObject({ digest: image.manifest.digest, mediaType: MediaType.OciManifest });
    await expectImageInLayout(layout, image);
  });

  it('pulls by digest into dir: byte for byte', async () => {
    const out = join(work, 'pull-image-dir');
    await skopeoCopy(ref(repo.image, image.manifest.digest), `dir:${out}`);
    await expectImageInDir(out, image);
  });

  it('lists the pushed tags', async () => {
    await skopeoCopy(ref(repo.image, 'v1'), ref(repo.image, 'latest'));
    const tags = await skopeoListTags(`docker://${registry!.host}/${repo.image}`);
    expect([...tags].sort()).toEqual(['latest', 'v1']);
  });
});

describe(`skopeo ↔ ${TARGET}: multi-arch OCI index`, () => {
  it('pushes with --all and keeps the index digest', async () => {
    await skopeoCopy(`oci:${join(work, 'src-index')}:v1`, ref(repo.index, 'v1'), { all: true });

    expectSameBytes(await skopeoInspectRaw(ref(repo.index, 'v1')), index.index, 'index by tag');
    expect(await headManifest(repo.index, 'v1')).toMatchObject({
      status: 200,
      digest: index.index.digest,
      contentType: MediaType.OciIndex,
    });
  });

  it('serves every platform manifest by digest', async () => {
    for (const img of index.images) {
      expectSameBytes(await skopeoInspectRaw(ref(repo.index, img.manifest.digest)), img.manifest, `${img.tag} manifest`);
      const out = join(work, `pull-${img.tag}-dir`);
      await skopeoCopy(ref(repo.index, img.manifest.digest), `dir:${out}`);
      await expectImageInDir(out, img);
    }
  });

  it('resolves the tag to the requested platform, as a pull on that machine would', async () => {
    for (const [arch, img] of [
      ['amd64', index.images[0]!],
      ['arm64', index.images[1]!],
    ] as const) {
      const out = join(work, `pull-platform-${arch}`);
      await skopeoCopy(ref(repo.index, 'v1'), `dir:${out}`, {
        globalArgs: ['--override-os', 'linux', '--override-arch', arch, ...(arch === 'arm64' ? ['--override-variant', 'v8'] : [])],
      });
      await expectImageInDir(out, img);
    }
  });

  it('pulls back with --all into an OCI layout with the same index and children', async () => {
    const out = join(work, 'pull-index-oci');
    await skopeoCopy(ref(repo.index, 'v1'), `oci:${out}:pulled`, { all: true });
    const layout = await OciLayoutReader.open(out);
    expect(layout.resolve('pulled')).toMatchObject({ digest: index.index.digest, mediaType: MediaType.OciIndex });
    const pulledIndex = await layout.blob(index.index.digest);
    expectSameBytes(pulledIndex, index.index, 'index');
    const children = (JSON.parse(pulledIndex.toString('utf8')) as ImageIndex).manifests;
    expect(children.map((d) => [d.digest, d.platform?.architecture])).toEqual([
      [index.images[0]!.manifest.digest, 'amd64'],
      [index.images[1]!.manifest.digest, 'arm64'],
    ]);
    for (const img of index.images) await expectImageInLayout(layout, img);
  });
});

describe(`skopeo ↔ ${TARGET}: Docker schema 2 image`, () => {
  it('pushes with --preserve-digests and keeps the Docker media type', async () => {
    await skopeoCopy(`dir:${join(work, 'src-docker')}`, ref(repo.docker, 'v1'), { format: 'v2s2' });
    expectSameBytes(await skopeoInspectRaw(ref(repo.docker, 'v1')), docker.manifest, 'docker manifest');
    expect(await headManifest(repo.docker, 'v1')).toMatchObject({
      status: 200,
      digest: docker.manifest.digest,
      contentType: MediaType.DockerManifest,
    });
    const info = await skopeoInspect(ref(repo.docker, 'v1'));
    expect(info.Digest).toBe(docker.manifest.digest);
    expect(info.Layers).toEqual(docker.layers.map((l) => l.descriptor.digest));
  });

  it('pulls back into dir: byte for byte, still schema 2', async () => {
    const out = join(work, 'pull-docker-dir');
    await skopeoCopy(ref(repo.docker, 'v1'), `dir:${out}`, { format: 'v2s2' });
    await expectImageInDir(out, docker);
    expect((await DirImageReader.open(out)).manifest.mediaType).toBe(MediaType.DockerManifest);
  });

  it('converts to OCI on request without touching the layers', async () => {
    // What `skopeo copy --format oci` users do; the manifest changes, the layer blobs must not.
    const out = join(work, 'pull-docker-as-oci');
    await skopeoCopy(ref(repo.docker, 'v1'), `oci:${out}:converted`, { format: 'oci', preserveDigests: false });
    const layout = await OciLayoutReader.open(out);
    const converted = JSON.parse((await layout.blob(layout.resolve('converted').digest)).toString('utf8')) as {
      mediaType: string;
      layers: Descriptor[];
    };
    expect(converted.mediaType).toBe(MediaType.OciManifest);
    expect(converted.layers.map((l) => l.digest)).toEqual(docker.layers.map((l) => l.descriptor.digest));
  });
});

describe(`skopeo ↔ ${TARGET}: OCI artifact with a subject`, () => {
  // The subject (the multi-layer image) was pushed above to the same repository.
  it('pushes the artifact manifest unchanged', async () => {
    expect((await headManifest(repo.image, image.manifest.digest)).status).toBe(200);
    await skopeoCopy(`oci:${join(work, 'src-artifact')}:sbom`, ref(repo.image, 'sbom'));
    const raw = await skopeoInspectRaw(ref(repo.image, 'sbom'));
    expectSameBytes(raw, artifact.manifest, 'artifact manifest');
    const doc = JSON.parse(raw.toString('utf8')) as { artifactType?: string; subject?: Descriptor; config: Descriptor };
    expect(doc.artifactType).toBe(TEST_ARTIFACT_TYPE);
    expect(doc.subject?.digest).toBe(image.manifest.digest);
    expect(doc.config.mediaType).toBe(MediaType.OciEmpty);
  });

  it('pulls the artifact back into an OCI layout byte for byte', async () => {
    const out = join(work, 'pull-artifact-oci');
    await skopeoCopy(ref(repo.image, artifact.manifest.digest), `oci:${out}:sbom`);
    const layout = await OciLayoutReader.open(out);
    expect(layout.resolve('sbom').digest).toBe(artifact.manifest.digest);
    expectSameBytes(await layout.blob(artifact.manifest.digest), artifact.manifest, 'artifact manifest');
    for (const b of artifact.blobs) expectSameBytes(await layout.blob(b.descriptor.digest), b, `artifact blob ${b.descriptor.mediaType}`);
  });

  it.skipIf(!SUPPORTS_REFERRERS)('lists the artifact as a referrer of its subject', async () => {
    const res = await fetch(`${registry!.url}/v2/${repo.image}/referrers/${image.manifest.digest}`);
    const body = await res.text();
    expect(res.status, body).toBe(200);
    expect(baseMediaType(res.headers.get('content-type') ?? '')).toBe(MediaType.OciIndex);
    const list = JSON.parse(body) as ImageIndex;
    expect(list).toMatchObject({ schemaVersion: 2, mediaType: MediaType.OciIndex });
    expect(list.manifests).toEqual([
      {
        mediaType: MediaType.OciManifest,
        digest: artifact.manifest.digest,
        size: artifact.manifest.bytes.length,
        artifactType: TEST_ARTIFACT_TYPE,
        annotations: artifact.manifest.json.annotations,
      },
    ]);
  });

  it.skipIf(!SUPPORTS_REFERRERS)('filters referrers by artifactType and says so', async () => {
    const url = (t: string) =>
      `${registry!.url}/v2/${repo.image}/referrers/${image.manifest.digest}?artifactType=${encodeURIComponent(t)}`;

    const match = await fetch(url(TEST_ARTIFACT_TYPE));
    const matchBody = await match.text();
    expect(match.status, matchBody).toBe(200);
    expect(match.headers.get('oci-filters-applied')).toBe('artifactType');
    expect((JSON.parse(matchBody) as ImageIndex).manifests.map((d) => [d.digest, d.artifactType])).toEqual([
      [artifact.manifest.digest, TEST_ARTIFACT_TYPE],
    ]);

    const other = await fetch(url('application/vnd.example.signature.v1+json'));
    const otherBody = await other.text();
    expect(other.status, otherBody).toBe(200);
    expect(other.headers.get('oci-filters-applied')).toBe('artifactType');
    expect((JSON.parse(otherBody) as ImageIndex).manifests).toEqual([]);
  });

  it.skipIf(!SUPPORTS_REFERRERS)('has no referrers for a manifest nothing refers to', async () => {
    const res = await fetch(`${registry!.url}/v2/${repo.docker}/referrers/${docker.manifest.digest}`);
    const body = await res.text();
    expect(res.status, body).toBe(200);
    expect((JSON.parse(body) as ImageIndex).manifests).toEqual([]);
  });
});
