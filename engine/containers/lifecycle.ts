// Running containers and everything after: the process that waits on the runtime (the foreground
// `stevedore run`, or the monitor of a detached container) records the exit and cleans up; the
// other commands (stop, kill, rm, exec, prune) act through the runtime and the record.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMountPoint, mountOverlay, unmountIfMounted } from '../bundle/overlay.js';
import { LogWriter } from './log-file.js';
import { resolveUserInRootfs } from '../bundle/user.js';
import { nextRestartDelay, shouldRestart, type RestartPolicy } from './restart-policy.js';
import { isStartFailureOutput, notInstalled, startFailure } from '../runtime/runtime-errors.js';
// The terminal helper (console-helper.ts) loads only for a container with a terminal of its own.
const consoleCode = () => import('../runtime/console-helper.js');
import type { ContainerRecord } from './container-store.js';
import type { EngineContext } from './engine-context.js';
import { containerPid, findContainer, hasOwnNetwork, isPaused, listContainers, mountsOf, pidFile, refresh, runningRootfs } from './container-state.js';
import { releaseResources } from './release.js';
import { isAlive, selfId } from '../process-info.js';
import { initialHealth, type HealthStatus } from './health.js';
import { KindedError } from '../../util/errors.js';

// Reading and correcting records, and releasing a container's resources, live in modules of their
// own (ps and inspect load them without the rest); re-exported for the callers of this module.
export { containerPid, findContainer, isPaused, listContainers, refresh, releaseResources };

/** A container in the wrong state for the request (not running, nothing to attach to, …). */
export class ContainerStateError extends KindedError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'ContainerStateError';
  }
}

/** The probes of a container with a health check (health-probe.ts loads only for such a one). */
async function superviseHealth(...args: Parameters<typeof import('./health-probe.js').superviseHealth>): Promise<void> {
  return (await import('./health-probe.js')).superviseHealth(...args);
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** The exit status of a runtime process: its code, or 128+signal when it was itself killed. */
function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

function runtimeLog(r: ContainerRecord): string {
  return join(r.bundle, 'runtime.log');
}

/**
 * The container's exit status from the runtime's: a runtime that failed to start the container
 * exits 1 like a container could, but leaves the reason in its log.
 */
async function containerExit(r: ContainerRecord, result: { code: number | null; signal: NodeJS.Signals | null; error?: Error }): Promise<{ status: number; error?: string }> {
  if (result.error) {
    if ((result.error as NodeJS.ErrnoException).code === 'ENOENT') result.error = notInstalled(r.runtime);
    return { status: 125, error: result.error.message };
  }
  const status = exitStatus(result.code, result.signal);
  if (status === 0) return { status };
  const failure = startFailure(await readFile(runtimeLog(r), 'utf8').catch(() => ''));
  return failure ? { status: failure.status, error: failure.message } : { status };
}

/**
 * The one place a container's process is started (run, start, restart, and the monitor's restarts
 * under --restart): its root filesystem mounted again when it had stopped (its upper directory,
 * with its changes, kept), then the runtime. Its counterpart is releaseResources.
 */
async function startProcess(ctx: EngineContext, r: ContainerRecord, stdio: StdioOptions, detached = false, consoleHelper?: string): Promise<ChildProcess> {
  const prepare = (async () => {
    // The runtime mounts the overlay itself (rootfsInRuntime); a host mount left there (a crash
    // during cp or export of the stopped container) would be a second mount of its upper directory.
    if (r.rootfsInRuntime) await unmountIfMounted(r.rootfs);
    else if (!(await isMountPoint(r.rootfs))) {
      if (!r.layerDirs) throw new ContainerStateError(`container ${r.name} was made by an older stevedore and cannot start again: remove it and run a new one`);
      await mountOverlay(r.layerDirs, r.upperDir, r.workDir, r.rootfs, join(ctx.store.containerDir(r.id), 'l'));
    }
    // What a previous run left: its pid (startDetached waits for a new one) and its runtime errors.
    // (Synchronous: usually nothing to remove, and no thread-pool trip for that.)
    const { rmSync } = process.getBuiltinModule('node:fs');
    rmSync(pidFile(r), { force: true });
    rmSync(runtimeLog(r), { force: true });
    // Volumes with driver options: their file systems (tmpfs, a bound host directory) at _data.
    const mounts = mountsOf(r);
    if (mounts.length > 0) await (await import('./volume-use.js')).mountVolumes(ctx, mounts);
  })();
  const terminal = consoleHelper ? { helper: consoleHelper, dir: ctx.store.containerDir(r.id) } : undefined;
  // engine/network: namespace, veth, address, published ports, set up alongside the above and the
  // runtime's own start; again at every start (released at every stop by releaseResources), so
  // ports come back after stop/start and restarts.
  // Loaded only for a container with a network of its own (--network none and host have nothing to set up).
  const spawn = () => ctx.runtime(r.runtime).run(r.id, r.bundle, { pidFile: pidFile(r), logFile: runtimeLog(r), stdio, detached, console: terminal });
  if (!hasOwnNetwork(r)) {
    await prepare;
    return spawn();
  }
  return (await import('../network/container-network.js')).startWithNetwork(ctx, r, prepare, spawn);
}

/** Removes a container that is not running: mounts, runtime state, directory. */
export async function cleanupContainer(ctx: EngineContext, id: string): Promise<void> {
  const r = await ctx.store.read(id);
  if (r) await releaseResources(ctx, r);
  await ctx.store.remove(id);
}

/** After the runtime process has exited: release resources, record the exit, remove on --rm. */
async function finish(ctx: EngineContext, r: ContainerRecord, exitCode: number | null, error?: string): Promise<void> {
  try {
    await releaseResources(ctx, r);
  } finally {
    if (r.autoRemove) {
      await ctx.store.remove(r.id);
      // docker's --rm also removes the container's anonymous volumes.
      if (mountsOf(r).length > 0) await (await import('./volume-use.js')).removeAnonymousVolumes(ctx, r);
    } else {
      await ctx.store.update(r.id, (cur) => {
        cur.state = 'exited';
        cur.exitCode = exitCode;
        cur.finishedAt = new Date().toISOString();
        if (error) cur.error = error;
        delete cur.owner;
      });
    }
  }
}

async function markRunning(ctx: EngineContext, r: ContainerRecord): Promise<ContainerRecord> {
  const updated = await ctx.store.update(r.id, (cur) => {
    cur.state = 'running';
    cur.startedAt = new Date().toISOString();
    cur.owner = selfId();
    if (cur.healthcheck) cur.health = initialHealth();
  });
  if (!updated) throw new ContainerStateError(`container ${r.name} was removed before it started`);
  return updated;
}

/**
 * engine/network's set-up before the runtime starts; a failure (a host port in use, a plugin
 * error) is the container's start failure: recorded, everything released, status 125.
 */
async function waitChild(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/**
 * Runs a created container in the foreground: the caller's stdout/stderr (and stdin with -i) are
 * the container's, signals are forwarded, and the result is the container's exit status.
 */
export async function runAttached(ctx: EngineContext, created: ContainerRecord, opts: { interactive: boolean; tty: boolean; monitorScript?: string; onError?: (message: string) => void }): Promise<number> {
  const r = created.state === 'running' && created.owner?.pid === process.pid ? created : await markRunning(ctx, created);
  // Its own process group, so a terminal's Ctrl-C reaches the container once (through us), unless
  // it has to read the terminal (a background group reading a tty would be stopped).
  const ownGroup = !opts.tty && !(opts.interactive && process.stdin.isTTY);
  // With a terminal the output is the terminal's; without, it goes both to ours and to the log.
  const log = !opts.tty && r.logPath ? new LogWriter(r.logPath) : undefined;
  let child: ChildProcess;
  try {
    child = await startProcess(ctx, r, [opts.interactive ? 'inherit' : 'ignore', log ? 'pipe' : 'inherit', log ? 'pipe' : 'inherit'], ownGroup);
  } catch (err) {
    await log?.end();
    await finish(ctx, r, 125, (err as Error).message);
    throw err;
  }
  // The runtime also reports a command it could not start on stderr: held back, and given to
  // onError as one line when that is why the container ended (else let through after all).
  const held: Buffer[] = [];
  const stderr = log
    ? child.stderr!.pipe(new Transform({ transform: (chunk: Buffer, _enc, cb) => (isStartFailureOutput(chunk) && opts.onError ? (held.push(chunk), cb()) : cb(null, chunk)) }))
    : undefined;
  const copied = log ? Promise.all([log.follow('stdout', child.stdout!, process.stdout), log.follow('stderr', stderr!, process.stderr)]) : Promise.resolve();
  const forward = (sig: NodeJS.Signals) => {
    if (opts.tty && sig === 'SIGWINCH') return; // runc follows the terminal's size itself
    child.kill(sig);
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  // A container in the foreground is probed too (docker's daemon probes every running container):
  // its status shows in another terminal's ps and inspect.
  const probes = new AbortController();
  let health: Promise<void> = Promise.resolve();
  if (r.healthcheck) {
    const check = r.healthcheck;
    if (!r.health) await ctx.store.update(r.id, (c) => void (c.health = initialHealth()));
    health = superviseHealth(ctx, r, check, probes.signal);
  }
  const result = await waitChild(child);
  probes.abort();
  await Promise.all([copied, health]);
  await log?.end();
  for (const sig of FORWARDED) process.off(sig, forward);
  const exit = await containerExit(r, result);
  // docker's `run` without -d under a --restart policy: the command ends with this run's status
  // and the container is restarted in the background (here by a monitor that takes it over).
  if (!result.error && opts.monitorScript && (await restartDue(ctx, r, exit.status))) {
    for (const chunk of held) process.stderr.write(chunk);
    await handOverRestarts(ctx, r, exit, opts.monitorScript);
    return exit.status;
  }
  await finish(ctx, r, exit.status, exit.error);
  if (result.error) throw result.error;
  if (held.length > 0 && exit.error) opts.onError!(exit.error);
  else for (const chunk of held) process.stderr.write(chunk);
  return exit.status;
}

function policyOf(r: ContainerRecord): RestartPolicy {
  return (r.hostConfig as { restart?: RestartPolicy }).restart ?? { name: 'no' };
}

/** Whether the container's policy starts it again after a run that ended with `status`. */
async function restartDue(ctx: EngineContext, r: ContainerRecord, status: number): Promise<boolean> {
  // --rm and --restart are never combined (run refuses it): nothing to read for a --rm container.
  if (r.autoRemove) return false;
  const cur = await ctx.store.read(r.id);
  return !!cur && !cur.autoRemove && shouldRestart(policyOf(cur), status, cur.restartCount ?? 0, !!cur.hostConfig.manuallyStopped);
}

/**
 * Between two runs: resources released, the exit recorded, shown as restarting (docker's
 * "Restarting (N)"), the restart counted.
 */
async function markRestarting(ctx: EngineContext, r: ContainerRecord, exit: { status: number; error?: string }): Promise<void> {
  await releaseResources(ctx, r);
  await ctx.store.update(r.id, (c) => {
    c.exitCode = exit.status;
    c.finishedAt = new Date().toISOString();
    if (exit.error) c.error = exit.error;
    c.restartCount = (c.restartCount ?? 0) + 1;
    c.hostConfig.restarting = true;
  });
}

/**
 * A foreground run whose container is due for a restart: a monitor takes the container over (it
 * waits the backoff and goes on as for `run -d`); returns once the monitor owns the record, so
 * there is no moment in which the container looks abandoned.
 */
async function handOverRestarts(ctx: EngineContext, r: ContainerRecord, exit: { status: number; error?: string }, monitorScript: string): Promise<void> {
  await markRestarting(ctx, r, exit);
  await ctx.store.update(r.id, (c) => void (c.detached = true));
  const monitor = spawnMonitor(ctx, r, monitorScript);
  const deadline = Date.now() + 60_000;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    const cur = await ctx.store.read(r.id);
    if (!cur || cur.owner?.pid === monitor.pid || cur.state !== 'running') return;
    if (monitor.exitCode !== null || Date.now() > deadline) {
      // No monitor to restart it: recorded as exited rather than left "restarting" forever.
      await finish(ctx, r, exit.status, `its restart could not be handed to a monitor (monitor.log in ${ctx.store.containerDir(r.id)})`);
      return;
    }
    await sleep(wait);
  }
}

/** The monitor process of a container, in its own session, its errors in monitor.log. */
function spawnMonitor(ctx: EngineContext, r: ContainerRecord, monitorScript: string): ChildProcess {
  const errors = openSync(join(ctx.store.containerDir(r.id), 'monitor.log'), 'a', 0o600);
  let monitor;
  try {
    monitor = spawn(process.execPath, [monitorScript, ctx.root, r.id], { detached: true, stdio: ['ignore', 'ignore', errors] });
  } finally {
    closeSync(errors);
  }
  monitor.unref();
  return monitor;
}

/**
 * The detached monitor's work (engine/containers/monitor.ts): run with the output in the log,
 * record the exit, and start it again as its --restart policy says (docker's backoff). It also
 * takes over a container a foreground run left due for a restart (then it first waits the backoff).
 */
export async function superviseDetached(ctx: EngineContext, id: string): Promise<void> {
  const initial = await ctx.store.read(id);
  if (!initial) return;
  let r: ContainerRecord;
  // A restart is due before the first run (handed over by a foreground run).
  let pending = false;
  if (initial.state === 'created') r = await markRunning(ctx, initial);
  else if (initial.state === 'running' && initial.hostConfig.restarting) {
    // Taken from the foreground run that started us (it waits for this), never from a live monitor.
    let taken = false;
    const claimed = await ctx.store.update(id, (c) => {
      if (c.state !== 'running' || !c.hostConfig.restarting || (c.owner?.pid !== process.ppid && isAlive(c.owner))) return;
      c.owner = selfId();
      taken = true;
    });
    if (!claimed || !taken) return;
    r = claimed;
    pending = true;
  } else return;
  // -t without a user's terminal: the console helper holds one for `attach`; its output is the log.
  let helper: string | undefined;
  if (r.hostConfig.terminal) {
    try {
      helper = await (await consoleCode()).consoleHelper(ctx.root);
    } catch (err) {
      await finish(ctx, r, 125, (err as Error).message);
      return;
    }
  }
  let delay = 0;
  let began = Date.now();
  let exit: { status: number; error?: string } = { status: r.exitCode ?? 0, ...(r.error ? { error: r.error } : {}) };
  for (;;) {
    if (pending) {
      delay = nextRestartDelay(delay, Date.now() - began);
      // Waited in small steps: a `stop` meanwhile ends the wait (and the container) at once.
      for (const end = Date.now() + delay; Date.now() < end; ) {
        await sleep(Math.min(100, end - Date.now()));
        if ((await ctx.store.read(r.id))?.hostConfig.manuallyStopped) break;
      }
      const again = await ctx.store.read(r.id);
      if (!again || again.hostConfig.manuallyStopped) {
        if (again) await finish(ctx, again, exit.status, exit.error);
        return;
      }
      r = (await ctx.store.update(r.id, (c) => {
        c.startedAt = new Date().toISOString();
        delete c.error;
        if (c.healthcheck) c.health = initialHealth();
        delete c.hostConfig.restarting;
      }))!;
    }
    const log = new LogWriter(r.logPath ?? '/dev/null');
    began = Date.now();
    let result: Awaited<ReturnType<typeof waitChild>>;
    try {
      const child = await startProcess(ctx, r, ['ignore', 'pipe', 'pipe'], false, helper);
      const copied = Promise.all([log.follow('stdout', child.stdout!), log.follow('stderr', child.stderr!)]);
      // The health check's probes run while the container does; none is left when it has exited.
      const probes = new AbortController();
      const health = r.healthcheck ? superviseHealth(ctx, r, r.healthcheck, probes.signal) : Promise.resolve();
      result = await waitChild(child);
      probes.abort();
      await Promise.all([copied, health]);
    } catch (err) {
      result = { code: null, signal: null, error: err as Error };
    } finally {
      await log.end();
    }
    exit = await containerExit(r, result);
    if (result.error || !(await restartDue(ctx, r, exit.status))) {
      await finish(ctx, r, exit.status, exit.error);
      return;
    }
    await markRestarting(ctx, r, exit);
    pending = true;
  }
}

/** Starts the monitor of a created container and waits until the container's process exists. */
export async function startDetached(ctx: EngineContext, r: ContainerRecord, monitorScript: string): Promise<ContainerRecord> {
  // The monitor's own errors (not the container's output) go to monitor.log next to the record.
  const monitor = spawnMonitor(ctx, r, monitorScript);
  const deadline = Date.now() + 60_000;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    const cur = await ctx.store.read(r.id);
    if (!cur) {
      if (r.autoRemove) return r; // --rm: it ran, exited and was removed already
      throw new ContainerStateError(`container ${r.name} was removed while starting`);
    }
    if (cur.state === 'exited') return cur;
    if (cur.state === 'running' && existsSync(pidFile(cur))) return cur;
    if (cur.state === 'created' && monitor.exitCode !== null) throw new ContainerStateError(`the monitor of ${r.name} exited with ${monitor.exitCode} before starting it`);
    if (Date.now() > deadline) throw new ContainerStateError(`container ${r.name} did not start within 60 s`);
    await sleep(wait);
  }
}

/** Waits until the container is no longer running; false on timeout. */
export async function waitStopped(ctx: EngineContext, id: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    const cur = await ctx.store.read(id);
    if (!cur || cur.state !== 'running') return true;
    const fresh = await refresh(ctx, cur);
    if (fresh.state !== 'running') return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(wait, Math.max(1, deadline - Date.now())));
  }
}

function normaliseSignal(sig: string): string {
  const s = sig.toUpperCase();
  if (/^[0-9]+$/.test(s)) return s;
  const name = s.startsWith('SIG') ? s : `SIG${s}`;
  if (!(name in constants.signals)) throw new ContainerStateError(`unknown signal ${sig}`);
  return name;
}

export async function killContainer(ctx: EngineContext, ref: string, signal = 'SIGKILL'): Promise<ContainerRecord> {
  const r = await findContainer(ctx, ref);
  if (r.state !== 'running') throw new ContainerStateError(`container ${r.name} is not running`);
  const sig = normaliseSignal(signal);
  // docker: a container killed (with a signal that ends it) or stopped by hand is not restarted by its policy.
  if (sig === 'SIGKILL' || sig === 'SIGTERM' || sig === '9' || sig === '15') await markStopped(ctx, r.id);
  await ctx.runtime(r.runtime).kill(r.id, sig);
  return r;
}

async function markStopped(ctx: EngineContext, id: string): Promise<void> {
  await ctx.store.update(id, (c) => {
    c.hostConfig.manuallyStopped = true;
  });
}

/**
 * Makes a container that is not running ready to start (again): state created, its last exit
 * forgotten, the restart policy armed again. Running: returned as it is (docker's start is a no-op).
 */
export async function prepareStart(ctx: EngineContext, ref: string): Promise<ContainerRecord> {
  const r = await findContainer(ctx, ref);
  if (r.state === 'running') return r;
  const updated = await ctx.store.update(r.id, (c) => {
    if (c.state === 'running') return;
    c.state = 'created';
    delete c.exitCode;
    delete c.error;
    delete c.finishedAt;
    c.restartCount = 0;
    delete c.hostConfig.manuallyStopped;
  });
  if (!updated) throw new ContainerStateError(`container ${r.name} was removed`);
  return updated;
}

/** `pause`/`unpause`: the runtime freezes or thaws every process of the container (cgroup freezer). */
export async function pauseContainer(ctx: EngineContext, ref: string, pause: boolean): Promise<ContainerRecord> {
  const r = await findContainer(ctx, ref);
  if (r.state !== 'running') throw new ContainerStateError(`container ${r.name} is not running`);
  const st = await ctx.runtime(r.runtime).state(r.id);
  if (pause && st?.status === 'paused') throw new ContainerStateError(`container ${r.name} is already paused`);
  if (!pause && st?.status !== 'paused') throw new ContainerStateError(`container ${r.name} is not paused`);
  await ctx.runtime(r.runtime).pauseResume(r.id, pause);
  return r;
}

/** `wait`: until the container is no longer running; its exit status. */
export async function waitContainer(ctx: EngineContext, ref: string): Promise<number> {
  const r = await findContainer(ctx, ref);
  for (let wait = 20; ; wait = Math.min(wait * 2, 250)) {
    const cur = await ctx.store.read(r.id);
    if (!cur) return r.exitCode ?? 0; // --rm: removed on exit
    const fresh = await refresh(ctx, cur);
    if (fresh.state === 'exited' && !fresh.hostConfig.restarting) return fresh.exitCode ?? 255;
    await sleep(wait);
  }
}

export async function renameContainer(ctx: EngineContext, ref: string, name: string): Promise<void> {
  const r = await findContainer(ctx, ref);
  await ctx.store.rename(r.id, name);
}

/** Docker's stop: the image's StopSignal (else SIGTERM), then SIGKILL after timeoutSeconds. */
export async function stopContainer(ctx: EngineContext, ref: string, timeoutSeconds = 10): Promise<ContainerRecord> {
  const r = await findContainer(ctx, ref);
  if (r.state !== 'running') return r;
  await markStopped(ctx, r.id);
  const runtime = ctx.runtime(r.runtime);
  // A paused container cannot take its signal: thawed first (docker does the same).
  if ((await runtime.state(r.id).catch(() => undefined))?.status === 'paused') await runtime.pauseResume(r.id, false).catch(() => {});
  try {
    await runtime.kill(r.id, normaliseSignal(r.stopSignal ?? 'SIGTERM'));
  } catch {
    /* already exiting */
  }
  if (!(await waitStopped(ctx, r.id, timeoutSeconds * 1000))) {
    await runtime.kill(r.id, 'SIGKILL', true).catch(() => {});
    if (!(await waitStopped(ctx, r.id, 60_000))) throw new ContainerStateError(`container ${r.name} did not stop after SIGKILL`);
  }
  return r;
}

export async function removeContainer(ctx: EngineContext, ref: string, force = false, volumes = false): Promise<ContainerRecord> {
  const r = await findContainer(ctx, ref);
  if (r.state === 'running') {
    if (!force) throw new ContainerStateError(`container ${r.name} is running: stop it first, or use rm -f`);
    await ctx.runtime(r.runtime).kill(r.id, 'SIGKILL', true).catch(() => {});
    if (!(await waitStopped(ctx, r.id, 60_000))) throw new ContainerStateError(`container ${r.name} did not stop after SIGKILL`);
  }
  await cleanupContainer(ctx, r.id);
  if (volumes && mountsOf(r).length > 0) await (await import('./volume-use.js')).removeAnonymousVolumes(ctx, r);
  return r;
}

/** Removes every container that is not running (nor being started); returns the removed ones. */
export async function pruneContainers(ctx: EngineContext): Promise<ContainerRecord[]> {
  const removed: ContainerRecord[] = [];
  for (const r of await listContainers(ctx)) {
    if (r.state === 'running') continue;
    // A container being created right now has no owner yet: leave young ones alone.
    if (r.state === 'created' && Date.now() - Date.parse(r.created) < 60_000) continue;
    await cleanupContainer(ctx, r.id);
    removed.push(r);
  }
  // What a crash left half-created or half-removed: its mount (if any) and files go too.
  for (const id of await ctx.store.orphanDirs(60_000)) {
    const dir = ctx.store.containerDir(id);
    await unmountIfMounted(join(dir, 'bundle', 'rootfs'));
    await rm(dir, { recursive: true, force: true });
  }
  await (await import('../network/container-network.js')).repairNetworks(ctx); // namespaces, veths, leases and rules of containers that crashed
  return removed;
}

/**
 * Runs a command in a running container; resolves to its exit status (docker's: 126 when it
 * cannot be run, 127 when it does not exist, with the runtime's reason in `error`). A user name
 * is resolved in the container's own /etc/passwd and /etc/group, as for `run`.
 */
export async function execInContainer(
  ctx: EngineContext,
  ref: string,
  args: string[],
  opts: { interactive: boolean; tty?: boolean; env?: string[]; cwd?: string; user?: string; onError?: (message: string) => void },
): Promise<number> {
  const r = await findContainer(ctx, ref);
  if (r.state !== 'running') throw new ContainerStateError(`container ${r.name} is not running`);
  let user: { uid: number; gid: number; additionalGids: number[] } | undefined;
  if (opts.user !== undefined) {
    const rootfs = await runningRootfs(r);
    if (!rootfs) throw new ContainerStateError(`container ${r.name} is starting or stopping: try again`);
    user = await resolveUserInRootfs(rootfs, opts.user);
  }
  const logFile = join(r.bundle, `exec-${process.pid}-${Date.now()}.log`);
  const child = ctx.runtime(r.runtime).exec(r.id, args, {
    env: opts.env,
    cwd: opts.cwd,
    ...(user ? { user: `${user.uid}:${user.gid}`, additionalGids: user.additionalGids } : {}),
    tty: opts.tty,
    logFile,
    stdio: [opts.interactive ? 'inherit' : 'ignore', 'inherit', 'pipe'],
  });
  // runc also prints its own failure ("exec failed: …") on stderr: held back, and dropped when the
  // command could not start (the one-line error is ours); anything else passes through at once.
  const held: Buffer[] = [];
  child.stderr!.on('data', (chunk: Buffer) => {
    if (isStartFailureOutput(chunk)) held.push(chunk);
    else process.stderr.write(chunk);
  });
  const stderrDone = new Promise((res) => child.stderr!.once('close', res));
  const forward = (sig: NodeJS.Signals) => {
    if (opts.tty && sig === 'SIGWINCH') return; // runc follows the terminal's size itself
    child.kill(sig);
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  try {
    const result = await waitChild(child);
    await stderrDone;
    if (result.error) throw result.error;
    const status = exitStatus(result.code, result.signal);
    const release = () => held.forEach((c) => process.stderr.write(c));
    // runc exits 255 when it could not start the command: its log says why.
    if (status === 255) {
      const failure = startFailure(await readFile(logFile, 'utf8').catch(() => ''));
      if (failure) {
        opts.onError?.(failure.message);
        return failure.status;
      }
    }
    release();
    return status;
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
    await rm(logFile, { force: true });
  }
}

/** A container `attach` can join: running, not between two runs (docker's refusals). */
export async function attachable(ctx: EngineContext, ref: string): Promise<ContainerRecord> {
  const r = await findContainer(ctx, ref);
  if (r.state !== 'running') throw new ContainerStateError(`container ${r.name} is not running: start it first`);
  // docker's words: between two runs there is nothing to attach to yet.
  if (r.hostConfig.restarting) throw new ContainerStateError(`container ${r.name} is restarting: wait until it is running, then attach`);
  return r;
}

/**
 * `attach`: the caller's terminal joined to a running container's (one started with -t, detached):
 * the console helper relays in raw mode and sends resizes. Resolves to the container's exit status
 * when it ends (also when its restart policy starts it again, as docker's attach), or 0 when the
 * user detached (Ctrl-P Ctrl-Q) and it runs on.
 */
export async function attachContainer(ctx: EngineContext, ref: string): Promise<number> {
  const r = await attachable(ctx, ref);
  if (!r.hostConfig.terminal) throw new ContainerStateError(`container ${r.name} has no terminal to attach to (run it with -dit): use logs -f to follow its output`);
  const { CONSOLE_SOCKET, consoleHelper, DETACHED_STATUS } = await consoleCode();
  const socket = join(ctx.store.containerDir(r.id), CONSOLE_SOCKET);
  // A `run -it` in the foreground has the user's own terminal: nothing is kept to join.
  if (!existsSync(socket)) throw new ContainerStateError(`container ${r.name} runs in the foreground of another terminal: nothing to attach to`);
  const helper = await consoleHelper(ctx.root);
  const child = spawn(helper, ['attach', socket], { stdio: ['inherit', 'inherit', 'pipe'] });
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    if (/read escape sequence/.test(text)) process.stderr.write(text);
    else errors += text;
  });
  const result = await waitChild(child);
  if (result.error) throw result.error;
  if (result.code === DETACHED_STATUS) return 0;
  if (result.code !== 0) throw new ContainerStateError(errors.trim().split('\n')[0]?.replace(/^stevedore-console: /, '') || `attach to ${r.name} failed`);
  return waitRunEnded(ctx, r);
}

/**
 * The exit status of the run of a container that was going on in `r` (its startedAt): also when
 * its restart policy starts it again. docker's attach ends there too, with that status, while the
 * container restarts (checked against dockerd 20.10: attach does not follow it across restarts).
 */
export async function waitRunEnded(ctx: EngineContext, r: ContainerRecord): Promise<number> {
  for (let wait = 20; ; wait = Math.min(wait * 2, 250)) {
    const cur = await ctx.store.read(r.id);
    if (!cur) return r.exitCode ?? 0; // --rm: removed on exit
    const fresh = await refresh(ctx, cur);
    if (fresh.state !== 'running' || fresh.hostConfig.restarting || fresh.startedAt !== r.startedAt) return fresh.exitCode ?? 255;
    await sleep(wait);
  }
}

/**
 * Waits until a running container's health check reports `status` (compose's service_healthy);
 * fails at once when it has no check, and when it stops running or the timeout passes first.
 */
export async function waitHealth(ctx: EngineContext, ref: string, status: HealthStatus, timeoutMs = Infinity): Promise<ContainerRecord> {
  const r = await findContainer(ctx, ref);
  if (!r.healthcheck) throw new ContainerStateError(`container ${r.name} has no health check`);
  const deadline = Date.now() + timeoutMs;
  for (let wait = 20; ; wait = Math.min(wait * 2, 250)) {
    const cur = await ctx.store.read(r.id);
    if (!cur) throw new ContainerStateError(`container ${r.name} was removed`);
    const fresh = await refresh(ctx, cur);
    if (fresh.state === 'running' && fresh.health?.Status === status) return fresh;
    if (fresh.state !== 'running' && !fresh.hostConfig.restarting) throw new ContainerStateError(`container ${r.name} is not running (it exited with ${fresh.exitCode ?? 'unknown status'})`);
    if (Date.now() >= deadline) throw new ContainerStateError(`container ${r.name} did not become ${status} in time (it is ${fresh.health?.Status ?? 'starting'})`);
    await sleep(Math.min(wait, Math.max(1, deadline - Date.now())));
  }
}
