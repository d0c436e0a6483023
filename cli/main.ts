// The `stevedore` command.
import { Command, CommanderError } from 'commander';
import { errorReport, EXIT_USAGE, usageLine } from './error-report.js';
import { addRootOption } from './engine-root.js';

const program = new Command();
program
  .name('stevedore')
  .description('OCI container registry, registry client and local container engine')
  .exitOverride()
  // A usage error is one line with a --help hint, not the whole help (subcommands inherit this).
  .configureOutput({ outputError: (text, write) => write(`stevedore: ${usageLine(text, commandPath())}\n`) });
addRootOption(program);

// Each command loads only what it uses: the module that declares the asked-for command is loaded
// alone (a `run --rm IMAGE true` is timed against bare runc, `images` against `node -e 0`), and its
// actions load their implementation when they run. Help, no command or an unknown one load them all.
type Register = (program: Command) => void;
const MODULES: Record<string, () => Promise<Register>> = {
  serve: async () => (await import('./serve.js')).registerServe,
  client: async () => (await import('./client-commands.js')).registerClientCommands,
  images: async () => (await import('./engine-image-commands.js')).registerEngineImageCommands,
  login: async () => (await import('./login-commands.js')).registerLoginCommands,
  maintenance: async () => (await import('./maintenance-commands.js')).registerMaintenanceCommands,
  compose: async () => (await import('./compose-commands.js')).registerComposeCommands,
  build: async () => (await import('./build-command.js')).registerBuildCommand,
  quota: async () => (await import('./quota-commands.js')).registerQuotaCommands,
  token: async () => (await import('./token-commands.js')).registerTokenCommands,
  network: async () => (await import('./engine-network-commands.js')).registerNetworkCommands,
  volume: async () => (await import('./engine-volume-commands.js')).registerVolumeCommands,
  containers: async () => {
    const { registerContainerCommands } = await import('./engine-container-commands.js');
    // The image side (the local store) loads only when a container command needs an image; the
    // client inside it only when the image has to be pulled.
    return (program) =>
      registerContainerCommands(program, async (root) => {
        const [{ StoreImageProvider }, { ImageStore }] = await Promise.all([import('../engine/image-provider.js'), import('../engine/store/image-store.js')]);
        return new StoreImageProvider(new ImageStore(root), async () => (await import('./client-options.js')).clientFrom({}));
      });
  },
};
const COMMAND_MODULE: Record<string, string> = {
  ...Object.fromEntries(['pull', 'push', 'copy', 'tags', 'catalog', 'inspect', 'digest', 'delete'].map((c) => [c, 'client'])),
  ...Object.fromEntries(['images', 'rmi', 'tag', 'save', 'load', 'history', 'image', 'system', 'prune'].map((c) => [c, 'images'])),
  login: 'login',
  logout: 'login',
  gc: 'maintenance',
  scrub: 'maintenance',
  serve: 'serve',
  compose: 'compose',
  build: 'build',
  builder: 'build',
  quota: 'quota',
  token: 'token',
  network: 'network',
  port: 'network',
  volume: 'volume',
  ...Object.fromEntries(
    ['run', 'create', 'start', 'restart', 'wait', 'pause', 'unpause', 'rename', 'cp', 'export', 'stats', 'top', 'ps', 'logs', 'stop', 'kill', 'rm', 'exec', 'container', 'attach', 'commit', 'import'].map((c) => [c, 'containers']),
  ),
};
function subcommand(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root') i++;
    else if (!argv[i]!.startsWith('-')) return argv[i];
  }
  return undefined;
}
const asked = subcommand(process.argv.slice(2));
// -V/--version is the root's only before a command: commander would take it anywhere on the line,
// and a command's own -V (`compose up -V`, docker compose's --renew-anon-volumes) would print the version.
if (asked === undefined) program.version('0.1.0');
const versionOnly = asked === undefined && process.argv.slice(2).some((a) => a === '-V' || a === '--version');
const only = asked === undefined ? undefined : COMMAND_MODULE[asked];
const containerOnly = only === 'containers' || only === 'network' || only === 'volume';
const wanted = versionOnly ? [] : only ? [only] : Object.keys(MODULES);
for (const register of await Promise.all(wanted.map((m) => MODULES[m]!()))) register(program);

/** `stevedore pull`, for the --help hint of a usage error. */
function commandPath(): string {
  return asked && program.commands.some((c) => c.name() === asked || c.aliases().includes(asked)) ? `stevedore ${asked}` : 'stevedore';
}

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
