// Cold `stevedore pull` into the engine's store (download + unpack of every layer into its
// snapshot) against `skopeo copy docker://… oci:DIR` followed by `umoci unpack` (the same image,
// from the same Stevedore registry on loopback), alternating which goes first, median of
// BENCH_ENGINE_REPS. The image is BENCH_ENGINE_LAYERS gzip layers making BENCH_ENGINE_MIB MiB
// uncompressed: in each layer half the bytes are many small text files (compressible, metadata
// heavy), half a few larger random files. Stevedore syncs each snapshot (syncfs) before it
// commits it; umoci does not sync, so its time includes a `sync -f` of the bundle, for the same
// durability (BENCH_ENGINE_SYNC=0 leaves that out).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { Client } from '../client/index.js';
import { digestOf, MediaType } from '../oci/index.js';
import { CLI, startStevedore } from './servers.js';
import { median } from './stats.js';

const MiB = 1024 * 1024;
const num = (name: string, def: number) => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const layers = Math.round(num('BENCH_ENGINE_LAYERS', 5));
const totalBytes = Math.round(num('BENCH_ENGINE_MIB', 100) * MiB);
const reps = Math.round(num('BENCH_ENGINE_REPS', 3));

function run(cmd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 16 << 20, timeout: 900_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr}`)) : resolve((performance.now() - t0) / 1000),
    ),
  );
}

async function layerTar(i: number, bytes: number): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((r) => p.on('end', () => r()));
  const entry = (h: Parameters<typeof p.entry>[0], body: Buffer = Buffer.alloc(0)) => new Promise<void>((res, rej) => p.entry(h, body, (err) => (err ? rej(err) : res())));
  const mtime = new Date(1_700_000_000_000);
  await entry({ name: `layer${i}/`, type: 'directory', mode: 0o755, mtime });
  // Half: small text files (8 KiB, compressible), 32 per directory.
  const small = 8 * 1024;
  const text = Buffer.from(`line of a configuration or source file in layer ${i}\n`.repeat(small / 48 + 1)).subarray(0, small);
  const smallCount = Math.floor(bytes / 2 / small);
  for (let f = 0; f < smallCount; f++) {
    if (f % 32 === 0) await entry({ name: `layer${i}/d${f / 32}/`, type: 'directory', mode: 0o755, mtime });
    await entry({ name: `layer${i}/d${Math.floor(f / 32)}/f${f}.txt`, mode: 0o644, mtime }, text);
  }
  // Half: four random files.
  const big = Math.floor(bytes / 2 / 4);
  for (let f = 0; f < 4; f++) await entry({ name: `layer${i}/blob${f}.bin`, mode: 0o644, mtime }, randomBytes(big));
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export async function enginePullBench(): Promise<{ stevedore: number; umoci: number; mb: number }> {
  const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'bench-engine-'));
  const server = await startStevedore({ dataDir: join(dir, 'registry') });
  try {
    const host = new URL(server.url).host;
    const repo = 'bench/engine';
    const client = new Client();
    const rc = client.registryClient(host);
    const layerDescs = [];
    const diffIds = [];
    let uncompressed = 0;
    for (let i = 0; i < layers; i++) {
      const tar = await layerTar(i, Math.floor(totalBytes / layers));
      uncompressed += tar.length;
      const gz = gzipSync(tar, { level: 6 });
      const desc = { mediaType: MediaType.OciLayerGzip, digest: digestOf(gz), size: gz.length };
      await rc.uploadBlob(repo, desc, { open: async (offset) => Readable.from([gz.subarray(offset)]) });
      layerDescs.push(desc);
      diffIds.push(digestOf(tar));
    }
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } }));
    const configDesc = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length };
    await rc.uploadBlob(repo, configDesc, { open: async (offset) => Readable.from([config.subarray(offset)]) });
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: layerDescs }));
    await rc.putManifest(repo, 'v1', { mediaType: MediaType.OciManifest, bytes: manifest });
    await client.close();
    const compressed = layerDescs.reduce((n, l) => n + l.size, 0);
    process.stderr.write(`[bench] engine image: ${layers} layers, ${(uncompressed / 1e6).toFixed(1)} MB uncompressed, ${(compressed / 1e6).toFixed(1)} MB gzip\n`);

    const times = { stevedore: [] as number[], umoci: [] as number[] };
    const tools = {
      stevedore: (out: string) => run(process.execPath, [CLI, '--root', out, 'pull', '-q', `${host}/${repo}:v1`]),
      umoci: async (out: string) =>
        (await mkdir(out).then(() => 0)) +
        (await run('skopeo', ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', '--src-no-creds', `docker://${host}/${repo}:v1`, `oci:${out}/layout:v1`])) +
        (await run('umoci', ['unpack', '--image', `${out}/layout:v1`, `${out}/bundle`])) +
        (process.env.BENCH_ENGINE_SYNC === '0' ? 0 : await run('sync', ['-f', out])),
    };
    for (let rep = 0; rep < reps; rep++) {
      const order = rep % 2 === 0 ? (['stevedore', 'umoci'] as const) : (['umoci', 'stevedore'] as const);
      for (const tool of order) {
        const out = join(dir, `${tool}-${rep}`);
        const secs = await tools[tool](out);
        times[tool].push(secs);
        process.stderr.write(`[bench] engine pull #${rep + 1} ${tool === 'umoci' ? 'skopeo+umoci' : tool}: ${secs.toFixed(2)} s\n`);
        await rm(out, { recursive: true, force: true });
      }
    }
    return { stevedore: median(times.stevedore), umoci: median(times.umoci), mb: uncompressed / 1e6 };
  } finally {
    await server.stop();
    if (!process.env.BENCH_KEEP_DATA) await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await enginePullBench();
  const line = (n: string, s: number) => `${n.padEnd(14)} ${s.toFixed(2).padStart(7)} s  ${(r.mb / s).toFixed(1).padStart(7)} MB/s`;
  process.stdout.write(
    `\nCold pull + unpack: ${layers} gzip layers, ${r.mb.toFixed(1)} MB uncompressed, median of ${reps}\n` +
      `${line('stevedore pull', r.stevedore)}\n${line('skopeo+umoci', r.umoci)}\n` +
      `ratio (skopeo+umoci time / stevedore time): ${(r.umoci / r.stevedore).toFixed(2)}x (above 1 = stevedore faster)\n`,
  );
}
