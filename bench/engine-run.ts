// Warm `stevedore run --rm IMAGE true` against bare `runc run` on a prepared bundle of the same
// rootfs with the same config.json: what Stevedore adds to starting a container (Node start-up,
// the container record, the overlay mount, config.json, unmount and removal afterwards).
//
// The image is a busybox rootfs (Debian's busybox-static) in three layers, written as a
// docker-archive (layer tars made by GNU tar) and `stevedore load`ed into a store of its own. The
// runc side runs the very config.json Stevedore generated for that image (less the overlay mount
// at /, which Stevedore's runc makes), on a copy of the merged rootfs, so both start the same container: the comparison is `run --rm --network none` (runc's own
// empty network namespace, as the runc side). `run --rm` on the default bridge network is timed
// too, in the same rounds (what the bridge adds is bench/engine-network.ts's subject). Runs
// alternate (ABBA), after a warm-up; the figures are medians. Needs root and runc.
//
//   BENCH_RUN_REPS=20   measured runs per side
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './servers.js';
import { median, quartiles } from './stats.js';

const reps = Math.max(1, Math.round(Number(process.env.BENCH_RUN_REPS ?? 20)));

export function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { env: env ?? process.env, timeout: 120_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr}`)) : resolve(performance.now() - t0),
    ),
  );
}

/** Three layer directories, lowest first: busybox and its applets, /etc, a small top layer. */
export async function busyboxLayers(dir: string): Promise<string[]> {
  const layers = ['base', 'etc', 'top'].map((n) => join(dir, 'layers', n));
  const [base, etc, top] = layers as [string, string, string];
  for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev']) await mkdir(join(base, d), { recursive: true });
  await copyFile('/usr/bin/busybox', join(base, 'bin', 'busybox'));
  await chmod(join(base, 'bin', 'busybox'), 0o755);
  const applets = execFileSync('/usr/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  await Promise.all(applets.map((a) => symlink('busybox', join(base, 'bin', a))));
  await mkdir(join(etc, 'etc'), { recursive: true });
  await writeFile(join(etc, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(etc, 'etc', 'group'), 'root:x:0:\n');
  await mkdir(join(top, 'data'), { recursive: true });
  await writeFile(join(top, 'data', 'hello'), 'hello\n');
  return layers;
}

/** A docker-archive (`docker save` layout) of one image made of these layer directories. */
export async function writeArchive(dir: string, layerDirs: string[], tag: string, config: object): Promise<string> {
  const staging = join(dir, 'archive');
  await mkdir(staging, { recursive: true });
  const layers: string[] = [];
  for (const [i, layer] of layerDirs.entries()) {
    const tmp = join(staging, `layer-${i}`);
    execFileSync('tar', ['--numeric-owner', '-C', layer, '-cf', tmp, '.']);
    const hex = createHash('sha256').update(await readFile(tmp)).digest('hex');
    await rename(tmp, join(staging, `${hex}.tar`));
    layers.push(hex);
  }
  const configJson = JSON.stringify({ ...config, rootfs: { type: 'layers', diff_ids: layers.map((h) => `sha256:${h}`) } });
  const configHex = createHash('sha256').update(configJson).digest('hex');
  await writeFile(join(staging, `${configHex}.json`), configJson);
  await writeFile(join(staging, 'manifest.json'), JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [tag], Layers: layers.map((h) => `${h}.tar`) }]));
  const file = join(dir, 'image.tar');
  execFileSync('tar', ['-C', staging, '-cf', file, 'manifest.json', `${configHex}.json`, ...layers.map((h) => `${h}.tar`)]);
  return file;
}

export async function engineRunBench(): Promise<{
  stevedoreMs: number;
  bridgeMs: number;
  runcMs: number;
  nodeMs: number;
  reps: number;
  /** Per round: stevedore − (node -e 0 + runc) of the same round, the goal's margin (≤ 60 ms). */
  overhead: { median: number; q1: number; q3: number };
}> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-engine-run-'));
  const root = join(dir, 'root');
  try {
    const layerDirs = await busyboxLayers(dir);
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const archive = await writeArchive(dir, layerDirs, 'bench:1', { architecture: arch, os: 'linux', config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
    const env = { ...process.env, STEVEDORE_ROOT: root };
    execFileSync(process.execPath, [CLI, 'load', '-q', '-i', archive], { env, stdio: ['ignore', 'ignore', 'inherit'] });

    // The runc side: the config.json Stevedore makes for this image, on a copy of the merged rootfs.
    const id = (await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [CLI, 'run', '-d', '--name', 'bench-prep', '--network', 'none', 'bench:1', 'sleep', '1000'], { env }, (err, out, stderr) => (err ? reject(new Error(stderr)) : resolve(out.trim()))),
    ));
    const bundle = join(dir, 'bundle');
    await mkdir(join(bundle, 'rootfs'), { recursive: true });
    for (const layer of layerDirs) execFileSync('cp', ['-a', `${layer}/.`, join(bundle, 'rootfs')]);
    const containerDir = join(root, 'containers', id);
    const spec = JSON.parse(await readFile(join(containerDir, 'bundle', 'config.json'), 'utf8'));
    spec.process.args = ['true'];
    // Stevedore's runc mounts the overlay of the container's layers at / (its first mount); the
    // runc side runs on the plain copy above instead.
    spec.mounts = (spec.mounts as { destination: string }[]).filter((m) => m.destination !== '/');
    for (const m of spec.mounts as { source: string }[]) {
      if (m.source.startsWith(containerDir)) {
        const copy = join(bundle, m.source.slice(containerDir.length + 1));
        await copyFile(m.source, copy);
        m.source = copy;
      }
    }
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    execFileSync(process.execPath, [CLI, 'rm', '-f', id], { env });

    const runcRoot = join(dir, 'runc-state');
    let n = 0;
    const sides = {
      stevedore: () => timed(process.execPath, [CLI, 'run', '--rm', '--network', 'none', 'bench:1', 'true'], env),
      bridge: () => timed(process.execPath, [CLI, 'run', '--rm', 'bench:1', 'true'], env),
      runc: () => timed('runc', ['--root', runcRoot, 'run', '--bundle', bundle, `bench-${n++}`]),
      // The floor under any Node CLI: starting Node itself and doing nothing.
      node: () => timed(process.execPath, ['-e', '0']),
    };
    const times = { stevedore: [] as number[], bridge: [] as number[], runc: [] as number[], node: [] as number[] };
    for (let rep = -2; rep < reps; rep++) {
      const order = rep % 2 === 0 ? (['stevedore', 'runc', 'node', 'bridge'] as const) : (['bridge', 'node', 'runc', 'stevedore'] as const);
      for (const side of order) {
        const ms = await sides[side]();
        if (rep >= 0) times[side].push(ms); // the first two rounds warm the page cache
      }
    }
    process.stderr.write(`[bench] run --rm true: stevedore ${times.stevedore.map((t) => t.toFixed(0)).join(' ')} ms\n[bench] runc run: ${times.runc.map((t) => t.toFixed(0)).join(' ')} ms\n`);
    const overhead = quartiles(times.stevedore.map((t, i) => t - times.node[i]! - times.runc[i]!));
    return { stevedoreMs: median(times.stevedore), bridgeMs: median(times.bridge), runcMs: median(times.runc), nodeMs: median(times.node), reps, overhead };
  } finally {
    execFileSync(process.execPath, [CLI, 'container', 'prune'], { env: { ...process.env, STEVEDORE_ROOT: root }, stdio: 'ignore' });
    // The bridge runs' network: its bridge and rules go with it (they outlive the containers).
    execFileSync(process.execPath, [CLI, 'network', 'prune'], { env: { ...process.env, STEVEDORE_ROOT: root }, stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await engineRunBench();
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  const goal = r.nodeMs + r.runcMs + 60;
  process.stdout.write(
    `\nContainer start, warm (busybox rootfs in 3 layers, command \`true\`), median of ${r.reps} (load average ${load})\n` +
      `stevedore run --rm --network none  ${r.stevedoreMs.toFixed(1).padStart(7)} ms  (goal: node -e 0 + runc + 60 ms = ${goal.toFixed(1)} ms: ${r.stevedoreMs <= goal ? 'met' : 'not met'})\n` +
      `stevedore run --rm (bridge)        ${r.bridgeMs.toFixed(1).padStart(7)} ms\n` +
      `runc run (bundle)                  ${r.runcMs.toFixed(1).padStart(7)} ms\n` +
      `node -e 0                          ${r.nodeMs.toFixed(1).padStart(7)} ms  (Node's own start-up, part of stevedore's time)\n` +
      `ratio (stevedore / runc): ${(r.stevedoreMs / r.runcMs).toFixed(2)}x; overhead ${(r.stevedoreMs - r.runcMs).toFixed(1)} ms per container, ` +
      `${(r.stevedoreMs - r.runcMs - r.nodeMs).toFixed(1)} ms of it beyond Node's start-up\n` +
      `per round, stevedore - (node -e 0 + runc): median ${r.overhead.median.toFixed(1)} ms [IQR ${r.overhead.q1.toFixed(1)}, ${r.overhead.q3.toFixed(1)}] (goal: at most 60 ms)\n`,
  );
}
