// Random OCI image layouts for the benchmarks that push whole images with a client (skopeo, the
// stevedore CLI): `layers` incompressible layers of `layerBytes` each (bench/random.ts), a config
// and a manifest tagged `v1`. Written untimed before a measurement.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomDigest, randomStream } from './random.js';

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
  for (let i = 0; i < layers; i++) {
    const digest = randomDigest(`${seed}-${i}`, layerBytes);
    await pipeline(randomStream(`${seed}-${i}`, 0, layerBytes), createWriteStream(join(blobs, digest.slice('sha256:'.length))));
    layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: layerBytes });
  }
  const config = await put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layerDescs.map((l) => l.digest) } })));
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
