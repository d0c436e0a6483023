// The `stevedore` command.
import { Command, CommanderError } from 'commander';
import { ClientError } from '../client/index.js';
import { registerClientCommands } from './client-commands.js';
import { registerEngineImageCommands } from './engine-image-commands.js';
import { registerLoginCommands } from './login-commands.js';
import { registerMaintenanceCommands } from './maintenance-commands.js';
import { registerServe } from './serve.js';

const program = new Command();
program
  .name('stevedore')
  .description('OCI container registry, registry client and local container engine')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerServe(program);
registerClientCommands(program);
registerEngineImageCommands(program);
registerLoginCommands(program);
registerMaintenanceCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  // One line, never a stack trace; STEVEDORE_DEBUG=1 shows the stack for bug reports.
  const e = err as Error;
  const line = (e?.message ?? String(err)).split('\n')[0];
  console.error(`stevedore: ${err instanceof ClientError ? line : `${e?.name && e.name !== 'Error' ? `${e.name}: ` : ''}${line}`}`);
  if (process.env.STEVEDORE_DEBUG) console.error(e?.stack);
  process.exit(1);
}
