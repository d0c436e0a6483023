// Volumes as containers use them: a volume some container (in any state) mounts cannot be
// removed; `rm -v` removes a container's anonymous volumes; `volume prune` the unused ones. A
// volume with driver options (a tmpfs, a bound host directory) is mounted while a running
// container uses it, as docker's local driver does, and unmounted after the last one stops.
import { VolumeError, VolumeStore, type VolumeRecord } from '../volumes/volume-store.js';
import type { ContainerRecord } from './container-store.js';
import { mountsOf, type ResolvedMount } from './container-mounts.js';
import type { EngineContext } from './engine-context.js';

/** Container names using each volume. */
export async function volumeUsers(ctx: EngineContext): Promise<Map<string, string[]>> {
  const users = new Map<string, string[]>();
  for (const r of await ctx.store.list()) {
    for (const m of mountsOf(r)) {
      if (m.type !== 'volume' || !m.name) continue;
      users.set(m.name, [...(users.get(m.name) ?? []), r.name]);
    }
  }
  return users;
}

export async function removeVolume(ctx: EngineContext, name: string): Promise<void> {
  const users = await volumeUsers(ctx);
  await new VolumeStore(ctx.root).remove(name, users.get(name) ?? []);
}

/** After a container is removed with -v: its anonymous volumes no other container uses. */
export async function removeAnonymousVolumes(ctx: EngineContext, r: ContainerRecord): Promise<void> {
  const users = await volumeUsers(ctx);
  const volumes = new VolumeStore(ctx.root);
  for (const m of mountsOf(r)) {
    if (m.type !== 'volume' || !m.anonymous || !m.name) continue;
    await volumes.remove(m.name, (users.get(m.name) ?? []).filter((n) => n !== r.name)).catch((err) => {
      if (!(err instanceof VolumeError && err.kind === 'not-found')) throw err;
    });
  }
}

/** docker's `volume prune`: unused anonymous volumes; with all, every unused volume. */
export async function pruneVolumes(ctx: EngineContext, all: boolean): Promise<VolumeRecord[]> {
  const users = await volumeUsers(ctx);
  const volumes = new VolumeStore(ctx.root);
  const removed: VolumeRecord[] = [];
  for (const v of await volumes.list()) {
    if ((!all && !v.anonymous) || users.has(v.name)) continue;
    try {
      await volumes.remove(v.name, []);
      removed.push(v);
    } catch (err) {
      if (!(err instanceof VolumeError && err.kind === 'not-found')) throw err;
    }
  }
  return removed;
}

/** Mounts the file systems of the volumes among `mounts` that have driver options (before a start). */
export async function mountVolumes(ctx: EngineContext, mounts: ResolvedMount[]): Promise<void> {
  const volumes = new VolumeStore(ctx.root);
  for (const m of mounts) if (m.type === 'volume' && m.name) await volumes.mount(m.name);
}

/** After r stopped (or was made): unmounts its volumes' file systems no other running container uses. */
export async function releaseVolumes(ctx: EngineContext, r: ContainerRecord): Promise<void> {
  const volumes = new VolumeStore(ctx.root);
  for (const m of mountsOf(r)) {
    if (m.type !== 'volume' || !m.name) continue;
    const name = m.name;
    await volumes.unmount(name, async () =>
      // Records as they are (no refresh: that releases resources itself); a "running" one whose
      // owner died keeps it mounted until it is refreshed, which is the safe side.
      (await ctx.store.list()).some((o) => o.id !== r.id && o.state === 'running' && mountsOf(o).some((x) => x.type === 'volume' && x.name === name)),
    );
  }
}
