// The `stevedore` command.
import { Command, CommanderError } from 'commander';
import { registerServe } from './serve.js';

const program = new Command();
program
  .name('stevedore')
  .description('OCI container registry, registry client and local container engine')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerServe(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  console.error(`stevedore: ${(err as Error).message}`);
  process.exit(1);
}
