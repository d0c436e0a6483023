// Pull-through mirrors: Stevedore's mirror against Debian's docker-registry in proxy mode
// (`proxy.remoteurl`), both in front of the same upstream (a Stevedore registry on loopback), each
// through its own byte-counting proxy that also caps each upstream connection's speed
// (BENCH_MIRROR_UPSTREAM_MIBPS) so the upstream behaves like a remote registry.
//
// Measured, alternating which mirror goes first (ABBA), median of BENCH_MIRROR_REPS:
//   cold pull   manifest by tag, then every blob at once (as clients do), through a mirror that
//               has never seen the image (each repetition pulls a fresh image)
//   warm pull   the same image again (served from the mirror's storage)
// Once per mirror: BENCH_MIRROR_CONCURRENT (10) clients pull the same cold image at the same time:
// wall time, and bytes the mirror took from the upstream (the image's size is the ideal).
// Every blob a client receives is checked against its digest.
//
//   BENCH_MIRROR_LAYERS=4  BENCH_MIRROR_LAYER_MIB=8  BENCH_MIRROR_REPS=3
//   BENCH_MIRROR_CONCURRENT=10  BENCH_MIRROR_UPSTREAM_MIBPS=64 (0: no cap)
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { RegistryClient } from './ops.js';
import { randomDigest } from './random.js';
import { startDockerRegistry, startStevedore, type RunningServer } from './servers.js';
import { median } from './stats.js';

const MiB = 1024 * 1024;
const num = (name: string, def: number, allowZero = false) => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw new Error(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number`);
  return v;
};
const layers = Math.round(num('BENCH_MIRROR_LAYERS', 4));
const layerBytes = Math.round(num('BENCH_MIRROR_LAYER_MIB', 8) * MiB);
const reps = Math.round(num('BENCH_MIRROR_REPS', 3));
const concurrent = Math.round(num('BENCH_MIRROR_CONCURRENT', 10));
const upstreamRate = num('BENCH_MIRROR_UPSTREAM_MIBPS', 64, true) * MiB;

type MirrorKind = 'stevedore' | 'docker-registry';
const KINDS: MirrorKind[] = ['stevedore', 'docker-registry'];

interface Image {
  repo: string;
  manifest: string;
  blobs: { digest: string; size: number }[];
  bytes: number;
}

/** Pushes an image of `layers` fresh random layers to the upstream. */
async function pushImage(upstream: RegistryClient, baseUrl: string, name: string): Promise<Image> {
  const repo = `bench/${name}`;
  const blobs: { digest: string; size: number }[] = [];
  for (let i = 0; i < layers; i++) {
    const seed = `mirror-${name}-${i}-${process.pid}`;
    const digest = randomDigest(seed, layerBytes);
    await upstream.pushMonolithic(repo, seed, layerBytes, digest);
    blobs.push({ digest, size: layerBytes });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: blobs.map((b) => b.digest) }, name }));
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const up = await fetch(`${baseUrl}/v2/${repo}/blobs/uploads/?digest=${configDigest}`, { method: 'POST', body: config });
  if (up.status !== 201) throw new Error(`config upload: HTTP ${up.status}`);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: blobs.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...b })),
  });
  const put = await fetch(`${baseUrl}/v2/${repo}/manifests/v1`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest });
  if (put.status !== 201) throw new Error(`manifest PUT: HTTP ${put.status}`);
  const all = [{ digest: configDigest, size: config.length }, ...blobs];
  return { repo, manifest, blobs: all, bytes: all.reduce((n, b) => n + b.size, 0) + manifest.length };
}

/** A proxy to the upstream that counts blob bytes and caps each response's speed. */
interface CountingProxy {
  url: string;
  bytes: number;
  blobGets: number;
  close(): Promise<void>;
}

async function startCountingProxy(target: string): Promise<CountingProxy> {
  const up = new URL(target);
  const state = { bytes: 0, blobGets: 0 };
  const server: Server = createServer((req, res) => {
    const isBlob = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '');
    const out = httpRequest({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (isBlob && ur.statusCode === 200) state.blobGets++;
      // Paused while the client is behind (drain) or the rate cap says wait, resumed when neither.
      let draining = false;
      let waitUntil = 0;
      const maybeResume = () => {
        if (draining) return; // the drain listener calls again
        const wait = waitUntil - performance.now();
        if (wait > 0) setTimeout(maybeResume, Math.ceil(wait));
        else ur.resume();
      };
      ur.on('data', (chunk: Buffer) => {
        if (isBlob) state.bytes += chunk.length;
        if (!res.write(chunk) && !draining) {
          draining = true;
          ur.pause();
          res.once('drain', () => {
            draining = false;
            maybeResume();
          });
        }
        if (isBlob && upstreamRate > 0) {
          const delay = (chunk.length / upstreamRate) * 1000;
          waitUntil = performance.now() + delay;
          ur.pause();
          setTimeout(maybeResume, Math.ceil(delay));
        }
      });
      ur.on('end', () => res.end());
      ur.on('error', () => res.destroy());
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get bytes() {
      return state.bytes;
    },
    get blobGets() {
      return state.blobGets;
    },
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

const agent = new Agent({ connections: 64, headersTimeout: 300_000, bodyTimeout: 300_000 });

/** A client pull: manifest by tag, then all blobs concurrently, each verified. Seconds. */
async function pull(mirrorUrl: string, repo: string, image: Image): Promise<number> {
  const t0 = performance.now();
  const m = await request(`${mirrorUrl}/v2/${repo}/manifests/v1`, { dispatcher: agent, headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  const text = await m.body.text();
  if (m.statusCode !== 200 || text !== image.manifest) throw new Error(`manifest via ${mirrorUrl}: HTTP ${m.statusCode}`);
  await Promise.all(
    image.blobs.map(async (b) => {
      const res = await request(`${mirrorUrl}/v2/${repo}/blobs/${b.digest}`, { dispatcher: agent });
      if (res.statusCode !== 200) throw new Error(`blob via ${mirrorUrl}: HTTP ${res.statusCode} ${await res.body.text()}`);
      const h = createHash('sha256');
      for await (const c of res.body) h.update(c as Buffer);
      if (`sha256:${h.digest('hex')}` !== b.digest) throw new Error(`blob ${b.digest} via ${mirrorUrl}: wrong content`);
    }),
  );
  return (performance.now() - t0) / 1000;
}

interface Mirror {
  kind: MirrorKind;
  server: RunningServer;
  proxy: CountingProxy;
  /** The repository name of an upstream repository on this mirror. */
  name(repo: string): string;
}

async function startMirror(kind: MirrorKind, dir: string, upstreamUrl: string): Promise<Mirror> {
  const proxy = await startCountingProxy(upstreamUrl);
  if (kind === 'stevedore') {
    const cfg = join(dir, 'stevedore-mirror.yaml');
    const host = new URL(proxy.url).host;
    await writeFile(cfg, JSON.stringify({ mirror: { upstreams: [{ prefix: 'up', registry: host, insecure: true }] } }));
    const server = await startStevedore({ name: 'stevedore-mirror', dataDir: join(dir, 'stevedore-mirror'), args: ['--config', cfg] });
    return { kind, server, proxy, name: (repo) => `up/${repo}` };
  }
  const server = await startDockerRegistry({ name: 'docker-registry-proxy', dataDir: join(dir, 'cncf-mirror'), configPath: join(dir, 'cncf-mirror.yml'), proxyRemoteUrl: proxy.url });
  return { kind, server, proxy, name: (repo) => repo };
}

export interface MirrorBenchResult {
  imageMB: number;
  cold: Record<MirrorKind, number>;
  warm: Record<MirrorKind, number>;
  concurrent: Record<MirrorKind, { seconds: number; upstreamMB: number; blobGets: number }>;
}

export async function mirrorBench(): Promise<MirrorBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-mirror-'));
  const upstream = await startStevedore({ name: 'upstream', dataDir: join(dir, 'upstream') });
  const mirrors: Mirror[] = [];
  try {
    const client = new RegistryClient(upstream.url);
    for (const kind of KINDS) mirrors.push(await startMirror(kind, dir, upstream.url));
    const cold: Record<MirrorKind, number[]> = { stevedore: [], 'docker-registry': [] };
    const warm: Record<MirrorKind, number[]> = { stevedore: [], 'docker-registry': [] };
    let imageMB = 0;
    for (let rep = 0; rep < reps; rep++) {
      const image = await pushImage(client, upstream.url, `rep${rep}`);
      imageMB = image.bytes / 1e6;
      const order = rep % 2 === 0 ? mirrors : [...mirrors].reverse();
      for (const m of order) {
        const c = await pull(m.server.url, m.name(image.repo), image);
        const w = await pull(m.server.url, m.name(image.repo), image);
        cold[m.kind].push(c);
        warm[m.kind].push(w);
        process.stderr.write(`[bench] mirror pull #${rep + 1} ${m.kind}: cold ${c.toFixed(2)} s, warm ${w.toFixed(2)} s\n`);
      }
    }
    const conc = {} as MirrorBenchResult['concurrent'];
    for (const m of mirrors) {
      const image = await pushImage(client, upstream.url, `concurrent-${m.kind}`);
      const before = { bytes: m.proxy.bytes, gets: m.proxy.blobGets };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: concurrent }, () => pull(m.server.url, m.name(image.repo), image)));
      conc[m.kind] = { seconds: (performance.now() - t0) / 1000, upstreamMB: (m.proxy.bytes - before.bytes) / 1e6, blobGets: m.proxy.blobGets - before.gets };
      process.stderr.write(`[bench] ${concurrent} concurrent cold pulls ${m.kind}: ${conc[m.kind].seconds.toFixed(2)} s, ${conc[m.kind].upstreamMB.toFixed(1)} MB from upstream\n`);
    }
    return {
      imageMB,
      cold: { stevedore: median(cold.stevedore), 'docker-registry': median(cold['docker-registry']) },
      warm: { stevedore: median(warm.stevedore), 'docker-registry': median(warm['docker-registry']) },
      concurrent: conc,
    };
  } finally {
    for (const m of mirrors) {
      await m.server.stop();
      await m.proxy.close();
    }
    await upstream.stop();
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await mirrorBench();
  const s = 'stevedore' as const;
  const d = 'docker-registry' as const;
  const row = (label: string, a: string, b: string, ratio: string) => `${label.padEnd(34)} ${a.padStart(12)} ${b.padStart(16)} ${ratio.padStart(8)}`;
  const secs = (x: number) => `${x.toFixed(2)} s`;
  process.stdout.write(
    `\nPull-through mirror: image of ${layers} x ${layerBytes / MiB} MiB layers (${r.imageMB.toFixed(1)} MB), upstream capped at ${upstreamRate ? `${upstreamRate / MiB} MiB/s per connection` : 'no limit'}, median of ${reps}\n` +
      `${row('', 'stevedore', 'docker-registry', 'ratio')}\n` +
      `${row('cold pull', secs(r.cold[s]), secs(r.cold[d]), `${(r.cold[d] / r.cold[s]).toFixed(2)}x`)}\n` +
      `${row('warm pull', secs(r.warm[s]), secs(r.warm[d]), `${(r.warm[d] / r.warm[s]).toFixed(2)}x`)}\n` +
      `${row(`${concurrent} concurrent cold pulls`, secs(r.concurrent[s].seconds), secs(r.concurrent[d].seconds), `${(r.concurrent[d].seconds / r.concurrent[s].seconds).toFixed(2)}x`)}\n` +
      `${row('  MB taken from the upstream', r.concurrent[s].upstreamMB.toFixed(1), r.concurrent[d].upstreamMB.toFixed(1), `${(r.concurrent[d].upstreamMB / r.concurrent[s].upstreamMB).toFixed(2)}x`)}\n` +
      `${row('  upstream blob GETs', String(r.concurrent[s].blobGets), String(r.concurrent[d].blobGets), '')}\n` +
      `ratios: docker-registry / stevedore (above 1 = stevedore faster or fetching less)\n`,
  );
}
