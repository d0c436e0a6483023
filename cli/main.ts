// The `stevedore` command.
import { Command, CommanderError } from 'commander';
import { errorReport, EXIT_USAGE, usageLine } from './error-report.js';
import { registerContainerCommands } from './engine-container-commands.js';
import { registerNetworkCommands } from './engine-network-commands.js';
import { addRootOption } from './engine-root.js';
import { registerVolumeCommands } from './engine-volume-commands.js';

const program = new Command();
program
  .name('stevedore')
  .description('OCI container registry, registry client and local container engine')
  .version('0.1.0')
  .exitOverride()
  // A usage error is one line with a --help hint, not the whole help (subcommands inherit this).
  .configureOutput({ outputError: (text, write) => write(`stevedore: ${usageLine(text, commandPath())}\n`) });
addRootOption(program);

// Container commands start quickly (a `run --rm IMAGE true` is timed against bare runc): when one
// of them is asked for, the registry and client modules are not loaded at all.
const CONTAINER_COMMANDS = new Set(['run', 'create', 'start', 'restart', 'wait', 'pause', 'unpause', 'rename', 'cp', 'export', 'stats', 'top', 'ps', 'logs', 'stop', 'kill', 'rm', 'exec', 'container', 'volume', 'network', 'port']);
function subcommand(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root') i++;
    else if (!argv[i]!.startsWith('-')) return argv[i];
  }
  return undefined;
}
const containerOnly = CONTAINER_COMMANDS.has(subcommand(process.argv.slice(2)) ?? '');
/** `stevedore pull`, for the --help hint of a usage error. */
function commandPath(): string {
  const sub = subcommand(process.argv.slice(2));
  return sub && program.commands.some((c) => c.name() === sub || c.aliases().includes(sub)) ? `stevedore ${sub}` : 'stevedore';
}

if (!containerOnly) {
  const [clientCommands, engineImages, login, maintenance, serve, compose] = await Promise.all([
    import('./client-commands.js'),
    import('./engine-image-commands.js'),
    import('./login-commands.js'),
    import('./maintenance-commands.js'),
    import('./serve.js'),
    import('./compose-commands.js'),
  ]);
  serve.registerServe(program);
  clientCommands.registerClientCommands(program);
  engineImages.registerEngineImageCommands(program);
  login.registerLoginCommands(program);
  maintenance.registerMaintenanceCommands(program);
  compose.registerComposeCommands(program);
  (await import('./build-command.js')).registerBuildCommand(program);
  (await import('./token-commands.js')).registerTokenCommands(program);
}
registerNetworkCommands(program);
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
  // --help and --version end with status 0; a command line that cannot be used is the CLI's own error.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
  // One line, never a stack trace; STEVEDORE_DEBUG=1 shows the stack for bug reports.
  const report = errorReport(err, { plain: containerOnly });
  console.error(`stevedore: ${report.line}`);
  if (process.env.STEVEDORE_DEBUG) console.error((err as Error)?.stack);
  process.exit(report.code);
}
