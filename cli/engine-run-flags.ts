// The options of `run` and `create` (one table, declared to commander by engine-container-commands.ts)
// and `run`'s command line read without commander: a warm `run --rm IMAGE true` is timed against
// bare runc, and loading commander, the program and every container command's declaration cost
// ~25 ms of it. The line is parsed by cli/light-argv.ts, by commander's rules
// (cli/engine-run-flags.test.ts compares the two on many command lines), which gives up on anything
// else (help, an unknown option, a missing value or image): commander then parses the line and
// reports what is wrong with it, as for every other command.
import { parseLight, type LightCommand, type LightOption } from './light-argv.js';

/** flags, description, then either a parser with its initial value, or a default value. */
export type OptionRow = [flags: string, description: string, parse?: (v: string, acc: string[]) => string[], initial?: string | string[]];

const collect = (v: string, acc: string[]) => [...acc, v];

/** The options of `run` and `create` besides the network ones (NETWORK_RUN_OPTIONS). */
export const CONTAINER_RUN_OPTIONS: OptionRow[] = [
  ['-d, --detach', 'run in the background and print the container id'],
  ['--rm', 'remove the container when it exits'],
  ['--name <name>', 'container name'],
  ['-e, --env <name[=value]>', 'set an environment variable (NAME alone: from this environment)', collect, []],
  ['--env-file <file>', 'read NAME=VALUE lines', collect, []],
  ['-v, --volume <[src:]ctr[:ro]>', 'a host path (absolute or ./relative) or a named volume (made on first use) at a container path; a path alone: an anonymous volume', collect, []],
  ['--mount <type=…,source=…,target=…>', 'type=bind|volume|tmpfs, source, target, readonly, volume-nocopy, tmpfs-size, tmpfs-mode', collect, []],
  ['--tmpfs <path[:opts]>', 'a tmpfs at path (mount options: size=64m, mode=1777, …)', collect, []],
  ['--volumes-from <container[:ro|rw]>', 'the volumes and binds of another container', collect, []],
  ['-w, --workdir <dir>', 'working directory inside the container'],
  ['-u, --user <user[:group]>', 'user name or uid, optional group name or gid'],
  ['--entrypoint <cmd>', 'override the image\'s Entrypoint (clears its Cmd)'],
  ['--hostname <name>', 'container host name'],
  ['-m, --memory <bytes>', 'memory limit, e.g. 64m'],
  ['--cpus <n>', 'CPU limit, e.g. 1.5'],
  ['--pids-limit <n>', 'process limit'],
  ['--read-only', 'mount the root filesystem read-only'],
  ['--init', 'run docker\'s init (tini) as PID 1: it forwards signals and reaps zombies'],
  ['--cap-add <cap>', 'add a Linux capability to docker\'s default set (NET_ADMIN, ALL; repeatable)', collect, []],
  ['--cap-drop <cap>', 'drop a Linux capability from the default set (NET_RAW, ALL; repeatable)', collect, []],
  ['-t, --tty', 'allocate a terminal (with -d: kept for `attach`)'],
  ['-i, --interactive', 'keep stdin attached'],
  ['--restart <policy>', 'no, on-failure[:N], always or unless-stopped (in the foreground, like docker: run ends with the first exit\'s status and a monitor restarts the container in the background)'],
  ['--runtime <name>', 'OCI runtime: runc or crun', undefined, 'runc'],
  ['-l, --label <key=value>', 'a label on the container (over the image\'s)', collect, []],
  ['--health-cmd <command>', 'health check command, run with /bin/sh -c in the container (replaces the image\'s HEALTHCHECK)'],
  ['--health-interval <duration>', 'time between health checks, e.g. 30s (default 30s)'],
  ['--health-timeout <duration>', 'a check running longer fails (default 30s)'],
  ['--health-retries <n>', 'failures in a row that make it unhealthy (default 3)'],
  ['--health-start-period <duration>', 'failures in this time after the start do not count'],
  ['--no-healthcheck', 'no health check, also none of the image\'s'],
];

/** `run`'s network options (their flags' type: NetworkRunFlags in engine-network-commands.ts). */
export const NETWORK_RUN_OPTIONS: OptionRow[] = [
  ['--network <mode>', 'bridge (default), host, none, container:NAME, or a network made by `network create`'],
  ['-p, --publish <[ip:][host:]ctr[/proto]>', 'publish a container port on the host (ranges allowed)', collect, []],
  ['-P, --publish-all', 'publish every EXPOSEd port on a free host port'],
  ['--network-alias <name>', 'another name for it on its network', collect, []],
  ['--ip <address>', 'its IPv4 address on the network'],
  ['--dns <address>', 'a nameserver for /etc/resolv.conf', collect, []],
  ['--add-host <name:ip>', 'a line for /etc/hosts', collect, []],
  ['--mac-address <mac>', 'the MAC address of eth0'],
];

/** Every option of `run` and `create`, in the order commander is given them. */
export function runOptionRows(): OptionRow[] {
  return [...CONTAINER_RUN_OPTIONS, ...NETWORK_RUN_OPTIONS];
}

/** The rows as the commander-compatible parser (cli/light-argv.ts) reads them. */
function runCommand(): LightCommand {
  const options = runOptionRows().map(([flags, , parse, initial]): LightOption => {
    const m = /^(?:(-\w), )?(--[\w-]+)(?: ([<[]).*)?$/.exec(flags);
    if (!m || m[3] === '[') throw new Error(`run option ${flags}: not a form the quick parser knows`);
    const [, short, long, value] = m;
    if (!value) return { short, long: long!, kind: long!.startsWith('--no-') ? 'negated' : 'flag' };
    if (parse) return { short, long: long!, kind: 'repeated', emptyList: Array.isArray(initial) };
    return { short, long: long!, kind: 'value', initial: initial as string | undefined };
  });
  return { options, operands: 'rest' };
}

export interface RunLine {
  image: string;
  command: string[];
  flags: Record<string, unknown>;
}

/**
 * The image, command and options of `run`'s arguments (those after `run`) as commander would give
 * them to the action, or undefined for anything commander should see (help, an unknown option,
 * a missing value or image): the caller then lets commander parse the whole line.
 */
export function parseRunLine(args: string[]): RunLine | undefined {
  const line = parseLight(args, runCommand());
  return line && { image: line.operands[0]!, command: line.operands.slice(1), flags: line.opts };
}
