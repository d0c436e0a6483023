// The client commands against skopeo, as whole commands (start-up counts), on the same image
// (BENCH_PULL_LAYERS layers of 8 MB, 48 MB in all by default, as measured in the issue on speed
// and footprint; BENCH_PULL_LAYER_MIB sets another size; incompressible) and the same Stevedore
// registry on loopback, alternating which tool goes first, medians of BENCH_PULL_REPS:
//   pull  `stevedore pull IMAGE --output oci:DIR` against `skopeo copy docker://IMAGE oci:DIR`,
//         each into a fresh layout directory on the same filesystem. Stevedore fsyncs every blob
//         and index.json before it reports success; skopeo's OCI layout writer does not fsync, so
//         skopeo's time includes a `sync -f` of its output directory: both are compared at the
//         same durability (BENCH_PULL_SKOPEO_SYNC=0 leaves that out).
//   push  `stevedore push oci:DIR IMAGE` against `skopeo copy oci:DIR docker://IMAGE`: each run
//         pushes an image of its own (same shape, new random layers, written as a layout before
//         the run, untimed) into a repository of its own, so every blob is uploaded: skopeo
//         remembers where it saw a blob (its blob-info cache) and would mount an image it pushed
//         or pulled before instead of uploading it. The registry fsyncs for both alike.
// BENCH_CLIENT_WORKLOADS=pull (or push) runs one of the two (default both).
// Each row also gives the client's CPU time (user + system, from the kernel's accounting of
// reaped children), steadier than wall time on a shared machine.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeRandomLayout as writeLayout } from './oci-layout.js';
import { RegistryClient } from './ops.js';
import { randomDigest } from './random.js';
import { CLI, startStevedore } from './servers.js';
import { median } from './stats.js';

const MiB = 1024 * 1024;
const num = (name: string, def: number) => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const layers = Math.round(num('BENCH_PULL_LAYERS', 6));
const layerBytes = process.env.BENCH_PULL_LAYER_MIB === undefined ? 8_000_000 : Math.round(num('BENCH_PULL_LAYER_MIB', 8) * MiB);
const reps = Math.round(num('BENCH_PULL_REPS', 5));

/** CPU time (ms) of this process's reaped children, user + system. */
function childrenCpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // cutime, cstime in clock ticks (USER_HZ 100)
}

interface Timing {
  secs: number;
  cpuMs: number;
}

/** Runs a command alone (nothing else is spawned meanwhile, so the children's CPU time is its). */
function run(cmd: string, args: string[]): Promise<Timing> {
  const t0 = performance.now();
  const c0 = childrenCpuMs();
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 16 << 20, timeout: 600_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr}`)) : resolve({ secs: (performance.now() - t0) / 1000, cpuMs: childrenCpuMs() - c0 }),
    ),
  );
}

const plus = (a: Timing, b: Timing): Timing => ({ secs: a.secs + b.secs, cpuMs: a.cpuMs + b.cpuMs });

const ALL_WORKLOADS = ['pull', 'push'] as const;
type Workload = (typeof ALL_WORKLOADS)[number];
const WORKLOADS: Workload[] = (process.env.BENCH_CLIENT_WORKLOADS ?? ALL_WORKLOADS.join(','))
  .split(',')
  .map((w) => w.trim())
  .filter((w): w is Workload => {
    if ((ALL_WORKLOADS as readonly string[]).includes(w)) return true;
    throw new Error(`BENCH_CLIENT_WORKLOADS: unknown workload ${w} (pull, push)`);
  });
const TOOLS = ['stevedore', 'skopeo'] as const;
type Tool = (typeof TOOLS)[number];

export interface ClientBenchResult {
  /** Medians per workload run (BENCH_CLIENT_WORKLOADS) and tool: wall seconds and the client's CPU milliseconds. */
  results: Partial<Record<Workload, Record<Tool, Timing>>>;
  mb: number;
}

export async function clientPullBench(): Promise<ClientBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-pull-'));
  const server = await startStevedore({ dataDir: join(dir, 'registry') });
  try {
    const host = new URL(server.url).host;
    const client = new RegistryClient(server.url);
    const repo = 'bench/image';
    const layerDescs = [];
    for (let i = 0; i < layers; i++) {
      const seed = `pull-layer-${i}`;
      const digest = randomDigest(seed, layerBytes);
      await client.pushMonolithic(repo, seed, layerBytes, digest);
      layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: layerBytes });
    }
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layerDescs.map((l) => l.digest) } }));
    const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    const up = await fetch(`${server.url}/v2/${repo}/blobs/uploads/?digest=${configDigest}`, { method: 'POST', body: config });
    if (up.status !== 201) throw new Error(`config upload: HTTP ${up.status}`);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: layerDescs,
    });
    const put = await fetch(`${server.url}/v2/${repo}/manifests/v1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: manifest,
    });
    if (put.status !== 201) throw new Error(`manifest PUT: HTTP ${put.status}`);

    // The layouts pushed from: a new image for every run (untimed).
    const layoutFor = async (name: string) => {
      const layout = join(dir, `layout-${name}`);
      await writeRandomLayout(layout, `push-${name}`);
      return layout;
    };

    const skopeoSync = process.env.BENCH_PULL_SKOPEO_SYNC !== '0';
    const workloads: Record<Workload, Record<Tool, (rep: number, out: string) => Promise<Timing>>> = {
      pull: {
        stevedore: (_rep, out) => run(process.execPath, [CLI, 'pull', '-q', `${host}/${repo}:v1`, '--output', `oci:${out}:v1`]),
        skopeo: async (_rep, out) => {
          const t = await run('skopeo', ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', '--src-no-creds', `docker://${host}/${repo}:v1`, `oci:${out}:v1`]);
          return skopeoSync ? plus(t, await run('sync', ['-f', out])) : t;
        },
      },
      push: {
        stevedore: async (rep) => {
          const layout = await layoutFor(`stevedore-${rep}`);
          const t = await run(process.execPath, [CLI, 'push', '-q', `oci:${layout}:v1`, `${host}/bench/push-stevedore-${rep}:v1`]);
          await rm(layout, { recursive: true, force: true });
          return t;
        },
        skopeo: async (rep) => {
          const layout = await layoutFor(`skopeo-${rep}`);
          const t = await run('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', '--dest-no-creds', `oci:${layout}:v1`, `docker://${host}/bench/push-skopeo-${rep}:v1`]);
          await rm(layout, { recursive: true, force: true });
          return t;
        },
      },
    };
    const results = {} as Record<Workload, Record<Tool, Timing[]>>;
    for (const w of WORKLOADS) {
      results[w] = { stevedore: [], skopeo: [] };
      // A warm-up of each (page cache, Node's compile cache), not counted.
      for (const tool of TOOLS) {
        const out = join(dir, `warm-${w}-${tool}`);
        await workloads[w][tool](100 + TOOLS.indexOf(tool), out);
        await rm(out, { recursive: true, force: true });
      }
      for (let rep = 0; rep < reps; rep++) {
        const order = rep % 2 === 0 ? TOOLS : ([...TOOLS].reverse() as Tool[]);
        for (const tool of order) {
          const out = join(dir, `${tool}-${rep}`);
          const t = await workloads[w][tool](rep, out);
          results[w][tool].push(t);
          process.stderr.write(`[bench] image ${w} #${rep + 1} ${tool}: ${t.secs.toFixed(2)} s, ${t.cpuMs.toFixed(0)} ms CPU\n`);
          await rm(out, { recursive: true, force: true });
        }
      }
    }
    const summary = (ts: Timing[]) => ({ secs: median(ts.map((t) => t.secs)), cpuMs: median(ts.map((t) => t.cpuMs)) });
    const out = {} as ClientBenchResult['results'];
    for (const w of WORKLOADS) out[w] = { stevedore: summary(results[w].stevedore), skopeo: summary(results[w].skopeo) };
    return { results: out, mb: (layers * layerBytes + config.length + manifest.length) / 1e6 };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** An OCI layout holding one image of the benchmark's shape, its layers random from `seed`. */
function writeRandomLayout(dir: string, seed: string): Promise<void> {
  return writeLayout(dir, seed, layers, layerBytes);
}

function loadAverage(): string {
  return execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const loadBefore = loadAverage();
  const r = await clientPullBench();
  const lines = [
    `\nClient commands against skopeo: ${layers} layers x ${(layerBytes / 1e6).toFixed(1)} MB (${r.mb.toFixed(1)} MB), medians of ${reps}, load average ${loadBefore} at the start, ${loadAverage()} at the end`,
    '| workload | stevedore s | skopeo s | stevedore / skopeo time (goal ≤ 0.8) | stevedore CPU ms | skopeo CPU ms |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const w of WORKLOADS) {
    const { stevedore, skopeo } = r.results[w]!;
    const ratio = stevedore.secs / skopeo.secs;
    lines.push(`| ${w} | ${stevedore.secs.toFixed(3)} | ${skopeo.secs.toFixed(3)} | ${ratio.toFixed(2)} ${ratio <= 0.8 ? 'met' : 'not met'} | ${stevedore.cpuMs.toFixed(0)} | ${skopeo.cpuMs.toFixed(0)} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
