// The `stevedore` command.
import { Command, CommanderError } from 'commander';
import { registerContainerCommands } from './engine-container-commands.js';

const program = new Command();
program
  .name('stevedore')
  .description('OCI container registry, registry client and local container engine')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

// Container commands start quickly (a `run --rm IMAGE true` is timed against bare runc): when one
// of them is asked for, the registry and client modules are not loaded at all.
const CONTAINER_COMMANDS = new Set(['run', 'ps', 'logs', 'stop', 'kill', 'rm', 'exec', 'container']);
function subcommand(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root') i++;
    else if (!argv[i]!.startsWith('-')) return argv[i];
  }
  return undefined;
}
const containerOnly = CONTAINER_COMMANDS.has(subcommand(process.argv.slice(2)) ?? '');

let ClientError: (new (...args: never[]) => Error) | undefined;
if (!containerOnly) {
  const [client, clientCommands, login, maintenance, serve] = await Promise.all([
    import('../client/index.js'),
    import('./client-commands.js'),
    import('./login-commands.js'),
    import('./maintenance-commands.js'),
    import('./serve.js'),
  ]);
  ClientError = client.ClientError;
  serve.registerServe(program);
  clientCommands.registerClientCommands(program);
  login.registerLoginCommands(program);
  maintenance.registerMaintenanceCommands(program);
}
// The image store is wired in by the engine's image side; STEVEDORE_TEST_IMAGES is the container
// tests' own provider (a JSON file of unpacked images).
registerContainerCommands(program, async () => {
  const { jsonImageProvider, noImageProvider } = await import('../engine/container-test-images.js');
  return process.env.STEVEDORE_TEST_IMAGES ? jsonImageProvider(process.env.STEVEDORE_TEST_IMAGES) : noImageProvider;
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  // One line, never a stack trace; STEVEDORE_DEBUG=1 shows the stack for bug reports.
  const e = err as Error;
  const line = (e?.message ?? String(err)).split('\n')[0];
  const plain = (ClientError && err instanceof ClientError) || containerOnly;
  console.error(`stevedore: ${plain ? line : `${e?.name && e.name !== 'Error' ? `${e.name}: ` : ''}${line}`}`);
  if (process.env.STEVEDORE_DEBUG) console.error(e?.stack);
  process.exit(1);
}
