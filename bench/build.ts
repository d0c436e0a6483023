// `stevedore build` against `buildah bud` (Debian's buildah, --isolation chroot: its default
// needs what this kind of machine lacks) on the same Dockerfiles and contexts:
//   app    a small multi-stage app: COPY of a source dir, two RUN steps, COPY --from into a final stage
//   files  a COPY of 10,000 small files
// each built cold (no cache), fully cached (nothing changed), and after a one-file change. Both
// builders start from the same busybox image (a docker-archive: `stevedore load`, `buildah pull
// docker-archive:`), each in a store of its own. Runs alternate (ABBA); figures are medians.
// Docker's builder is not measured here (it needs a dockerd started for the run). Needs root.
//
//   BENCH_BUILD_REPS=3   measured runs per case and builder
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxLayers, writeArchive } from './engine-run.js';
import { CLI } from './servers.js';

const reps = Math.max(1, Math.round(Number(process.env.BENCH_BUILD_REPS ?? 3)));

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { env, timeout: 600_000, maxBuffer: 64 << 20 }, (err, _out, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.slice(-2000)}`)) : resolve(performance.now() - t0),
    ),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const APP = [
  'FROM bench:1 AS build',
  'COPY src/ /src/',
  'RUN cd /src && cat *.txt > /out.txt && sha256sum /out.txt > /out.sum',
  'RUN mkdir -p /opt/app && cp /out.txt /out.sum /opt/app/',
  'FROM bench:1',
  'COPY --from=build /opt/app/ /app/',
  'CMD ["cat", "/app/out.txt"]',
  '',
].join('\n');

const FILES = 'FROM bench:1\nCOPY many/ /many/\n';

interface Case {
  name: string;
  context: string;
  /** The file a one-file change edits. */
  changed: string;
}

async function contexts(dir: string): Promise<Case[]> {
  const app = join(dir, 'ctx-app');
  await mkdir(join(app, 'src'), { recursive: true });
  await writeFile(join(app, 'Dockerfile'), APP);
  for (let i = 0; i < 20; i++) await writeFile(join(app, 'src', `f${i}.txt`), `source file ${i}\n`.repeat(50));
  const files = join(dir, 'ctx-files');
  await writeFile(join(await mkdir(files, { recursive: true }).then(() => files), 'Dockerfile'), FILES);
  for (let d = 0; d < 100; d++) {
    await mkdir(join(files, 'many', `d${d}`), { recursive: true });
    await Promise.all(Array.from({ length: 100 }, (_, i) => writeFile(join(files, 'many', `d${d}`, `f${i}`), `file ${d}/${i}\n`)));
  }
  return [
    { name: 'multi-stage app', context: app, changed: join(app, 'src', 'f7.txt') },
    { name: 'COPY 10,000 files', context: files, changed: join(files, 'many', 'd42', 'f42') },
  ];
}

export interface BuildBenchRow {
  case: string;
  phase: 'cold' | 'cached' | 'one-file change';
  stevedoreMs: number;
  buildahMs: number;
}

export async function buildBench(): Promise<{ rows: BuildBenchRow[]; nodeMs: number; reps: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-build-'));
  const root = join(dir, 'stevedore-root');
  const buildahRoot = join(dir, 'buildah-root');
  const buildahRunRoot = join(dir, 'buildah-run');
  const env = { ...process.env, STEVEDORE_ROOT: root };
  const storage = ['--root', buildahRoot, '--runroot', buildahRunRoot, '--storage-driver', 'overlay'];
  try {
    const layerDirs = await busyboxLayers(dir);
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const archive = await writeArchive(dir, layerDirs, 'bench:1', {
      architecture: arch,
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
      // buildah wants a history entry per layer of the base image.
      history: layerDirs.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `layer ${i}` })),
    });
    execFileSync(process.execPath, [CLI, 'load', '-q', '-i', archive], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('buildah', [...storage, 'pull', '-q', `docker-archive:${archive}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('buildah', [...storage, 'tag', execFileSync('buildah', [...storage, 'images', '-q'], { encoding: 'utf8' }).trim().split('\n')[0]!, 'bench:1']);
    const cases = await contexts(dir);
    const rows: BuildBenchRow[] = [];
    const side = {
      stevedore: (c: Case, noCache: boolean) => timed(process.execPath, [CLI, 'build', '-q', ...(noCache ? ['--no-cache'] : []), '-t', 'out:1', c.context], env),
      buildah: (c: Case, noCache: boolean) =>
        timed('buildah', [...storage, 'bud', '-q', '--isolation', 'chroot', '--network', 'host', '--layers', ...(noCache ? ['--no-cache'] : []), '-t', 'out:1', c.context], process.env),
    };
    let edit = 0;
    for (const c of cases) {
      const t = { cold: { stevedore: [] as number[], buildah: [] as number[] }, cached: { stevedore: [] as number[], buildah: [] as number[] }, change: { stevedore: [] as number[], buildah: [] as number[] } };
      for (let rep = -1; rep < reps; rep++) {
        const order = rep % 2 === 0 ? (['stevedore', 'buildah'] as const) : (['buildah', 'stevedore'] as const);
        for (const s of order) {
          const cold = await side[s](c, true);
          const cached = await side[s](c, false);
          await writeFile(c.changed, `edited ${edit++}\n`);
          const change = await side[s](c, false);
          if (rep < 0) continue; // a warm-up round
          t.cold[s].push(cold);
          t.cached[s].push(cached);
          t.change[s].push(change);
        }
      }
      rows.push({ case: c.name, phase: 'cold', stevedoreMs: median(t.cold.stevedore), buildahMs: median(t.cold.buildah) });
      rows.push({ case: c.name, phase: 'cached', stevedoreMs: median(t.cached.stevedore), buildahMs: median(t.cached.buildah) });
      rows.push({ case: c.name, phase: 'one-file change', stevedoreMs: median(t.change.stevedore), buildahMs: median(t.change.buildah) });
    }
    // The CLI's start-up for `build` (it loads only the builder's modules), one after another.
    const startup: number[] = [];
    for (let i = 0; i < 5; i++) startup.push(await timed(process.execPath, [CLI, 'build', '--help'], env));
    const nodeMs = median(startup);
    return { rows, nodeMs, reps };
  } finally {
    execFileSync('buildah', [...storage, 'rm', '--all'], { stdio: 'ignore' });
    execFileSync('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l`], { stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await buildBench();
  const lines = [`\nDockerfile builds, median of ${r.reps} (stevedore build vs buildah bud --isolation chroot --layers)`, 'case                 phase              stevedore     buildah   ratio'];
  for (const row of r.rows) {
    lines.push(`${row.case.padEnd(20)} ${row.phase.padEnd(16)} ${row.stevedoreMs.toFixed(0).padStart(9)} ms ${row.buildahMs.toFixed(0).padStart(8)} ms  ${(row.stevedoreMs / row.buildahMs).toFixed(2)}x`);
  }
  lines.push(`stevedore CLI start-up (build --help): ${r.nodeMs.toFixed(0)} ms; a cached rebuild's time beyond it is what the 100 ms goal is about`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
