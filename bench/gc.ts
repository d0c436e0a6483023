// Garbage collection benchmark: `stevedore gc` (online) against `docker-registry garbage-collect`
// (CNCF distribution, offline) over the same content, on the filesystem, in one run.
//
// The content is generated once (seeded): BENCH_GC_REPOS repositories with BENCH_GC_IMAGES image
// manifests in all, each with a config and 2 layers (a third of the layers shared with the previous
// image of the repository). Half the manifests are tagged; the other half are untagged, and half
// of their layers are used by nothing else; a further BENCH_GC_ORPHANS blobs are linked and
// referenced by nothing. It is written into each registry's own layout (Stevedore:
// storage/layout.ts; distribution: docker/registry/v2/… with digest link files), in a fresh copy
// for every measured run, since a run deletes. Both tools run as a fresh process (start-up
// included) with the same content, alternating which goes first; the time is wall-clock:
//   default          keep untagged manifests (distribution's default; Stevedore gc.deleteUntagged false)
//   delete-untagged  distribution's --delete-untagged, Stevedore's --delete-untagged
// The objects left are compared, so both tools are seen to delete the same blobs.
//
//   BENCH_GC_IMAGES=2000  BENCH_GC_REPOS=20  BENCH_GC_ORPHANS=1000  BENCH_GC_REPS=3
//   BENCH_DIR (default: the OS temp dir)     DOCKER_REGISTRY_BIN (default docker-registry)
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CLI } from './servers.js';
import { MediaType, type Digest } from '../oci/index.js';
import { layout } from '../storage/layout.js';
import { median } from './stats.js';

const run = promisify(execFile);
const env = (k: string, d: number) => Number(process.env[k] ?? d);
const IMAGES = env('BENCH_GC_IMAGES', 2000);
const REPOS = env('BENCH_GC_REPOS', 20);
const ORPHANS = env('BENCH_GC_ORPHANS', 1000);
const REPS = env('BENCH_GC_REPS', 3);
const DOCKER_REGISTRY = process.env.DOCKER_REGISTRY_BIN ?? 'docker-registry';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Blob {
  hex: string;
  data: Buffer;
}
interface Repo {
  name: string;
  links: Set<string>;
  manifests: { hex: string; data: Buffer; tag?: string }[];
}

function generate(): { blobs: Map<string, Blob>; repos: Repo[] } {
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const blobs = new Map<string, Blob>();
  const newBlob = (label: string): Blob => {
    const data = Buffer.from(`${label} ${rnd()} ${'x'.repeat(64 + Math.floor(rnd() * 512))}`);
    const b = { hex: sha(data), data };
    blobs.set(b.hex, b);
    return b;
  };
  const repos: Repo[] = Array.from({ length: REPOS }, (_, i) => ({ name: `bench/repo-${i}`, links: new Set(), manifests: [] }));
  for (let i = 0; i < IMAGES; i++) {
    const repo = repos[i % REPOS]!;
    const prev = repo.manifests.length ? JSON.parse(repo.manifests.at(-1)!.data.toString()) as { layers: { digest: string }[] } : undefined;
    const cfg = newBlob(`config ${i}`);
    const layers = [rnd() < 0.33 && prev ? blobs.get(prev.layers[0]!.digest.slice(7))! : newBlob(`layer ${i}a`), newBlob(`layer ${i}b`)];
    const doc = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${cfg.hex}`, size: cfg.data.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${l.hex}`, size: l.data.length })),
    };
    const data = Buffer.from(JSON.stringify(doc));
    const m = { hex: sha(data), data, tag: Math.floor(i / REPOS) % 2 === 0 ? `t${i}` : undefined };
    blobs.set(m.hex, { hex: m.hex, data });
    repo.manifests.push(m);
    for (const b of [cfg, ...layers]) repo.links.add(b.hex);
  }
  for (let i = 0; i < ORPHANS; i++) repos[i % REPOS]!.links.add(newBlob(`orphan ${i}`).hex);
  return { blobs, repos };
}

async function put(path: string, data: Buffer | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}

async function writeAll(items: [string, Buffer | string][]): Promise<void> {
  for (let i = 0; i < items.length; i += 64) await Promise.all(items.slice(i, i + 64).map(([p, d]) => put(p, d)));
}

async function writeStevedore(root: string, c: ReturnType<typeof generate>): Promise<void> {
  const items: [string, Buffer | string][] = [];
  const sha = (hex: string) => `sha256:${hex}` as Digest;
  // Stevedore's own layout, built by the module that defines it.
  for (const b of c.blobs.values()) items.push([join(root, layout.blobData(sha(b.hex))), b.data]);
  for (const r of c.repos) {
    for (const hex of r.links) items.push([join(root, layout.layerLink(r.name, sha(hex))), sha(hex)]);
    for (const m of r.manifests) {
      items.push([join(root, layout.revisionLink(r.name, sha(m.hex))), JSON.stringify({ mediaType: MediaType.OciManifest, size: m.data.length })]);
      if (m.tag) items.push([join(root, layout.tagLink(r.name, m.tag)), sha(m.hex)]);
    }
  }
  await writeAll(items);
}

/** distribution's layout (a different product's format, written as it is on disk). */
async function writeDistribution(root: string, c: ReturnType<typeof generate>): Promise<void> {
  const v2 = join(root, 'docker/registry/v2');
  const items: [string, Buffer | string][] = [];
  for (const b of c.blobs.values()) items.push([join(v2, 'blobs/sha256', b.hex.slice(0, 2), b.hex, 'data'), b.data]);
  for (const r of c.repos) {
    const base = join(v2, 'repositories', r.name);
    for (const hex of r.links) items.push([join(base, '_layers/sha256', hex, 'link'), `sha256:${hex}`]);
    for (const m of r.manifests) {
      items.push([join(base, '_manifests/revisions/sha256', m.hex, 'link'), `sha256:${m.hex}`]);
      if (m.tag) {
        items.push([join(base, '_manifests/tags', m.tag, 'current/link'), `sha256:${m.hex}`]);
        items.push([join(base, '_manifests/tags', m.tag, 'index/sha256', m.hex, 'link'), `sha256:${m.hex}`]);
      }
    }
  }
  await writeAll(items);
}

/** Blob data files left (a filesystem GC may leave empty directories behind). */
async function countBlobs(dir: string): Promise<number> {
  let n = 0;
  for (const a of await readdir(dir).catch(() => [] as string[])) {
    for (const hex of await readdir(join(dir, a))) {
      if ((await readdir(join(dir, a, hex))).includes('data')) n++;
    }
  }
  return n;
}

/**
 * Writes the fresh copy to disk before a tool runs: otherwise the kernel writes back its ~30,000
 * new files during the run, a cost unrelated to the tool that fell on whichever ran at that moment
 * (runs of one tool on the same content varied 0.6-1.1 s). A registry's GC runs on settled data.
 */
async function settle(): Promise<void> {
  await run('sync', []);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}


async function main(): Promise<void> {
  const work = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'stevedore-gc-bench-'));
  try {
    const content = generate();
    const manifests = content.repos.reduce((n, r) => n + r.manifests.length, 0);
    console.log(`gc benchmark: ${content.repos.length} repositories, ${manifests} manifests (half tagged), ${content.blobs.size} blobs, ${REPS} runs each`);
    const rows: string[] = [];
    for (const mode of ['default', 'delete-untagged'] as const) {
      const times = { stevedore: [] as number[], 'docker-registry': [] as number[] };
      const left = { stevedore: 0, 'docker-registry': 0 };
      for (let rep = 0; rep < REPS; rep++) {
        const order = rep % 2 === 0 ? (['stevedore', 'docker-registry'] as const) : (['docker-registry', 'stevedore'] as const);
        for (const tool of order) {
          const dir = join(work, `${tool}-${mode}-${rep}`);
          if (tool === 'stevedore') {
            await writeStevedore(dir, content);
            await settle();
            const args = [CLI, 'gc', '--data-dir', dir, ...(mode === 'delete-untagged' ? ['--delete-untagged'] : [])];
            const env = { ...process.env, STEVEDORE_GC_GRACEPERIOD: '0s', STEVEDORE_LOG_LEVEL: 'silent' };
            times.stevedore.push(await timed(() => run(process.execPath, args, { env, maxBuffer: 256 * 1024 * 1024 })));
            left.stevedore = await countBlobs(join(dir, 'blobs/sha256'));
          } else {
            await writeDistribution(dir, content);
            await settle();
            const config = join(dir, 'config.yml');
            await writeFile(config, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}\n  delete:\n    enabled: true\n`);
            const args = ['garbage-collect', ...(mode === 'delete-untagged' ? ['--delete-untagged'] : []), config];
            times['docker-registry'].push(await timed(() => run(DOCKER_REGISTRY, args, { maxBuffer: 256 * 1024 * 1024 })));
            left['docker-registry'] = await countBlobs(join(dir, 'docker/registry/v2/blobs/sha256'));
          }
          await rm(dir, { recursive: true, force: true });
        }
      }
      const s = median(times.stevedore);
      const d = median(times['docker-registry']);
      rows.push(
        `| ${mode} | ${s.toFixed(2)} s | ${d.toFixed(2)} s | ${(d / s).toFixed(2)}x | ${left.stevedore} | ${left['docker-registry']} |`,
      );
    }
    console.log('\n| GC mode | stevedore gc (online) | docker-registry garbage-collect (offline) | speed-up | blobs left (stevedore) | blobs left (docker-registry) |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const r of rows) console.log(r);
    console.log(`\n(total blobs before: ${content.blobs.size}; medians of ${REPS} runs, start-up included)`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
