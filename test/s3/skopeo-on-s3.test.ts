// skopeo (containers/image) against Stevedore on S3 (Ceph RGW), with two registry instances
// sharing the bucket: what is pushed through one is pulled byte for byte through the other; and a
// pull-through mirror on S3 (whose transfers spool into temporary files) in front of one of them.
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, MediaType } from '../../oci/index.js';
import type { RunningServer } from '../../server/index.js';
import { startCephRgw, type CephRgw } from '../helpers/ceph-rgw.js';
import { multiArchIndex, multiLayerImage, OciLayoutReader, writeLayout, type Blob, type BuiltImage, type BuiltIndex } from '../helpers/oci-image-builder.js';
import { skopeoCopy, skopeoInspectRaw } from '../helpers/skopeo.js';
import { MiB, newRoot, startRegistryOnS3 } from './s3-env.js';

let rgw: CephRgw;
let work: string;
let a: RunningServer;
let b: RunningServer;
let image: BuiltImage;
let index: BuiltIndex;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'stevedore-skopeo-s3-'));
  rgw = await startCephRgw();
  const bucket = await rgw.createBucket('stevedore-skopeo');
  const rootDirectory = newRoot('skopeo');
  a = await startRegistryOnS3({ rgw, bucket, rootDirectory });
  b = await startRegistryOnS3({ rgw, bucket, rootDirectory });
  // A 12 MiB random layer: several S3 parts, pushed by skopeo as one streamed PATCH.
  image = multiLayerImage({ tag: 'v1', randomBytes: 12 * MiB });
  index = multiArchIndex({ tag: 'v1' });
  await writeLayout(join(work, 'src-image'), image);
  await writeLayout(join(work, 'src-index'), index);
});
afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  await rgw?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const ref = (server: RunningServer, repo: string, tag: string) => `docker://${new URL(server.url).host}/${repo}:${tag}`;

function expectSameBytes(actual: Buffer, expected: Blob, what: string): void {
  expect(digestOf(actual), `${what}: digest`).toBe(expected.descriptor.digest);
  expect(actual.equals(expected.bytes), `${what}: bytes`).toBe(true);
}

describe('skopeo ↔ Stevedore on S3', () => {
  it('pushes a multi-layer image through one registry and pulls it byte for byte through the other', async () => {
    await skopeoCopy(`oci:${join(work, 'src-image')}:v1`, ref(a, 's3/multi-layer', 'v1'));
    expectSameBytes(await skopeoInspectRaw(ref(b, 's3/multi-layer', 'v1')), image.manifest, 'manifest via B');
    const out = join(work, 'pulled-image');
    await skopeoCopy(ref(b, 's3/multi-layer', 'v1'), `oci:${out}:pulled`);
    const layout = await OciLayoutReader.open(out);
    expect(layout.resolve('pulled')).toMatchObject({ digest: image.manifest.digest, mediaType: MediaType.OciManifest });
    for (const blob of image.blobs) expectSameBytes(await layout.blob(blob.descriptor.digest), blob, `blob ${blob.descriptor.mediaType}`);
  });

  it('pushes a multi-arch index with --all through one registry and serves every platform through the other', async () => {
    await skopeoCopy(`oci:${join(work, 'src-index')}:v1`, ref(b, 's3/multi-arch', 'v1'), { all: true });
    expectSameBytes(await skopeoInspectRaw(ref(a, 's3/multi-arch', 'v1')), index.index, 'index via A');
    const out = join(work, 'pulled-index');
    await skopeoCopy(ref(a, 's3/multi-arch', 'v1'), `oci:${out}:pulled`, { all: true });
    const layout = await OciLayoutReader.open(out);
    expect(layout.resolve('pulled')).toMatchObject({ digest: index.index.digest, mediaType: MediaType.OciIndex });
    for (const img of index.images) {
      expectSameBytes(await layout.blob(img.manifest.digest), img.manifest, `${img.tag} manifest`);
      for (const blob of img.blobs) expectSameBytes(await layout.blob(blob.descriptor.digest), blob, `${img.tag} blob`);
    }
  });
  it('pulls through a mirror on S3, whose spooled transfers leave no file behind', async () => {
    // S3 uploads cannot be read while they are written: the mirror spools each blob it fetches
    // into a temporary file under spoolDirectory, unlinked as soon as it is open.
    const spool = join(work, 'spool');
    await mkdir(spool);
    const mirror = await startRegistryOnS3({ rgw, bucket: await rgw.createBucket('stevedore-mirror'), rootDirectory: newRoot('mirror') }, {}, {
      mirror: { upstreams: [{ prefix: 'up', registry: new URL(a.url).host, insecure: true }], spoolDirectory: spool },
    });
    try {
      await skopeoCopy(`oci:${join(work, 'src-image')}:v1`, ref(a, 's3/multi-layer', 'v1'));
      const out = join(work, 'via-mirror');
      await skopeoCopy(ref(mirror, 'up/s3/multi-layer', 'v1'), `oci:${out}:pulled`);
      const layout = await OciLayoutReader.open(out);
      expect(layout.resolve('pulled')).toMatchObject({ digest: image.manifest.digest });
      for (const blob of image.blobs) expectSameBytes(await layout.blob(blob.descriptor.digest), blob, `blob via the mirror`);
      expect(await readdir(spool)).toEqual([]);
    } finally {
      await mirror.close();
    }
  });
});
