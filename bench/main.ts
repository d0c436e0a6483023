// Stevedore vs docker-registry (CNCF distribution) benchmark.
//
// Both registries run side by side for the whole run, each with its own data directory under
// one temporary directory (same filesystem), and every measurement is interleaved: each
// repetition times one server then the other, alternating which goes first (ABBA), so machine
// noise and page-cache/disk state hit both alike. Figures are medians over repetitions.
//
// Workloads, all over loopback HTTP/1.1 with undici:
//   monolithic push  POST /blobs/uploads/, then PUT ?digest= with the whole blob as the body
//   chunked push     POST, PATCH chunks with Content-Range, then PUT ?digest= (empty body)
//   blob pull        GET /blobs/<digest>, body read and discarded (blobs were just pushed,
//                    so both servers read from a warm page cache)
//   pull-redirect    (S3 only) the same GETs from a second pair of servers on the same buckets
//                    with S3 redirects on: the registry answers 307 to a presigned URL and the
//                    client fetches the blob from the S3 endpoint; timed over both requests
//   8-stream pull    8 such GETs at once, each on its own connection, of 8 different blobs
//                    (the MB/s of all 8 together)
//   manifest GET     GET /manifests/<tag> by tag with `concurrency` connections, closed loop,
//                    fixed duration per round after a warm-up round
//   small-blob push  BENCH_SMALL_BLOBS blobs of BENCH_SMALL_KIB each (POST, then PUT ?digest= with
//                    the blob), BENCH_SMALL_CONCURRENCY at once on as many keep-alive connections:
//                    the per-request and per-commit cost of an upload (blobs/s, server CPU per blob)
//   skopeo push      `skopeo copy oci:LAYOUT docker://REGISTRY/...`: a whole image (BENCH_SKOPEO_LAYERS
//                    incompressible layers of BENCH_SKOPEO_LAYER_MIB, a config, a manifest) pushed by
//                    a real client, a new image and repository per repetition (every blob uploaded;
//                    the same layout goes to both registries); the time of the whole command
//   skopeo pull      `skopeo copy docker://REGISTRY/... oci:DIR` of that image into a fresh directory
//                    (the client's side is the same for both registries)
//   peak RSS         VmHWM / VmRSS of each server process, per workload and overall
//   server CPU       user+system CPU time of each server process per MB or per request
//                    (/proc/PID/stat): much less sensitive to machine noise than throughput,
//                    which on a shared 2-core box can swing ±30% between identical servers
//                    (run with BENCH_SERVERS=docker-registry,docker-registry to see the noise)
// Blob content is incompressible pseudo-random data generated on the fly (bench/random.ts).
// Both servers fsync uploaded data before acknowledging it (see bench/servers.ts), so pushes
// are compared at equal durability.
//
// Storage (BENCH_STORAGE):
//   filesystem (default)  each server stores in its own directory on the same filesystem
//   s3                    both on the S3 API of one Ceph RGW started for the run (bench/ceph-rgw.ts,
//                         Debian's radosgw, ceph-mon, ceph-osd; a single-node cluster on loopback),
//                         one bucket each: Stevedore's s3 driver against docker-registry's s3 driver,
//                         same part size (10 MiB), both streaming blob GETs (no redirects). The
//                         same workloads, with smaller blobs (BENCH_S3_BLOB_MIB). Extra rows: CPU
//                         of the Ceph daemons per unit of work while each registry runs, i.e.
//                         how much work each registry's S3 traffic makes for the store.
//
// Configuration (environment variables):
//   BENCH_STORAGE=filesystem      filesystem | s3 (scripts/bench.sh runs both by default)
//   BENCH_BLOB_MIB=256            blob size for push/pull (filesystem)
//   BENCH_S3_BLOB_MIB=64          blob size for push/pull (s3)
//   BENCH_S3_STORE=bluestore      the OSD's object store: bluestore (a sparse file under
//                                 BENCH_DIR, data on disk) or memstore (data in RAM)
//   BENCH_CHUNK_MIB=8             PATCH size for the chunked push
//   BENCH_REPS=8                  repetitions per blob workload and server (even: each side goes
//                                 first in half of the pairs)
//   BENCH_MANIFEST_CONCURRENCY=64 connections = concurrent requests for manifest GET
//   BENCH_MANIFEST_SECONDS=2      duration of one manifest GET round
//   BENCH_MANIFEST_ROUNDS=10      measured rounds per server (after one warm-up round)
//   BENCH_WARMUP_SECONDS=2        duration of the warm-up round
//   BENCH_SMALL_BLOBS=1000        small-blob push: blobs per repetition
//   BENCH_SMALL_KIB=4             small-blob push: size of each blob
//   BENCH_SMALL_CONCURRENCY=8     small-blob push: uploads (and connections) at once
//   BENCH_SKOPEO_LAYERS=6         skopeo push/pull: layers of the image
//   BENCH_SKOPEO_LAYER_MIB        skopeo push/pull: size of a layer (default 8 MB, i.e. a 48 MB image)
//   SKOPEO_BIN=skopeo
//   BENCH_WORKLOADS=monolithic,chunked,pull,pull8,pull-redirect,manifest,small-push,skopeo-push,skopeo-pull
//                                 subset to run (pull-redirect: S3 only, in the default set there;
//                                 small-push and the skopeo rows: filesystem's default set only)
//   BENCH_SERVERS=stevedore,docker-registry            the two sides (A/A runs are allowed,
//                                 e.g. docker-registry,docker-registry to gauge noise)
//   BENCH_DIR=$TMPDIR             where the temporary data directories go
//   BENCH_OUT=.bench/results.json where results go (a .md table is written next to it; the
//                                 S3 set writes .bench/results-s3.json, i.e. <name>-s3.json)
//   BENCH_KEEP_DATA=1             keep the data directories
//   BENCH_CPU_PROF=1              run Stevedore with --cpu-prof (profiles in .bench/profiles/)
//   STEVEDORE_LOG_LEVEL=warn      Stevedore's log level (info adds a JSON access log line per request)
//   STEVEDORE_ARGS="..."          extra `stevedore serve` arguments
//   STEVEDORE_NODE_ARGS="..."     extra node arguments for the server (e.g. --trace-gc)
//   BENCH_LOG_DIR=dir             also write each server's output to dir/<name>.log
//   DOCKER_REGISTRY_BIN=docker-registry
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Pool } from 'undici';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, hostname, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCephRgw, type CephRgw } from './ceph-rgw.js';
import { writeRandomLayout } from './oci-layout.js';
import { manifestLoad, manifestPool, RegistryClient, type LoadResult } from './ops.js';
import { randomDigest, randomRange } from './random.js';
import {
  REPO_ROOT,
  ProcessMonitor,
  readCpuSeconds,
  S3_CHUNK_BYTES,
  startDockerRegistry,
  setServerLogDir,
  startStevedore,
  stevedoreS3Env,
  type RunningServer,
  type S3Target,
  type ServerKind,
} from './servers.js';
import { median, quartiles } from './stats.js';

const MiB = 1024 * 1024;

function envNum(name: string, def: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return n;
}

const WORKLOADS = ['monolithic', 'chunked', 'pull', 'pull8', 'pull-redirect', 'manifest', 'small-push', 'skopeo-push', 'skopeo-pull'] as const;
/** Workloads in the default set of one storage only. */
const S3_ONLY: readonly string[] = ['pull-redirect'];
const FILESYSTEM_ONLY: readonly string[] = ['small-push', 'skopeo-push', 'skopeo-pull'];
type Workload = (typeof WORKLOADS)[number];

const storage = (process.env.BENCH_STORAGE || 'filesystem') as 'filesystem' | 's3';
if (storage !== 'filesystem' && storage !== 's3') throw new Error(`BENCH_STORAGE must be filesystem or s3, got ${String(storage)}`);
const s3Store = (process.env.BENCH_S3_STORE || 'bluestore') as 'bluestore' | 'memstore';
if (s3Store !== 'bluestore' && s3Store !== 'memstore') throw new Error(`BENCH_S3_STORE must be bluestore or memstore, got ${String(s3Store)}`);

/** BENCH_OUT names the filesystem set's file; the S3 set writes `<name>-s3.json` next to it. */
function resultsPath(out: string): string {
  return storage === 's3' ? `${out.replace(/\.json$/, '')}-s3.json` : out;
}

const cfg = {
  storage,
  s3Store,
  blobBytes: Math.round((storage === 's3' ? envNum('BENCH_S3_BLOB_MIB', 64) : envNum('BENCH_BLOB_MIB', 256)) * MiB),
  chunkBytes: Math.max(16, Math.round((envNum('BENCH_CHUNK_MIB', 8) * MiB) / 16) * 16), // CTR offsets: 16-byte aligned
  reps: Math.round(envNum('BENCH_REPS', 8)),
  manifestConcurrency: Math.round(envNum('BENCH_MANIFEST_CONCURRENCY', 64)),
  manifestSeconds: envNum('BENCH_MANIFEST_SECONDS', 2),
  manifestRounds: Math.round(envNum('BENCH_MANIFEST_ROUNDS', 10)),
  warmupSeconds: envNum('BENCH_WARMUP_SECONDS', 2),
  smallBlobs: Math.round(envNum('BENCH_SMALL_BLOBS', 1000)),
  smallBytes: Math.round(envNum('BENCH_SMALL_KIB', 4) * 1024),
  smallConcurrency: Math.round(envNum('BENCH_SMALL_CONCURRENCY', 8)),
  skopeoLayers: Math.round(envNum('BENCH_SKOPEO_LAYERS', 6)),
  skopeoLayerBytes: process.env.BENCH_SKOPEO_LAYER_MIB ? Math.round(envNum('BENCH_SKOPEO_LAYER_MIB', 8) * MiB) : 8_000_000,
  skopeoBin: process.env.SKOPEO_BIN || 'skopeo',
  workloads: (process.env.BENCH_WORKLOADS ?? WORKLOADS.filter((w) => !(storage === 's3' ? FILESYSTEM_ONLY : S3_ONLY).includes(w)).join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as Workload[],
  servers: (process.env.BENCH_SERVERS ?? 'stevedore,docker-registry').split(',').map((s) => s.trim()) as ServerKind[],
  benchDir: process.env.BENCH_DIR || tmpdir(),
  out: resultsPath(resolve(REPO_ROOT, process.env.BENCH_OUT || '.bench/results.json')),
  keepData: process.env.BENCH_KEEP_DATA === '1',
  cpuProf: process.env.BENCH_CPU_PROF === '1',
  stevedoreLogLevel: process.env.STEVEDORE_LOG_LEVEL || 'warn',
  stevedoreArgs: (process.env.STEVEDORE_ARGS ?? '').split(/\s+/).filter(Boolean),
  stevedoreNodeArgs: (process.env.STEVEDORE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  logDir: process.env.BENCH_LOG_DIR ? resolve(process.env.BENCH_LOG_DIR) : undefined,
  dockerRegistryBin: process.env.DOCKER_REGISTRY_BIN || 'docker-registry',
};

for (const w of cfg.workloads) if (!WORKLOADS.includes(w)) throw new Error(`unknown workload ${w} in BENCH_WORKLOADS`);
if (cfg.workloads.includes('pull-redirect') && storage !== 's3') throw new Error('BENCH_WORKLOADS: pull-redirect needs BENCH_STORAGE=s3');
for (const s of cfg.servers) {
  if (s !== 'stevedore' && s !== 'docker-registry') throw new Error(`unknown server ${s} in BENCH_SERVERS`);
}
if (cfg.servers.length !== 2) throw new Error('BENCH_SERVERS must name exactly two servers');

const REPO = 'bench/blobs';
const TAG = 'latest';

interface Side {
  server: RunningServer;
  client: RegistryClient;
  mon: ProcessMonitor;
  /** BENCH_STORAGE=s3: the side's bucket. */
  s3?: S3Target;
  root?: string;
}

/** The S3 server (BENCH_STORAGE=s3): its daemons' CPU is charged to the side being measured. */
let rgw: CephRgw | undefined;

function backendCpuSeconds(): number {
  return rgw ? rgw.pids().reduce((sum, pid) => sum + readCpuSeconds(pid), 0) : 0;
}

// ---------------------------------------------------------------------------------------
// Results

interface Stat {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

function stat(samples: number[]): Stat {
  return { median: median(samples), min: samples.length ? Math.min(...samples) : NaN, max: samples.length ? Math.max(...samples) : NaN, samples };
}

interface ServerFigures extends Stat {
  /** Highest RSS seen during this workload's measured operations. */
  peakRssMiB: number;
  /** Server CPU time (user+system) over all measured operations. */
  cpuSeconds: number;
  /** Wall time of all measured operations. */
  wallSeconds: number;
  /** Server CPU per unit of work: ms per MB for blobs, µs per request for manifests. */
  cpuPerUnit: number;
  /** BENCH_STORAGE=s3: CPU of the Ceph daemons per unit of work, in the same unit. */
  backendCpuPerUnit?: number;
  extra?: unknown;
}

interface WorkloadResult {
  unit: string;
  cpuPerUnitLabel: string;
  perServer: Record<string, ServerFigures>;
}

const results: Partial<Record<Workload, WorkloadResult>> = {};

/** Collects one workload's samples and resource usage per server. */
class Recorder {
  private readonly acc = new Map<string, { samples: number[]; peakKiB: number; cpu: number; backendCpu: number; wall: number; work: number }>();

  constructor(
    sides: Side[],
    private readonly unit: string,
    private readonly cpuPerUnitLabel: string,
    /** Converts CPU seconds per unit of work into the reported CPU figure. */
    private readonly cpuScale: number,
  ) {
    for (const s of sides) this.acc.set(s.server.name, { samples: [], peakKiB: 0, cpu: 0, backendCpu: 0, wall: 0, work: 0 });
  }

  /** Runs `fn` on `side` under the process monitor. `fn` returns [sample, wall seconds, work]. */
  async measure(side: Side, fn: () => Promise<[sample: number, wallSeconds: number, work: number]>): Promise<number> {
    side.mon.begin();
    const backendStart = backendCpuSeconds();
    const [sample, wall, work] = await fn();
    const usage = side.mon.end();
    const a = this.acc.get(side.server.name)!;
    a.samples.push(sample);
    a.peakKiB = Math.max(a.peakKiB, usage.peakKiB);
    a.cpu += usage.cpuSeconds;
    a.backendCpu += backendCpuSeconds() - backendStart;
    a.wall += wall;
    a.work += work;
    return sample;
  }

  result(): WorkloadResult {
    const perServer: Record<string, ServerFigures> = {};
    for (const [name, a] of this.acc) {
      perServer[name] = {
        ...stat(a.samples),
        peakRssMiB: a.peakKiB / 1024,
        cpuSeconds: a.cpu,
        wallSeconds: a.wall,
        cpuPerUnit: a.work > 0 ? (a.cpu / a.work) * this.cpuScale : NaN,
        ...(rgw ? { backendCpuPerUnit: a.work > 0 ? (a.backendCpu / a.work) * this.cpuScale : NaN } : {}),
      };
    }
    return { unit: this.unit, cpuPerUnitLabel: this.cpuPerUnitLabel, perServer };
  }
}

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** The two sides in ABBA order for repetition `rep`. */
function order(sides: Side[], rep: number): Side[] {
  return rep % 2 === 0 ? sides : [...sides].reverse();
}

// ---------------------------------------------------------------------------------------
// Workloads

async function blobPushes(sides: Side[], kind: 'monolithic' | 'chunked'): Promise<string[]> {
  const mb = cfg.blobBytes / 1e6;
  const rec = new Recorder(sides, 'MB/s', 'ms per MB', 1000);
  const digests: string[] = [];
  for (let rep = 0; rep < cfg.reps; rep++) {
    const seed = `${kind}-${rep}`;
    const digest = randomDigest(seed, cfg.blobBytes); // untimed
    digests.push(digest);
    for (const side of order(sides, rep)) {
      const rate = await rec.measure(side, async () => {
        const secs =
          kind === 'monolithic'
            ? await side.client.pushMonolithic(REPO, seed, cfg.blobBytes, digest)
            : await side.client.pushChunked(REPO, seed, cfg.blobBytes, digest, cfg.chunkBytes);
        return [mb / secs, secs, mb];
      });
      log(`${kind} push #${rep + 1} ${side.server.name}: ${rate.toFixed(1)} MB/s`);
    }
  }
  results[kind] = rec.result();
  return digests;
}

async function blobPulls(sides: Side[], digests: string[]): Promise<void> {
  const mb = cfg.blobBytes / 1e6;
  // Untimed correctness check: the first blob comes back byte for byte from both servers.
  for (const side of sides) await side.client.pullBlob(REPO, digests[0]!, cfg.blobBytes, true);
  const rec = new Recorder(sides, 'MB/s', 'ms per MB', 1000);
  for (let rep = 0; rep < cfg.reps; rep++) {
    const digest = digests[rep % digests.length]!;
    for (const side of order(sides, rep)) {
      const rate = await rec.measure(side, async () => {
        const secs = await side.client.pullBlob(REPO, digest, cfg.blobBytes);
        return [mb / secs, secs, mb];
      });
      log(`pull #${rep + 1} ${side.server.name}: ${rate.toFixed(1)} MB/s`);
    }
  }
  results.pull = rec.result();
}

/**
 * Blob pulls with S3 redirects on: a second pair of servers on the same buckets (the blobs are
 * there), each answering 307 to a presigned URL; the client follows it to the S3 endpoint. The
 * registry's CPU is the signing; the time is both requests.
 */
async function blobPullsRedirected(sides: Side[], digests: string[]): Promise<void> {
  const mb = cfg.blobBytes / 1e6;
  const storage = { origin: new URL(rgw!.endpoint).origin, pool: new Pool(rgw!.endpoint, { connections: 1, bodyTimeout: 300_000, headersTimeout: 300_000 }) };
  const redirecting: Side[] = [];
  try {
    for (const side of sides) {
      const name = side.server.name;
      const slug = `${name.replace('#', '-')}-redirect`;
      const server =
        side.server.kind === 'stevedore'
          ? await startStevedore({ name, dataDir: join(side.root!, `${slug}-data`), logLevel: cfg.stevedoreLogLevel, args: cfg.stevedoreArgs, env: stevedoreS3Env(side.s3!, true) })
          : await startDockerRegistry({
              name,
              dataDir: join(side.root!, `${slug}-data`),
              configPath: join(side.root!, `${slug}-config.yml`),
              binary: cfg.dockerRegistryBin,
              s3: side.s3,
              s3Redirect: true,
            });
      redirecting.push({ server, client: new RegistryClient(server.url), mon: new ProcessMonitor(server.pid) });
      log(`${name} with S3 redirects: pid ${server.pid} at ${server.url}`);
    }
    for (const side of redirecting) await side.client.pullBlobRedirected(REPO, digests[0]!, cfg.blobBytes, storage, true); // untimed check
    const rec = new Recorder(redirecting, 'MB/s', 'ms per MB', 1000);
    for (let rep = 0; rep < cfg.reps; rep++) {
      const digest = digests[rep % digests.length]!;
      for (const side of order(redirecting, rep)) {
        const rate = await rec.measure(side, async () => {
          const secs = await side.client.pullBlobRedirected(REPO, digest, cfg.blobBytes, storage);
          return [mb / secs, secs, mb];
        });
        log(`pull via 307 #${rep + 1} ${side.server.name}: ${rate.toFixed(1)} MB/s`);
      }
    }
    results['pull-redirect'] = rec.result();
  } finally {
    for (const s of redirecting) s.mon.close();
    await Promise.allSettled(redirecting.map((s) => s.client.close()));
    await Promise.allSettled(redirecting.map((s) => s.server.stop()));
    await storage.pool.close();
  }
}

/** 8 streams at once, one connection each (clients made once, connections kept between repetitions). */
async function parallelPulls(sides: Side[], digests: string[]): Promise<void> {
  const mb = (digests.length * cfg.blobBytes) / 1e6;
  const clients = new Map(sides.map((s) => [s.server.name, digests.map(() => new RegistryClient(s.server.url))]));
  try {
    const all = (side: Side) => Promise.all(digests.map((d, i) => clients.get(side.server.name)![i]!.pullBlob(REPO, d, cfg.blobBytes)));
    for (const side of sides) await all(side); // warm-up: connections open, page cache warm
    const rec = new Recorder(sides, 'MB/s', 'ms per MB', 1000);
    for (let rep = 0; rep < cfg.reps; rep++) {
      for (const side of order(sides, rep)) {
        const rate = await rec.measure(side, async () => {
          const t0 = performance.now();
          await all(side);
          const secs = (performance.now() - t0) / 1000;
          return [mb / secs, secs, mb];
        });
        log(`8-stream pull #${rep + 1} ${side.server.name}: ${rate.toFixed(1)} MB/s`);
      }
    }
    results.pull8 = rec.result();
  } finally {
    for (const list of clients.values()) await Promise.all(list.map((c) => c.close()));
  }
}

async function manifestGets(sides: Side[]): Promise<void> {
  const pools = new Map(sides.map((s) => [s.server.name, manifestPool(s.server.url, cfg.manifestConcurrency)]));
  const lengths = new Map<string, number>();
  for (const side of sides) lengths.set(side.server.name, (await side.client.pushImage(REPO, TAG)).length);
  const run = (side: Side, seconds: number) =>
    manifestLoad(pools.get(side.server.name)!, REPO, TAG, lengths.get(side.server.name)!, cfg.manifestConcurrency, seconds);
  // Warm-up: opens all connections, JIT-compiles the hot paths, fills caches.
  for (const side of sides) {
    const r = await run(side, cfg.warmupSeconds);
    log(`manifest warm-up ${side.server.name}: ${r.perSecond.toFixed(0)} req/s`);
  }
  const rec = new Recorder(sides, 'req/s', 'µs per request', 1e6);
  const rounds = new Map<string, LoadResult[]>(sides.map((s) => [s.server.name, []]));
  for (let round = 0; round < cfg.manifestRounds; round++) {
    for (const side of order(sides, round)) {
      await sleep(200); // let the previous side's sockets go quiet
      let r: LoadResult | undefined;
      await rec.measure(side, async () => {
        r = await run(side, cfg.manifestSeconds);
        return [r.perSecond, r.seconds, r.requests];
      });
      rounds.get(side.server.name)!.push(r!);
      log(
        `manifest GET round ${round + 1} ${side.server.name}: ${r!.perSecond.toFixed(0)} req/s, ` +
          `p50 ${r!.latencyMs.p50.toFixed(2)} ms, p99 ${r!.latencyMs.p99.toFixed(2)} ms` +
          (r!.errors ? `, ${r!.errors} errors` : ''),
      );
    }
  }
  await Promise.all([...pools.values()].map((p) => p.close()));
  const result = rec.result();
  for (const [name, rs] of rounds) {
    result.perServer[name]!.extra = {
      p50Ms: stat(rs.map((r) => r.latencyMs.p50)).median,
      p99Ms: stat(rs.map((r) => r.latencyMs.p99)).median,
      errors: rs.reduce((a, r) => a + r.errors, 0),
      rounds: rs,
    };
  }
  results.manifest = result;
}

/**
 * Many small blobs, each POST then PUT ?digest= with its bytes, `smallConcurrency` at once on as
 * many keep-alive connections: what an upload costs beyond its bytes (the requests, the commit and
 * its fsyncs). New content for every repetition (the same on both sides: each server sees it once).
 */
async function smallBlobPushes(sides: Side[]): Promise<void> {
  const n = cfg.smallBlobs;
  const pools = new Map(sides.map((s) => [s.server.name, new Pool(s.server.url, { connections: cfg.smallConcurrency, keepAliveTimeout: 60_000 })]));
  const pushOne = async (pool: Pool, blob: { data: Buffer; digest: string }) => {
    const post = await pool.request({ path: `/v2/${REPO}/blobs/uploads/`, method: 'POST' });
    const location = post.headers.location;
    await post.body.dump();
    if (post.statusCode !== 202 || typeof location !== 'string') throw new Error(`small blob POST: HTTP ${post.statusCode}`);
    const u = new URL(location, 'http://x');
    u.searchParams.set('digest', blob.digest);
    const put = await pool.request({
      path: u.pathname + u.search,
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.data.length) },
      body: blob.data,
    });
    await put.body.dump();
    if (put.statusCode !== 201) throw new Error(`small blob PUT: HTTP ${put.statusCode}`);
  };
  /** All of `blobs` through `pool`, `smallConcurrency` at a time; returns seconds. */
  const pushAll = async (pool: Pool, blobs: { data: Buffer; digest: string }[]) => {
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: cfg.smallConcurrency }, async () => {
        while (next < blobs.length) await pushOne(pool, blobs[next++]!);
      }),
    );
    return (performance.now() - t0) / 1000;
  };
  const makeBlobs = (seed: string, count: number) =>
    Array.from({ length: count }, (_, i) => {
      const data = Buffer.concat([...randomRange(`${seed}-${i}`, 0, cfg.smallBytes)]);
      return { data, digest: `sha256:${createHash('sha256').update(data).digest('hex')}` };
    });
  try {
    // Warm-up: connections open, the upload path JIT-compiled.
    const warm = makeBlobs('small-warm', Math.min(n, 200));
    for (const side of sides) await pushAll(pools.get(side.server.name)!, warm);
    const rec = new Recorder(sides, 'blobs/s', 'µs per blob', 1e6);
    for (let rep = 0; rep < cfg.reps; rep++) {
      const blobs = makeBlobs(`small-${rep}`, n); // untimed
      for (const side of order(sides, rep)) {
        const rate = await rec.measure(side, async () => {
          const secs = await pushAll(pools.get(side.server.name)!, blobs);
          return [n / secs, secs, n];
        });
        log(`small-blob push #${rep + 1} ${side.server.name}: ${rate.toFixed(0)} blobs/s`);
      }
    }
    results['small-push'] = rec.result();
  } finally {
    await Promise.all([...pools.values()].map((p) => p.close()));
  }
}

/** Runs a command to its end; resolves with its wall time in seconds. */
function runTimed(cmd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 16 << 20, timeout: 600_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr}`)) : resolve((performance.now() - t0) / 1000),
    ),
  );
}

const skopeoImageMb = () => (cfg.skopeoLayers * cfg.skopeoLayerBytes) / 1e6;
const hostOf = (side: Side) => new URL(side.server.url).host;
/** `skopeo copy` of a layout to a registry repository over plain HTTP, no credentials. */
const skopeoPush = (layout: string, side: Side, repo: string) =>
  runTimed(cfg.skopeoBin, ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', '--dest-no-creds', `oci:${layout}:v1`, `docker://${hostOf(side)}/${repo}:v1`]);

/**
 * Whole-image pushes with skopeo: a new random image per repetition (written untimed), pushed to
 * both registries into a repository of its own, so every blob is uploaded to each. Returns the
 * repository of the last image pushed (for the pulls).
 */
async function skopeoPushes(sides: Side[], root: string): Promise<string> {
  const mb = skopeoImageMb();
  const rec = new Recorder(sides, 'MB/s', 'ms per MB', 1000);
  let repo = '';
  for (let rep = -1; rep < cfg.reps; rep++) {
    const layout = join(root, `skopeo-layout-${rep}`);
    await writeRandomLayout(layout, `skopeo-${rep}`, cfg.skopeoLayers, cfg.skopeoLayerBytes);
    execFileSync('sync', ['-f', layout]); // its writeback is not the pushes' to pay
    repo = `bench/skopeo-${rep + 1}`;
    for (const side of order(sides, rep + 1)) {
      if (rep < 0) {
        await skopeoPush(layout, side, repo); // warm-up: page cache, skopeo's own start-up files
        continue;
      }
      const rate = await rec.measure(side, async () => {
        const secs = await skopeoPush(layout, side, repo);
        return [mb / secs, secs, mb];
      });
      log(`skopeo push #${rep + 1} ${side.server.name}: ${rate.toFixed(1)} MB/s`);
    }
    await rm(layout, { recursive: true, force: true });
  }
  results['skopeo-push'] = rec.result();
  return repo;
}

/** Whole-image pulls with skopeo of `repo`:v1 into a fresh OCI layout each time. */
async function skopeoPulls(sides: Side[], root: string, repo: string): Promise<void> {
  const mb = skopeoImageMb();
  const rec = new Recorder(sides, 'MB/s', 'ms per MB', 1000);
  for (let rep = -1; rep < cfg.reps; rep++) {
    for (const side of order(sides, rep + 1)) {
      const out = join(root, `skopeo-pull-${side.server.name.replace('#', '-')}`);
      const pull = () =>
        runTimed(cfg.skopeoBin, ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', '--src-no-creds', `docker://${hostOf(side)}/${repo}:v1`, `oci:${out}:v1`]);
      if (rep < 0) await pull(); // warm-up
      else {
        const rate = await rec.measure(side, async () => {
          const secs = await pull();
          return [mb / secs, secs, mb];
        });
        log(`skopeo pull #${rep + 1} ${side.server.name}: ${rate.toFixed(1)} MB/s`);
      }
      await rm(out, { recursive: true, force: true });
    }
  }
  results['skopeo-pull'] = rec.result();
}

// ---------------------------------------------------------------------------------------
// Report

interface Row {
  label: string;
  values: number[];
  digits: number;
  /** For the ratio column: true if bigger is better. */
  higherIsBetter: boolean;
  /**
   * Throughput rows: each repetition's ratio of the two sides, measured seconds apart in ABBA
   * order. The ratio column is their median (with quartiles): the machine's speed drifts through
   * a workload (the disk after GBs of writes, other tenants), and a pair shares its moment where
   * the two sides' medians may come from different ones.
   */
  pairs?: number[];
}

function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
}

function sizeLabel(bytes: number): string {
  return bytes % MiB === 0 ? `${bytes / MiB} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

function buildRows(sides: Side[]): Row[] {
  const names = sides.map((s) => s.server.name);
  const blobMiB = cfg.blobBytes / MiB;
  const rows: Row[] = [];
  const titles: Record<Workload, string> = {
    monolithic: 'monolithic push',
    chunked: 'chunked push',
    pull: 'blob pull',
    'pull-redirect': 'blob pull via 307 to S3',
    pull8: '8-stream blob pull',
    manifest: 'manifest GET',
    'small-push': 'small-blob push',
    'skopeo-push': 'skopeo image push',
    'skopeo-pull': 'skopeo image pull',
  };
  const labels: Record<Workload, string> = {
    monolithic: `monolithic push, ${blobMiB} MiB blob (MB/s)`,
    chunked: `chunked push, ${blobMiB} MiB in ${sizeLabel(cfg.chunkBytes)} PATCHes (MB/s)`,
    pull: `blob pull, ${blobMiB} MiB (MB/s)`,
    'pull-redirect': `blob pull via 307 to a presigned S3 URL, ${blobMiB} MiB (MB/s)`,
    pull8: `blob pull, 8 streams of ${blobMiB} MiB at once (MB/s)`,
    manifest: `manifest GET, ${cfg.manifestConcurrency} connections (req/s)`,
    'small-push': `small-blob push, ${cfg.smallBlobs} × ${sizeLabel(cfg.smallBytes)}, ${cfg.smallConcurrency} at once (blobs/s)`,
    'skopeo-push': `skopeo copy layout → registry, ${skopeoImageMb().toFixed(0)} MB image (MB/s)`,
    'skopeo-pull': `skopeo copy registry → layout, ${skopeoImageMb().toFixed(0)} MB image (MB/s)`,
  };
  const present = WORKLOADS.filter((w) => results[w]);
  for (const w of present) {
    const r = results[w]!;
    const [a, b] = names.map((n) => r.perServer[n]!.samples);
    const pairs = a && b && a.length === b.length && a.length >= 3 ? a.map((x, i) => x / b[i]!) : undefined;
    rows.push({ label: labels[w], values: names.map((n) => r.perServer[n]!.median), digits: w === 'manifest' ? 0 : 1, higherIsBetter: true, pairs });
    if (w === 'manifest') {
      const ex = (n: string) => r.perServer[n]!.extra as { p50Ms: number; p99Ms: number };
      rows.push({ label: 'manifest GET latency p50 (ms)', values: names.map((n) => ex(n).p50Ms), digits: 2, higherIsBetter: false });
      rows.push({ label: 'manifest GET latency p99 (ms)', values: names.map((n) => ex(n).p99Ms), digits: 2, higherIsBetter: false });
    }
  }
  for (const w of present) {
    const r = results[w]!;
    rows.push({
      label: `server CPU, ${titles[w]} (${r.cpuPerUnitLabel})`,
      values: names.map((n) => r.perServer[n]!.cpuPerUnit),
      digits: w === 'manifest' || w === 'small-push' ? 0 : 2,
      higherIsBetter: false,
    });
  }
  if (cfg.storage === 's3') {
    for (const w of present) {
      const r = results[w]!;
      rows.push({
        label: `Ceph RGW+OSD CPU, ${titles[w]} (${r.cpuPerUnitLabel})`,
        values: names.map((n) => r.perServer[n]!.backendCpuPerUnit ?? NaN),
        digits: w === 'manifest' ? 0 : 2,
        higherIsBetter: false,
      });
    }
  }
  for (const w of present) {
    const r = results[w]!;
    rows.push({ label: `peak RSS, ${titles[w]} (MiB)`, values: names.map((n) => r.perServer[n]!.peakRssMiB), digits: 0, higherIsBetter: false });
  }
  rows.push({ label: 'RSS idle, at start (MiB)', values: sides.map((s) => s.mon.startKiB / 1024), digits: 0, higherIsBetter: false });
  rows.push({ label: 'peak RSS, whole run (MiB)', values: sides.map((s) => s.mon.overallPeakKiB / 1024), digits: 0, higherIsBetter: false });
  return rows;
}

/** The row's ratio of the first side to the second: the median of its pairs, else of its medians. */
function ratioValue(row: Row): number {
  if (row.pairs) return quartiles(row.pairs).median;
  const [a, b] = row.values;
  return a === undefined || b === undefined || b === 0 ? NaN : a / b;
}

function ratio(row: Row): string {
  const r = ratioValue(row);
  if (!Number.isFinite(r)) return 'n/a';
  if (!row.pairs) return `${r.toFixed(2)}×`;
  const { q1, q3 } = quartiles(row.pairs);
  return `${r.toFixed(2)}× [${q1.toFixed(2)}, ${q3.toFixed(2)}]`;
}

/** Which server the row favours, or ≈ when they are within 5% of each other. */
function favours(row: Row, names: string[]): string {
  const r = ratioValue(row);
  if (!Number.isFinite(r) || r <= 0) return '';
  if (Math.max(r, 1 / r) < 1.05) return '≈';
  return r > 1 === row.higherIsBetter ? names[0]! : names[1]!;
}

function textTable(headers: string[], body: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function markdownTable(headers: string[], body: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), `|${headers.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...body.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------

function toolVersion(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const t0 = Date.now();
  await mkdir(cfg.benchDir, { recursive: true });
  const root = await mkdtemp(join(cfg.benchDir, 'stevedore-bench-'));
  const sides: Side[] = [];
  const profDir = join(REPO_ROOT, '.bench', 'profiles');
  let exitCode = 0;
  const cleanup = async () => {
    for (const s of sides) s.mon.close();
    await Promise.allSettled(sides.map((s) => s.client.close()));
    await Promise.allSettled(sides.map((s) => s.server.stop()));
    await rgw?.stop().catch(() => undefined);
    if (!cfg.keepData) await rm(root, { recursive: true, force: true });
  };
  const onSignal = () => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Never leave servers behind, whatever ends this process (e.g. EPIPE when piped into `head`).
  process.on('exit', () => {
    for (const s of sides) if (s.server.child.exitCode === null && s.server.child.signalCode === null) s.server.child.kill('SIGKILL');
  });
  process.stdout.on('error', () => undefined);
  if (cfg.logDir) {
    await mkdir(cfg.logDir, { recursive: true });
    setServerLogDir(cfg.logDir);
  }
  try {
    if (cfg.storage === 's3') {
      const t = Date.now();
      // bluestore: a sparse file of this size under BENCH_DIR; memstore: a bound on RAM use.
      rgw = await startCephRgw({ store: cfg.s3Store, storeBytes: (cfg.s3Store === 'bluestore' ? 32 : 8) * 1024 * MiB, baseDir: root, startTimeoutMs: 180_000 });
      log(`Ceph RGW (${cfg.s3Store}) at ${rgw.endpoint}, started in ${((Date.now() - t) / 1000).toFixed(1)} s; daemons ${rgw.pids().join(', ')}`);
    }
    const dupes = cfg.servers[0] === cfg.servers[1];
    for (const [i, kind] of cfg.servers.entries()) {
      const name = dupes ? `${kind}#${i + 1}` : kind;
      const slug = name.replace('#', '-');
      const dataDir = join(root, `${slug}-data`);
      let s3: S3Target | undefined;
      if (rgw) {
        const bucket = await rgw.createBucket(`bench-${slug}`);
        s3 = { endpoint: rgw.endpoint, region: rgw.region, bucket, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey };
      }
      const server =
        kind === 'stevedore'
          ? await startStevedore({
              name,
              dataDir,
              logLevel: cfg.stevedoreLogLevel,
              args: cfg.stevedoreArgs,
              nodeArgs: [...(cfg.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), ...cfg.stevedoreNodeArgs],
              env: s3 ? stevedoreS3Env(s3) : undefined,
            })
          : await startDockerRegistry({
              name,
              dataDir,
              configPath: join(root, `${slug}-config.yml`),
              binary: cfg.dockerRegistryBin,
              s3,
            });
      sides.push({ server, client: new RegistryClient(server.url), mon: new ProcessMonitor(server.pid), s3, root });
      log(`${name} pid ${server.pid} at ${server.url}, ${s3 ? `bucket ${s3.bucket}` : `data in ${dataDir}`}`);
    }
    await sleep(300);
    // Re-read the idle baseline once both are up and settled.
    for (const s of sides) s.mon.markIdle();

    let digests: string[] = [];
    if (cfg.workloads.includes('monolithic')) digests = await blobPushes(sides, 'monolithic');
    if (cfg.workloads.includes('chunked')) {
      const d = await blobPushes(sides, 'chunked');
      if (digests.length === 0) digests = d;
    }
    if (cfg.workloads.includes('pull') || cfg.workloads.includes('pull-redirect')) {
      if (digests.length === 0) digests = await seedBlobs(sides);
      if (cfg.workloads.includes('pull')) await blobPulls(sides, digests);
      if (cfg.workloads.includes('pull-redirect')) await blobPullsRedirected(sides, digests);
    }
    if (cfg.workloads.includes('pull8')) {
      // 8 different blobs: the ones pushed so far, more seeded (untimed) when there are fewer.
      while (digests.length < 8) digests.push(...(await seedBlobs(sides, `pull8-${digests.length}`, 8 - digests.length)));
      await parallelPulls(sides, digests.slice(0, 8));
    }
    if (cfg.workloads.includes('manifest')) await manifestGets(sides);
    if (cfg.workloads.includes('small-push')) await smallBlobPushes(sides);
    if (cfg.workloads.includes('skopeo-push') || cfg.workloads.includes('skopeo-pull')) {
      let repo: string;
      if (cfg.workloads.includes('skopeo-push')) repo = await skopeoPushes(sides, root);
      else {
        // The image to pull, pushed untimed.
        repo = 'bench/skopeo-seed';
        const layout = join(root, 'skopeo-layout-seed');
        await writeRandomLayout(layout, 'skopeo-seed', cfg.skopeoLayers, cfg.skopeoLayerBytes);
        for (const side of sides) await skopeoPush(layout, side, repo);
        await rm(layout, { recursive: true, force: true });
      }
      if (cfg.workloads.includes('skopeo-pull')) await skopeoPulls(sides, root, repo);
    }
    await sleep(200);
    for (const s of sides) s.mon.close();

    const names = sides.map((s) => s.server.name);
    const rows = buildRows(sides);
    const headers = ['', ...names, `ratio ${names[0]}/${names[1]}`, 'better'];
    const body = rows.map((r) => [r.label, ...r.values.map((v) => fmt(v, r.digits)), ratio(r), favours(r, names)]);
    const elapsed = (Date.now() - t0) / 1000;
    const drVersion = toolVersion(cfg.dockerRegistryBin, ['--version']);
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
    const storageLine =
      cfg.storage === 's3'
        ? `storage: S3, Ceph ${/\d+\.\d+\.\d+/.exec(toolVersion('ceph', ['--version']))?.[0] ?? '(unknown version)'} RGW (single node, ${cfg.s3Store}) on loopback, ` +
          `one bucket per registry, ${S3_CHUNK_BYTES / MiB} MiB parts, blob GETs streamed` +
          (cfg.workloads.includes('pull-redirect') ? ' (and, in the 307 row, redirected to presigned URLs)' : ' (no redirects)')
        : 'storage: filesystem, one directory per registry on the same filesystem';
    const setup =
      `${cfg.reps} repetitions (median), ${cfg.manifestRounds}×${cfg.manifestSeconds} s manifest rounds; ` +
      `Node ${process.version}, ${drVersion}, ${cpus().length}× ${cpuModel}, Linux ${release()}; ${storageLine}`;

    process.stdout.write(`\nStevedore ${pkg.version} benchmark, ${cfg.storage} storage (${elapsed.toFixed(0)} s)\n${setup}\n\n`);
    process.stdout.write(textTable(headers, body) + '\n');
    process.stdout.write(
      `\nMB/s = 10^6 bytes/s. Throughput ratios above 1× favour ${names[0]}; for latency, CPU and RSS ` +
        `rows, ratios below 1× do ("better": ≈ means within 5%). A throughput row's ratio is the median of ` +
        `the ${cfg.reps} repetitions' ratios (each repetition measures both sides, one right after the other), ` +
        `with their quartiles in brackets; the other rows divide the two columns.\n`,
    );

    const md = `${markdownTable(headers, body)}\n\n${setup}.\n`;
    const json = {
      date: new Date().toISOString(),
      elapsedSeconds: elapsed,
      machine: { hostname: hostname(), cpus: cpus().length, cpuModel, kernel: release(), node: process.version },
      versions: { stevedore: pkg.version, dockerRegistry: drVersion },
      config: cfg,
      servers: sides.map((s) => ({
        name: s.server.name,
        kind: s.server.kind,
        url: s.server.url,
        rssStartMiB: s.mon.startKiB / 1024,
        rssPeakMiB: s.mon.overallPeakKiB / 1024,
      })),
      results,
      table: rows.map((r) => ({
        label: r.label,
        values: Object.fromEntries(names.map((n, i) => [n, r.values[i]])),
        ratio: ratio(r),
        ...(r.pairs ? { pairRatios: r.pairs } : {}),
        better: favours(r, names),
      })),
    };
    await mkdir(dirname(cfg.out), { recursive: true });
    await writeFile(cfg.out, JSON.stringify(json, null, 2) + '\n');
    await writeFile(cfg.out.replace(/\.json$/, '') + '.md', md);
    process.stdout.write(`\nWrote ${cfg.out} (and ${cfg.out.replace(/\.json$/, '')}.md)\n`);
  } catch (err) {
    exitCode = 1;
    process.stderr.write(`[bench] FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    for (const s of sides) {
      process.stderr.write(`[bench] last log lines of ${s.server.name}:\n${s.server.logs.slice(-20).join('\n')}\n`);
    }
  } finally {
    await cleanup();
    if (cfg.cpuProf) log(`CPU profiles (if the server exited cleanly) are in ${profDir}`);
  }
  process.exit(exitCode);
}

/** When only `pull` is selected: push the blobs to pull, untimed. */
async function seedBlobs(sides: Side[], prefix = 'pull', count = cfg.reps): Promise<string[]> {
  const digests: string[] = [];
  for (let rep = 0; rep < count; rep++) {
    const seed = `${prefix}-${rep}`;
    const digest = randomDigest(seed, cfg.blobBytes);
    digests.push(digest);
    for (const side of sides) await side.client.pushMonolithic(REPO, seed, cfg.blobBytes, digest);
  }
  return digests;
}

await main();
