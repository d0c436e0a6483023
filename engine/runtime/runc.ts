// Drives an OCI runtime through its command line. runc is the default; crun accepts the same
// commands and flags used here (run, state, kill, delete, exec with --root, -b, --pid-file), so
// one driver serves both, selected by the binary's name.
import { execFile, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { commandError, notInstalled, RuntimeError } from './runtime-errors.js';

// Where the runtime's failures are classified (its messages read): runtime-errors.ts.
export { RuntimeError, startFailure, runtimeMessage } from './runtime-errors.js';

export const RUNTIMES = ['runc', 'crun'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

export interface RuntimeState {
  id: string;
  pid: number;
  /** creating | created | running | paused | stopped */
  status: string;
  bundle: string;
}


/** The parts of runc's stats (libcontainer types.Stats) `stats` shows. */
export interface RuntimeStats {
  cpu?: { usage?: { total?: number } };
  memory?: { cache?: number; usage?: { usage?: number; limit?: number }; raw?: Record<string, number> };
  pids?: { current?: number; limit?: number };
  blkio?: { ioServiceBytesRecursive?: { op: string; value: number }[] | null };
}

export class OciRuntime {
  /**
   * @param name the runtime (its binary is looked up in PATH)
   * @param stateRoot the runtime's own state directory (`--root`), one per engine root
   */
  constructor(
    readonly name: RuntimeName,
    readonly stateRoot: string,
  ) {}

  private call(args: string[]): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) =>
      execFile(this.name, ['--root', this.stateRoot, ...args], { maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') return reject(notInstalled(this.name));
          return reject(commandError(this.name, args[0]!, stderr, err.message));
        }
        resolve({ stdout, stderr });
      }),
    );
  }

  /**
   * `run`: creates and starts the container and stays its parent until it exits; its exit status
   * is the container's (128+signal when killed), and it forwards the signals it receives.
   */
  run(id: string, bundle: string, opts: { pidFile: string; logFile: string; stdio: StdioOptions; detached?: boolean; console?: { helper: string; dir: string } }): ChildProcess {
    // The runtime's own errors also go to logFile (JSON lines), to tell them from the container's exit status.
    const args = ['--root', this.stateRoot, '--log', opts.logFile, '--log-format', 'json', 'run', '--bundle', bundle, '--pid-file', opts.pidFile, id];
    // A terminal container without a user's terminal (run -dit): the console helper gives the
    // runtime one, serves it to `attach` and exits with the runtime's status (console/console.c).
    if (opts.console) return spawn(opts.console.helper, ['serve', opts.console.dir, '--', this.name, ...args], { stdio: opts.stdio, detached: opts.detached });
    return spawn(this.name, args, { stdio: opts.stdio, detached: opts.detached });
  }

  /** The runtime's view of a container; undefined when it does not know it (never created, or deleted). */
  async state(id: string): Promise<RuntimeState | undefined> {
    try {
      const { stdout } = await this.call(['state', id]);
      return JSON.parse(stdout) as RuntimeState;
    } catch (err) {
      if (err instanceof RuntimeError && err.failure === 'no-such-container') return undefined;
      throw err;
    }
  }

  /** Sends a signal (name like TERM/SIGTERM or a number) to the container's init, or all its processes. */
  async kill(id: string, signal: string, all = false): Promise<void> {
    await this.call(['kill', ...(all ? ['--all'] : []), id, signal]);
  }

  /** The container's cgroup statistics (`events --stats`: cpu, memory, pids, blkio; cgroup v1 or v2). */
  async stats(id: string): Promise<RuntimeStats> {
    const { stdout } = await this.call(['events', '--stats', id]);
    return (JSON.parse(stdout) as { data: RuntimeStats }).data;
  }

  /** `ps` of the container's processes (ps(1) columns, as the host sees them). */
  async processes(id: string, psArgs: string[] = []): Promise<string> {
    const { stdout } = await this.call(['ps', id, ...(psArgs.length ? ['--', ...psArgs] : [])]);
    return stdout;
  }

  /** Freezes (pause) or thaws (resume) every process of the container. */
  async pauseResume(id: string, pause: boolean): Promise<void> {
    await this.call([pause ? 'pause' : 'resume', id]);
  }

  /** Forgets a container (force: kills it first); a container the runtime does not know is fine. */
  async delete(id: string, force = false): Promise<void> {
    try {
      await this.call(['delete', ...(force ? ['--force'] : []), id]);
    } catch (err) {
      if (err instanceof RuntimeError && err.failure === 'no-such-container') return;
      throw err;
    }
  }

  /** Runs a further process in a running container, from its config's process (env, cwd, user, caps). */
  exec(id: string, args: string[], opts: { env?: string[]; cwd?: string; user?: string; additionalGids?: number[]; tty?: boolean; logFile?: string; stdio: StdioOptions }): ChildProcess {
    // --tty without a console socket: the runtime's foreground mode makes the pty, puts the user's
    // terminal (our inherited stdio) in raw mode, relays, and follows its size on SIGWINCH.
    const flags: string[] = opts.tty ? ['--tty'] : [];
    for (const g of opts.additionalGids ?? []) flags.push('--additional-gids', String(g));
    for (const e of opts.env ?? []) flags.push('--env', e);
    if (opts.cwd) flags.push('--cwd', opts.cwd);
    if (opts.user) flags.push('--user', opts.user);
    // The runtime's own errors (command not found…) to logFile as JSON, told apart from the command's output.
    const log = opts.logFile ? ['--log', opts.logFile, '--log-format', 'json'] : [];
    return spawn(this.name, ['--root', this.stateRoot, ...log, 'exec', ...flags, id, ...args], { stdio: opts.stdio });
  }
}
