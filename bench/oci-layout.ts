// Random OCI image layouts for the benchmarks that push whole images with a client (skopeo, the
// stevedore CLI): `layers` incompressible layers of about `layerBytes` each, a config and a
// manifest tagged `v1`. Written untimed before a measurement.
//
// Each layer is a valid gzip stream (of random bytes, in stored blocks: gzip level 0), as a real
// image's layers are. skopeo checks a layer's first bytes, and one that is not gzip it takes for
// an uncompressed layer and gzips on its way to a registry (a new digest, and its compressor
// then sets the pace of the push); Stevedore pushes blobs as they are.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { randomStream } from './random.js';

/** Writes an OCI layout holding one image tagged `v1`, its layers random from `seed`. */
export async function writeRandomLayout(dir: string, seed: string, layers: number, layerBytes: number): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (data: Buffer) => {
    const hex = createHash('sha256').update(data).digest('hex');
    await writeFile(join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const layerDescs = [];
  const diffIds = [];
  for (let i = 0; i < layers; i++) {
    const raw = createHash('sha256');
    const gz = createHash('sha256');
    let size = 0;
    const partial = join(blobs, `layer-${i}.partial`);
    await pipeline(
      randomStream(`${seed}-${i}`, 0, layerBytes),
      new Transform({ transform: (chunk: Buffer, _e, done) => (raw.update(chunk), done(null, chunk)) }),
      createGzip({ level: 0 }),
      new Transform({ transform: (chunk: Buffer, _e, done) => (gz.update(chunk), (size += chunk.length), done(null, chunk)) }),
      createWriteStream(partial),
    );
    const hex = gz.digest('hex');
    await rename(partial, join(blobs, hex));
    layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${hex}`, size });
    diffIds.push(`sha256:${raw.digest('hex')}`);
  }
  const config = await put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } })));
  const manifest = await put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: layerDescs,
      }),
    ),
  );
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
    }),
  );
}
