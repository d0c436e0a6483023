// Running containers and everything after: the process that waits on the runtime (the foreground
// `stevedore run`, or the monitor of a detached container) records the exit and cleans up; the
// other commands (stop, kill, rm, exec, prune) act through the runtime and the record.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { unmountIfMounted } from '../bundle/overlay.js';
import { RuntimeError, startFailure } from '../runtime/runc.js';
import type { ContainerRecord } from './container-store.js';
import type { EngineContext } from './engine-context.js';
import { isAlive, selfId } from '../process-info.js';
import { removeAnonymousVolumes } from './volume-use.js';

export class ContainerStateError extends Error {}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** The exit status of a runtime process: its code, or 128+signal when it was itself killed. */
function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

function pidFile(r: ContainerRecord): string {
  return join(r.bundle, 'init.pid');
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
    if ((result.error as NodeJS.ErrnoException).code === 'ENOENT') result.error = new RuntimeError(`${r.runtime} is not installed (Debian package ${r.runtime})`);
    return { status: 125, error: result.error.message };
  }
  const status = exitStatus(result.code, result.signal);
  if (status === 0) return { status };
  const failure = startFailure(await readFile(runtimeLog(r), 'utf8').catch(() => ''));
  return failure ? { status: failure.status, error: failure.message } : { status };
}

/** The container's init pid, while it runs. */
export async function containerPid(r: ContainerRecord): Promise<number | undefined> {
  if (r.state !== 'running') return undefined;
  try {
    const pid = Number((await readFile(pidFile(r), 'utf8')).trim());
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Unmounts the rootfs and makes the runtime forget the container; idempotent. */
export async function releaseResources(ctx: EngineContext, r: ContainerRecord): Promise<void> {
  await unmountIfMounted(r.rootfs);
  const runtime = ctx.runtime(r.runtime);
  // `run` deletes its container on exit; only a failed start or a lost owner leaves state behind.
  if (existsSync(join(runtime.stateRoot, r.id))) await runtime.delete(r.id, true);
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
      await removeAnonymousVolumes(ctx, r);
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
  });
  if (!updated) throw new ContainerStateError(`container ${r.name} was removed before it started`);
  return updated;
}

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
export async function runAttached(ctx: EngineContext, created: ContainerRecord, opts: { interactive: boolean; tty: boolean }): Promise<number> {
  const r = created.state === 'running' && created.owner?.pid === process.pid ? created : await markRunning(ctx, created);
  const runtime = ctx.runtime(r.runtime);
  // Its own process group, so a terminal's Ctrl-C reaches the container once (through us), unless
  // it has to read the terminal (a background group reading a tty would be stopped).
  const ownGroup = !opts.tty && !(opts.interactive && process.stdin.isTTY);
  const child = runtime.run(r.id, r.bundle, { pidFile: pidFile(r), logFile: runtimeLog(r), stdio: [opts.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'], detached: ownGroup });
  const forward = (sig: NodeJS.Signals) => {
    if (opts.tty && sig === 'SIGWINCH') return; // runc follows the terminal's size itself
    child.kill(sig);
  };
  for (const sig of FORWARDED) process.on(sig, forward);
  const result = await waitChild(child);
  for (const sig of FORWARDED) process.off(sig, forward);
  const exit = await containerExit(r, result);
  await finish(ctx, r, exit.status, exit.error);
  if (result.error) throw result.error;
  return exit.status;
}

/** The detached monitor's work (engine/containers/monitor.ts): run, log, record the exit. */
export async function superviseDetached(ctx: EngineContext, id: string): Promise<void> {
  const created = await ctx.store.read(id);
  if (!created || created.state !== 'created') return;
  const r = await markRunning(ctx, created);
  const runtime = ctx.runtime(r.runtime);
  // The runtime writes into the log file itself (appending): output is kept even if we die.
  const log = openSync(r.logPath ?? '/dev/null', 'a', 0o600);
  let result: Awaited<ReturnType<typeof waitChild>>;
  try {
    const child = runtime.run(r.id, r.bundle, { pidFile: pidFile(r), logFile: runtimeLog(r), stdio: ['ignore', log, log] });
    result = await waitChild(child);
  } finally {
    closeSync(log);
  }
  const exit = await containerExit(r, result);
  await finish(ctx, r, exit.status, exit.error);
}

/** Starts the monitor of a created container and waits until the container's process exists. */
export async function startDetached(ctx: EngineContext, r: ContainerRecord, monitorScript: string): Promise<ContainerRecord> {
  // The monitor's own errors (not the container's output) go to monitor.log next to the record.
  const errors = openSync(join(ctx.store.containerDir(r.id), 'monitor.log'), 'a', 0o600);
  let monitor;
  try {
    monitor = spawn(process.execPath, [monitorScript, ctx.root, r.id], { detached: true, stdio: ['ignore', 'ignore', errors] });
  } finally {
    closeSync(errors);
  }
  monitor.unref();
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

/**
 * The record, corrected when its owner died without recording the exit (SIGKILL, crash): the
 * runtime then says whether the container still runs; if not, it is marked exited (status unknown)
 * and its resources are released.
 */
export async function refresh(ctx: EngineContext, r: ContainerRecord): Promise<ContainerRecord> {
  if (r.state !== 'running' || isAlive(r.owner)) return r;
  const st = await ctx.runtime(r.runtime).state(r.id).catch(() => undefined);
  if (st && st.status !== 'stopped') return r;
  // Read again: the owner may have finished between our two reads.
  const again = await ctx.store.read(r.id);
  if (!again || again.state !== 'running' || isAlive(again.owner)) return again ?? r;
  await releaseResources(ctx, again);
  return (
    (await ctx.store.update(r.id, (cur) => {
      cur.state = 'exited';
      cur.exitCode = null;
      cur.error = 'the process that ran it was killed: exit status unknown';
      cur.finishedAt = new Date().toISOString();
      delete cur.owner;
    })) ?? again
  );
}

export async function findContainer(ctx: EngineContext, ref: string): Promise<ContainerRecord> {
  return refresh(ctx, await ctx.store.resolve(ref));
}

export async function listContainers(ctx: EngineContext): Promise<ContainerRecord[]> {
  return Promise.all((await ctx.store.list()).map((r) => refresh(ctx, r)));
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
  await ctx.runtime(r.runtime).kill(r.id, normaliseSignal(signal));
  return r;
}

/** Docker's stop: the image's StopSignal (else SIGTERM), then SIGKILL after timeoutSeconds. */
export async function stopContainer(ctx: EngineContext, ref: string, timeoutSeconds = 10): Promise<ContainerRecord> {
  const r = await findContainer(ctx, ref);
  if (r.state !== 'running') return r;
  const runtime = ctx.runtime(r.runtime);
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
  if (volumes) await removeAnonymousVolumes(ctx, r);
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
  return removed;
}

/** Runs a command in a running container; resolves to its exit status. */
export async function execInContainer(
  ctx: EngineContext,
  ref: string,
  args: string[],
  opts: { interactive: boolean; env?: string[]; cwd?: string; user?: string },
): Promise<number> {
  const r = await findContainer(ctx, ref);
  if (r.state !== 'running') throw new ContainerStateError(`container ${r.name} is not running`);
  const child = ctx.runtime(r.runtime).exec(r.id, args, { env: opts.env, cwd: opts.cwd, user: opts.user, stdio: [opts.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'] });
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  for (const sig of FORWARDED) process.on(sig, forward);
  try {
    const result = await waitChild(child);
    if (result.error) throw result.error;
    return exitStatus(result.code, result.signal);
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
  }
}
