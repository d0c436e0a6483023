// What the container commands do (run, create, ps, logs, stop, kill, rm, exec, attach, container
// inspect/prune, ...): loaded when one of them runs; their options are in engine-container-commands.ts.
import type { Command } from 'commander';
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
// Logs, stats, files and templates load in the commands that use them (not in `run`'s start-up).
import { MONITOR_SCRIPT } from '../engine/containers/monitor-script.js';
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
import { parseRestartPolicy } from '../engine/containers/restart-policy.js';
import { rootOf } from './engine-root.js';
import { containerCommandStatus, EXIT_CANNOT_INVOKE } from './error-report.js';
import { UserError } from '../engine/bundle/user.js';
import type { HealthFlags, HealthStatus } from '../engine/containers/health.js';
import { parseDuration } from '../util/duration.js';
import type { NetworkRunFlags } from './engine-network-commands.js';
import { networkRequest } from './engine-network-request.js';

/**
 * The image side for an engine root (the store under it), loaded only when a command needs an
 * image; the registry client inside it only when the image has to be pulled.
 */
async function imageProvider(root: string) {
  const [{ StoreImageProvider }, { ImageStore }] = await Promise.all([import('../engine/image-provider.js'), import('../engine/store/image-store.js')]);
  return new StoreImageProvider(new ImageStore(root), async () => (await import('./client-options.js')).clientFrom({}));
}

export interface RunFlags extends NetworkRunFlags, HealthFlags {
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
}

/** What `attach` passes on to a container without a terminal (docker's --sig-proxy). */
const PROXIED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Prints `stevedore: message` and sets the exit status, for errors of the command itself. */
function fail(err: unknown, status: number): void {
  const e = err as Error;
  process.stderr.write(`stevedore: ${(e?.message ?? String(err)).split('\n')[0]}\n`);
  if (process.env.STEVEDORE_DEBUG) process.stderr.write(`${e?.stack}\n`);
  process.exitCode = status;
}

/**
 * -v, --mount and --tmpfs (docker applies them in that order of kinds; a later one at a path wins)
 * and --volumes-from. Their parsers (and the volume store under them) load only when given.
 */
async function volumeRequests(flags: RunFlags): Promise<Pick<CreateOptions, 'mounts' | 'volumesFrom'>> {
  if (flags.volume.length + flags.mount.length + flags.tmpfs.length + flags.volumesFrom.length === 0) return { mounts: [], volumesFrom: [] };
  const { parseMountFlag, parseTmpfsFlag, parseVolumeFlag, parseVolumesFrom } = await import('../engine/volumes/mount-options.js');
  return {
    mounts: [...flags.volume.map((v) => parseVolumeFlag(v)), ...flags.mount.map((m) => parseMountFlag(m)), ...flags.tmpfs.map(parseTmpfsFlag)],
    volumesFrom: flags.volumesFrom.map(parseVolumesFrom),
  };
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
    ...(await volumeRequests(flags)),
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
export async function createCommand(imageRef: string, cmd: string[], flags: RunFlags, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  try {
    needRoot('create');
    const opts = await createOptions(ctx, { ...flags, detach: false }, cmd);
    if (opts.networking) await (await import('../engine/network/container-network.js')).checkHostPorts(ctx, opts.networking);
    ctx.runtime(opts.runtime);
    const provider = await imageProvider(ctx.root);
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

export async function runCommand(imageRef: string, cmd: string[], flags: RunFlags, command: Command): Promise<void> {
  return runIn(rootOf(command), imageRef, cmd, flags);
}

/** `run` in the engine root `root` (also from cli/engine-run.ts, which parses `run` without commander). */
export async function runIn(root: string, imageRef: string, cmd: string[], flags: RunFlags): Promise<void> {
  const ctx = new EngineContext(root);
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
    if (opts.networking) await (await import('../engine/network/container-network.js')).checkHostPorts(ctx, opts.networking);
    const provider = await imageProvider(ctx.root);
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

export async function commitCommand(ref: string, name: string | undefined, flags: { change: string[]; message?: string; author?: string; pause: boolean }, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  try {
    needRoot('commit');
    const r = await findContainer(ctx, ref);
    const provider = await imageProvider(ctx.root);
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
}

export async function importCommand(file: string, name: string | undefined, flags: { change: string[]; message?: string }, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  try {
    needRoot('import');
    if (file === '-' && process.stdin.isTTY) throw new UsageError('import - reads a tar from stdin: redirect one (import - < rootfs.tar)');
    const provider = await imageProvider(ctx.root);
    const { importTar } = await import('../builder/commit-image.js');
    // Opened before any work: a missing file is one line, not a stream's unhandled error.
    const { open } = await import('node:fs/promises');
    const input = file === '-' ? process.stdin : (await open(file)).createReadStream();
    const made = await importTar(provider.store, input, { tags: name ? [name] : [], changes: flags.change, message: flags.message, source: file === '-' ? 'stdin' : file });
    process.stdout.write(`${made.config}\n`);
  } catch (err) {
    fail((err as NodeJS.ErrnoException).code === 'ENOENT' ? new Error(`${file}: no such file`) : err, 1);
  }
}

export async function logsCommand(ref: string, flags: { follow?: boolean; since?: string; until?: string; tail?: string; timestamps?: boolean }, command: Command): Promise<void> {
  const [{ writeLogs }, { parseLogTime }] = await Promise.all([import('../engine/containers/logs.js'), import('../engine/containers/log-file.js')]);
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
}

export async function startCommand(refs: string[], flags: { attach?: boolean; interactive?: boolean; allRestartable?: boolean }, command: Command): Promise<void> {
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
}

export async function restartCommand(refs: string[], flags: { time: string }, command: Command): Promise<void> {
  const t = stopTimeout(flags.time);
  const ctx = new EngineContext(rootOf(command));
  await forEach(refs, async (ref) => {
    await stopContainer(ctx, ref, t);
    const r = await prepareStart(ctx, ref);
    return startDetached(ctx, r, MONITOR_SCRIPT);
  });
}

export async function waitCommand(refs: string[], flags: { condition: string; timeout?: string }, command: Command): Promise<void> {
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
}

export async function pauseCommand(pause: boolean, refs: string[], _flags: unknown, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  await forEach(refs, (ref) => pauseContainer(ctx, ref, pause));
}

export async function cpCommand(src: string, dst: string, _flags: unknown, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  const { containerPath, copyFromContainer, copyToContainer } = await import('../engine/containers/container-files.js');
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
}

export async function exportCommand(ref: string, flags: { output?: string }, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  const { exportContainer } = await import('../engine/containers/container-files.js');
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
}

export async function statsCommand(refs: string[], flags: { json?: boolean; stream: boolean }, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  const [{ formatBytes }, { containerStats }] = await Promise.all([import('./copy-progress.js'), import('../engine/containers/stats.js')]);
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
      const { table } = await import('./table.js');
      process.stdout.write(`${clear ? '\x1b[2J\x1b[H' : ''}${table(rows)}${flags.stream && !clear ? '\n' : ''}`);
    }
    // Containers named on the command line: the view ends when none of them runs any more.
    if (refs.length && running.length === 0) break;
    if (flags.stream && !stopped) await new Promise((r) => setTimeout(r, 500));
  }
}

export async function topCommand(ref: string, psArgs: string[], _flags: unknown, command: Command): Promise<void> {
  try {
    const { containerTop } = await import('../engine/containers/stats.js');
    process.stdout.write(await containerTop(new EngineContext(rootOf(command)), ref, psArgs));
  } catch (err) {
    fail(err, 1);
  }
}

export async function renameCommand(ref: string, name: string, _flags: unknown, command: Command): Promise<void> {
  try {
    await renameContainer(new EngineContext(rootOf(command)), ref, name);
  } catch (err) {
    fail(err, 1);
  }
}

export async function stopCommand(refs: string[], flags: { time: string }, command: Command): Promise<void> {
  const t = stopTimeout(flags.time);
  const ctx = new EngineContext(rootOf(command));
  await forEach(refs, (ref) => stopContainer(ctx, ref, t));
}

export async function killCommand(refs: string[], flags: { signal: string }, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  await forEach(refs, (ref) => killContainer(ctx, ref, flags.signal));
}

export async function rmCommand(refs: string[], flags: { force?: boolean; volumes?: boolean }, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  await forEach(refs, (ref) => removeContainer(ctx, ref, !!flags.force, !!flags.volumes));
}

export async function execCommand(ref: string, args: string[], flags: { interactive?: boolean; tty?: boolean; env: string[]; workdir?: string; user?: string }, command: Command): Promise<void> {
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
}

export async function attachCommand(ref: string, _flags: unknown, command: Command): Promise<void> {
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
}

export async function inspectCommand(refs: string[], flags: { format?: string }, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  const out = [];
  for (const ref of refs) out.push(await inspectRecord(ctx, await findContainer(ctx, ref)));
  process.stdout.write(flags.format !== undefined ? (await import('./go-template.js')).renderTemplate(flags.format, out) : `${JSON.stringify(out, null, 2)}\n`);
}

export async function pruneCommand(_flags: unknown, command: Command): Promise<void> {
  const removed = await pruneContainers(new EngineContext(rootOf(command)));
  process.stdout.write(removed.map((r) => `${r.id}\n`).join(''));
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
