// What engine networking costs a container start (issue #17's goal: under 50 ms):
//   - `run --rm --network bridge IMAGE true` against `run --rm --network none IMAGE true`
//     (namespace file, CNI bridge+host-local+firewall ADD and DEL, hosts files, clean-up);
//   - `run -d -p PORT:80` of a busybox httpd to its first HTTP answer on 127.0.0.1:PORT (portmap
//     too), against `run -d --network host` of the same httpd to its first answer.
// Runs alternate (ABBA) after a warm-up; medians. Docker Engine and podman rows are printed as
// skipped with the reason (see below). Needs root, runc and containernetworking-plugins.
//
//   BENCH_NET_REPS=15   measured runs per side
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyboxLayers, median, timed, writeArchive } from './engine-run.js';
import { CLI } from './servers.js';

const reps = Math.max(1, Math.round(Number(process.env.BENCH_NET_REPS ?? 15)));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => execFile(process.execPath, [CLI, ...args], { env, timeout: 120_000 }, (err, out, stderr) => (err ? reject(new Error(`stevedore ${args.join(' ')}: ${stderr}`)) : resolve(out))));
}

/** `run -d` (with the given network flags) to the first answer of its httpd on 127.0.0.1:port. */
async function timeToFirstAnswer(env: NodeJS.ProcessEnv, flags: string[], port: number): Promise<number> {
  const t0 = performance.now();
  const id = (await cli(['run', '-d', ...flags, 'web:1'], env)).trim();
  try {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
      if (ok) return performance.now() - t0;
      if (performance.now() - t0 > 60_000) throw new Error('no HTTP answer within 60 s');
      await sleep(2);
    }
  } finally {
    await cli(['rm', '-f', id], env);
  }
}

export interface NetworkBenchResult {
  reps: number;
  bridgeTrueMs: number;
  noneTrueMs: number;
  publishedFirstAnswerMs: number;
  hostFirstAnswerMs: number;
  skipped: string[];
}

export async function engineNetworkBench(): Promise<NetworkBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-engine-network-'));
  const root = join(dir, 'root');
  const env = { ...process.env, STEVEDORE_ROOT: root };
  try {
    const layers = await busyboxLayers(dir);
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const archive = await writeArchive(dir, layers, 'web:1', {
      architecture: arch,
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: ['sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p ${PORT:-80} -h /www'], ExposedPorts: { '80/tcp': {} } },
    });
    execFileSync(process.execPath, [CLI, 'load', '-q', '-i', archive], { env, stdio: ['ignore', 'ignore', 'inherit'] });

    const times = { bridge: [] as number[], none: [] as number[], published: [] as number[], host: [] as number[] };
    const sides = {
      bridge: () => timed(process.execPath, [CLI, 'run', '--rm', '--network', 'bridge', 'web:1', 'true'], env),
      none: () => timed(process.execPath, [CLI, 'run', '--rm', '--network', 'none', 'web:1', 'true'], env),
      published: async () => {
        const port = await freePort();
        return timeToFirstAnswer(env, ['-p', `${port}:80`], port);
      },
      host: async () => {
        const port = await freePort();
        return timeToFirstAnswer(env, ['--network', 'host', '-e', `PORT=${port}`], port);
      },
    };
    for (let rep = -2; rep < reps; rep++) {
      const order = rep % 2 === 0 ? (['bridge', 'none', 'published', 'host'] as const) : (['host', 'published', 'none', 'bridge'] as const);
      for (const side of order) {
        const ms = await sides[side]();
        if (rep >= 0) times[side].push(ms);
      }
    }
    // Docker Engine with its bridge would create docker0 and its DOCKER-* chains in the host's
    // iptables, shared with everyone on this machine, and dockerd leaves its chains behind on exit;
    // the machine notes only found it working with --bridge=none --iptables=false. podman 4.3
    // cannot run containers here (it raises rlimits above the sandbox's hard limit).
    const skipped = [
      'Docker Engine (bridge): not started; dockerd with its bridge writes docker0 and DOCKER-* iptables chains into the shared host and leaves the chains behind',
      'podman (CNI bridge): cannot run containers on this machine (rlimits above the hard limit: "error setting rlimit type 7")',
    ];
    return {
      reps,
      bridgeTrueMs: median(times.bridge),
      noneTrueMs: median(times.none),
      publishedFirstAnswerMs: median(times.published),
      hostFirstAnswerMs: median(times.host),
      skipped,
    };
  } finally {
    execFileSync(process.execPath, [CLI, 'container', 'prune'], { env, stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await engineNetworkBench();
  const row = (label: string, ms: number) => `${label.padEnd(46)}${ms.toFixed(1).padStart(8)} ms\n`;
  process.stdout.write(
    `\nContainer networking, warm (busybox, median of ${r.reps})\n` +
      row('run --rm --network bridge IMAGE true', r.bridgeTrueMs) +
      row('run --rm --network none IMAGE true', r.noneTrueMs) +
      `  bridge / none: ${(r.bridgeTrueMs / r.noneTrueMs).toFixed(2)}x; networking adds ${(r.bridgeTrueMs - r.noneTrueMs).toFixed(1)} ms (goal: under 50 ms)\n` +
      row('run -d -p PORT:80 httpd, to first HTTP answer', r.publishedFirstAnswerMs) +
      row('run -d --network host httpd, to first answer', r.hostFirstAnswerMs) +
      `  published / host: ${(r.publishedFirstAnswerMs / r.hostFirstAnswerMs).toFixed(2)}x; ${(r.publishedFirstAnswerMs - r.hostFirstAnswerMs).toFixed(1)} ms more\n` +
      r.skipped.map((s) => `skipped: ${s}\n`).join(''),
  );
}
