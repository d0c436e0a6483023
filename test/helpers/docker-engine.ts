// A private Docker Engine for tests: containerd and dockerd started by hand with their own roots,
// state, sockets and configuration in a temp directory (never the host's /var/lib/docker,
// /etc/docker or a running daemon), no iptables rules and no bridge, so nothing is left behind on
// the host once stop() has run. The `docker` CLI talks to it through DOCKER_HOST, with its own
// DOCKER_CONFIG (logins stay in the temp directory). Needs root, dockerd and containerd (Debian
// `docker.io`, `containerd`); throws DockerEngineUnavailable when the daemons do not come up.
// Docker treats registries on 127.0.0.0/8 as insecure (plain HTTP) by default; others need
// `insecure-registries` in `daemonJson` or TLS.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export interface DockerRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DockerEngine {
  /** DOCKER_HOST of the daemon: unix://…/docker.sock */
  host: string;
  /** Runs the docker CLI against this daemon (with its own DOCKER_CONFIG); never throws on exit status. */
  docker(args: string[], opts?: { input?: string | Buffer; env?: Record<string, string> }): Promise<DockerRun>;
  stop(): Promise<void>;
}

export class DockerEngineUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DockerEngineUnavailable';
  }
}

const DOCKERD = process.env.DOCKERD_BIN ?? 'dockerd';
const CONTAINERD = process.env.CONTAINERD_BIN ?? 'containerd';
const DOCKER = process.env.DOCKER_BIN ?? 'docker';
const START_TIMEOUT_MS = 60_000;

interface Daemon {
  child: ChildProcess;
  logs: string[];
  exited: Promise<unknown>;
}

function startDaemon(cmd: string, args: string[]): Daemon {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const keep = (b: Buffer) => {
    logs.push(b.toString('utf8'));
    if (logs.length > 400) logs.splice(0, logs.length - 400);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = once(child, 'exit').catch(() => undefined);
  child.on('error', (err) => logs.push(`spawn ${cmd}: ${err.message}`));
  return { child, logs, exited };
}

async function stopDaemon(d: Daemon | undefined, graceMs = 20_000): Promise<void> {
  if (!d || d.child.exitCode !== null || d.child.signalCode !== null || d.child.pid === undefined) return;
  d.child.kill('SIGTERM');
  const timer = delay(graceMs).then(() => 'timeout' as const);
  if ((await Promise.race([d.exited.then(() => 'exited' as const), timer])) === 'timeout') {
    d.child.kill('SIGKILL');
    await d.exited;
  }
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string | Buffer, timeoutMs = 300_000): Promise<DockerRun> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: `${stderr}${err.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // the CLI may exit before reading its input
    child.stdin.end(input ?? '');
  });
}

/** Mount points under `dir` (overlay2 layers a killed dockerd may leave), deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

export async function startDockerEngine(opts: { daemonJson?: object } = {}): Promise<DockerEngine> {
  // Short paths: unix socket paths are limited to 108 bytes.
  const dir = await mkdtemp('/tmp/sd-docker-');
  const sock = join(dir, 'containerd.sock');
  const dockerSock = join(dir, 'docker.sock');
  const host = `unix://${dockerSock}`;
  const cliConfig = join(dir, 'cli');
  await mkdir(cliConfig);
  // containerd: its own root, state and socket; no CRI plugin (it would want CNI and ports).
  const containerdConfig = join(dir, 'containerd.toml');
  await writeFile(containerdConfig, 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
  const daemonJson = join(dir, 'daemon.json');
  await writeFile(daemonJson, JSON.stringify(opts.daemonJson ?? {}));
  let containerd: Daemon | undefined;
  let dockerd: Daemon | undefined;
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: cliConfig, DOCKER_CLI_HINTS: 'false' };

  const cleanUp = async () => {
    await stopDaemon(dockerd);
    await stopDaemon(containerd);
    for (const m of await mountsUnder(dir)) await run('umount', ['-l', m], process.env, undefined, 30_000);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };

  const waitFor = async (what: string, daemon: Daemon, ready: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
        throw new DockerEngineUnavailable(`${what} exited (${daemon.child.exitCode ?? daemon.child.signalCode}) while starting:\n${daemon.logs.join('').slice(-3000)}`);
      }
      if (await ready()) return;
      if (Date.now() > deadline) throw new DockerEngineUnavailable(`${what} did not come up within ${START_TIMEOUT_MS / 1000} s:\n${daemon.logs.join('').slice(-3000)}`);
      await delay(250);
    }
  };

  try {
    containerd = startDaemon(CONTAINERD, ['--config', containerdConfig, '--root', join(dir, 'containerd-root'), '--state', join(dir, 'containerd-state'), '--address', sock]);
    await waitFor('containerd', containerd, () => access(sock).then(() => true, () => false));
    dockerd = startDaemon(DOCKERD, [
      '--config-file', daemonJson,
      '--containerd', sock,
      '--data-root', join(dir, 'data'),
      '--exec-root', join(dir, 'exec'),
      '--pidfile', join(dir, 'docker.pid'),
      '-H', host,
      '--iptables=false',
      '--ip-masq=false',
      '--bridge=none',
      '--storage-driver', 'overlay2',
    ]);
    await waitFor('dockerd', dockerd, async () => (await run(DOCKER, ['version', '--format', '{{.Server.Version}}'], env, undefined, 20_000)).code === 0);
  } catch (err) {
    await cleanUp();
    if (err instanceof DockerEngineUnavailable) throw err;
    throw new DockerEngineUnavailable((err as Error).message);
  }

  return {
    host,
    docker: (args, o = {}) => run(DOCKER, args, { ...env, ...o.env }, o.input),
    stop: cleanUp,
  };
}
