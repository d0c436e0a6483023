// The `--root` option every engine command shares (a global option of `stevedore`), and the root
// a command was given. Light on purpose: container commands load it at start-up.
import type { Command } from 'commander';
import { resolveRoot } from '../engine/root.js';

export function addRootOption(program: Command): void {
  program.option('--root <dir>', 'engine state directory (default $STEVEDORE_ROOT, else /var/lib/stevedore)');
}

/** The engine root of this command: its `--root`, else $STEVEDORE_ROOT, else the default. */
export function rootOf(cmd: Command): string {
  return resolveRoot((cmd.optsWithGlobals() as { root?: string }).root);
}
