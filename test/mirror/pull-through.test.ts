// Pulling through the mirror from both kinds of upstream (docker-registry with htpasswd, Stevedore
// behind Bearer token auth), with skopeo and `stevedore pull` as clients: concurrent cold pulls
// share one upstream fetch per blob, a cold blob's first bytes arrive before the upstream transfer
// ends, a corrupt upstream blob fails the client and is not cached, and an upstream outage still
// serves what is cached (within its TTL and stale) while uncached content gets a clear error.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDigest } from '../../oci/index.js';
import { DirImageReader, multiLayerImage, OciLayoutReader, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeoCopy, skopeoInspectRaw } from '../helpers/skopeo.js';
import { startMirrorServer, stevedoreCli, type MirrorServer } from './mirror-server.js';
import { startUpstream, type TestUpstream, type UpstreamKind } from './upstreams.js';

const blobPath = (dataDir: string, digest: string) => {
  const { algorithm, hex } = parseDigest(digest);
  return join(dataDir, 'blobs', algorithm.name, hex.slice(0, 2), hex, 'data');
};

/** A client's copy is the image: same manifest, every blob present and matching its digest. */
async function checkDirCopy(dir: string, image: BuiltImage): Promise<void> {
  const copy = await DirImageReader.open(dir);
  expect(copy.manifestDigest).toBe(image.manifest.digest);
  for (const b of image.blobs) expect((await copy.blob(b.descriptor.digest)).equals(b.bytes)).toBe(true);
}

async function checkLayoutCopy(dir: string, image: BuiltImage): Promise<void> {
  const copy = await OciLayoutReader.open(dir);
  for (const b of image.blobs) expect((await copy.blob(b.descriptor.digest)).equals(b.bytes)).toBe(true);
}

describe.each<UpstreamKind>(['cncf-htpasswd', 'stevedore-token'])('pull-through from %s', (kind) => {
  let work: string;
  let upstream: TestUpstream;
  let mirror: MirrorServer;
  let image: BuiltImage;
  const ref = (tag = 'v1', repo = 'team/app') => `docker://${mirror.host}/up/${repo}:${tag}`;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'mirror-pull-'));
    upstream = await startUpstream(kind);
    image = multiLayerImage({ tag: 'v1', randomBytes: 2 * 1024 * 1024 });
    await upstream.push(image, 'team/app', 'v1');
    mirror = await startMirrorServer({
      upstreams: [{ prefix: 'up', registry: upstream.host, insecure: true, ...upstream.creds }],
      tagTtl: '1h',
    });
  });

  afterAll(async () => {
    await mirror?.close();
    await upstream?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('10 concurrent cold pulls (skopeo and stevedore pull) all get the image; the upstream serves each blob once', async () => {
    upstream.proxy.reset();
    const pulls = Array.from({ length: 10 }, async (_, i) => {
      const out = join(work, `cold-${i}`);
      if (i % 2 === 0) {
        await skopeoCopy(ref(), `dir:${out}`);
        await checkDirCopy(out, image);
      } else {
        const r = await stevedoreCli(['pull', `${mirror.host}/up/team/app:v1`, '--output', `oci:${out}:v1`]);
        expect(r.code, r.stderr).toBe(0);
        await checkLayoutCopy(out, image);
      }
    });
    await Promise.all(pulls);
    for (const b of image.blobs) expect(upstream.proxy.blobGets.get(b.descriptor.digest), b.descriptor.digest).toBe(1);
    const total = image.blobs.reduce((n, b) => n + b.bytes.length, 0);
    expect(upstream.proxy.blobBytes()).toBe(total);
    // Blob and manifest bytes received: each blob once, and the manifest once (the tag is then within its TTL).
    expect(await mirror.metric('stevedore_mirror_upstream_bytes_total', { upstream: 'up' })).toBe(total + image.manifest.bytes.length);
    // Every client's blob GET that was served from the transfer counts as a miss; the rest joined it.
    expect(await mirror.metric('stevedore_mirror_requests_total', { upstream: 'up', kind: 'blob', result: 'miss' })).toBeGreaterThanOrEqual(image.blobs.length);
    expect(await mirror.metric('stevedore_mirror_requests_total', { upstream: 'up', kind: 'manifest', result: 'miss' })).toBeGreaterThanOrEqual(1);
    // Every blob is now stored, verified, under the mirror's data directory.
    for (const b of image.blobs) expect(existsSync(blobPath(mirror.dataDir, b.descriptor.digest))).toBe(true);
  });

  it('a warm pull is served from the cache: no blob from the upstream, hits counted', async () => {
    upstream.proxy.reset();
    const hitsBefore = await mirror.metric('stevedore_mirror_requests_total', { upstream: 'up', kind: 'blob', result: 'hit' });
    const out = join(work, 'warm');
    await skopeoCopy(ref(), `dir:${out}`);
    await checkDirCopy(out, image);
    expect(upstream.proxy.blobGets.size).toBe(0);
    expect(upstream.proxy.requests.get('GET manifest') ?? 0).toBe(0); // the tag is within its TTL
    expect(await mirror.metric('stevedore_mirror_requests_total', { upstream: 'up', kind: 'blob', result: 'hit' })).toBeGreaterThanOrEqual(hitsBefore + image.blobs.length);
  });

  it('follows blob redirects to a CDN without sending the upstream credentials there', async () => {
    const img = multiLayerImage({ tag: 'cdn', randomBytes: 256 * 1024 });
    await upstream.push(img, 'team/cdn', 'v1');
    // (The base layer every test image shares may be cached already.)
    const cold = img.blobs.filter((b) => !existsSync(blobPath(mirror.dataDir, b.descriptor.digest))).length;
    expect(cold).toBeGreaterThanOrEqual(3);
    upstream.proxy.redirectBlobs(true);
    try {
      await skopeoCopy(ref('v1', 'team/cdn'), `dir:${join(work, 'cdn')}`);
      await checkDirCopy(join(work, 'cdn'), img);
      expect(upstream.proxy.cdnRequests()).toBe(cold);
      expect(upstream.proxy.cdnRequestsWithAuth()).toBe(0);
    } finally {
      upstream.proxy.redirectBlobs(false);
    }
  });

  it('streams a cold blob: the first bytes reach the client before the upstream transfer has finished', async () => {
    const big = multiLayerImage({ tag: 'big', randomBytes: 6 * 1024 * 1024 });
    await upstream.push(big, 'team/big', 'v1');
    const layer = big.layers.reduce((a, b) => (b.bytes.length > a.bytes.length ? b : a));
    upstream.proxy.reset();
    upstream.proxy.throttle(2 * 1024 * 1024); // a few seconds for the whole layer
    try {
      const url = `${mirror.url}/v2/up/team/big/blobs/${layer.descriptor.digest}`;
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe(String(layer.bytes.length));
      const reader = res.body!.getReader();
      const first = await reader.read();
      expect(first.done).toBe(false);
      // The client holds bytes while the upstream has not yet sent the whole blob.
      expect(upstream.proxy.blobBytes()).toBeLessThan(layer.bytes.length);
      // A second client joins the transfer in progress: same upstream fetch, whole blob.
      const joined = fetch(url).then(async (r) => Buffer.from(await r.arrayBuffer()));
      const hash = createHash('sha256').update(first.value!);
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        hash.update(value);
      }
      expect(`sha256:${hash.digest('hex')}`).toBe(layer.descriptor.digest);
      expect((await joined).equals(layer.bytes)).toBe(true);
      expect(upstream.proxy.blobGets.get(layer.descriptor.digest)).toBe(1);
    } finally {
      upstream.proxy.throttle(0);
    }
  });

  it('a corrupt upstream blob fails the client and is not cached; a later good transfer is', async () => {
    const img = multiLayerImage({ tag: 'v2', randomBytes: 1024 * 1024 });
    await upstream.push(img, 'team/corrupt', 'v2');
    const layer = img.layers.reduce((a, b) => (b.bytes.length > a.bytes.length ? b : a));
    upstream.proxy.reset();
    upstream.proxy.corrupt(layer.descriptor.digest);
    try {
      await expect(skopeoCopy(ref('v2', 'team/corrupt'), `dir:${join(work, 'corrupt')}`)).rejects.toThrow();
      // A plain HTTP client sees the connection cut, never a complete body.
      await expect(fetch(`${mirror.url}/v2/up/team/corrupt/blobs/${layer.descriptor.digest}`).then((r) => r.arrayBuffer())).rejects.toThrow();
      expect(existsSync(blobPath(mirror.dataDir, layer.descriptor.digest))).toBe(false);
      // Nor is anything left of the uploads the transfers were written into.
      const uploads = join(mirror.dataDir, 'uploads');
      await expect.poll(() => (existsSync(uploads) ? readdirSync(uploads).filter((n) => !n.startsWith('.tmp-')) : []), { timeout: 30_000 }).toEqual([]);
    } finally {
      upstream.proxy.corrupt(undefined);
    }
    const gets = upstream.proxy.blobGets.get(layer.descriptor.digest) ?? 0;
    await skopeoCopy(ref('v2', 'team/corrupt'), `dir:${join(work, 'corrupt-ok')}`);
    await checkDirCopy(join(work, 'corrupt-ok'), img);
    expect(upstream.proxy.blobGets.get(layer.descriptor.digest)).toBe(gets + 1); // fetched again: nothing was kept
    expect(existsSync(blobPath(mirror.dataDir, layer.descriptor.digest))).toBe(true);
  });

  it('a tag past its TTL is revalidated with a HEAD: unchanged, nothing is downloaded; moved, the new image is served', async () => {
    const eager = await startMirrorServer({ upstreams: [{ prefix: 'up', registry: upstream.host, insecure: true, ...upstream.creds }], tagTtl: 0 });
    try {
      const moving = multiLayerImage({ tag: 'one', randomBytes: 64 * 1024 });
      await upstream.push(moving, 'team/moving', 'v1');
      await skopeoCopy(`docker://${eager.host}/up/team/moving:v1`, `dir:${join(work, 'moving-1')}`);
      upstream.proxy.reset();
      await skopeoCopy(`docker://${eager.host}/up/team/moving:v1`, `dir:${join(work, 'moving-2')}`);
      await checkDirCopy(join(work, 'moving-2'), moving);
      expect(upstream.proxy.requests.get('HEAD manifest')).toBeGreaterThanOrEqual(1);
      expect(upstream.proxy.requests.get('GET manifest') ?? 0).toBe(0);
      expect(upstream.proxy.blobGets.size).toBe(0);

      const moved = multiLayerImage({ tag: 'two', randomBytes: 64 * 1024 });
      await upstream.push(moved, 'team/moving', 'v1');
      await skopeoCopy(`docker://${eager.host}/up/team/moving:v1`, `dir:${join(work, 'moving-3')}`);
      await checkDirCopy(join(work, 'moving-3'), moved);
    } finally {
      await eager.close();
    }
  });

  it('serves ranges of mirrored blobs as of local ones: suffix ranges, ETag, Accept-Ranges, Cache-Control', async () => {
    const img = multiLayerImage({ tag: 'v1', randomBytes: 64 * 1024 });
    await upstream.push(img, 'team/ranges', 'v1');
    const [cold, other] = [...img.layers].sort((a, b) => b.descriptor.size - a.descriptor.size).map((l) => l.descriptor);
    const url = (d: { digest: string }) => `${mirror.url}/v2/up/team/ranges/blobs/${d.digest}`;
    const expectBlobHeaders = (res: Response, digest: string) => {
      expect(res.headers.get('etag')).toBe(`"${digest}"`);
      expect(res.headers.get('accept-ranges')).toBe('bytes');
      expect(res.headers.get('cache-control')).toBe('max-age=31536000');
      expect(res.headers.get('docker-content-digest')).toBe(digest);
    };
    const bytesOf = (d: { digest: string }) => img.blobs.find((b) => b.descriptor.digest === d.digest)!.bytes;

    // Cold (streamed while the mirror fetches it): the last 100 bytes.
    const suffix = await fetch(url(cold!), { headers: { range: 'bytes=-100' } });
    expect(suffix.status).toBe(206);
    expect(suffix.headers.get('content-range')).toBe(`bytes ${cold!.size - 100}-${cold!.size - 1}/${cold!.size}`);
    expectBlobHeaders(suffix, cold!.digest);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(bytesOf(cold!).subarray(-100))).toBe(true);

    // HEAD of a cold blob, and an unsatisfiable range.
    const head = await fetch(url(other!), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(other!.size));
    expectBlobHeaders(head, other!.digest);
    const beyond = await fetch(url(other!), { headers: { range: `bytes=${other!.size}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${other!.size}`);
    await beyond.arrayBuffer();

    // A revalidation with the ETag is answered 304.
    const again = await fetch(url(cold!), { headers: { 'if-none-match': `"${cold!.digest}"` } });
    expect(again.status).toBe(304);
  });

  it('answers every range and header of a mirrored blob exactly as of the same blob pushed locally, cold and cached', async () => {
    const img = multiLayerImage({ tag: 'v1', randomBytes: 256 * 1024 });
    await upstream.push(img, 'team/same', 'v1');
    const blob = [...img.layers].sort((a, b) => b.descriptor.size - a.descriptor.size)[0]!;
    const { digest, size } = blob.descriptor;
    const ranges = [undefined, 'bytes=-100', `bytes=-${size + 10}`, 'bytes=10-19', 'bytes=0-0', `bytes=${size - 5}-`, `bytes=100-${size * 2}`, `bytes=${size}-`, 'bytes=-0'];
    const HEADERS = ['content-range', 'content-length', 'content-type', 'etag', 'accept-ranges', 'cache-control', 'docker-content-digest'];
    const answer = async (repo: string, method: string, range: string | undefined) => {
      const res = await fetch(`${mirror.url}/v2/${repo}/blobs/${digest}`, { method, headers: range ? { range } : {} });
      const body = Buffer.from(await res.arrayBuffer());
      const headers = Object.fromEntries(HEADERS.map((h) => [h, res.headers.get(h)]));
      return { status: res.status, headers, body: res.status === 416 ? undefined : body };
    };
    const all = (repo: string) => Promise.all(ranges.flatMap((r) => ['GET', 'HEAD'].map((m) => answer(repo, m, r))));

    upstream.proxy.reset();
    const cold = await all('up/team/same'); // at once: one request starts the transfer, the rest join it
    expect(upstream.proxy.blobGets.get(digest)).toBe(1);
    const cached = await all('up/team/same');
    const dir = join(work, 'same-layout');
    await writeLayout(dir, img);
    await skopeoCopy(`oci:${dir}:v1`, `docker://${mirror.host}/local/same:v1`);
    const local = await all('local/same');

    expect(cold).toEqual(local);
    expect(cached).toEqual(local);
    // And what they all answer is right.
    const get = (r: string | undefined) => local[ranges.indexOf(r) * 2]!;
    expect(get(undefined)).toMatchObject({ status: 200, headers: { 'content-length': String(size), 'content-range': null, 'accept-ranges': 'bytes', etag: `"${digest}"` } });
    expect(get(undefined).body!.equals(blob.bytes)).toBe(true);
    expect(get('bytes=-100')).toMatchObject({ status: 206, headers: { 'content-range': `bytes ${size - 100}-${size - 1}/${size}`, 'content-length': '100' } });
    expect(get('bytes=-100').body!.equals(blob.bytes.subarray(-100))).toBe(true);
    expect(get(`bytes=-${size + 10}`)).toMatchObject({ status: 206, headers: { 'content-range': `bytes 0-${size - 1}/${size}` } });
    expect(get('bytes=10-19').body!.equals(blob.bytes.subarray(10, 20))).toBe(true);
    expect(get(`bytes=100-${size * 2}`)).toMatchObject({ status: 206, headers: { 'content-range': `bytes 100-${size - 1}/${size}` } });
    expect(get(`bytes=${size}-`)).toMatchObject({ status: 416, headers: { 'content-range': `bytes */${size}` } });
    expect(get('bytes=-0')).toMatchObject({ status: 416 });
    const head = local[ranges.indexOf('bytes=-100') * 2 + 1]!;
    expect(head).toMatchObject({ status: 206, headers: { 'content-length': '100' } });
    expect(head.body!.length).toBe(0);
  });

  it('the operations view (/v2/_ui/operations) counts the bytes fetched from the upstream, manifests included', async () => {
    const fresh = await startMirrorServer({ upstreams: [{ prefix: 'up', registry: upstream.host, insecure: true, ...upstream.creds }], tagTtl: '1h' });
    const upstreamBytes = async () => {
      const res = await fetch(`${fresh.url}/v2/_ui/operations`);
      expect(res.status).toBe(200);
      const ops = (await res.json()) as { mirror: { upstreams: { prefix: string; upstreamBytes: number; misses: number }[] } };
      return ops.mirror.upstreams.find((u) => u.prefix === 'up')!;
    };
    try {
      expect((await upstreamBytes()).upstreamBytes).toBe(0);
      // Its blobs are stored already (pushed locally): only the manifest comes from the upstream.
      const dir = join(work, 'ops-layout');
      await writeLayout(dir, image);
      await skopeoCopy(`oci:${dir}:v1`, `docker://${fresh.host}/local/app:v1`);
      upstream.proxy.reset();
      await skopeoCopy(`docker://${fresh.host}/up/team/app:v1`, `dir:${join(work, 'ops-warm')}`);
      expect(upstream.proxy.blobGets.size).toBe(0);
      const afterManifest = await upstreamBytes();
      expect(afterManifest.upstreamBytes).toBe(image.manifest.bytes.length);
      expect(afterManifest.misses).toBeGreaterThanOrEqual(1);
      // A new image: the blobs not cached yet (all but the shared base layer) are added as they arrive.
      const other = multiLayerImage({ tag: 'v1', randomBytes: 64 * 1024 });
      await upstream.push(other, 'team/ops', 'v1');
      await skopeoCopy(`docker://${fresh.host}/up/team/ops:v1`, `dir:${join(work, 'ops-cold')}`);
      const cachedDigests = new Set(image.blobs.map((b) => b.descriptor.digest));
      const blobBytes = other.blobs.filter((b) => !cachedDigests.has(b.descriptor.digest)).reduce((n, b) => n + b.bytes.length, 0);
      expect(blobBytes).toBeGreaterThan(64 * 1024);
      expect((await upstreamBytes()).upstreamBytes).toBe(image.manifest.bytes.length + other.manifest.bytes.length + blobBytes);
      expect(await fresh.metric('stevedore_mirror_upstream_bytes_total', { upstream: 'up' })).toBe((await upstreamBytes()).upstreamBytes);
    } finally {
      await fresh.close();
    }
  });

  it('a moved tag whose new manifest arrives corrupt is an upstream error, never a reason to serve the cached tag stale', async () => {
    const eager = await startMirrorServer({ upstreams: [{ prefix: 'up', registry: upstream.host, insecure: true, ...upstream.creds }], tagTtl: 0 });
    try {
      const before = multiLayerImage({ tag: 'v1', randomBytes: 1024 });
      await upstream.push(before, 'team/moving', 'v1');
      await skopeoCopy(`docker://${eager.host}/up/team/moving:v1`, `dir:${join(work, 'moving-warm')}`);
      const after = multiLayerImage({ tag: 'v1', randomBytes: 1024 });
      await upstream.push(after, 'team/moving', 'v1');
      upstream.proxy.corruptManifests(true);
      try {
        const res = await fetch(`${eager.url}/v2/up/team/moving/manifests/v1`, { headers: { accept: before.manifest.mediaType } });
        const body = (await res.json()) as { errors?: { code: string; message: string }[] };
        expect(res.headers.get('docker-content-digest')).not.toBe(before.manifest.digest);
        expect(res.status).toBe(502);
        expect(body.errors?.[0]?.message).toMatch(/sent corrupt content for team\/moving:v1/);
        expect(await eager.metric('stevedore_mirror_stale_served_total', { upstream: 'up' })).toBe(0);
      } finally {
        upstream.proxy.corruptManifests(false);
      }
    } finally {
      await eager.close();
    }
  });

  it('when the upstream stops: cached images pull (tag within TTL, and stale past it), uncached ones get a clear error', async () => {
    // A second mirror on the same upstream whose tags are always due for revalidation.
    const eager = await startMirrorServer({ upstreams: [{ prefix: 'up', registry: upstream.host, insecure: true, ...upstream.creds }], tagTtl: 0 });
    try {
      // Both mirrors have the image (the main one may have it from the tests above already).
      await skopeoCopy(ref(), `dir:${join(work, 'main-warm')}`);
      await skopeoCopy(`docker://${eager.host}/up/team/app:v1`, `dir:${join(work, 'eager-warm')}`);

      // Rate limited (429): the cached tag is served stale.
      upstream.proxy.failWith(429);
      try {
        await skopeoCopy(`docker://${eager.host}/up/team/app:v1`, `dir:${join(work, 'rate-limited')}`);
        await checkDirCopy(join(work, 'rate-limited'), image);
        expect(await eager.metric('stevedore_mirror_stale_served_total', { upstream: 'up' })).toBe(1);
        const res = await fetch(`${eager.url}/v2/up/team/never/manifests/v1`);
        expect(res.status).toBe(429);
        expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('TOOMANYREQUESTS');
      } finally {
        upstream.proxy.failWith(undefined);
      }
      await upstream.proxy.stop();

      // Within the TTL (mirror: 1h): no upstream needed.
      await skopeoCopy(ref(), `dir:${join(work, 'down-ttl')}`);
      await checkDirCopy(join(work, 'down-ttl'), image);
      // By digest: cached forever.
      const r = await stevedoreCli(['pull', `${mirror.host}/up/team/app@${image.manifest.digest}`, '--output', `oci:${join(work, 'down-digest')}:v1`]);
      expect(r.code, r.stderr).toBe(0);

      // Past the TTL (eager: 0): served stale, with a log line and a metric.
      await skopeoCopy(`docker://${eager.host}/up/team/app:v1`, `dir:${join(work, 'down-stale')}`);
      await checkDirCopy(join(work, 'down-stale'), image);
      expect(await eager.metric('stevedore_mirror_stale_served_total', { upstream: 'up' })).toBeGreaterThanOrEqual(1);
      expect(eager.logs.some((l) => l.msg === 'mirror: upstream unavailable, serving the cached tag (stale)' && l.tag === 'v1')).toBe(true);

      // Never cached: a spec error that says why.
      const res = await fetch(`${mirror.url}/v2/up/team/never/manifests/v1`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { errors: { code: string; message: string }[] };
      expect(body.errors[0]!.code).toBe('UNKNOWN');
      expect(body.errors[0]!.message).toMatch(new RegExp(`upstream ${upstream.host.replace(/\./g, '\\.')} is unavailable and .*not cached`));
      await expect(skopeoInspectRaw(`docker://${mirror.host}/up/team/never:v1`)).rejects.toThrow(/503 Service Unavailable/);
      const cli = await stevedoreCli(['pull', `${mirror.host}/up/team/never:v1`, '--output', `oci:${join(work, 'never')}:v1`]);
      expect(cli.code).not.toBe(0);
      expect(cli.stderr).toMatch(/is unavailable and .*team\/never:v1 is not cached/);
      expect(await mirror.metric('stevedore_mirror_upstream_errors_total', { upstream: 'up' })).toBeGreaterThanOrEqual(1);
    } finally {
      await eager.close();
    }
  });
});
