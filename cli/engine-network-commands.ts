// Network commands (`network create/ls/inspect/rm/prune/connect/disconnect`, `port`) and the type
// of `run`'s network options (--network, -p, -P, ...: declared with run's others in
// engine-run-flags.ts). Only their options live here: what they do is in engine-network-actions.ts,
// loaded when one of them runs.
import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';

const act = lazyAction(() => import('./engine-network-actions.js'));

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

export function registerNetworkCommands(program: Command): void {
  program
    .command('port')
    .description("list a container's published ports")
    .argument('<container>')
    .argument('[port]', 'only this container port (PORT or PORT/PROTO)')
    .action(act('portCommand'));

  const network = program.command('network').description('manage networks');
  network
    .command('create')
    .description('create a bridge network')
    .argument('<name>')
    .option('--subnet <cidr>', 'IPv4 subnet (default: a free /24 of 10.90.0.0/16)')
    .option('--gateway <ip>', 'gateway address (default: the first of the subnet)')
    .option('--internal', 'no route out of the network')
    .option('-d, --driver <driver>', 'only bridge', 'bridge')
    .action(act('networkCreate'));
  network
    .command('ls')
    .alias('list')
    .description('list networks')
    .option('-q, --quiet', 'only ids')
    .action(act('networkList'));
  network
    .command('inspect')
    .description('show networks as JSON, with their containers')
    .argument('<network...>')
    .action(act('networkInspect'));
  network
    .command('rm')
    .alias('remove')
    .description('remove networks (none of their containers may remain)')
    .argument('<network...>')
    .action(act('networkRemove'));
  network
    .command('prune')
    .description('remove unused user networks, and the bridges and rules of networks no running container is on')
    .action(act('networkPrune'));
  network
    .command('connect')
    .description('connect a container to a network (a running one joins at once)')
    .argument('<network>')
    .argument('<container>')
    .option('--alias <name>', 'another name on this network', collect, [])
    .option('--ip <address>', 'its IPv4 address on this network')
    .action(act('networkConnect'));
  network
    .command('disconnect')
    .description('disconnect a container from a network (a running one leaves at once)')
    .argument('<network>')
    .argument('<container>')
    .action(act('networkDisconnect'));
}
