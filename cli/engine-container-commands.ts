// Container commands: run, ps, logs, stop, kill, rm, exec, attach, container inspect/prune.
import type { Command } from 'commander';
import type { StoreImageProvider } from '../engine/image-provider.js';
import { createContainer, type CreateOptions } from '../engine/containers/create-container.js';
import { ContainerNotFoundError, type ContainerRecord } from '../engine/containers/container-store.js';
import { EngineContext } from '../engine/containers/engine-context.js';
import {
  attachable,
  attachContainer,
  cleanupContainer,
  containerPid,
  execInContainer,
  findContainer,
  ContainerStateError,
  isPaused,
  killContainer,
  listContainers,
  pauseContainer,
  prepareStart,
  renameContainer,
  waitContainer,
  waitHealth,
  pruneContainers,
  removeContainer,
  runAttached,
  startDetached,
  stopContainer,
} from '../engine/containers/lifecycle.js';
import { writeLogs } from '../engine/containers/logs.js';
import { containerStats, containerTop } from '../engine/containers/stats.js';
import { containerPath, copyFromContainer, copyToContainer, exportContainer } from '../engine/containers/container-files.js';
import { parseLogTime } from '../engine/containers/log-file.js';
import { MONITOR_SCRIPT } from '../engine/containers/monitor.js';
import { selfId } from '../engine/process-info.js';
import {
  envFromFlag,
  parseCpus,
  parseHostname,
  parseMemory,
  parsePidsLimit,
  parseWorkdir,
  readEnvFile,
  UsageError,
} from '../engine/containers/run-options.js';
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag, parseVolumesFrom } from '../engine/volumes/mount-options.js';
import { parseRestartPolicy } from '../engine/containers/restart-policy.js';
import { rootOf } from './engine-root.js';
import { containerCommandStatus, EXIT_CANNOT_INVOKE } from './error-report.js';
import { UserError } from '../engine/bundle/user.js';
import { healthSuffix, type HealthStatus } from '../engine/containers/health.js';
import { parseDuration } from '../util/duration.js';
import { networkRequest, NETWORK_RUN_OPTIONS, portsColumn, type NetworkRunFlags } from './engine-network-commands.js';
import { checkHostPorts } from '../engine/network/container-network.js';
import { renderTemplate } from './go-template.js';
import { age, table } from './table.js';

/** Gives the image side for an engine root (the store under it), loaded only when `run` needs it. */
export type ImageProviderFactory = (root: string) => Promise<StoreImageProvider>;

interface RunFlags extends NetworkRunFlags {
  detach?: boolean;
  rm?: boolean;
  name?: string;
  env: string[];
  envFile: string[];
  volume: string[];
  mount: string[];
  tmpfs: string[];
  volumesFrom: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  memory?: string;
  cpus?: string;
  pidsLimit?: string;
  readOnly?: boolean;
  capAdd: string[];
  capDrop: string[];
  init?: boolean;
  tty?: boolean;
  interactive?: boolean;
  restart?: string;
  runtime: string;
  label: string[];
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthRetries?: string;
  healthStartPeriod?: string;
  healthcheck?: boolean;
}

const collect = (v: string, acc: string[]) => [...acc, v];

/** What `attach` passes on to a container without a terminal (docker's --sig-proxy). */
const PROXIED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Prints `stevedore: message` and sets the exit status, for errors of the command itself. */
function fail(err: unknown, status: number): void {
  const e = err as Error;
  process.stderr.write(`stevedore: ${(e?.message ?? String(err)).split('\n')[0]}\n`);
  if (process.env.STEVEDORE_DEBUG) process.stderr.write(`${e?.stack}\n`);
  process.exitCode = status;
}

async function createOptions(ctx: EngineContext, flags: RunFlags, cmd: string[]): Promise<CreateOptions> {
  // -dit: the container's terminal is kept by its monitor for `attach`; -di alone has nothing to keep stdin in.
  if (flags.detach && flags.interactive && !flags.tty) throw new UsageError('-d -i needs -t: a detached container keeps its input only on a terminal (run -dit, then attach)');
  const env: string[] = [];
  for (const f of flags.envFile) env.push(...(await readEnvFile(f, process.env)));
  for (const e of flags.env) {
    const v = envFromFlag(e, process.env);
    if (v !== undefined) env.push(v);
  }
  // docker applies -v, --mount and --tmpfs in that order of kinds; a later one at a path wins.
  const mountRequests = () => [...flags.volume.map((v) => parseVolumeFlag(v)), ...flags.mount.map((m) => parseMountFlag(m)), ...flags.tmpfs.map(parseTmpfsFlag)];
  const restart = flags.restart !== undefined ? parseRestartPolicy(flags.restart) : undefined;
  if (restart && restart.name !== 'no' && flags.rm) throw new UsageError('--restart and --rm cannot be combined: a container removed on exit cannot be restarted');
  return {
    restart,
    name: flags.name,
    cmd,
    entrypoint: flags.entrypoint,
    env,
    workdir: flags.workdir !== undefined ? parseWorkdir(flags.workdir) : undefined,
    user: flags.user,
    hostname: flags.hostname !== undefined ? parseHostname(flags.hostname) : undefined,
    ...(await networkRequest(ctx, flags)),
    mounts: mountRequests(),
    volumesFrom: flags.volumesFrom.map(parseVolumesFrom),
    readOnly: !!flags.readOnly,
    capAdd: flags.capAdd,
    init: !!flags.init,
    capDrop: flags.capDrop,
    resources: {
      ...(flags.memory !== undefined ? { memory: parseMemory(flags.memory) } : {}),
      ...(flags.cpus !== undefined ? { cpus: parseCpus(flags.cpus) } : {}),
      ...(flags.pidsLimit !== undefined ? { pidsLimit: parsePidsLimit(flags.pidsLimit) } : {}),
    },
    terminal: !!flags.tty,
    detached: !!flags.detach,
    autoRemove: !!flags.rm,
    runtime: flags.runtime,
    labels: parseLabels(flags.label),
    health: {
      healthCmd: flags.healthCmd,
      healthInterval: flags.healthInterval,
      healthTimeout: flags.healthTimeout,
      healthRetries: flags.healthRetries,
      healthStartPeriod: flags.healthStartPeriod,
      healthcheck: flags.healthcheck,
    },
  };
}

/** `--label K=V` (docker: `--label K` is K with an empty value). */
function parseLabels(flags: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of flags) {
    const i = l.indexOf('=');
    const key = i < 0 ? l : l.slice(0, i);
    if (key === '') throw new UsageError(`invalid --label ${JSON.stringify(l)}: KEY=VALUE`);
    out[key] = i < 0 ? '' : l.slice(i + 1);
  }
  return out;
}

/** `create`: a container made from the image (pulled when missing), not started; prints its id. */
async function create(imageRef: string, cmd: string[], flags: RunFlags, command: Command, providerFactory: ImageProviderFactory): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  try {
    needRoot('create');
    const opts = await createOptions(ctx, { ...flags, detach: false }, cmd);
    if (opts.networking) await checkHostPorts(ctx, opts.networking);
    ctx.runtime(opts.runtime);
    const provider = await providerFactory(ctx.root);
    const use = await provider.hold();
    try {
      const image = (await provider.find(imageRef)) ?? (await provider.pull(imageRef, { onProgress: (l) => process.stderr.write(`${l}\n`) }));
      // Started later by `start` (in the background unless -a): recorded as detached.
      const record = await createContainer(ctx, image, { ...opts, detached: !flags.interactive });
      process.stdout.write(`${record.id}\n`);
    } finally {
      await use.release();
    }
  } catch (err) {
    fail(err, containerCommandStatus(err));
  }
}

/** Containers need root (mounts, namespaces, cgroups), like pulling into the store. */
function needRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new UsageError(`${what} needs root (containers are made with mounts, namespaces and cgroups): run it with sudo`);
}

async function run(imageRef: string, cmd: string[], flags: RunFlags, command: Command, providerFactory: ImageProviderFactory): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  // Ctrl-C while the container is being set up: finish setting up, then clean up and stop.
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => void (interrupted = sig);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let record: ContainerRecord;
  try {
    needRoot('run');
    // In the foreground the terminal is ours (create -t and run -dt keep one of their own).
    if (flags.tty && !flags.detach && !process.stdin.isTTY) throw new UsageError('-t: the input device is not a TTY');
    const opts = await createOptions(ctx, flags, cmd);
    ctx.runtime(opts.runtime); // validates --runtime before any work
    if (opts.networking) await checkHostPorts(ctx, opts.networking);
    const provider = await providerFactory(ctx.root);
    // Held until container.json names the image: a concurrent prune cannot remove it in between.
    const use = await provider.hold();
    try {
      const image = (await provider.find(imageRef)) ?? (await provider.pull(imageRef, { onProgress: (l) => process.stderr.write(`${l}\n`) }));
      record = await createContainer(ctx, image, flags.detach ? opts : { ...opts, owner: selfId() });
    } finally {
      await use.release();
    }
    if (interrupted) {
      await cleanupContainer(ctx, record.id);
      process.exitCode = interrupted === 'SIGINT' ? 130 : 143;
      return;
    }
    if (flags.detach) {
      const started = await startDetached(ctx, record, MONITOR_SCRIPT);
      // Like docker: a container that could not even start is an error of `run` (it stays listed).
      if (started.state === 'exited' && started.error) {
        fail(new Error(`${started.error} (container ${started.name})`), started.exitCode ?? 125);
        return;
      }
      process.stdout.write(`${started.id}\n`);
      return;
    }
  } catch (err) {
    fail(err, containerCommandStatus(err));
    return;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  try {
    process.exitCode = await runAttached(ctx, record, { interactive: !!flags.interactive, tty: !!flags.tty, monitorScript: MONITOR_SCRIPT, onError: (message) => process.stderr.write(`stevedore: ${message}\n`) });
  } catch (err) {
    fail(err, containerCommandStatus(err));
  }
}

function status(r: ContainerRecord, paused = false): string {
  if (r.state === 'running' && r.hostConfig.restarting) return `Restarting (${r.exitCode ?? 'unknown'}) ${age(r.finishedAt)} ago`;
  if (r.state === 'running') return `Up ${age(r.startedAt)}${paused ? ' (Paused)' : healthSuffix(r.health)}`;
  if (r.state === 'exited') return `Exited (${r.exitCode ?? 'unknown'}) ${age(r.finishedAt)} ago`;
  return 'Created';
}

function commandText(r: ContainerRecord): string {
  const text = [r.path, ...r.args].join(' ');
  return JSON.stringify(text.length > 20 ? `${text.slice(0, 19)}…` : text);
}

async function inspectRecord(ctx: EngineContext, r: ContainerRecord): Promise<Record<string, unknown>> {
  const { health, ...rest } = r;
  const pid = await containerPid(r);
  const paused = await isPaused(ctx, r);
  return {
    ...rest,
    pid,
    paused,
    restartCount: r.restartCount ?? 0,
    mounts: (r.hostConfig as { mounts?: unknown[] }).mounts ?? [],
    State: dockerState(r, pid, paused, health),
    RestartCount: r.restartCount ?? 0,
  };
}

/**
 * docker inspect's State (what `--format '{{.State.Health.Status}}'` habits and compose read):
 * Health only while the container has a check, as docker's.
 */
function dockerState(r: ContainerRecord, pid: number | undefined, paused: boolean, health: ContainerRecord['health']): Record<string, unknown> {
  const restarting = r.state === 'running' && !!r.hostConfig.restarting;
  const zero = '0001-01-01T00:00:00Z'; // Go's zero time, docker's "never"
  return {
    Status: restarting ? 'restarting' : paused ? 'paused' : r.state,
    Running: r.state === 'running',
    Paused: paused,
    Restarting: restarting,
    OOMKilled: false,
    Dead: false,
    Pid: restarting ? 0 : (pid ?? 0),
    ExitCode: r.exitCode ?? 0,
    Error: r.error ?? '',
    StartedAt: r.startedAt ?? zero,
    FinishedAt: r.finishedAt ?? zero,
    ...(r.healthcheck && health ? { Health: health } : {}),
  };
}

/** Runs an action for each container named, like docker: one failure does not stop the others. */
async function forEach(refs: string[], fn: (ref: string) => Promise<ContainerRecord | void>, print = (ref: string) => ref): Promise<void> {
  for (const ref of refs) {
    try {
      await fn(ref);
      process.stdout.write(`${print(ref)}\n`);
    } catch (err) {
      fail(err, 1);
    }
  }
}

/** `stop -t`/`restart -t`: seconds to wait before SIGKILL. */
function stopTimeout(text: string): number {
  const t = Number(text);
  if (!Number.isFinite(t) || t < 0) throw new UsageError(`invalid --time ${text}`);
  return t;
}

export function registerContainerCommands(program: Command, providerFactory: ImageProviderFactory): void {
  // `run IMAGE CMD -x` passes -x to CMD: needs options to be positional program-wide.
  program.enablePositionalOptions();

  const containerFlags = (c: Command) =>
    c
      .argument('<image>')
      .argument('[command...]', 'replaces the image\'s Cmd')
      .passThroughOptions()
      .option('-d, --detach', 'run in the background and print the container id')
      .option('--rm', 'remove the container when it exits')
      .option('--name <name>', 'container name')
      .option('-e, --env <name[=value]>', 'set an environment variable (NAME alone: from this environment)', collect, [])
      .option('--env-file <file>', 'read NAME=VALUE lines', collect, [])
      .option('-v, --volume <[src:]ctr[:ro]>', 'a host path (absolute or ./relative) or a named volume (made on first use) at a container path; a path alone: an anonymous volume', collect, [])
      .option('--mount <type=…,source=…,target=…>', 'type=bind|volume|tmpfs, source, target, readonly, volume-nocopy, tmpfs-size, tmpfs-mode', collect, [])
      .option('--tmpfs <path[:opts]>', 'a tmpfs at path (mount options: size=64m, mode=1777, …)', collect, [])
      .option('--volumes-from <container[:ro|rw]>', 'the volumes and binds of another container', collect, [])
      .option('-w, --workdir <dir>', 'working directory inside the container')
      .option('-u, --user <user[:group]>', 'user name or uid, optional group name or gid')
      .option('--entrypoint <cmd>', 'override the image\'s Entrypoint (clears its Cmd)')
      .option('--hostname <name>', 'container host name')
      .option('-m, --memory <bytes>', 'memory limit, e.g. 64m')
      .option('--cpus <n>', 'CPU limit, e.g. 1.5')
      .option('--pids-limit <n>', 'process limit')
      .option('--read-only', 'mount the root filesystem read-only')
      .option('--init', 'run docker\'s init (tini) as PID 1: it forwards signals and reaps zombies')
      .option('--cap-add <cap>', 'add a Linux capability to docker\'s default set (NET_ADMIN, ALL; repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
      .option('--cap-drop <cap>', 'drop a Linux capability from the default set (NET_RAW, ALL; repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
      .option('-t, --tty', 'allocate a terminal (with -d: kept for `attach`)')
      .option('-i, --interactive', 'keep stdin attached')
      .option('--restart <policy>', 'no, on-failure[:N], always or unless-stopped (in the foreground, like docker: run ends with the first exit\'s status and a monitor restarts the container in the background)')
      .option('--runtime <name>', 'OCI runtime: runc or crun', 'runc')
      .option('-l, --label <key=value>', 'a label on the container (over the image\'s)', collect, [])
      .option('--health-cmd <command>', 'health check command, run with /bin/sh -c in the container (replaces the image\'s HEALTHCHECK)')
      .option('--health-interval <duration>', 'time between health checks, e.g. 30s (default 30s)')
      .option('--health-timeout <duration>', 'a check running longer fails (default 30s)')
      .option('--health-retries <n>', 'failures in a row that make it unhealthy (default 3)')
      .option('--health-start-period <duration>', 'failures in this time after the start do not count')
      .option('--no-healthcheck', 'no health check, also none of the image\'s');
  const withNetworkFlags = (c: Command) => {
    for (const [flags, description, parse, initial] of NETWORK_RUN_OPTIONS) c.option(flags, description, parse as never, initial as never);
    return c;
  };

  withNetworkFlags(containerFlags(program.command('run').description('run a command in a new container'))).action((image: string, cmd: string[], flags: RunFlags, command: Command) =>
    run(image, cmd, flags, command, providerFactory),
  );
  withNetworkFlags(containerFlags(program.command('create').description('create a container without starting it (start it with start)'))).action(
    (image: string, cmd: string[], flags: RunFlags, command: Command) => create(image, cmd, flags, command, providerFactory),
  );


  program
    .command('commit')
    .description('make an image of a container\'s changes: its upper directory as a new layer on its image')
    .argument('<container>')
    .argument('[name]', 'the new image\'s name (NAME[:TAG])')
    .option('-c, --change <instruction>', 'a Dockerfile instruction for the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, …', collect, [])
    .option('-m, --message <text>', 'the commit message (in the image\'s history)')
    .option('-a, --author <name>', 'the author')
    .option('--no-pause', 'do not pause a running container while its changes are read')
    .action(async (ref: string, name: string | undefined, flags: { change: string[]; message?: string; author?: string; pause: boolean }, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      try {
        needRoot('commit');
        const r = await findContainer(ctx, ref);
        const provider = await providerFactory(ctx.root);
        const { commitUpperDir } = await import('../builder/commit-image.js');
        // docker pauses it too: a layer read while files change would be torn.
        const pause = flags.pause && r.state === 'running' && !(await isPaused(ctx, r));
        if (pause) await pauseContainer(ctx, r.id, true);
        try {
          const made = await commitUpperDir(provider.store, r.image.manifestDigest, r.upperDir, { tags: name ? [name] : [], changes: flags.change, message: flags.message, author: flags.author, containerCommand: [r.path, ...r.args].join(' ') });
          process.stdout.write(`${made.config}\n`);
        } finally {
          if (pause) await pauseContainer(ctx, r.id, false).catch(() => {});
        }
      } catch (err) {
        fail(err, 1);
      }
    });

  program
    .command('import')
    .description('make a one-layer image of a root filesystem tar (FILE, or - for stdin; plain or gzip)')
    .argument('<file>')
    .argument('[name]', 'the new image\'s name (NAME[:TAG])')
    .option('-c, --change <instruction>', 'a Dockerfile instruction for the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, …', collect, [])
    .option('-m, --message <text>', 'the history\'s comment')
    .action(async (file: string, name: string | undefined, flags: { change: string[]; message?: string }, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      try {
        needRoot('import');
        if (file === '-' && process.stdin.isTTY) throw new UsageError('import - reads a tar from stdin: redirect one (import - < rootfs.tar)');
        const provider = await providerFactory(ctx.root);
        const { importTar } = await import('../builder/commit-image.js');
        // Opened before any work: a missing file is one line, not a stream's unhandled error.
        const { open } = await import('node:fs/promises');
        const input = file === '-' ? process.stdin : (await open(file)).createReadStream();
        const made = await importTar(provider.store, input, { tags: name ? [name] : [], changes: flags.change, message: flags.message, source: file === '-' ? 'stdin' : file });
        process.stdout.write(`${made.config}\n`);
      } catch (err) {
        fail((err as NodeJS.ErrnoException).code === 'ENOENT' ? new Error(`${file}: no such file`) : err, 1);
      }
    });

  program
    .command('ps')
    .description('list containers (running ones unless -a)')
    .option('-a, --all', 'show all containers')
    .option('-q, --quiet', 'only ids')
    .option('--no-trunc', 'full ids')
    .option('-f, --filter <key=value>', 'status=created|running|paused|restarting|exited, name=…, id=…, ancestor=IMAGE, exited=CODE, label=KEY[=VALUE], health=starting|healthy|unhealthy|none (repeatable)', collect, [])
    .option('--format <template>', 'a Go-style template: {{.ID}} {{.Image}} {{.Command}} {{.CreatedAt}} {{.Status}} {{.Names}} {{.State}} {{.Labels}} {{.RestartCount}} {{.Size}}, or "json"')
    .option('--json', 'one JSON object per line (like --format json)')
    .option('-n, --last <n>', 'the n containers made last (any state)')
    .option('-l, --latest', 'the container made last (any state)')
    .option('-s, --size', 'the size of each container\'s own changes')
    .action(async (flags: { all?: boolean; quiet?: boolean; trunc: boolean; filter: string[]; format?: string; json?: boolean; last?: string; latest?: boolean; size?: boolean }, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      let last: number | undefined;
      if (flags.last !== undefined) {
        if (!/^-?[0-9]+$/.test(flags.last)) throw new UsageError(`invalid --last ${flags.last}: a number`);
        last = Number(flags.last) < 0 ? undefined : Number(flags.last);
      }
      if (flags.latest) last = 1;
      // Image names as users write them (`busybox:1`, not `docker.io/library/busybox:1`).
      const { familiarReference, parseReference } = await import('../oci/index.js');
      const imageName = (r: ContainerRecord) => (r.image.reference ? familiarReference(parseReference(r.image.reference)) : r.image.configDigest.slice(7, 19));
      const stateOf = async (r: ContainerRecord) => (r.state === 'running' ? (r.hostConfig.restarting ? 'restarting' : (await isPaused(ctx, r)) ? 'paused' : 'running') : r.state);
      let list = await listContainers(ctx); // newest first
      if (last !== undefined) list = list.slice(0, last);
      else if (!flags.all) list = list.filter((r) => r.state === 'running');
      for (const f of flags.filter) {
        const i = f.indexOf('=');
        if (i <= 0) throw new UsageError(`invalid --filter ${JSON.stringify(f)}: KEY=VALUE`);
        const [k, v] = [f.slice(0, i), f.slice(i + 1)];
        if (k === 'status') {
          if (!['created', 'running', 'paused', 'restarting', 'exited'].includes(v)) throw new UsageError(`invalid --filter status=${v}: created, running, paused, restarting or exited`);
          // docker: a status filter looks at every container, not only running ones.
          if (last === undefined && !flags.all) list = await listContainers(ctx);
          const states = await Promise.all(list.map(stateOf));
          list = list.filter((_r, j) => states[j] === v);
        } else if (k === 'name') list = list.filter((r) => r.name.includes(v.replace(/^\//, '')));
        else if (k === 'id') list = list.filter((r) => r.id.startsWith(v));
        else if (k === 'exited') list = list.filter((r) => r.state === 'exited' && String(r.exitCode) === v);
        else if (k === 'label') {
          const j = v.indexOf('=');
          const [lk, lv] = j < 0 ? [v, undefined] : [v.slice(0, j), v.slice(j + 1)];
          list = list.filter((r) => r.labels !== undefined && lk in r.labels && (lv === undefined || r.labels[lk] === lv));
        } else if (k === 'health') {
          if (!['starting', 'healthy', 'unhealthy', 'none'].includes(v)) throw new UsageError(`invalid --filter health=${v}: starting, healthy, unhealthy or none`);
          list = list.filter((r) => (v === 'none' ? !r.healthcheck : r.state === 'running' && r.health?.Status === v));
        } else if (k === 'ancestor') list = list.filter((r) => imageName(r) === v || r.image.reference === v || r.image.configDigest.slice(7).startsWith(v.replace(/^sha256:/, '')) || r.image.manifestDigest === v);
        else throw new UsageError(`unsupported --filter ${k}: status, name, id, exited, ancestor, label or health`);
      }
      const id = (r: ContainerRecord) => (flags.trunc ? r.id.slice(0, 12) : r.id);
      if (flags.quiet) {
        process.stdout.write(list.map((r) => `${id(r)}\n`).join(''));
        return;
      }
      const { dirSize } = await import('../engine/dir-size.js');
      const { formatBytes } = await import('./copy-progress.js');
      const rows = [];
      for (const r of list) {
        rows.push({
          ID: id(r),
          Image: imageName(r),
          Command: commandText(r),
          CreatedAt: r.created,
          RunningFor: `${age(r.created)} ago`,
          Status: status(r, await isPaused(ctx, r)),
          State: await stateOf(r),
          Ports: portsColumn(r),
          Names: r.name,
          Labels: Object.entries(r.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
          // Not a column of docker's ps (its inspect has it): here for --format and --json.
          RestartCount: r.restartCount ?? 0,
          ...(flags.size ? { Size: formatBytes(await dirSize(r.upperDir)) } : {}),
        });
      }
      if (flags.json || flags.format === 'json') {
        process.stdout.write(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
        return;
      }
      if (flags.format !== undefined) {
        process.stdout.write(renderTemplate(flags.format, rows));
        return;
      }
      const header = ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES', ...(flags.size ? ['SIZE'] : [])];
      process.stdout.write(table([header, ...rows.map((r) => [r.ID, r.Image, r.Command, r.RunningFor, r.Status, r.Ports, r.Names, ...(flags.size ? [r.Size!] : [])])]));
    });

  program
    .command('logs')
    .description('print the output of a container (stdout and stderr each to its own)')
    .argument('<container>')
    .option('-f, --follow', 'keep printing until the container exits')
    .option('--since <time>', 'only lines since: RFC 3339, Unix seconds, or a duration like 10m')
    .option('--until <time>', 'only lines before')
    .option('-n, --tail <n>', 'only the last N lines ("all": every line)')
    .option('-t, --timestamps', 'show when each line was written')
    .action(async (ref: string, flags: { follow?: boolean; since?: string; until?: string; tail?: string; timestamps?: boolean }, command: Command) => {
      const time = (flag: string, v?: string) => {
        if (v === undefined) return undefined;
        try {
          return parseLogTime(v);
        } catch (err) {
          throw new UsageError(`--${flag}: ${(err as Error).message}`);
        }
      };
      let tail: number | undefined;
      if (flags.tail !== undefined && flags.tail !== 'all') {
        if (!/^[0-9]+$/.test(flags.tail)) throw new UsageError(`invalid --tail ${flags.tail}: a number of lines, or all`);
        tail = Number(flags.tail);
      }
      await writeLogs(new EngineContext(rootOf(command)), ref, { stdout: process.stdout, stderr: process.stderr }, { follow: !!flags.follow, since: time('since', flags.since), until: time('until', flags.until), tail, timestamps: !!flags.timestamps });
    });

  program
    .command('start')
    .description('start containers that are not running (their changes kept); -a: in the foreground')
    .argument('[container...]')
    .option('-a, --attach', 'in the foreground: its output here, its exit status ours')
    .option('-i, --interactive', 'with -a: our stdin is its stdin')
    .option('--all-restartable', 'every container whose --restart policy is always or unless-stopped (after a reboot)')
    .action(async (refs: string[], flags: { attach?: boolean; interactive?: boolean; allRestartable?: boolean }, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      if (flags.allRestartable) {
        refs = (await listContainers(ctx))
          .filter((r) => r.state !== 'running')
          .filter((r) => {
            const p = (r.hostConfig as { restart?: { name: string } }).restart?.name;
            // unless-stopped: not when it was stopped by hand before the reboot.
            return p === 'always' || (p === 'unless-stopped' && !r.hostConfig.manuallyStopped);
          })
          .map((r) => r.name);
      } else if (refs.length === 0) {
        throw new UsageError('start needs at least one container (or --all-restartable)');
      }
      if (flags.attach) {
        if (refs.length !== 1) throw new UsageError('start -a takes one container');
        try {
          const r = await prepareStart(ctx, refs[0]!);
          if (r.state === 'running') throw new ContainerStateError(`container ${r.name} is already running`);
          if (r.hostConfig.terminal) {
            // docker's `start -ai` of a -t container: started with its terminal kept, then attached.
            const started = await startDetached(ctx, r, MONITOR_SCRIPT);
            if (started.state === 'exited' && started.error) throw new Error(`${started.error} (container ${started.name})`);
            process.exitCode = started.state === 'running' ? await attachContainer(ctx, started.id) : (started.exitCode ?? 0);
            return;
          }
          process.exitCode = await runAttached(ctx, r, { interactive: !!flags.interactive, tty: false, monitorScript: MONITOR_SCRIPT, onError: (message) => process.stderr.write(`stevedore: ${message}\n`) });
        } catch (err) {
          fail(err, 1);
        }
        return;
      }
      await forEach(refs, async (ref) => {
        const r = await prepareStart(ctx, ref);
        if (r.state === 'running') return r;
        const started = await startDetached(ctx, r, MONITOR_SCRIPT);
        if (started.state === 'exited' && started.error) throw new Error(`${started.error} (container ${started.name})`);
        return started;
      });
    });

  program
    .command('restart')
    .description('stop (like stop) and start containers again')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL', '10')
    .action(async (refs: string[], flags: { time: string }, command: Command) => {
      const t = stopTimeout(flags.time);
      const ctx = new EngineContext(rootOf(command));
      await forEach(refs, async (ref) => {
        await stopContainer(ctx, ref, t);
        const r = await prepareStart(ctx, ref);
        return startDetached(ctx, r, MONITOR_SCRIPT);
      });
    });

  program
    .command('wait')
    .description('wait until containers stop; print their exit statuses')
    .argument('<container...>')
    .option('--condition <condition>', 'not-running (default), or healthy / unhealthy: until its health check says so (prints the name)', 'not-running')
    .option('--timeout <duration>', 'with healthy/unhealthy: give up after this long, e.g. 60s')
    .action(async (refs: string[], flags: { condition: string; timeout?: string }, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      if (!['not-running', 'healthy', 'unhealthy'].includes(flags.condition)) throw new UsageError(`invalid --condition ${flags.condition}: not-running, healthy or unhealthy`);
      let timeoutMs = Infinity;
      if (flags.timeout !== undefined) {
        const ms = parseDuration(flags.timeout);
        if (ms === undefined) throw new UsageError(`invalid --timeout ${JSON.stringify(flags.timeout)}: a duration like 60s`);
        timeoutMs = ms;
      }
      for (const ref of refs) {
        try {
          if (flags.condition === 'not-running') process.stdout.write(`${await waitContainer(ctx, ref)}\n`);
          else process.stdout.write(`${(await waitHealth(ctx, ref, flags.condition as HealthStatus, timeoutMs)).name}\n`);
        } catch (err) {
          fail(err, 1);
        }
      }
    });

  for (const [name, pause] of [['pause', true], ['unpause', false]] as const) {
    program
      .command(name)
      .description(pause ? 'freeze every process of containers' : 'thaw paused containers')
      .argument('<container...>')
      .action(async (refs: string[], _flags: unknown, command: Command) => {
        const ctx = new EngineContext(rootOf(command));
        await forEach(refs, (ref) => pauseContainer(ctx, ref, pause));
      });
  }

  program
    .command('cp')
    .description('copy files between a container and the host: cp C:PATH DEST | cp SRC C:PATH (DEST "-": a tar on stdout)')
    .argument('<source>')
    .argument('<destination>')
    .action(async (src: string, dst: string, _flags: unknown, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      const from = containerPath(src);
      const to = containerPath(dst);
      try {
        if (from && to) throw new UsageError('cp copies between a container and the host, not between two containers');
        if (!from && !to) throw new UsageError('cp needs a container path on one side: CONTAINER:PATH');
        if (from) await copyFromContainer(ctx, from.container, from.path, dst, process.stdout);
        else await copyToContainer(ctx, src, to!.container, to!.path);
      } catch (err) {
        fail(err, 1);
      }
    });

  program
    .command('export')
    .description('write a container\'s root filesystem as a tar (to stdout, or -o FILE)')
    .argument('<container>')
    .option('-o, --output <file>', 'the tar file to write')
    .action(async (ref: string, flags: { output?: string }, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      try {
        if (!flags.output && process.stdout.isTTY) throw new UsageError('cowardly refusing to write a tar to a terminal: use -o FILE or redirect the output');
        if (!flags.output) return await exportContainer(ctx, ref, process.stdout);
        const { createWriteStream } = await import('node:fs');
        const { rename } = await import('node:fs/promises');
        const tmp = `${flags.output}.tmp-${process.pid}`;
        const file = createWriteStream(tmp, { mode: 0o600 });
        await exportContainer(ctx, ref, file);
        await new Promise<void>((res, rej) => file.end((err?: Error | null) => (err ? rej(err) : res())));
        await rename(tmp, flags.output);
      } catch (err) {
        fail(err, 1);
      }
    });

  program
    .command('stats')
    .description('CPU, memory, block I/O and processes of running containers, from their cgroups (a live view until Ctrl-C, or once with --no-stream)')
    .argument('[container...]')
    .option('--no-stream', 'print once and exit')
    .option('--json', 'print the figures as JSON (one line per sample)')
    .action(async (refs: string[], flags: { json?: boolean; stream: boolean }, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      const { formatBytes } = await import('./copy-progress.js');
      const clear = flags.stream && !flags.json && process.stdout.isTTY;
      let stopped = false;
      if (flags.stream) process.once('SIGINT', () => (stopped = true));
      for (let first = true; first || (flags.stream && !stopped); first = false) {
        const list = refs.length ? await Promise.all(refs.map((ref) => findContainer(ctx, ref))) : (await listContainers(ctx)).filter((r) => r.state === 'running');
        const running = list.filter((r) => r.state === 'running');
        // Sampled together: one interval (half a second) for all.
        // In the live view a container that stops while it is sampled is left out (the next round
        // sees it stopped); --no-stream reports the failure.
        const sampled = await Promise.all(running.map((r) => containerStats(ctx, r).catch((err: unknown) => (flags.stream ? undefined : Promise.reject(err)))));
        const all = sampled.filter((x): x is NonNullable<typeof x> => x !== undefined);
        if (stopped) break;
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(all)}\n`);
        } else {
          const rows = [['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'BLOCK I/O', 'PIDS']];
          for (const st of all) {
            rows.push([st.id.slice(0, 12), st.name, `${st.cpuPercent.toFixed(2)}%`, `${formatBytes(st.memoryUsage)} / ${formatBytes(st.memoryLimit)}`, `${st.memoryPercent.toFixed(2)}%`, `${formatBytes(st.blockRead)} / ${formatBytes(st.blockWrite)}`, String(st.pids)]);
          }
          // A terminal is redrawn in place (docker's view); a pipe gets one table per sample.
          process.stdout.write(`${clear ? '\x1b[2J\x1b[H' : ''}${table(rows)}${flags.stream && !clear ? '\n' : ''}`);
        }
        // Containers named on the command line: the view ends when none of them runs any more.
        if (refs.length && running.length === 0) break;
        if (flags.stream && !stopped) await new Promise((r) => setTimeout(r, 500));
      }
    });

  program
    .command('top')
    .description('the processes of a running container (ps options may follow)')
    .argument('<container>')
    .argument('[ps-options...]')
    .action(async (ref: string, psArgs: string[], _flags: unknown, command: Command) => {
      try {
        process.stdout.write(await containerTop(new EngineContext(rootOf(command)), ref, psArgs));
      } catch (err) {
        fail(err, 1);
      }
    });

  program
    .command('rename')
    .description('give a container another name')
    .argument('<container>')
    .argument('<new-name>')
    .action(async (ref: string, name: string, _flags: unknown, command: Command) => {
      try {
        await renameContainer(new EngineContext(rootOf(command)), ref, name);
      } catch (err) {
        fail(err, 1);
      }
    });

  program
    .command('stop')
    .description('stop containers: the image\'s StopSignal (default SIGTERM), then SIGKILL after the timeout')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL', '10')
    .action(async (refs: string[], flags: { time: string }, command: Command) => {
      const t = stopTimeout(flags.time);
      const ctx = new EngineContext(rootOf(command));
      await forEach(refs, (ref) => stopContainer(ctx, ref, t));
    });

  program
    .command('kill')
    .description('send a signal to running containers (default SIGKILL)')
    .argument('<container...>')
    .option('-s, --signal <signal>', 'signal name or number', 'SIGKILL')
    .action(async (refs: string[], flags: { signal: string }, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      await forEach(refs, (ref) => killContainer(ctx, ref, flags.signal));
    });

  program
    .command('rm')
    .description('remove containers')
    .argument('<container...>')
    .option('-f, --force', 'kill running containers first')
    .option('-v, --volumes', 'also remove the containers\' anonymous volumes')
    .action(async (refs: string[], flags: { force?: boolean; volumes?: boolean }, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      await forEach(refs, (ref) => removeContainer(ctx, ref, !!flags.force, !!flags.volumes));
    });

  program
    .command('exec')
    .description('run a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .option('-i, --interactive', 'keep stdin attached')
    .option('-t, --tty', 'allocate a terminal')
    .option('-e, --env <name[=value]>', 'set an environment variable', collect, [])
    .option('-w, --workdir <dir>', 'working directory')
    .option('-u, --user <user[:group]>', 'user name or uid, optional group name or gid (from the container\'s /etc/passwd and /etc/group)')
    .action(async (ref: string, args: string[], flags: { interactive?: boolean; tty?: boolean; env: string[]; workdir?: string; user?: string }, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      try {
        if (flags.tty && flags.interactive && !process.stdin.isTTY) throw new UsageError('-t: the input device is not a TTY');
        if (flags.tty && !process.stdin.isTTY && !process.stdout.isTTY && !process.stderr.isTTY) throw new UsageError('-t: none of stdin, stdout, stderr is a TTY');
        const env = flags.env.map((e) => envFromFlag(e, process.env)).filter((e): e is string => e !== undefined);
        process.exitCode = await execInContainer(ctx, ref, args, {
          interactive: !!flags.interactive,
          tty: !!flags.tty,
          env,
          cwd: flags.workdir,
          user: flags.user,
          onError: (message) => process.stderr.write(`stevedore: ${message}\n`),
        });
      } catch (err) {
        // docker: a process that cannot be set up in the container (an unknown user) cannot be invoked.
        fail(err, err instanceof UserError ? EXIT_CANNOT_INVOKE : containerCommandStatus(err));
      }
    });

  program
    .command('attach')
    .description('join this terminal to a running container started with -dit (detach: Ctrl-P Ctrl-Q); without a terminal: its output until it exits, signals passed on')
    .argument('<container>')
    .action(async (ref: string, _flags: unknown, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      try {
        const r = await attachable(ctx, ref);
        if (r.hostConfig.terminal) {
          process.exitCode = await attachContainer(ctx, ref);
          return;
        }
        // docker's attach without a terminal: the output, and (its --sig-proxy) our signals to it.
        const { attachOutput } = await import('../engine/containers/logs.js');
        const proxy = (sig: NodeJS.Signals) => void ctx.runtime(r.runtime).kill(r.id, sig).catch(() => {});
        for (const sig of PROXIED) process.on(sig, proxy);
        try {
          process.exitCode = await attachOutput(ctx, r, { stdout: process.stdout, stderr: process.stderr });
        } finally {
          for (const sig of PROXIED) process.off(sig, proxy);
        }
      } catch (err) {
        fail(err, 1);
      }
    });

  const container = program.command('container').description('manage containers');
  container
    .command('inspect')
    .description('show containers as JSON')
    .argument('<container...>')
    .option('-f, --format <template>', 'a Go-style template per container, e.g. \'{{.State.Health.Status}}\'')
    .action(async (refs: string[], flags: { format?: string }, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      const out = [];
      for (const ref of refs) out.push(await inspectRecord(ctx, await findContainer(ctx, ref)));
      process.stdout.write(flags.format !== undefined ? renderTemplate(flags.format, out) : `${JSON.stringify(out, null, 2)}\n`);
    });
  container
    .command('prune')
    .description('remove all stopped containers')
    .action(async (_flags: unknown, command: Command) => {
      const removed = await pruneContainers(new EngineContext(rootOf(command)));
      process.stdout.write(removed.map((r) => `${r.id}\n`).join(''));
    });
}

/**
 * For a top-level `inspect`: the container's JSON, or undefined when ref names no container (then
 * it may name an image).
 */
export async function inspectContainerAt(root: string, ref: string): Promise<Record<string, unknown> | undefined> {
  const ctx = new EngineContext(root);
  try {
    return await inspectRecord(ctx, await findContainer(ctx, ref));
  } catch (err) {
    if (err instanceof ContainerNotFoundError) return undefined;
    throw err;
  }
}

/** For a top-level `prune`, before images are pruned: removes stopped containers, returns their ids. */
export async function pruneStoppedContainers(root: string): Promise<string[]> {
  return (await pruneContainers(new EngineContext(root))).map((r) => r.id);
}
