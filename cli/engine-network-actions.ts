// What the network commands do (`network create/ls/inspect/rm/prune/connect/disconnect`, `port`):
// loaded when one of them runs; the options are declared in engine-network-commands.ts.
import type { Command } from 'commander';
import { EngineContext } from '../engine/containers/engine-context.js';
import { findContainer } from '../engine/containers/lifecycle.js';
import { connectContainer, disconnectContainer, networkUsers, pruneNetworks, removeNetwork } from '../engine/network/container-network.js';
import { NetworkError } from '../engine/network/network-error.js';
import { NetworkStore } from '../engine/network/network-store.js';
import { formatBinding } from '../engine/network/ports.js';
import { parseIpOption } from '../engine/network/request.js';
import { rootOf } from './engine-root.js';
import { age, table } from './table.js';

function fail(err: unknown): void {
  process.stderr.write(`stevedore: ${((err as Error)?.message ?? String(err)).split('\n')[0]}\n`);
  process.exitCode = 1;
}

export async function portCommand(ref: string, only: string | undefined, _f: unknown, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  const r = await findContainer(ctx, ref);
  const [p, proto] = (only ?? '').split('/');
  const ports = (r.state === 'running' ? (r.network?.ports ?? []) : []).filter((b) => !only || (String(b.containerPort) === p && (!proto || b.protocol === proto)));
  if (only && ports.length === 0) throw new NetworkError('not-found', `no public port ${only} published for ${r.name}`);
  process.stdout.write(ports.map((b) => (only ? `${b.hostIP || '0.0.0.0'}:${b.hostPort}\n` : `${formatBinding(b)}\n`)).join(''));
}

export async function networkCreate(name: string, f: { subnet?: string; gateway?: string; internal?: boolean; driver: string }, command: Command): Promise<void> {
  if (f.driver !== 'bridge') throw new NetworkError('usage', `--driver ${f.driver}: only bridge is supported`);
  const nets = new NetworkStore(rootOf(command));
  const n = await nets.locked(() => nets.create(name, f));
  process.stdout.write(`${n.id}\n`);
}

export async function networkList(f: { quiet?: boolean }, command: Command): Promise<void> {
  const nets = new NetworkStore(rootOf(command));
  const all = await nets.locked(async () => (await nets.ensureDefault(), nets.list()));
  if (f.quiet) return void process.stdout.write(all.map((n) => `${n.id.slice(0, 12)}\n`).join(''));
  const rows = [['NETWORK ID', 'NAME', 'DRIVER', 'SUBNET', 'BRIDGE', 'INTERNAL', 'CREATED']];
  for (const n of all) rows.push([n.id.slice(0, 12), n.name, n.driver, n.subnet, n.bridge, n.internal ? 'yes' : 'no', `${age(n.created)} ago`]);
  process.stdout.write(table(rows));
}

export async function networkInspect(refs: string[], _f: unknown, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  const nets = new NetworkStore(ctx.root);
  const out = [];
  for (const ref of refs) {
    const n = await nets.locked(() => nets.resolve(ref));
    const containers: Record<string, unknown> = {};
    for (const r of await networkUsers(ctx, n.name)) {
      const a = r.network?.attachments.find((x) => x.network === n.name);
      containers[r.id] = { Name: r.name, State: r.state, ...(a ? { IPv4Address: `${a.ip}/${a.prefix}`, MacAddress: a.mac, Aliases: a.aliases } : {}) };
    }
    out.push({ ...n, containers });
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

export async function networkRemove(refs: string[], _f: unknown, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  for (const ref of refs) {
    try {
      await removeNetwork(ctx, ref);
      process.stdout.write(`${ref}\n`);
    } catch (err) {
      fail(err);
    }
  }
}

export async function networkPrune(_f: unknown, command: Command): Promise<void> {
  const removed = await pruneNetworks(new EngineContext(rootOf(command)));
  process.stdout.write(removed.map((n) => `${n.name}\n`).join(''));
}

export async function networkConnect(net: string, ref: string, f: { alias: string[]; ip?: string }, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  await connectContainer(ctx, await findContainer(ctx, ref), net, { aliases: f.alias, ...(f.ip ? { ip: parseIpOption(f.ip) } : {}) });
}

export async function networkDisconnect(net: string, ref: string, _f: unknown, command: Command): Promise<void> {
  const ctx = new EngineContext(rootOf(command));
  await disconnectContainer(ctx, await findContainer(ctx, ref), net);
}
