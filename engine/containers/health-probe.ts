// The probes of a detached container's health check, run by its monitor while the container runs:
// every interval, the check's command through `runtime exec` (as the container's user), its exit
// status and the first 4 KiB of its output kept in the record's health state (health.ts decides
// the status). A probe that outlives the timeout is killed and counts as failed, as docker's.
import { once } from 'node:events';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveUserInRootfs } from '../bundle/user.js';
import { startFailure } from '../runtime/runc.js';
import type { ContainerRecord } from './container-store.js';
import { runningRootfs } from './container-state.js';
import type { EngineContext } from './engine-context.js';
import { HEALTH_OUTPUT_LIMIT, nextHealth, probeArgs, type HealthConfig, type HealthResult } from './health.js';

/** Probes until `stop` is aborted (the container exited); resolves when no probe is left running. */
export async function superviseHealth(ctx: EngineContext, r: ContainerRecord, check: HealthConfig, stop: AbortSignal): Promise<void> {
  const started = Date.parse(r.startedAt ?? new Date().toISOString());
  for (;;) {
    try {
      await sleep(check.intervalMs, undefined, { signal: stop });
    } catch {
      return; // aborted: the container is gone
    }
    // A paused container's probes would only time out: docker skips them too.
    const st = await ctx.runtime(r.runtime).state(r.id).catch(() => undefined);
    if (st?.status === 'paused') continue;
    // Not started yet (a slow start on a busy machine): docker's probes begin once it runs; an
    // exec now would fail with the runtime's "not running" and count as a failure.
    if (!st || st.status === 'creating' || st.status === 'created') continue;
    const result = await probe(ctx, r, check, stop);
    if (stop.aborted) return;
    const inStartPeriod = Date.now() - started < check.startPeriodMs;
    await ctx.store.update(r.id, (c) => {
      if (c.state !== 'running' || !c.health) return;
      c.health = nextHealth(c.health, result, { retries: check.retries, inStartPeriod });
    });
  }
}

async function probe(ctx: EngineContext, r: ContainerRecord, check: HealthConfig, stop: AbortSignal): Promise<HealthResult> {
  const Start = new Date().toISOString();
  const spec = (r.hostConfig as { user?: string }).user;
  let output = '';
  let exitCode: number;
  const logFile = join(r.bundle, `health-${process.pid}.log`);
  try {
    const rootfs = spec ? await runningRootfs(r) : undefined;
    if (spec && !rootfs) throw new Error(`container ${r.name} has no process to probe`);
    const user = spec ? await resolveUserInRootfs(rootfs!, spec) : undefined;
    const child = ctx.runtime(r.runtime).exec(r.id, probeArgs(check.test), {
      ...(user ? { user: `${user.uid}:${user.gid}`, additionalGids: user.additionalGids } : {}),
      logFile,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => {
      if (output.length < HEALTH_OUTPUT_LIMIT) output = (output + d.toString('utf8')).slice(0, HEALTH_OUTPUT_LIMIT);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    // runc exec passes SIGTERM on to the probe; SIGKILL a moment later if it ignores it.
    let timedOut = false;
    const kill = () => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 1000).unref();
    };
    const timer = setTimeout(kill, check.timeoutMs);
    stop.addEventListener('abort', kill, { once: true });
    const [code] = (await once(child, 'close').catch(() => [null])) as [number | null];
    clearTimeout(timer);
    stop.removeEventListener('abort', kill);
    if (timedOut) return { Start, End: new Date().toISOString(), ExitCode: -1, Output: `Health check exceeded timeout (${check.timeoutMs / 1000}s)` };
    exitCode = code ?? -1;
    // runc exits 255 when the command could not be started: its log says why (127: not found).
    if (exitCode === 255) {
      const failure = startFailure(await readFile(logFile, 'utf8').catch(() => ''));
      if (failure) [exitCode, output] = [failure.status, failure.message];
    }
  } catch (err) {
    [exitCode, output] = [-1, (err as Error).message];
  } finally {
    await rm(logFile, { force: true });
  }
  return { Start, End: new Date().toISOString(), ExitCode: exitCode, Output: output };
}
