// The `stevedore` command line as commander parses it: every command line but a bare `--help` or
// `--version`, which cli/main.ts answers from cli/root-help.ts without loading this.
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE, failCommand, usageLine } from './error-report.js';
import { addRootOption } from './engine-root.js';
import { VERSION } from './root-help.js';

/** The `stevedore` program with no commands declared yet; `asked` names the command for usage errors. */
function newProgram(asked?: string): Command {
  const program = new Command();
  /** `stevedore pull`, for the --help hint of a usage error. */
  const commandPath = () => (asked && program.commands.some((c) => c.name() === asked || c.aliases().includes(asked)) ? `stevedore ${asked}` : 'stevedore');
  program
    .name('stevedore')
    .description('OCI container registry, registry client and local container engine')
    .exitOverride()
    // A usage error is one line with a --help hint, not the whole help (subcommands inherit this).
    .configureOutput({ outputError: (text, write) => write(`stevedore: ${usageLine(text, commandPath())}\n`) });
  // -V/--version is the root's only before a command: commander would take it anywhere on the line,
  // and a command's own -V (`compose up -V`, docker compose's --renew-anon-volumes) would print the version.
  if (asked === undefined) program.version(VERSION);
  addRootOption(program);
  return program;
}

/**
 * The root help is formatted for 80 columns whatever the terminal (commander would wrap it at a
 * wider terminal's width), so that cli/root-help.ts can hold it ready-made. Set after the commands
 * are declared: they copy the help settings when made, and keep commander's own.
 */
function fixRootHelpWidth(program: Command): void {
  program.configureHelp({ helpWidth: 80 });
}

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
  containers: async () => (await import('./engine-container-commands.js')).registerContainerCommands,
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
/** The program with every command declared (none of their implementations loaded): the root help. */
export async function fullProgram(): Promise<Command> {
  const program = newProgram();
  for (const register of await Promise.all(Object.values(MODULES).map((load) => load()))) register(program);
  fixRootHelpWidth(program);
  return program;
}

function subcommand(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root') i++;
    else if (!argv[i]!.startsWith('-')) return argv[i];
  }
  return undefined;
}
/**
 * The program as it parses `argv` (as process.argv): the module declaring the asked-for command
 * only, else every command. `plain`: its errors are reported without their class name (container
 * commands, as docker's).
 */
export async function programFor(argv: string[]): Promise<{ program: Command; plain: boolean }> {
  const args = argv.slice(2);
  const asked = subcommand(args);
  const versionOnly = asked === undefined && args.some((a) => a === '-V' || a === '--version');
  const only = asked === undefined ? undefined : COMMAND_MODULE[asked];
  const wanted = versionOnly ? [] : only ? [only] : Object.keys(MODULES);
  const program = newProgram(asked);
  for (const register of await Promise.all(wanted.map((m) => MODULES[m]!()))) register(program);
  fixRootHelpWidth(program);
  return { program, plain: only === 'containers' || only === 'network' || only === 'volume' };
}

/** Parses and runs a command line (`argv` as process.argv); sets the exit status. */
export async function runCli(argv: string[]): Promise<void> {
  const { program, plain } = await programFor(argv);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    // --help and --version end with status 0; a command line that cannot be used is the CLI's own error.
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
    // One line, never a stack trace.
    failCommand(err, plain);
  }
}
