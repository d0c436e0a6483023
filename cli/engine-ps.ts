// What `stevedore ps` does, in a module of its own: listing containers is timed against `node -e 0`
// (bench/cli-start.ts), so it loads the records and little else (no lifecycle, network or store
// code unless a record needs correcting or a running container publishes ports).
import type { Command } from 'commander';
import type { ContainerRecord } from '../engine/containers/container-store.js';
import { isPaused, listContainers } from '../engine/containers/container-state.js';
import { EngineContext } from '../engine/containers/engine-context.js';
import type { healthSuffix } from '../engine/containers/health.js';
import { UsageError } from '../engine/containers/run-options.js';
import { rootOf } from './engine-root.js';
import { age, table } from './table.js';

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
export function psCommand(flags: PsFlags, command: Command): Promise<void> {
  return listContainersAt(rootOf(command), flags);
}

/** `ps`: the containers under the engine root `root`. */
export async function listContainersAt(root: string, flags: PsFlags): Promise<void> {
  const ctx = new EngineContext(root);
  let last: number | undefined;
  if (flags.last !== undefined) {
    if (!/^-?[0-9]+$/.test(flags.last)) throw new UsageError(`invalid --last ${flags.last}: a number`);
    last = Number(flags.last) < 0 ? undefined : Number(flags.last);
  }
  if (flags.latest) last = 1;
  // Image names as users write them (`busybox:1`, not `docker.io/library/busybox:1`).
  let reference: typeof import('../oci/reference.js') | undefined;
  const imageName = (r: ContainerRecord) => (r.image.reference ? reference!.familiarReference(reference!.parseReference(r.image.reference)) : r.image.configDigest.slice(7, 19));
  const stateOf = async (r: ContainerRecord) => (r.state === 'running' ? (r.hostConfig.restarting ? 'restarting' : (await isPaused(ctx, r)) ? 'paused' : 'running') : r.state);
  const all = await listContainers(ctx); // newest first
  if (all.length) reference = await import('../oci/reference.js');
  let list = all;
  if (last !== undefined) list = list.slice(0, last);
  else if (!flags.all) list = list.filter((r) => r.state === 'running');
  for (const f of flags.filter) {
    const i = f.indexOf('=');
    if (i <= 0) throw new UsageError(`invalid --filter ${JSON.stringify(f)}: KEY=VALUE`);
    const [k, v] = [f.slice(0, i), f.slice(i + 1)];
    if (k === 'status') {
      if (!['created', 'running', 'paused', 'restarting', 'exited'].includes(v)) throw new UsageError(`invalid --filter status=${v}: created, running, paused, restarting or exited`);
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
      Status: status(r, await isPaused(ctx, r), healthSuffix),
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
