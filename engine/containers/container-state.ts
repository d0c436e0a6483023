// Reading container records as they are: a record whose owner died without recording the exit is
// corrected here. Light on purpose (`ps`, `inspect` and `port` load it without the rest of the
// engine): releasing a dead container's resources (unmount, network, volumes) is loaded only when
// one is found.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerRecord } from './container-store.js';
import type { EngineContext } from './engine-context.js';
import type { ResolvedMount } from './container-mounts.js';
import { isAlive } from '../process-info.js';

/**
 * Whether the container was made with a network of its own (a bridge network, container:NAME):
 * engine/network's request (its requestOf) in the record. --network none and host have none, and
 * nothing of engine/network to set up or tear down.
 */
export function hasOwnNetwork(r: ContainerRecord): boolean {
  return r.hostConfig.networking !== undefined && r.hostConfig.networking !== null;
}

/**
 * The container's volumes, binds and tmpfs mounts as resolved when it was made. Here rather than
 * in container-mounts.ts: a container without any (the common `run`) loads none of the volume code.
 */
export function mountsOf(r: ContainerRecord): ResolvedMount[] {
  return ((r.hostConfig as { mounts?: ResolvedMount[] }).mounts ?? []) as ResolvedMount[];
}

/**
 * Where the host reaches the root filesystem of a running container: its host mount, or, when its
 * runtime mounted the overlay (rootfsInRuntime), the container's own root through /proc (the only
 * view of it; mounting the same upper directory a second time on the host is not allowed).
 * undefined when such a container has no process right now (starting or stopping).
 */
export async function runningRootfs(r: ContainerRecord): Promise<string | undefined> {
  if (!r.rootfsInRuntime) return r.rootfs;
  const pid = await containerPid(r);
  return pid ? `/proc/${pid}/root` : undefined;
}

/** Where the runtime writes the container's init pid. */
export function pidFile(r: ContainerRecord): string {
  return join(r.bundle, 'init.pid');
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
  const { releaseResources } = await import('./release.js');
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

/** Whether a running container is paused (for ps and inspect). */
export async function isPaused(ctx: EngineContext, r: ContainerRecord): Promise<boolean> {
  if (r.state !== 'running') return false;
  return (await ctx.runtime(r.runtime).state(r.id).catch(() => undefined))?.status === 'paused';
}
