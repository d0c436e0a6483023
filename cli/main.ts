// The `stevedore` command.
import { Command, CommanderError } from 'commander';
import { registerContainerCommands } from './engine-container-commands.js';
import { addRootOption } from './engine-root.js';
import { registerVolumeCommands } from './engine-volume-commands.js';

const program = new Command();
program
  .name('stevedore')
  .description('OCI container registry, registry client and local container engine')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();
addRootOption(program);

// Container commands start quickly (a `run --rm IMAGE true` is timed against bare runc): when one
// of them is asked for, the registry and client modules are not loaded at all.
const CONTAINER_COMMANDS = new Set(['run', 'create', 'start', 'restart', 'wait', 'pause', 'unpause', 'rename', 'cp', 'export', 'stats', 'top', 'ps', 'logs', 'stop', 'kill', 'rm', 'exec', 'container', 'volume']);
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
  const [client, clientCommands, engineImages, login, maintenance, serve] = await Promise.all([
    import('../client/index.js'),
    import('./client-commands.js'),
    import('./engine-image-commands.js'),
    import('./login-commands.js'),
    import('./maintenance-commands.js'),
    import('./serve.js'),
  ]);
  ClientError = client.ClientError;
  serve.registerServe(program);
  clientCommands.registerClientCommands(program);
  engineImages.registerEngineImageCommands(program);
  login.registerLoginCommands(program);
  maintenance.registerMaintenanceCommands(program);
}
registerVolumeCommands(program);
// The image side (the local store) loads only when a container command needs an image; the client
// inside it only when the image has to be pulled.
registerContainerCommands(program, async (root) => {
  const [{ StoreImageProvider }, { ImageStore }] = await Promise.all([import('../engine/image-provider.js'), import('../engine/store/image-store.js')]);
  return new StoreImageProvider(new ImageStore(root), async () => (await import('./client-options.js')).clientFrom({}));
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
