// One mirror serving several upstreams and local repositories: prefixes, containerd's `?ns=`,
// Docker's registry-mirrors names (bare `busybox` and `library/busybox`), tag lists, pushes to
// local namespaces allowed and to proxied ones refused, pre-fetch of a platform of an index, and
// a client configured with the mirror falling back to the upstream when the mirror is down.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDigest } from '../../oci/index.js';
import { multiArchIndex, multiLayerImage, writeLayout, type BuiltImage, type BuiltIndex } from '../helpers/oci-image-builder.js';
import { skopeoCopy, skopeoInspectRaw, skopeoListTags } from '../helpers/skopeo.js';
import { startMirrorServer, stevedoreCli, type MirrorServer } from './mirror-server.js';
import { startUpstream, type TestUpstream } from './upstreams.js';

const blobPath = (dataDir: string, digest: string) => {
  const { algorithm, hex } = parseDigest(digest);
  return join(dataDir, 'blobs', algorithm.name, hex.slice(0, 2), hex, 'data');
};

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100)); // poll interval, not synchronisation
  }
}

let work: string;
let cncf: TestUpstream;
let token: TestUpstream;
let mirror: MirrorServer;
let app: BuiltImage;
let busybox: BuiltImage;
let multi: BuiltIndex;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'mirror-ns-'));
  [cncf, token] = await Promise.all([startUpstream('cncf-htpasswd'), startUpstream('stevedore-token')]);
  app = multiLayerImage({ tag: 'v1', randomBytes: 256 * 1024 });
  busybox = multiLayerImage({ tag: 'latest', randomBytes: 128 * 1024 });
  multi = multiArchIndex({ tag: 'v1' });
  await Promise.all([
    cncf.push(app, 'team/app', 'v1'),
    cncf.push(busybox, 'library/busybox', 'latest'),
    token.push(app, 'other/app', 'v1'),
    token.push(multi, 'multi/arch', 'v1'),
  ]);
  mirror = await startMirrorServer({
    upstreams: [
      { prefix: 'hub', registry: cncf.host, insecure: true, officialImages: true, ...cncf.creds },
      { prefix: 'tok', registry: token.host, insecure: true, ...token.creds },
    ],
    defaultUpstream: 'hub',
    localNamespaces: ['local'],
    prefetch: { images: [{ image: 'tok/multi/arch:v1', platforms: ['linux/arm64'] }], interval: '1h' },
  });
});

afterAll(async () => {
  await mirror?.close();
  await Promise.all([cncf?.stop(), token?.stop()]);
  await rm(work, { recursive: true, force: true });
});

describe('a mirror of several upstreams with local repositories', () => {
  it('serves each upstream under its prefix', async () => {
    expect((await skopeoInspectRaw(`docker://${mirror.host}/hub/team/app:v1`)).equals(app.manifest.bytes)).toBe(true);
    expect((await skopeoInspectRaw(`docker://${mirror.host}/tok/other/app:v1`)).equals(app.manifest.bytes)).toBe(true);
    await skopeoCopy(`docker://${mirror.host}/tok/other/app:v1`, `dir:${join(work, 'tok')}`);
  });

  it("maps containerd's ?ns= to the upstream, sharing the cache with the prefixed name", async () => {
    const res = await fetch(`${mirror.url}/v2/other/app/manifests/v1?ns=${token.host}`, { headers: { accept: app.manifest.mediaType } });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(app.manifest.digest);
    await res.arrayBuffer();
    token.proxy.reset();
    const layer = app.layers[1]!.descriptor.digest;
    const blob = await fetch(`${mirror.url}/v2/other/app/blobs/${layer}?ns=${token.host}`);
    expect(Buffer.from(await blob.arrayBuffer()).equals(app.layers[1]!.bytes)).toBe(true);
    expect(token.proxy.blobGets.size).toBe(0); // cached by the prefixed pull above
  });

  it("serves Docker's registry-mirrors names: bare and library/ names go to the default upstream", async () => {
    for (const name of ['busybox', 'library/busybox', 'hub/library/busybox', 'hub/busybox']) {
      expect((await skopeoInspectRaw(`docker://${mirror.host}/${name}:latest`)).equals(busybox.manifest.bytes), name).toBe(true);
    }
    cncf.proxy.reset();
    await skopeoCopy(`docker://${mirror.host}/busybox:latest`, `dir:${join(work, 'bare')}`);
    await skopeoCopy(`docker://${mirror.host}/library/busybox:latest`, `dir:${join(work, 'library')}`);
    for (const b of busybox.blobs) expect(cncf.proxy.blobGets.get(b.descriptor.digest) ?? 0).toBeLessThanOrEqual(1);
  });

  it('answers a HEAD of an uncached blob from the upstream without fetching it', async () => {
    const img = multiLayerImage({ tag: 'head', randomBytes: 64 * 1024 });
    await cncf.push(img, 'team/head', 'v1');
    cncf.proxy.reset();
    const layer = img.layers[1]!;
    const res = await fetch(`${mirror.url}/v2/hub/team/head/blobs/${layer.descriptor.digest}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(layer.bytes.length));
    expect(res.headers.get('docker-content-digest')).toBe(layer.descriptor.digest);
    expect(cncf.proxy.requests.get('HEAD blob')).toBe(1);
    expect(cncf.proxy.blobGets.size).toBe(0);
    const missing = await fetch(`${mirror.url}/v2/hub/team/head/blobs/sha256:${'0'.repeat(64)}`, { method: 'HEAD' });
    expect(missing.status).toBe(404);
  });

  it("lists a proxied repository's tags from its upstream", async () => {
    expect(await skopeoListTags(`docker://${mirror.host}/hub/team/app`)).toEqual(['v1']);
  });

  it('accepts pushes to local namespaces and refuses them to proxied names and elsewhere', async () => {
    const dir = join(work, 'push');
    await writeLayout(dir, app);
    await skopeoCopy(`oci:${dir}:v1`, `docker://${mirror.host}/local/app:v1`);
    expect((await skopeoInspectRaw(`docker://${mirror.host}/local/app:v1`)).equals(app.manifest.bytes)).toBe(true);
    for (const name of ['hub/team/app', 'tok/other/app', 'elsewhere/app']) {
      await expect(skopeoCopy(`oci:${dir}:v1`, `docker://${mirror.host}/${name}:v2`), name).rejects.toThrow(/denied/i);
    }
    const res = await fetch(`${mirror.url}/v2/hub/team/app/blobs/uploads/`, { method: 'POST' });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]).toMatchObject({ code: 'DENIED' });
    expect(body.errors[0]!.message).toContain(`read-only mirror of ${cncf.host}`);
  });

  it('pre-fetches the configured platform of an index, not the others', async () => {
    const arm = multi.images.find((i) => i.manifest.json.config && i.config.bytes.toString().includes('arm64'))!;
    const amd = multi.images.find((i) => i !== arm)!;
    await until('the arm64 image to be pre-fetched', () => arm.blobs.every((b) => existsSync(blobPath(mirror.dataDir, b.descriptor.digest))));
    expect(existsSync(blobPath(mirror.dataDir, multi.index.digest))).toBe(true);
    // (amd64's base layer is the one every test image shares, cached by other pulls.)
    for (const d of [amd.manifest.digest, amd.layers[1]!.descriptor.digest]) expect(existsSync(blobPath(mirror.dataDir, d))).toBe(false);
    expect(mirror.logs.some((l) => l.msg === 'mirror: pre-fetched' && l.image === 'tok/multi/arch:v1')).toBe(true);
  });

  it('a client with the mirror configured pulls through it, and from the upstream when the mirror is down', async () => {
    const cfgPath = join(work, 'client.yaml');
    await writeFile(cfgPath, JSON.stringify({ registries: { [cncf.host]: { mirrors: [`${mirror.host}/hub`] } } }));
    const dockerDir = join(work, 'docker');
    await mkdir(dockerDir, { recursive: true });
    const auth = Buffer.from(`${cncf.creds.username}:${cncf.creds.password}`).toString('base64');
    await writeFile(join(dockerDir, 'config.json'), JSON.stringify({ auths: { [cncf.host]: { auth } } }));
    const env = { STEVEDORE_CLIENT_CONFIG: cfgPath, DOCKER_CONFIG: dockerDir };
    const via = await stevedoreCli(['pull', '--json', `${cncf.host}/team/app:v1`, '--output', `oci:${join(work, 'via-mirror')}:v1`], env);
    expect(via.code, via.stderr).toBe(0);
    expect(JSON.parse(via.stdout)).toMatchObject({ digest: app.manifest.digest, servedBy: `mirror ${mirror.host}/hub` });
    await mirror.close();
    const fallback = await stevedoreCli(['pull', '--json', `${cncf.host}/team/app:v1`, '--output', `oci:${join(work, 'fallback')}:v1`], env);
    expect(fallback.code, fallback.stderr).toBe(0);
    expect(JSON.parse(fallback.stdout)).toMatchObject({ digest: app.manifest.digest, servedBy: `registry ${cncf.host}` });
  });
});
