// `stevedore build` against `buildah bud` (Debian's buildah, --isolation chroot: its default
// needs what this kind of machine lacks) on the same Dockerfiles and contexts:
//   app    a small multi-stage app: COPY of a source dir, two RUN steps, COPY --from into a final stage
//   files  a COPY of 10,000 small files
// and against `docker build` on a Docker Engine the benchmark starts itself (Debian's docker.io:
// containerd and dockerd with their own roots, state, pidfile and sockets under a temp directory,
// `--bridge=none --iptables=false`, inside a network namespace of the benchmark's own). Debian's
// docker CLI has no buildx, and without it the CLI refuses BuildKit ("the buildx component is
// missing"): docker builds with its classic builder (DOCKER_BUILDKIT=0), `--network host` as the
// other two. Each case is built cold (no cache), fully cached (nothing changed), and after a
// one-file change. All builders start from the same busybox image (a docker-archive: `stevedore
// load`, `buildah pull docker-archive:`, `docker load`), each in a store of its own. Runs rotate
// the order of the builders each round (ABBA for two); figures are medians; the ratio is
// stevedore's time over the fastest other builder's in the same run. Needs root.
//
//   BENCH_BUILD_REPS=3      measured runs per case and builder
//   BENCH_BUILD_DOCKER=0    leaves docker out
//   BENCH_BUILD_CASES=app   only these cases (app, files; default both)
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxLayers, writeArchive } from './engine-run.js';
import { CLI } from './servers.js';
import { startDockerInNetns, type DockerInNetns } from './docker-in-netns.js';
import { median } from './stats.js';

const reps = Math.max(1, Math.round(Number(process.env.BENCH_BUILD_REPS ?? 3)));

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { env, timeout: 600_000, maxBuffer: 64 << 20 }, (err, _out, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.slice(-2000)}`)) : resolve(performance.now() - t0),
    ),
  );
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
  id: string;
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
  const wanted = (process.env.BENCH_BUILD_CASES ?? 'app files').split(/[\s,]+/);
  return [
    { id: 'app', name: 'multi-stage app', context: app, changed: join(app, 'src', 'f7.txt') },
    { id: 'files', name: 'COPY 10,000 files', context: files, changed: join(files, 'many', 'd42', 'f42') },
  ].filter((c) => wanted.includes(c.id));
}

type Builder = 'stevedore' | 'buildah' | 'docker';
type Phase = 'cold' | 'cached' | 'one-file change';
const PHASES: Phase[] = ['cold', 'cached', 'one-file change'];

export interface BuildBenchRow {
  case: string;
  phase: Phase;
  /** Median milliseconds by builder (docker absent when it did not start). */
  ms: Partial<Record<Builder, number>>;
  /** stevedore's time over the fastest other builder's. */
  ratio: number;
  fastestPeer: Builder;
}

export interface BuildBenchResult {
  rows: BuildBenchRow[];
  nodeMs: number;
  reps: number;
  builders: Builder[];
  /** Why docker is not in the rows, when it is not. */
  dockerSkipped?: string;
  dockerVersion?: string;
}

export async function buildBench(): Promise<BuildBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-build-'));
  const root = join(dir, 'stevedore-root');
  const buildahRoot = join(dir, 'buildah-root');
  const buildahRunRoot = join(dir, 'buildah-run');
  const env = { ...process.env, STEVEDORE_ROOT: root };
  const storage = ['--root', buildahRoot, '--runroot', buildahRunRoot, '--storage-driver', 'overlay'];
  let docker: DockerInNetns | undefined;
  let dockerSkipped: string | undefined;
  let dockerVersion: string | undefined;
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
    if (process.env.BENCH_BUILD_DOCKER === '0') dockerSkipped = 'BENCH_BUILD_DOCKER=0';
    else {
      try {
        docker = await startDockerInNetns({ bridge: false });
        execFileSync('docker', ['load', '-q', '-i', archive], { env: docker.env, stdio: ['ignore', 'ignore', 'inherit'] });
        dockerVersion = execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { env: docker.env, encoding: 'utf8' }).trim();
      } catch (err) {
        dockerSkipped = `dockerd did not start: ${(err as Error).message.split('\n')[0]}`;
        await docker?.stop();
        docker = undefined;
      }
    }
    const cases = await contexts(dir);
    const rows: BuildBenchRow[] = [];
    const side: Partial<Record<Builder, (c: Case, noCache: boolean) => Promise<number>>> = {
      stevedore: (c, noCache) => timed(process.execPath, [CLI, 'build', '-q', ...(noCache ? ['--no-cache'] : []), '-t', 'out:1', c.context], env),
      buildah: (c, noCache) =>
        timed('buildah', [...storage, 'bud', '-q', '--isolation', 'chroot', '--network', 'host', '--layers', ...(noCache ? ['--no-cache'] : []), '-t', 'out:1', c.context], process.env),
    };
    if (docker) {
      const denv = { ...docker.env, DOCKER_BUILDKIT: '0' };
      side.docker = (c, noCache) => timed('docker', ['build', '-q', '--network', 'host', ...(noCache ? ['--no-cache'] : []), '-t', 'out:1', c.context], denv);
    }
    const builders = Object.keys(side) as Builder[];
    let edit = 0;
    for (const c of cases) {
      const t = new Map<string, number[]>();
      const add = (phase: Phase, b: Builder, ms: number) => t.set(`${phase} ${b}`, [...(t.get(`${phase} ${b}`) ?? []), ms]);
      for (let rep = -1; rep < reps; rep++) {
        // Round r starts with builder r mod n, and odd rounds run backwards: with two builders, ABBA.
        const n = builders.length;
        const k = ((rep % n) + n) % n;
        let order = [...builders.slice(k), ...builders.slice(0, k)];
        if (rep % 2 !== 0) order = order.reverse();
        for (const b of order) {
          const run = side[b]!;
          const cold = await run(c, true);
          const cached = await run(c, false);
          await writeFile(c.changed, `edited ${edit++}\n`);
          const change = await run(c, false);
          if (rep < 0) continue; // a warm-up round
          add('cold', b, cold);
          add('cached', b, cached);
          add('one-file change', b, change);
        }
      }
      for (const phase of PHASES) {
        const ms: Partial<Record<Builder, number>> = {};
        for (const b of builders) ms[b] = median(t.get(`${phase} ${b}`)!);
        const peers = builders.filter((b) => b !== 'stevedore').sort((a, b) => ms[a]! - ms[b]!);
        rows.push({ case: c.name, phase, ms, ratio: ms.stevedore! / ms[peers[0]!]!, fastestPeer: peers[0]! });
        // As each case ends (a long run is not lost to a later failure).
        process.stderr.write(`build bench: ${c.name}, ${phase}: ${builders.map((b) => `${b} ${ms[b]!.toFixed(0)} ms`).join(', ')}\n`);
      }
    }
    // The CLI's start-up for `build` (it loads only the builder's modules), one after another.
    const startup: number[] = [];
    for (let i = 0; i < 5; i++) startup.push(await timed(process.execPath, [CLI, 'build', '--help'], env).catch(() => NaN));
    const nodeMs = median(startup.filter((x) => !Number.isNaN(x)));
    return { rows, nodeMs, reps, builders, ...(dockerSkipped ? { dockerSkipped } : {}), ...(dockerVersion ? { dockerVersion } : {}) };
  } finally {
    await docker?.stop();
    execFileSync('buildah', [...storage, 'rm', '--all'], { stdio: 'ignore' });
    execFileSync('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l`], { stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await buildBench();
  const names = { stevedore: 'stevedore', buildah: 'buildah', docker: 'docker' } as const;
  const lines = [
    `\nDockerfile builds, median of ${r.reps} (stevedore build; buildah bud --isolation chroot --layers${r.dockerVersion ? `; docker build, Docker Engine ${r.dockerVersion}, classic builder` : ''})`,
    ...(r.dockerSkipped ? [`docker left out: ${r.dockerSkipped}`] : []),
    `${'case'.padEnd(20)} ${'phase'.padEnd(16)} ${r.builders.map((b) => names[b].padStart(12)).join('')}   ratio (vs fastest other)`,
  ];
  for (const row of r.rows) {
    lines.push(`${row.case.padEnd(20)} ${row.phase.padEnd(16)} ${r.builders.map((b) => `${row.ms[b]!.toFixed(0)} ms`.padStart(12)).join('')}   ${row.ratio.toFixed(2)}x ${row.fastestPeer}`);
  }
  lines.push(`stevedore CLI start-up (build --help): ${r.nodeMs.toFixed(0)} ms; a cached rebuild's time beyond it is what the 100 ms goal is about`);
  process.stdout.write(`${lines.join('\n')}\n`);
}
