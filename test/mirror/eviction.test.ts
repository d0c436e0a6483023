// The cache bound: when stored content exceeds mirror.cache.maxBytes, the least recently pulled
// image goes (not the oldest fetched), and pulling it again fetches it from the upstream again.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDigest } from '../../oci/index.js';
import { multiLayerImage, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { startMirrorServer, type MirrorServer } from './mirror-server.js';
import { startUpstream, type TestUpstream } from './upstreams.js';

const MiB = 1024 * 1024;
const blobPath = (dataDir: string, digest: string) => {
  const { algorithm, hex } = parseDigest(digest);
  return join(dataDir, 'blobs', algorithm.name, hex.slice(0, 2), hex, 'data');
};
const bigLayer = (img: BuiltImage) => img.layers.reduce((a, b) => (b.bytes.length > a.bytes.length ? b : a)).descriptor.digest;

let work: string;
let upstream: TestUpstream;
let mirror: MirrorServer;
const images: Record<'x' | 'y' | 'z', BuiltImage> = {
  x: multiLayerImage({ tag: 'x', randomBytes: MiB }),
  y: multiLayerImage({ tag: 'y', randomBytes: MiB }),
  z: multiLayerImage({ tag: 'z', randomBytes: MiB }),
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'mirror-evict-'));
  upstream = await startUpstream('cncf-htpasswd');
  for (const [name, img] of Object.entries(images)) await upstream.push(img, `team/${name}`, 'v1');
  mirror = await startMirrorServer({
    upstreams: [{ prefix: 'up', registry: upstream.host, insecure: true, ...upstream.creds }],
    // Two of the images fit, three do not.
    cache: { maxBytes: Math.round(2.5 * MiB), checkInterval: '1s', gracePeriod: 0 },
  });
});

afterAll(async () => {
  await mirror?.close();
  await upstream?.stop();
  await rm(work, { recursive: true, force: true });
});

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100)); // poll interval, not synchronisation
  }
}

describe('cache bound', () => {
  it('evicts the least recently pulled image and fetches it again when asked', async () => {
    const pull = (name: string, n: number) => skopeoCopy(`docker://${mirror.host}/up/team/${name}:v1`, `dir:${join(work, `${name}-${n}`)}`);
    await pull('x', 1);
    await pull('y', 1);
    await pull('x', 2); // x is now more recently pulled than y
    await pull('z', 1);
    const stored = (img: BuiltImage) => existsSync(blobPath(mirror.dataDir, bigLayer(img)));
    // The log line comes when the run (eviction, then garbage collection) is over.
    await until('an eviction run', () => mirror.logs.some((l) => l.msg === 'mirror: evicted least recently pulled content'));
    expect(stored(images.y)).toBe(false);
    expect(stored(images.x)).toBe(true);
    expect(stored(images.z)).toBe(true);
    expect(existsSync(blobPath(mirror.dataDir, images.y.manifest.digest))).toBe(false);
    expect(await mirror.metric('stevedore_mirror_evicted_total', { kind: 'manifests' })).toBeGreaterThanOrEqual(1);

    upstream.proxy.reset();
    await pull('y', 2);
    expect(upstream.proxy.blobGets.get(bigLayer(images.y))).toBe(1);
  });
});
