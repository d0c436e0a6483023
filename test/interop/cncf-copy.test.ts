// Migrating between registries: images living in docker-registry (CNCF distribution 2.8, the
// reference implementation) are copied into Stevedore and back out with
// `skopeo copy --all --preserve-digests`, registry to registry; the digests must be identical at
// every hop, so signatures and digest pins keep working after a migration.
//
// STEVEDORE_INTEROP_TARGET=cncf replaces Stevedore by a second docker-registry (a self-check of
// the tests); the referrers check is then skipped (distribution 2.8 has no referrers API).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, MediaType, type ImageIndex } from '../../oci/index.js';
import { startCncfRegistry, TEST_USER, type CncfRegistry } from '../helpers/cncf-registry.js';
import {
  artifactFor,
  dockerImage,
  multiArchIndex,
  multiLayerImage,
  TEST_ARTIFACT_TYPE,
  writeDirImage,
  writeLayout,
  type BuiltArtifact,
  type BuiltImage,
  type BuiltIndex,
} from '../helpers/oci-image-builder.js';
import { skopeoCopy, skopeoInspectRaw, skopeoListTags, type Credentials } from '../helpers/skopeo.js';
import { startStevedore } from '../helpers/stevedore-process.js';

const TARGET = process.env.STEVEDORE_INTEROP_TARGET === 'cncf' ? 'cncf' : 'stevedore';

interface Registry {
  url: string;
  host: string;
  logs: string[];
  stop(): Promise<unknown>;
}

async function startTarget(dataDir: string): Promise<Registry> {
  if (TARGET === 'cncf') return startCncfRegistry();
  await mkdir(dataDir, { recursive: true });
  return startStevedore({ dataDir });
}

let work: string;
let cncf: CncfRegistry | undefined;
let stevedore: Registry | undefined;

let image: BuiltImage;
let index: BuiltIndex;
let docker: BuiltImage;
let artifact: BuiltArtifact;

function ref(reg: { host: string }, repository: string, tagOrDigest: string): string {
  return `docker://${reg.host}/${repository}${tagOrDigest.includes(':') ? '@' : ':'}${tagOrDigest}`;
}

async function digestAt(reference: string, creds?: Credentials): Promise<string> {
  return digestOf(await skopeoInspectRaw(reference, { creds }));
}

interface Case {
  name: string;
  repository: string;
  tag: string;
  digest: () => string;
  /** Digests of the manifests an index lists (each must survive the copy too). */
  children: () => string[];
}

const cases: Case[] = [
  { name: 'multi-layer OCI image', repository: 'library/app', tag: '1.0', digest: () => image.manifest.digest, children: () => [] },
  {
    name: 'multi-arch OCI index',
    repository: 'library/multi',
    tag: '1.0',
    digest: () => index.index.digest,
    children: () => index.images.map((i) => i.manifest.digest),
  },
  { name: 'Docker schema 2 image', repository: 'library/docker', tag: '1.0', digest: () => docker.manifest.digest, children: () => [] },
  // After the image: the artifact's subject is the image, in the same repository.
  { name: 'OCI artifact with a subject', repository: 'library/app', tag: 'sbom', digest: () => artifact.manifest.digest, children: () => [] },
];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'stevedore-cncf-copy-'));
  image = multiLayerImage({ tag: '1.0' });
  index = multiArchIndex({ tag: '1.0' });
  docker = dockerImage({ tag: '1.0' });
  artifact = artifactFor(image.manifest.descriptor, { tag: 'sbom' });
  await writeLayout(join(work, 'image'), image);
  await writeLayout(join(work, 'index'), index);
  await writeDirImage(join(work, 'docker'), docker);
  await writeLayout(join(work, 'artifact'), artifact);

  cncf = await startCncfRegistry();
  stevedore = await startTarget(join(work, 'stevedore-data'));

  // Seed the reference registry, checking that it stored what we built.
  await skopeoCopy(`oci:${join(work, 'image')}:1.0`, ref(cncf, 'library/app', '1.0'));
  await skopeoCopy(`oci:${join(work, 'index')}:1.0`, ref(cncf, 'library/multi', '1.0'), { all: true });
  await skopeoCopy(`dir:${join(work, 'docker')}`, ref(cncf, 'library/docker', '1.0'));
  await skopeoCopy(`oci:${join(work, 'artifact')}:sbom`, ref(cncf, 'library/app', 'sbom'));
  for (const c of cases) expect(await digestAt(ref(cncf, c.repository, c.tag)), c.name).toBe(c.digest());
});

afterEach((ctx) => {
  // A failure is easier to explain with what the registries logged.
  if (ctx.task.result?.state === 'fail') {
    for (const [name, reg] of [[TARGET, stevedore], ['docker-registry', cncf]] as const) {
      if (reg) console.error(`--- last ${name} log lines ---\n${reg.logs.slice(-25).join('\n')}`);
    }
  }
});

afterAll(async () => {
  try {
    await Promise.allSettled([cncf?.stop(), stevedore?.stop()]);
  } finally {
    if (work) await rm(work, { recursive: true, force: true });
  }
});

describe(`docker-registry → ${TARGET} → docker-registry with skopeo copy --all --preserve-digests`, () => {
  for (const c of cases) {
    it(`keeps the digest of a ${c.name} at every hop`, async () => {
      // Hop 1: reference registry → Stevedore, same name.
      await skopeoCopy(ref(cncf!, c.repository, c.tag), ref(stevedore!, c.repository, c.tag), { all: true });
      expect(await digestAt(ref(stevedore!, c.repository, c.tag))).toBe(c.digest());
      for (const child of c.children()) expect(await digestAt(ref(stevedore!, c.repository, child))).toBe(child);

      // Hop 2: Stevedore → reference registry, a new repository that has never seen the content.
      const back = `roundtrip/${c.repository}`;
      await skopeoCopy(ref(stevedore!, c.repository, c.tag), ref(cncf!, back, c.tag), { all: true });
      expect(await digestAt(ref(cncf!, back, c.tag))).toBe(c.digest());
      for (const child of c.children()) expect(await digestAt(ref(cncf!, back, child))).toBe(child);

      // Hop 3: by digest into another Stevedore repository (cross-repository copy of the same content).
      const again = `copies/${c.repository}`;
      await skopeoCopy(ref(cncf!, back, c.digest()), ref(stevedore!, again, c.tag), { all: true });
      expect(await digestAt(ref(stevedore!, again, c.tag))).toBe(c.digest());
    });
  }

  it.skipIf(TARGET !== 'stevedore')('indexes the copied artifact as a referrer of the copied image', async () => {
    const res = await fetch(`${stevedore!.url}/v2/library/app/referrers/${image.manifest.digest}`);
    const body = await res.text();
    expect(res.status, body).toBe(200);
    expect((JSON.parse(body) as ImageIndex).manifests).toEqual([
      expect.objectContaining({ mediaType: MediaType.OciManifest, digest: artifact.manifest.digest, artifactType: TEST_ARTIFACT_TYPE }),
    ]);
  });
});

describe(`skopeo list-tags against ${TARGET}`, () => {
  it('lists the same tags as the reference registry', async () => {
    // library/app holds 1.0 and sbom in both registries by now.
    const expected = (await skopeoListTags(`docker://${cncf!.host}/library/app`)).sort();
    expect(expected).toEqual(['1.0', 'sbom']);
    expect((await skopeoListTags(`docker://${stevedore!.host}/library/app`)).sort()).toEqual(expected);
  });

  it('lists every tag of a repository with many tags (paginated or not)', async () => {
    // Tag the same manifest 150 times with plain PUTs (fast), then let skopeo list them.
    const tags = Array.from({ length: 150 }, (_, i) => `t${String(i).padStart(3, '0')}`);
    for (const tag of tags) {
      const res = await fetch(`${stevedore!.url}/v2/library/docker/manifests/${tag}`, {
        method: 'PUT',
        headers: { 'Content-Type': MediaType.DockerManifest },
        body: docker.manifest.bytes,
      });
      await res.arrayBuffer();
      expect(res.status, `PUT tag ${tag}`).toBe(201);
    }
    const listed = await skopeoListTags(`docker://${stevedore!.host}/library/docker`);
    expect(listed.length, 'no duplicates').toBe(new Set(listed).size);
    expect([...listed].sort()).toEqual(['1.0', ...tags].sort());
  });

  it('fails clearly for a repository that does not exist', async () => {
    await expect(skopeoListTags(`docker://${stevedore!.host}/library/nothing-here`)).rejects.toThrow(/skopeo list-tags[\s\S]*404/);
  });
});

describe(`copying from an authenticated docker-registry into ${TARGET}`, () => {
  let secured: CncfRegistry | undefined;

  beforeAll(async () => {
    secured = await startCncfRegistry({ htpasswd: true });
  });
  afterAll(async () => {
    await secured?.stop();
  });

  it('needs the credentials and copies with them', async () => {
    await expect(skopeoCopy(`oci:${join(work, 'image')}:1.0`, ref(secured!, 'private/app', '1.0'))).rejects.toThrow(/unauthorized|authentication required/i);
    await skopeoCopy(`oci:${join(work, 'image')}:1.0`, ref(secured!, 'private/app', '1.0'), { destCreds: TEST_USER });
    await expect(skopeoInspectRaw(ref(secured!, 'private/app', '1.0'))).rejects.toThrow(/unauthorized|authentication required/i);

    await skopeoCopy(ref(secured!, 'private/app', '1.0'), ref(stevedore!, 'private/app', '1.0'), { all: true, srcCreds: TEST_USER });
    expect(await digestAt(ref(stevedore!, 'private/app', '1.0'))).toBe(image.manifest.digest);
  });
});
