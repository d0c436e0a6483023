// `stevedore token create|ls|rm`: robot tokens for CI. Only their options live here: what they do
// is in token-actions.ts, loaded when one of them runs.
import type { Command } from 'commander';
import { addClientOptions } from './client-options.js';
import type { TokenFlags } from './token-actions.js';

const actions = () => import('./token-actions.js');

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description("robot tokens for CI: secrets that work as a password, with their own access (the registry's administrators)");

  addClientOptions(
    token
      .command('create')
      .description('create a robot token; its secret is printed once')
      .requiredOption('--name <name>', 'the robot name (logs in as robot+NAME)')
      .requiredOption('--access <glob:actions>', 'what it may do, e.g. team/**:pull,push; repeatable', (v: string, prev: string[] = []) => [...prev, v])
      .option('--expires <duration>', 'expire after this long (e.g. 90d, 12h); default: never')
      .option('--registry <host>', 'the registry (default localhost:5000)'),
  ).action(async (flags: TokenFlags & { name: string; access: string[]; expires?: string }) => (await actions()).createCommand(flags));

  addClientOptions(
    token
      .command('ls')
      .description('list robot tokens (never their secrets)')
      .option('--registry <host>', 'the registry (default localhost:5000)'),
  ).action(async (flags: TokenFlags) => (await actions()).lsCommand(flags));

  addClientOptions(
    token
      .command('rm')
      .description('remove robot tokens: their secrets and the tokens issued from them stop working at once')
      .argument('<name...>', 'robot names')
      .option('--registry <host>', 'the registry (default localhost:5000)'),
  ).action(async (names: string[], flags: TokenFlags) => (await actions()).rmCommand(names, flags));
}
