// What `stevedore ps` does, in a module of its own: listing containers is timed against `node -e 0`
// (bench/cli-start.ts), so it loads the records and little else: the runtime (and node:child_process
// under it) only when a record says running (to correct one whose owner died, or to tell paused),
// no lifecycle, network or store code unless a record needs correcting or publishes ports.
import type { Command } from 'commander';
import { ContainerStore, type ContainerRecord } from '../engine/containers/container-store.js';
import type { EngineContext } from '../engine/containers/engine-context.js';
import type { healthSuffix } from '../engine/containers/health.js';
import { age, table } from './table.js';

/** A usage error of ps's own options (loaded with the container options' parser when one is wrong). */
async function usageError(message: string): Promise<Error> {
  return new (await import('../engine/containers/run-options.js')).UsageError(message);
}

function commandText(r: ContainerRecord): string {
  const text = [r.path, ...r.args].join(' ');
  return JSON.stringify(text.length > 20 ? `${text.slice(0, 19)}…` : text);
}

function status(r: ContainerRecord, paused: boolean, health: typeof healthSuffix): string {
  if (r.state === 'running' && r.hostConfig.restarting) return `Restarting (${r.exitCode ?? 'unknown'}) ${age(r.finishedAt)} ago`;
  if (r.state === 'running') return `Up ${age(r.startedAt)}${paused ? ' (Paused)' : health(r.health)}`;
  if (r.state === 'exited') return `Exited (${r.exitCode ?? 'unknown'}) ${age(r.finishedAt)} ago`;
  return 'Created';
}

export interface PsFlags {
  all?: boolean;
  quiet?: boolean;
  trunc: boolean;
  filter: string[];
  format?: string;
  json?: boolean;
  last?: string;
  latest?: boolean;
  size?: boolean;
}

/** `ps` as commander runs it. */
export async function psCommand(flags: PsFlags, command: Command): Promise<void> {
  return listContainersAt((await import('./engine-root.js')).rootOf(command), flags);
}

/** `ps`: the containers under the engine root `root`. */
export async function listContainersAt(root: string, flags: PsFlags): Promise<void> {
  let last: number | undefined;
  if (flags.last !== undefined) {
    if (!/^-?[0-9]+$/.test(flags.last)) throw await usageError(`invalid --last ${flags.last}: a number`);
    last = Number(flags.last) < 0 ? undefined : Number(flags.last);
  }
  if (flags.latest) last = 1;
  // Image names as users write them (`busybox:1`, not `docker.io/library/busybox:1`).
  let reference: typeof import('../oci/reference.js') | undefined;
  const imageName = (r: ContainerRecord) => (r.image.reference ? reference!.familiarReference(reference!.parseReference(r.image.reference)) : r.image.configDigest.slice(7, 19));
  const records = await new ContainerStore(root).list(); // newest first
  let ctx: EngineContext | undefined;
  let state: typeof import('../engine/containers/container-state.js') | undefined;
  if (records.some((r) => r.state === 'running')) {
    const [{ EngineContext }, containerState] = await Promise.all([import('../engine/containers/engine-context.js'), import('../engine/containers/container-state.js')]);
    ctx = new EngineContext(root);
    state = containerState;
  }
  // As listContainers (container-state.ts): each record corrected if its owner died.
  const all = ctx && state ? await Promise.all(records.map((r) => state.refresh(ctx, r))) : records;
  const isPaused = async (r: ContainerRecord) => (ctx && state ? state.isPaused(ctx, r) : false);
  const stateOf = async (r: ContainerRecord) => (r.state === 'running' ? (r.hostConfig.restarting ? 'restarting' : (await isPaused(r)) ? 'paused' : 'running') : r.state);
  if (all.length) reference = await import('../oci/reference.js');
  let list = all;
  if (last !== undefined) list = list.slice(0, last);
  else if (!flags.all) list = list.filter((r) => r.state === 'running');
  for (const f of flags.filter) {
    const i = f.indexOf('=');
    if (i <= 0) throw await usageError(`invalid --filter ${JSON.stringify(f)}: KEY=VALUE`);
    const [k, v] = [f.slice(0, i), f.slice(i + 1)];
    if (k === 'status') {
      if (!['created', 'running', 'paused', 'restarting', 'exited'].includes(v)) throw await usageError(`invalid --filter status=${v}: created, running, paused, restarting or exited`);
      // docker: a status filter looks at every container, not only running ones.
      if (last === undefined && !flags.all) list = all;
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
      if (!['starting', 'healthy', 'unhealthy', 'none'].includes(v)) throw await usageError(`invalid --filter health=${v}: starting, healthy, unhealthy or none`);
      list = list.filter((r) => (v === 'none' ? !r.healthcheck : r.state === 'running' && r.health?.Status === v));
    } else if (k === 'ancestor') list = list.filter((r) => imageName(r) === v || r.image.reference === v || r.image.configDigest.slice(7).startsWith(v.replace(/^sha256:/, '')) || r.image.manifestDigest === v);
    else throw await usageError(`unsupported --filter ${k}: status, name, id, exited, ancestor, label or health`);
  }
  const id = (r: ContainerRecord) => (flags.trunc ? r.id.slice(0, 12) : r.id);
  if (flags.quiet) {
    process.stdout.write(list.map((r) => `${id(r)}\n`).join(''));
    return;
  }
  const [{ dirSize }, { formatBytes }] = flags.size ? await Promise.all([import('../engine/dir-size.js'), import('./copy-progress.js')]) : [{ dirSize: undefined }, { formatBytes: undefined }];
  // The health module (and the duration parser under it) only when a container runs.
  const { healthSuffix } = list.some((r) => r.state === 'running') ? await import('../engine/containers/health.js') : { healthSuffix: () => '' };
  const rows = [];
  for (const r of list) {
    rows.push({
      ID: id(r),
      Image: imageName(r),
      Command: commandText(r),
      CreatedAt: r.created,
      RunningFor: `${age(r.created)} ago`,
      Status: status(r, await isPaused(r), healthSuffix),
      State: await stateOf(r),
      Ports: r.state === 'running' && r.network?.ports?.length ? (await import('../engine/network/ports.js')).formatBindings(r.network.ports) : '',
      Names: r.name,
      Labels: Object.entries(r.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
      // Not a column of docker's ps (its inspect has it): here for --format and --json.
      RestartCount: r.restartCount ?? 0,
      ...(dirSize && formatBytes ? { Size: formatBytes(await dirSize(r.upperDir)) } : {}),
    });
  }
  if (flags.json || flags.format === 'json') {
    process.stdout.write(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
    return;
  }
  if (flags.format !== undefined) {
    process.stdout.write((await import('./go-template.js')).renderTemplate(flags.format, rows));
    return;
  }
  const header = ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES', ...(flags.size ? ['SIZE'] : [])];
  process.stdout.write(table([header, ...rows.map((r) => [r.ID, r.Image, r.Command, r.RunningFor, r.Status, r.Ports, r.Names, ...(flags.size ? [r.Size!] : [])])]));
}
