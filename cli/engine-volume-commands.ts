// `volume create|ls|inspect|rm|prune`: the engine's volumes (engine/volumes/), docker's commands.
// Only their options live here: what they do is in engine-volume-actions.ts, loaded when one runs.
import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';

const act = lazyAction(() => import('./engine-volume-actions.js'));

const collect = (v: string, acc: string[]) => [...acc, v];

export function registerVolumeCommands(program: Command): void {
  const volume = program.command('volume').description('manage volumes (data that outlives containers)');

  volume
    .command('create')
    .description('create a volume (a random name when none is given)')
    .argument('[name]')
    .option('--label <key=value>', 'a label', collect, [])
    .option('-d, --driver <driver>', 'only "local"', 'local')
    .option('-o, --opt <key=value>', 'the local driver\'s options, as docker\'s: type=tmpfs device=tmpfs o=size=64m, or type=none o=bind device=/host/dir (mounted while a container uses it)', collect, [])
    .action(act('volumeCreate'));

  volume
    .command('ls')
    .alias('list')
    .description('list volumes')
    .option('-q, --quiet', 'only names')
    .option('--json', 'print the list as JSON')
    .option('-f, --filter <key=value>', 'dangling=true|false, name=…, label=KEY[=VALUE]', collect, [])
    .action(act('volumeList'));

  volume
    .command('inspect')
    .description('show volumes as JSON')
    .argument('<name...>')
    .action(act('volumeInspect'));

  volume
    .command('rm')
    .alias('remove')
    .description('remove volumes no container uses')
    .argument('<name...>')
    .option('-f, --force', 'no error for a volume that does not exist (a volume in use is still kept)')
    .action(act('volumeRemove'));

  volume
    .command('prune')
    .description('remove anonymous volumes no container uses (-a: every unused volume)')
    .option('-a, --all', 'named volumes too')
    .option('-f, --force', 'do not ask (there is no prompt: accepted for docker\'s muscle memory)')
    .action(act('volumePrune'));
}
