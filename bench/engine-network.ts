// What engine networking costs a container start (issue #17's goal: under 50 ms), against
// Docker Engine in the same run:
//   - `run --rm --network bridge IMAGE true` against `run --rm --network none IMAGE true`
//     (namespace, CNI bridge+host-local ADD and DEL, hosts files, clean-up);
//   - `run -d -p PORT:80` of a busybox httpd to its first HTTP answer on 127.0.0.1:PORT (portmap
//     too), against `run -d --network host` of the same httpd to its first answer.
// The same four on Docker Engine with its default bridge, iptables and userland proxy, started by
// the benchmark inside a network namespace of its own (docker-in-netns.ts: nothing of docker's
// touches the host's links or rules); its ports are probed from inside that namespace. The HTTP
// probe is a process started with the `run -d` (the same for both engines). podman is not
// compared: it cannot run containers on this machine (it raises rlimits above the hard limit).
// Runs alternate (ABBA) after a warm-up; medians. What networking adds is also reported per pair:
// each round runs an engine's `bridge` and `none` starts back to back, and the median of those
// per-round differences with its interquartile range (wall time, and CPU time for Stevedore) says
// whether "under 50 ms" holds in this run, however much the machine's load moves the absolute
// times between rounds. Needs root, runc, containernetworking-plugins; Docker rows need docker.io
// (skipped with the reason when dockerd does not start).
//
//   BENCH_NET_REPS=15   measured runs per side
//   BENCH_NET_DOCKER=0  leave Docker Engine out
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDockerInNetns, type DockerInNetns } from './docker-in-netns.js';
import { busyboxLayers, timed, writeArchive } from './engine-run.js';
import { median, quartiles } from './stats.js';
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

/**
 * Wall time of a command and the CPU time of its process tree (user+system of everything it
 * waited for: node, runc, the plugins; not what it left detached), read from the /proc stat of a
 * shell that ran it. On the shared 2-core machine the CPU time is the steadier figure: wall times
 * swing by hundreds of ms with the other engineers' load.
 */
function timedWithCpu(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; cpuMs: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile('sh', ['-c', '"$@" >/dev/null || exit 1; cat /proc/$$/stat', 'sh', cmd, ...args], { env, timeout: 120_000 }, (err, out, stderr) => {
      if (err) return reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr}`));
      const f = out.trim().split(') ')[1]!.split(' ');
      // cutime and cstime (fields 16 and 17 of stat(5)), in clock ticks of 10 ms.
      resolve({ ms: performance.now() - t0, cpuMs: (Number(f[13]) + Number(f[14])) * 10 });
    }),
  );
}

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => execFile(cmd, args, { env, timeout: 120_000 }, (err, out, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr}`)) : resolve(out))));
}

// Polls http://127.0.0.1:PORT/ until it answers 200 (exit 0) or 60 s pass (exit 1).
const PROBE = `const p=process.argv[1],end=Date.now()+60000;(async()=>{for(;;){try{const r=await fetch('http://127.0.0.1:'+p+'/',{signal:AbortSignal.timeout(2000)});if(r.ok)process.exit(0)}catch{}if(Date.now()>end)process.exit(1);await new Promise(r=>setTimeout(r,2))}})()`;

/**
 * Time from starting `run -d` to the first HTTP answer on 127.0.0.1:port, seen by a probe process
 * started at the same moment (inside netns when given); the container is removed afterwards.
 */
async function timeToFirstAnswer(run: (args: string[]) => Promise<string>, args: string[], port: number, netns?: string): Promise<number> {
  const t0 = performance.now();
  const probeArgs = ['-e', PROBE, String(port)];
  const probe = netns ? spawn('nsenter', [`--net=${netns}`, process.execPath, ...probeArgs], { stdio: 'ignore' }) : spawn(process.execPath, probeArgs, { stdio: 'ignore' });
  const answered = new Promise<number>((resolve, reject) => probe.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`no HTTP answer on port ${port} within 60 s`)))));
  let id = '';
  try {
    id = (await run(['run', '-d', ...args])).trim();
    return await answered;
  } finally {
    probe.kill();
    if (id) await run(['rm', '-f', id]);
  }
}

type Side = 'bridge' | 'none' | 'published' | 'host';
const SIDES: Side[] = ['bridge', 'none', 'published', 'host'];

/** The median and interquartile range of a sample. */
export type Spread = ReturnType<typeof quartiles>;

/** bridge − none of each round (the two starts of one engine run back to back in every round). */
function pairDifferences(bridge: number[], none: number[]): Spread {
  return quartiles(bridge.map((b, i) => b - none[i]!));
}

export interface NetworkBenchResult {
  reps: number;
  /** What networking adds per round (bridge − none of the same round), wall time. */
  adds: { stevedore: Spread; docker?: Spread };
  /** The same for the CPU time of Stevedore's process tree. */
  addsCpu: Spread;
  stevedore: Record<Side, number>;
  /** CPU time of the `run --rm` command's process tree (median), bridge and none. */
  stevedoreCpu: { bridge: number; none: number };
  docker?: Record<Side, number>;
  dockerVersion?: string;
  skipped: string[];
}

export async function engineNetworkBench(): Promise<NetworkBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-engine-network-'));
  const root = join(dir, 'root');
  const env = { ...process.env, STEVEDORE_ROOT: root };
  const skipped: string[] = ['podman: cannot run containers on this machine (it raises rlimits above the hard limit: "error setting rlimit type 7")'];
  let dockerd: DockerInNetns | undefined;
  try {
    const layers = await busyboxLayers(dir);
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const archive = await writeArchive(dir, layers, 'web:1', {
      architecture: arch,
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: ['sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p ${PORT:-80} -h /www'], ExposedPorts: { '80/tcp': {} } },
    });
    execFileSync(process.execPath, [CLI, 'load', '-q', '-i', archive], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    let dockerVersion: string | undefined;
    if (process.env.BENCH_NET_DOCKER !== '0') {
      try {
        dockerd = await startDockerInNetns();
        await exec('docker', ['load', '-q', '-i', archive], dockerd.env);
        dockerVersion = (await exec('docker', ['version', '--format', '{{.Server.Version}}'], dockerd.env)).trim();
      } catch (err) {
        skipped.push(`Docker Engine: ${(err as Error).message.split('\n')[0]}`);
        await dockerd?.stop();
        dockerd = undefined;
      }
    }

    const cpu: Record<string, number[]> = {};
    type Engine = { name: 'stevedore' | 'docker'; run: (args: string[]) => Promise<string>; trueRun: (net: string) => Promise<number>; netns?: string };
    const engines: Engine[] = [
      {
        name: 'stevedore',
        run: (a) => exec(process.execPath, [CLI, ...a], env),
        trueRun: async (net) => {
          const { ms, cpuMs } = await timedWithCpu(process.execPath, [CLI, 'run', '--rm', '--network', net, 'web:1', 'true'], env);
          (cpu[net] ??= []).push(cpuMs);
          return ms;
        },
      },
    ];
    if (dockerd) {
      const d = dockerd;
      engines.push({ name: 'docker', run: (a) => exec('docker', a, d.env), trueRun: (net) => timed('docker', ['run', '--rm', '--network', net, 'web:1', 'true'], d.env), netns: d.netns });
    }
    const times: Record<string, number[]> = {};
    const measure = async (e: Engine, side: Side): Promise<number> => {
      if (side === 'bridge' || side === 'none') return e.trueRun(side);
      const port = await freePort();
      return timeToFirstAnswer(e.run, side === 'published' ? ['-p', `${port}:80`, 'web:1'] : ['--network', 'host', '-e', `PORT=${port}`, 'web:1'], port, e.netns);
    };
    for (let rep = -2; rep < reps; rep++) {
      if (rep === 0) for (const k of Object.keys(cpu)) cpu[k] = []; // the warm-up's CPU times go too
      const order = engines.flatMap((e) => SIDES.map((side) => [e, side] as const));
      if (rep % 2 !== 0) order.reverse();
      for (const [e, side] of order) {
        const ms = await measure(e, side);
        if (rep >= 0) (times[`${e.name} ${side}`] ??= []).push(ms);
      }
    }
    const of = (name: string) => Object.fromEntries(SIDES.map((s) => [s, median(times[`${name} ${s}`]!)])) as Record<Side, number>;
    const adds = (name: string) => pairDifferences(times[`${name} bridge`]!, times[`${name} none`]!);
    return {
      reps,
      stevedore: of('stevedore'),
      stevedoreCpu: { bridge: median(cpu.bridge!), none: median(cpu.none!) },
      adds: { stevedore: adds('stevedore'), ...(dockerd ? { docker: adds('docker') } : {}) },
      addsCpu: pairDifferences(cpu.bridge!, cpu.none!),
      ...(dockerd ? { docker: of('docker'), dockerVersion } : {}),
      skipped,
    };
  } finally {
    await dockerd?.stop();
    // Bridges and rules stay until network prune (as docker0 does until dockerd's own clean-up).
    execFileSync(process.execPath, [CLI, 'container', 'prune'], { env, stdio: 'ignore' });
    execFileSync(process.execPath, [CLI, 'network', 'prune'], { env, stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await engineNetworkBench();
  const d = r.docker;
  const cell = (ms: number | undefined) => (ms === undefined ? '–' : `${ms.toFixed(0)} ms`).padStart(9);
  const ratio = (a: number, b: number | undefined) => (b === undefined ? '' : `${(a / b).toFixed(2)}x`.padStart(8));
  const row = (label: string, side: Side) => `${label.padEnd(48)}${cell(r.stevedore[side])}${cell(d?.[side])}${ratio(r.stevedore[side], d?.[side])}\n`;
  const adds = (x: Record<Side, number>) => x.bridge - x.none;
  const range = (x: Spread | undefined) => (x === undefined ? '–' : `${x.median.toFixed(0)} ms [${x.q1.toFixed(0)}, ${x.q3.toFixed(0)}]`).padStart(20);
  // Met when the upper quartile of the per-round differences is under the goal, not only the median.
  const verdict = (x: Spread) => (x.q3 < 50 ? 'met (upper quartile < 50 ms)' : x.median < 50 ? 'median under 50 ms, upper quartile not' : 'not met');
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  process.stdout.write(
    `\nContainer networking, warm (busybox, median of ${r.reps}; docker ${r.dockerVersion ?? 'not run'}; load average ${load})\n` +
      `${''.padEnd(48)}${'stevedore'.padStart(9)}${'docker'.padStart(9)}${'ratio'.padStart(8)}\n` +
      row('run --rm --network bridge IMAGE true', 'bridge') +
      row('run --rm --network none IMAGE true', 'none') +
      `${'  networking adds (bridge - none; goal < 50 ms)'.padEnd(48)}${cell(adds(r.stevedore))}${cell(d && adds(d))}\n` +
      `${'  CPU of the run --rm process tree, bridge/none'.padEnd(48)}${`${r.stevedoreCpu.bridge.toFixed(0)}/${r.stevedoreCpu.none.toFixed(0)} ms`.padStart(18)}\n` +
      `${'  per round, median [IQR]: bridge - none'.padEnd(48)}${range(r.adds.stevedore)}${range(r.adds.docker)}\n` +
      `${'  per round, median [IQR]: CPU bridge - none'.padEnd(48)}${range(r.addsCpu)}\n` +
      `  goal (networking adds under 50 ms), stevedore: ${verdict(r.adds.stevedore)}; CPU: ${verdict(r.addsCpu)}\n` +
      row('run -d -p PORT:80 httpd, to first HTTP answer', 'published') +
      row('run -d --network host httpd, to first answer', 'host') +
      `${'  publishing adds (-p - host)'.padEnd(48)}${cell(r.stevedore.published - r.stevedore.host)}${cell(d && d.published - d.host)}\n` +
      r.skipped.map((s) => `skipped: ${s}\n`).join(''),
  );
}
