// CLI start-up: how long `stevedore` takes for commands that do little work, against Node's own
// start-up (`node -e 0`), which every stevedore command pays. The commands:
//   --help           prints the command list (a ready-made text: cli/root-help.ts)
//   --version
//   images           lists an empty local store (--root under a temporary directory)
//   ps -a            lists no containers (same root)
//   run --help       one command's help (commander and the container commands' declarations)
//   tags REPO        one GET /v2/REPO/tags/list against a `stevedore serve` on loopback holding
//                    one small image (pushed once before timing)
// Runs alternate between the commands in every repetition (so machine noise hits all alike), after
// a warm-up; figures are medians. Goals (issue: speed and footprint): --help ≤ 1.4×, images/ps ≤
// 1.6×, tags ≤ 2× the time of `node -e 0`. Each command's CPU time (user + system, from this
// process's reaped-children counters in /proc/self/stat, so the mean over the runs) is printed
// too: on a shared machine it swings less than wall time.
//
//   BENCH_CLI_REPS=15   measured runs per command
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { timed } from './engine-run.js';
import { median } from './stats.js';
import { CLI, startStevedore } from './servers.js';

const reps = Math.max(1, Math.round(Number(process.env.BENCH_CLI_REPS ?? 15)));

interface Row {
  name: string;
  goal?: number;
  cmd: string;
  args: string[];
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'stevedore-bench-cli-'));
  const server = await startStevedore({ dataDir: join(dir, 'registry') });
  try {
    const root = join(dir, 'root');
    await mkdir(root, { recursive: true });
    const host = server.url.replace(/^http:\/\//, '');
    // One tiny image to list tags of: an OCI layout made here, pushed with the CLI.
    const layout = join(dir, 'layout');
    await writeLayout(layout);
    execFileSync(process.execPath, [CLI, 'push', '--plain-http', '-q', `oci:${layout}:v1`, `${host}/bench/cli:v1`], { stdio: 'ignore' });

    const node = process.execPath;
    const rows: Row[] = [
      { name: 'node -e 0', cmd: node, args: ['-e', '0'] },
      { name: 'stevedore --help', goal: 1.4, cmd: node, args: [CLI, '--help'] },
      { name: 'stevedore --version', goal: 1.4, cmd: node, args: [CLI, '--version'] },
      { name: 'stevedore images', goal: 1.6, cmd: node, args: [CLI, '--root', root, 'images'] },
      { name: 'stevedore ps -a', goal: 1.6, cmd: node, args: [CLI, '--root', root, 'ps', '-a'] },
      // A command's own help loads commander and that command's declarations only.
      { name: 'stevedore run --help', cmd: node, args: [CLI, 'run', '--help'] },
      { name: 'stevedore tags', goal: 2, cmd: node, args: [CLI, 'tags', '--plain-http', `${host}/bench/cli`] },
    ];
    for (const r of rows) await timed(r.cmd, r.args); // warm-up: page cache, compile cache
    const times = new Map<string, number[]>(rows.map((r) => [r.name, []]));
    const cpuTicks = new Map<string, number>(rows.map((r) => [r.name, 0]));
    for (let i = 0; i < reps; i++) {
      const order = i % 2 ? [...rows].reverse() : rows;
      for (const r of order) {
        const before = childrenCpuTicks();
        times.get(r.name)!.push(await timed(r.cmd, r.args));
        cpuTicks.set(r.name, cpuTicks.get(r.name)! + childrenCpuTicks() - before);
      }
    }
    const base = median(times.get('node -e 0')!);
    const cpuMs = (name: string) => (cpuTicks.get(name)! * 1000) / CLOCK_TICKS / reps;
    console.log(`\nCLI start-up, medians of ${reps} runs (load average ${loadAverage()}):`);
    console.log('| command | ms | × node -e 0 | goal | CPU ms (mean) | CPU × node -e 0 |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      const ms = median(times.get(r.name)!);
      const ratio = ms / base;
      const goal = r.goal === undefined ? '' : `≤ ${r.goal}× ${ratio <= r.goal ? 'met' : 'not met'}`;
      console.log(`| ${r.name} | ${ms.toFixed(0)} | ${ratio.toFixed(2)} | ${goal} | ${cpuMs(r.name).toFixed(1)} | ${(cpuMs(r.name) / cpuMs('node -e 0')).toFixed(2)} |`);
    }
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on Linux). */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** User + system CPU of this process's children that have been waited for (cutime + cstime), in clock ticks. */
function childrenCpuTicks(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
  return Number(fields[13]) + Number(fields[14]); // cutime, cstime: the 16th and 17th
}

function loadAverage(): string {
  return execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');
}

/** An OCI layout holding one image: an empty config-only image with one small layer. */
async function writeLayout(dir: string): Promise<void> {
  const { createHash } = await import('node:crypto');
  const { gzipSync } = await import('node:zlib');
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (data: Buffer): Promise<string> => {
    const hex = createHash('sha256').update(data).digest('hex');
    await writeFile(join(blobs, hex), data);
    return `sha256:${hex}`;
  };
  // A tar with no entries: two 512-byte zero blocks.
  const tar = Buffer.alloc(1024);
  const layer = gzipSync(tar);
  const layerDigest = await put(layer);
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, config: {} }));
  const configDigest = await put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
    }),
  );
  const manifestDigest = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
    }),
  );
}

await main();
