// Network commands (`network create/ls/inspect/rm/prune/connect/disconnect`, `port`) and the
// network options of `run` (--network, -p, -P, --network-alias, --ip, --dns, --add-host,
// --mac-address), turned into the request engine/network sets up at each start.
import type { Command } from 'commander';
import type { ContainerRecord } from '../engine/containers/container-store.js';
import { EngineContext } from '../engine/containers/engine-context.js';
import { findContainer } from '../engine/containers/lifecycle.js';
import { connectContainer, disconnectContainer, networkUsers, pruneNetworks, removeNetwork } from '../engine/network/container-network.js';
import { parseAddHost } from '../engine/network/etc-files.js';
import { NetworkError } from '../engine/network/network-error.js';
import { NetworkStore } from '../engine/network/network-store.js';
import { formatBinding, formatBindings, parsePublish } from '../engine/network/ports.js';
import { parseIpOption, parseMac, parseNetworkMode, type NetworkRequest } from '../engine/network/request.js';
import { parseIPv4 } from '../engine/network/subnet.js';
import { rootOf } from './engine-root.js';
import { age, table } from './table.js';

export interface NetworkRunFlags {
  network?: string;
  publish: string[];
  publishAll?: boolean;
  networkAlias: string[];
  ip?: string;
  dns: string[];
  addHost: string[];
  macAddress?: string;
}

const collect = (v: string, acc: string[]) => [...acc, v];

/** `run`'s network options, added by the container commands' `run`. */
export const NETWORK_RUN_OPTIONS: [string, string, ((v: string, acc: string[]) => string[]) | undefined, string[] | undefined][] = [
  ['--network <mode>', 'bridge (default), host, none, container:NAME, or a network made by `network create`', undefined, undefined],
  ['-p, --publish <[ip:][host:]ctr[/proto]>', 'publish a container port on the host (ranges allowed)', collect, []],
  ['-P, --publish-all', 'publish every EXPOSEd port on a free host port', undefined, undefined],
  ['--network-alias <name>', 'another name for it on its network', collect, []],
  ['--ip <address>', 'its IPv4 address on the network', undefined, undefined],
  ['--dns <address>', 'a nameserver for /etc/resolv.conf', collect, []],
  ['--add-host <name:ip>', 'a line for /etc/hosts', collect, []],
  ['--mac-address <mac>', 'the MAC address of eth0', undefined, undefined],
];

/** The CreateOptions part: `network` for host/none, `networking` for bridge networks and container:NAME. */
export async function networkRequest(ctx: EngineContext, f: NetworkRunFlags): Promise<{ network: 'none' | 'host'; networking?: NetworkRequest & { publishAll?: boolean } }> {
  const m = parseNetworkMode(f.network);
  const ports = f.publish.flatMap(parsePublish);
  f.addHost.forEach(parseAddHost);
  for (const d of f.dns) if (parseIPv4(d) === undefined) throw new NetworkError('usage', `invalid --dns ${JSON.stringify(d)}: an IPv4 address`);
  if (m.mode !== 'bridge') {
    const conflicting = [ports.length || f.publishAll ? '-p/-P' : '', f.networkAlias.length ? '--network-alias' : '', f.ip ? '--ip' : '', f.macAddress ? '--mac-address' : ''].filter(Boolean);
    if (conflicting.length) throw new NetworkError('usage', `${conflicting.join(', ')} need a bridge network; --network ${f.network} has none`);
  }
  if (m.mode === 'host' || m.mode === 'none') {
    if (f.dns.length || f.addHost.length) throw new NetworkError('usage', `--dns and --add-host need a network of the container's own (not --network ${m.mode})`);
    return { network: m.mode };
  }
  let container: string | undefined;
  if (m.mode === 'container') container = (await findContainer(ctx, m.container!)).id;
  else {
    const nets = new NetworkStore(ctx.root);
    await nets.locked(() => nets.resolve(m.network!)); // an unknown network is an error before anything is made
  }
  return {
    network: 'none',
    networking: {
      mode: m.mode,
      networks: m.mode === 'bridge' ? [m.network!] : [],
      ...(container ? { container } : {}),
      aliases: f.networkAlias,
      ...(f.ip ? { ip: parseIpOption(f.ip) } : {}),
      ...(f.macAddress ? { mac: parseMac(f.macAddress) } : {}),
      ports,
      dns: f.dns,
      addHosts: f.addHost,
      publishAll: !!f.publishAll,
    },
  };
}

export function portsColumn(r: ContainerRecord): string {
  return r.state === 'running' ? formatBindings(r.network?.ports ?? []) : '';
}

function fail(err: unknown): void {
  process.stderr.write(`stevedore: ${((err as Error)?.message ?? String(err)).split('\n')[0]}\n`);
  process.exitCode = 1;
}

export function registerNetworkCommands(program: Command): void {
  program
    .command('port')
    .description("list a container's published ports")
    .argument('<container>')
    .argument('[port]', 'only this container port (PORT or PORT/PROTO)')
    .action(async (ref: string, only: string | undefined, _f: unknown, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      const r = await findContainer(ctx, ref);
      const [p, proto] = (only ?? '').split('/');
      const ports = (r.state === 'running' ? (r.network?.ports ?? []) : []).filter((b) => !only || (String(b.containerPort) === p && (!proto || b.protocol === proto)));
      if (only && ports.length === 0) throw new NetworkError('not-found', `no public port ${only} published for ${r.name}`);
      process.stdout.write(ports.map((b) => (only ? `${b.hostIP || '0.0.0.0'}:${b.hostPort}\n` : `${formatBinding(b)}\n`)).join(''));
    });

  const network = program.command('network').description('manage networks');
  network
    .command('create')
    .description('create a bridge network')
    .argument('<name>')
    .option('--subnet <cidr>', 'IPv4 subnet (default: a free /24 of 10.90.0.0/16)')
    .option('--gateway <ip>', 'gateway address (default: the first of the subnet)')
    .option('--internal', 'no route out of the network')
    .option('-d, --driver <driver>', 'only bridge', 'bridge')
    .action(async (name: string, f: { subnet?: string; gateway?: string; internal?: boolean; driver: string }, command: Command) => {
      if (f.driver !== 'bridge') throw new NetworkError('usage', `--driver ${f.driver}: only bridge is supported`);
      const nets = new NetworkStore(rootOf(command));
      const n = await nets.locked(() => nets.create(name, f));
      process.stdout.write(`${n.id}\n`);
    });
  network
    .command('ls')
    .alias('list')
    .description('list networks')
    .option('-q, --quiet', 'only ids')
    .action(async (f: { quiet?: boolean }, command: Command) => {
      const nets = new NetworkStore(rootOf(command));
      const all = await nets.locked(async () => (await nets.ensureDefault(), nets.list()));
      if (f.quiet) return void process.stdout.write(all.map((n) => `${n.id.slice(0, 12)}\n`).join(''));
      const rows = [['NETWORK ID', 'NAME', 'DRIVER', 'SUBNET', 'BRIDGE', 'INTERNAL', 'CREATED']];
      for (const n of all) rows.push([n.id.slice(0, 12), n.name, n.driver, n.subnet, n.bridge, n.internal ? 'yes' : 'no', `${age(n.created)} ago`]);
      process.stdout.write(table(rows));
    });
  network
    .command('inspect')
    .description('show networks as JSON, with their containers')
    .argument('<network...>')
    .action(async (refs: string[], _f: unknown, command: Command) => {
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
    });
  network
    .command('rm')
    .alias('remove')
    .description('remove networks (none of their containers may remain)')
    .argument('<network...>')
    .action(async (refs: string[], _f: unknown, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      for (const ref of refs) {
        try {
          await removeNetwork(ctx, ref);
          process.stdout.write(`${ref}\n`);
        } catch (err) {
          fail(err);
        }
      }
    });
  network
    .command('prune')
    .description('remove unused user networks, and the bridges and rules of networks no running container is on')
    .action(async (_f: unknown, command: Command) => {
      const removed = await pruneNetworks(new EngineContext(rootOf(command)));
      process.stdout.write(removed.map((n) => `${n.name}\n`).join(''));
    });
  network
    .command('connect')
    .description('connect a container to a network (a running one joins at once)')
    .argument('<network>')
    .argument('<container>')
    .option('--alias <name>', 'another name on this network', collect, [])
    .option('--ip <address>', 'its IPv4 address on this network')
    .action(async (net: string, ref: string, f: { alias: string[]; ip?: string }, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      await connectContainer(ctx, await findContainer(ctx, ref), net, { aliases: f.alias, ...(f.ip ? { ip: parseIpOption(f.ip) } : {}) });
    });
  network
    .command('disconnect')
    .description('disconnect a container from a network (a running one leaves at once)')
    .argument('<network>')
    .argument('<container>')
    .action(async (net: string, ref: string, _f: unknown, command: Command) => {
      const ctx = new EngineContext(rootOf(command));
      await disconnectContainer(ctx, await findContainer(ctx, ref), net);
    });
}
