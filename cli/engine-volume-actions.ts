// What `volume create|ls|inspect|rm|prune` do (engine/volumes/), loaded when one of them runs; their
// options are in engine-volume-commands.ts.
import type { Command } from 'commander';
import { EngineContext } from '../engine/containers/engine-context.js';
import { UsageError } from '../engine/containers/run-options.js';
import { pruneVolumes, removeVolume, volumeUsers } from '../engine/containers/volume-use.js';
import { VolumeError, VolumeStore } from '../engine/volumes/volume-store.js';
import { parseVolumeOptions } from '../engine/volumes/volume-options.js';
import { rootOf } from './engine-root.js';
import { table } from './table.js';

function labelsOf(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const i = l.indexOf('=');
    if (i === 0) throw new UsageError(`invalid --label ${JSON.stringify(l)}: KEY[=VALUE]`);
    out[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  return out;
}

/** One line per failed volume (docker goes on with the others), exit status 1. */
function failed(err: unknown): void {
  process.stderr.write(`stevedore: ${(err as Error).message.split('\n')[0]}\n`);
  process.exitCode = 1;
}

export async function volumeCreate(name: string | undefined, flags: { label: string[]; driver: string; opt: string[] }, cmd: Command): Promise<void> {
  if (flags.driver !== 'local') throw new UsageError(`volume driver ${flags.driver}: only "local" exists here`);
  const options = parseVolumeOptions(flags.opt);
  const store = new VolumeStore(rootOf(cmd));
  // docker: creating a volume that exists is fine (it is returned as it is, its options too).
  const { volume: v } = await store.create({ name, labels: labelsOf(flags.label), reuse: name !== undefined, options });
  process.stdout.write(`${v.name}\n`);
}

export async function volumeList(flags: { quiet?: boolean; json?: boolean; filter: string[] }, cmd: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(cmd));
  const users = await volumeUsers(ctx);
  let list = await new VolumeStore(ctx.root).list();
  for (const f of flags.filter) {
    const i = f.indexOf('=');
    const [k, v] = i < 0 ? [f, ''] : [f.slice(0, i), f.slice(i + 1)];
    if (k === 'dangling') list = list.filter((x) => users.has(x.name) !== (v === 'true' || v === '1'));
    else if (k === 'name') list = list.filter((x) => x.name.includes(v));
    else if (k === 'label') {
      const j = v.indexOf('=');
      list = list.filter((x) => (j < 0 ? v in x.labels : x.labels[v.slice(0, j)] === v.slice(j + 1)));
    } else throw new UsageError(`invalid --filter ${f}: dangling, name or label`);
  }
  if (flags.json) process.stdout.write(`${JSON.stringify(list.map((v) => ({ ...v, inUseBy: users.get(v.name) ?? [] })))}\n`);
  else if (flags.quiet) process.stdout.write(list.map((v) => `${v.name}\n`).join(''));
  else process.stdout.write(table([['DRIVER', 'VOLUME NAME'], ...list.map((v) => [v.driver, v.name])]));
}

export async function volumeInspect(names: string[], _flags: unknown, cmd: Command): Promise<void> {
  const store = new VolumeStore(rootOf(cmd));
  const out = [];
  for (const n of names) {
    const v = await store.get(n);
    if (!v) throw new VolumeError(`no such volume: ${n}`, 'not-found');
    out.push({ Name: v.name, Driver: v.driver, Mountpoint: store.dataDir(v.name), CreatedAt: v.created, Labels: v.labels, Scope: 'local', Options: v.options ?? null, Anonymous: v.anonymous });
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

export async function volumeRemove(names: string[], flags: { force?: boolean }, cmd: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(cmd));
  for (const n of names) {
    try {
      await removeVolume(ctx, n);
      process.stdout.write(`${n}\n`);
    } catch (err) {
      if (flags.force && err instanceof VolumeError && err.kind === 'not-found') continue;
      failed(err);
    }
  }
}

export async function volumePrune(flags: { all?: boolean }, cmd: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(cmd));
  const removed = await pruneVolumes(ctx, !!flags.all);
  process.stdout.write(removed.map((v) => `${v.name}\n`).join(''));
}

