// Container commands: run, create, ps, logs, start, stop, kill, rm, exec, attach, commit, import,
// container inspect/prune, ... Only their options live here: what they do is in
// engine-container-actions.ts, loaded when one of them runs, so `stevedore ps --help` and the
// declarations of the other commands load no engine code.
import type { Command } from 'commander';
import { runOptionRows } from './engine-run-flags.js';
import { lazyAction } from './lazy-action.js';

const actions = () => import('./engine-container-actions.js');
const act = lazyAction(actions);

const collect = (v: string, acc: string[]) => [...acc, v];

export function registerContainerCommands(program: Command): void {
  // `run IMAGE CMD -x` passes -x to CMD: needs options to be positional program-wide.
  program.enablePositionalOptions();

  // The options are one table (engine-run-flags.ts), which `run`'s quick parser reads too.
  const containerFlags = (c: Command) => {
    c.argument('<image>').argument('[command...]', 'replaces the image\'s Cmd').passThroughOptions();
    for (const [flags, description, parse, initial] of runOptionRows()) {
      if (parse) c.option(flags, description, parse, initial as string[]);
      else c.option(flags, description, initial as string | undefined);
    }
    return c;
  };

  containerFlags(program.command('run').description('run a command in a new container')).action(act('runCommand'));
  containerFlags(program.command('create').description('create a container without starting it (start it with start)')).action(act('createCommand'));

  program
    .command('commit')
    .description('make an image of a container\'s changes: its upper directory as a new layer on its image')
    .argument('<container>')
    .argument('[name]', 'the new image\'s name (NAME[:TAG])')
    .option('-c, --change <instruction>', 'a Dockerfile instruction for the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, …', collect, [])
    .option('-m, --message <text>', 'the commit message (in the image\'s history)')
    .option('-a, --author <name>', 'the author')
    .option('--no-pause', 'do not pause a running container while its changes are read')
    .action(act('commitCommand'));

  program
    .command('import')
    .description('make a one-layer image of a root filesystem tar (FILE, or - for stdin; plain or gzip)')
    .argument('<file>')
    .argument('[name]', 'the new image\'s name (NAME[:TAG])')
    .option('-c, --change <instruction>', 'a Dockerfile instruction for the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, …', collect, [])
    .option('-m, --message <text>', 'the history\'s comment')
    .action(act('importCommand'));

  program
    .command('ps')
    .description('list containers (running ones unless -a)')
    .option('-a, --all', 'show all containers')
    .option('-q, --quiet', 'only ids')
    .option('--no-trunc', 'full ids')
    .option('-f, --filter <key=value>', 'status=created|running|paused|restarting|exited, name=…, id=…, ancestor=IMAGE, exited=CODE, label=KEY[=VALUE], health=starting|healthy|unhealthy|none (repeatable)', collect, [])
    .option('--format <template>', 'a Go-style template: {{.ID}} {{.Image}} {{.Command}} {{.CreatedAt}} {{.Status}} {{.Names}} {{.State}} {{.Labels}} {{.RestartCount}} {{.Size}}, or "json"')
    .option('--json', 'one JSON object per line (like --format json)')
    .option('-n, --last <n>', 'the n containers made last (any state)')
    .option('-l, --latest', 'the container made last (any state)')
    .option('-s, --size', 'the size of each container\'s own changes')
    .action(lazyAction(() => import('./engine-ps.js'))('psCommand'));

  program
    .command('logs')
    .description('print the output of a container (stdout and stderr each to its own)')
    .argument('<container>')
    .option('-f, --follow', 'keep printing until the container exits')
    .option('--since <time>', 'only lines since: RFC 3339, Unix seconds, or a duration like 10m')
    .option('--until <time>', 'only lines before')
    .option('-n, --tail <n>', 'only the last N lines ("all": every line)')
    .option('-t, --timestamps', 'show when each line was written')
    .action(act('logsCommand'));

  program
    .command('start')
    .description('start containers that are not running (their changes kept); -a: in the foreground')
    .argument('[container...]')
    .option('-a, --attach', 'in the foreground: its output here, its exit status ours')
    .option('-i, --interactive', 'with -a: our stdin is its stdin')
    .option('--all-restartable', 'every container whose --restart policy is always or unless-stopped (after a reboot)')
    .action(act('startCommand'));

  program
    .command('restart')
    .description('stop (like stop) and start containers again')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL', '10')
    .action(act('restartCommand'));

  program
    .command('wait')
    .description('wait until containers stop; print their exit statuses')
    .argument('<container...>')
    .option('--condition <condition>', 'not-running (default), or healthy / unhealthy: until its health check says so (prints the name)', 'not-running')
    .option('--timeout <duration>', 'with healthy/unhealthy: give up after this long, e.g. 60s')
    .action(act('waitCommand'));

  for (const [name, pause] of [['pause', true], ['unpause', false]] as const) {
    program
      .command(name)
      .description(pause ? 'freeze every process of containers' : 'thaw paused containers')
      .argument('<container...>')
      .action((...args: unknown[]) => act('pauseCommand')(pause, ...args));
  }

  program
    .command('cp')
    .description('copy files between a container and the host: cp C:PATH DEST | cp SRC C:PATH (DEST "-": a tar on stdout)')
    .argument('<source>')
    .argument('<destination>')
    .action(act('cpCommand'));

  program
    .command('export')
    .description('write a container\'s root filesystem as a tar (to stdout, or -o FILE)')
    .argument('<container>')
    .option('-o, --output <file>', 'the tar file to write')
    .action(act('exportCommand'));

  program
    .command('stats')
    .description('CPU, memory, block I/O and processes of running containers, from their cgroups (a live view until Ctrl-C, or once with --no-stream)')
    .argument('[container...]')
    .option('--no-stream', 'print once and exit')
    .option('--json', 'print the figures as JSON (one line per sample)')
    .action(act('statsCommand'));

  program
    .command('top')
    .description('the processes of a running container (ps options may follow)')
    .argument('<container>')
    .argument('[ps-options...]')
    .action(act('topCommand'));

  program
    .command('rename')
    .description('give a container another name')
    .argument('<container>')
    .argument('<new-name>')
    .action(act('renameCommand'));

  program
    .command('stop')
    .description('stop containers: the image\'s StopSignal (default SIGTERM), then SIGKILL after the timeout')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL', '10')
    .action(act('stopCommand'));

  program
    .command('kill')
    .description('send a signal to running containers (default SIGKILL)')
    .argument('<container...>')
    .option('-s, --signal <signal>', 'signal name or number', 'SIGKILL')
    .action(act('killCommand'));

  program
    .command('rm')
    .description('remove containers')
    .argument('<container...>')
    .option('-f, --force', 'kill running containers first')
    .option('-v, --volumes', 'also remove the containers\' anonymous volumes')
    .action(act('rmCommand'));

  program
    .command('exec')
    .description('run a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .option('-i, --interactive', 'keep stdin attached')
    .option('-t, --tty', 'allocate a terminal')
    .option('-e, --env <name[=value]>', 'set an environment variable', collect, [])
    .option('-w, --workdir <dir>', 'working directory')
    .option('-u, --user <user[:group]>', 'user name or uid, optional group name or gid (from the container\'s /etc/passwd and /etc/group)')
    .action(act('execCommand'));

  program
    .command('attach')
    .description('join this terminal to a running container started with -dit (detach: Ctrl-P Ctrl-Q); without a terminal: its output until it exits, signals passed on')
    .argument('<container>')
    .action(act('attachCommand'));

  const container = program.command('container').description('manage containers');
  container
    .command('inspect')
    .description('show containers as JSON')
    .argument('<container...>')
    .option('-f, --format <template>', 'a Go-style template per container, e.g. \'{{.State.Health.Status}}\'')
    .action(act('inspectCommand'));
  container
    .command('prune')
    .description('remove all stopped containers')
    .action(act('pruneCommand'));
}

/**
 * For a top-level `inspect`: the container's JSON, or undefined when ref names no container (then
 * it may name an image).
 */
export async function inspectContainerAt(root: string, ref: string): Promise<Record<string, unknown> | undefined> {
  return (await actions()).inspectContainerAt(root, ref);
}
