// Docker Engine for the network benchmark, with its default bridge and iptables, inside a network
// namespace of the benchmark's own: docker0, its DOCKER-* chains, its ip_forward and its
// docker-proxy listeners all live in that namespace (iptables and sysctls are per namespace), so
// nothing touches the shared host's links or rules, and removing the namespace removes them all.
// containerd and dockerd have their own roots, state and sockets in a temp directory; the docker
// CLI reaches dockerd through its unix socket (a file: no network needed). Needs root, dockerd,
// containerd, docker (Debian docker.io) and docker-proxy.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNetns, removeNetns } from '../engine/network/netns.js';

export interface DockerInNetns {
  /** The namespace file: `nsenter --net=<netns>` runs a program where docker's ports answer. */
  netns: string;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

function collect(child: ChildProcess): string[] {
  const logs: string[] = [];
  const keep = (b: Buffer) => {
    logs.push(b.toString('utf8'));
    if (logs.length > 200) logs.splice(0, logs.length - 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return logs;
}

async function stopDaemon(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  if ((await Promise.race([exited.then(() => 'exited'), sleep(20_000).then(() => 'timeout')])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

function docker(env: NodeJS.ProcessEnv, args: string[]): Promise<number> {
  return new Promise((resolve) => spawn('docker', args, { env, stdio: 'ignore' }).on('close', (c) => resolve(c ?? 1)).on('error', () => resolve(127)));
}

/**
 * `bridge: false` starts dockerd with `--bridge=none --iptables=false --ip-masq=false` (no docker0,
 * no rules, even inside the namespace): for benchmarks whose containers need no network of docker's.
 */
export async function startDockerInNetns(opts: { bridge?: boolean } = {}): Promise<DockerInNetns> {
  const dir = await mkdtemp('/tmp/bench-dockerd-'); // short: unix socket paths are limited
  const netns = join(dir, 'netns');
  const sock = join(dir, 'containerd.sock');
  const host = `unix://${join(dir, 'docker.sock')}`;
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, 'cli'), DOCKER_CLI_HINTS: 'false' };
  await mkdir(join(dir, 'cli'));
  await writeFile(join(dir, 'containerd.toml'), 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
  await writeFile(join(dir, 'daemon.json'), '{}');
  let containerd: ChildProcess | undefined;
  let dockerd: ChildProcess | undefined;
  const stop = async () => {
    await stopDaemon(dockerd);
    await stopDaemon(containerd);
    const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${dir}/`) && m !== netns);
    for (const m of mounts.sort((a, b) => b.length - a.length)) await new Promise((r) => spawn('umount', ['-l', m]).on('close', r));
    await removeNetns(netns).catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  };
  try {
    await createNetns(netns);
    const inNs = (cmd: string, args: string[]) => spawn('nsenter', [`--net=${netns}`, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    containerd = inNs('containerd', ['--config', join(dir, 'containerd.toml'), '--root', join(dir, 'containerd-root'), '--state', join(dir, 'containerd-state'), '--address', sock]);
    const cLogs = collect(containerd);
    for (let i = 0; !(await access(sock).then(() => true, () => false)); i++) {
      if (i > 240 || containerd.exitCode !== null) throw new Error(`containerd did not start: ${cLogs.join('').slice(-2000)}`);
      await sleep(250);
    }
    // Docker's defaults: the bridge docker0 with its iptables rules and the userland proxy (unless told otherwise).
    const network = opts.bridge === false ? ['--bridge=none', '--iptables=false', '--ip-masq=false'] : [];
    dockerd = inNs('dockerd', ['--config-file', join(dir, 'daemon.json'), '--containerd', sock, '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'docker.pid'), '-H', host, '--storage-driver', 'overlay2', ...network]);
    const dLogs = collect(dockerd);
    for (let i = 0; (await docker(env, ['version', '--format', '{{.Server.Version}}'])) !== 0; i++) {
      if (i > 240 || dockerd.exitCode !== null) throw new Error(`dockerd did not start: ${dLogs.join('').slice(-2000)}`);
      await sleep(250);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { netns, env, stop };
}
