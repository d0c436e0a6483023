// `stevedore pull --output oci:DIR` against `skopeo copy docker://… oci:DIR`: the same multi-layer
// image (BENCH_PULL_LAYERS layers of BENCH_PULL_LAYER_MIB MiB, incompressible) from the same
// Stevedore registry on loopback, alternating which tool goes first, median of BENCH_PULL_REPS.
// Each run writes into a fresh layout directory on the same filesystem. Stevedore fsyncs every
// blob and index.json before it reports success; skopeo's OCI layout writer does not fsync, so
// skopeo's time includes a `sync -f` of its output directory: both are compared at the same
// durability (BENCH_PULL_SKOPEO_SYNC=0 leaves that out).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient } from './ops.js';
import { randomDigest } from './random.js';
import { CLI, startStevedore } from './servers.js';

const MiB = 1024 * 1024;
const num = (name: string, def: number) => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const layers = Math.round(num('BENCH_PULL_LAYERS', 6));
const layerBytes = Math.round(num('BENCH_PULL_LAYER_MIB', 20) * MiB);
const reps = Math.round(num('BENCH_PULL_REPS', 5));

function run(cmd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 16 << 20, timeout: 600_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr}`)) : resolve((performance.now() - t0) / 1000),
    ),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export async function clientPullBench(): Promise<{ stevedore: number; skopeo: number; mb: number }> {
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

    const times = { stevedore: [] as number[], skopeo: [] as number[] };
    const tools = {
      stevedore: (out: string) => run(process.execPath, [CLI, 'pull', '-q', `${host}/${repo}:v1`, '--output', `oci:${out}:v1`]),
      skopeo: async (out: string) =>
        (await run('skopeo', ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', '--src-no-creds', `docker://${host}/${repo}:v1`, `oci:${out}:v1`])) +
        (process.env.BENCH_PULL_SKOPEO_SYNC === '0' ? 0 : await run('sync', ['-f', out])),
    };
    for (let rep = 0; rep < reps; rep++) {
      const order = rep % 2 === 0 ? (['stevedore', 'skopeo'] as const) : (['skopeo', 'stevedore'] as const);
      for (const tool of order) {
        const out = join(dir, `${tool}-${rep}`);
        const secs = await tools[tool](out);
        times[tool].push(secs);
        process.stderr.write(`[bench] image pull #${rep + 1} ${tool}: ${secs.toFixed(2)} s\n`);
        await rm(out, { recursive: true, force: true });
      }
    }
    return { stevedore: median(times.stevedore), skopeo: median(times.skopeo), mb: (layers * layerBytes + config.length + manifest.length) / 1e6 };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await clientPullBench();
  const line = (n: string, s: number) => `${n.padEnd(10)} ${s.toFixed(2).padStart(7)} s  ${(r.mb / s).toFixed(1).padStart(7)} MB/s`;
  process.stdout.write(
    `\nImage pull into an OCI layout: ${layers} layers x ${layerBytes / MiB} MiB (${r.mb.toFixed(1)} MB), median of ${reps}\n` +
      `${line('stevedore', r.stevedore)}\n${line('skopeo', r.skopeo)}\n` +
      `ratio (skopeo time / stevedore time): ${(r.skopeo / r.stevedore).toFixed(2)}x (above 1 = stevedore faster)\n`,
  );
}
