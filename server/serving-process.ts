// What a process that serves the registry does around startServer, the same for `serve`'s single
// process (cli/serve.ts) and each of its workers (server/cluster/worker-main.ts): a start that
// fails is one line and exit 1; an error that escapes a request is logged, not fatal; SIGTERM,
// SIGINT (and whatever else calls stop) drain in-flight requests once, then exit.
import type { Config } from './config.js';
import type { RunningServer, StartOptions } from './start-server.js';

export interface ServingProcess {
  /** The server, once started (undefined before). */
  readonly running: RunningServer | undefined;
  /** Whether a stop has begun (a reload then has nothing to do). */
  readonly stopping: boolean;
  /** Starts the server; on failure prints one line and exits 1. */
  start(config: Config, opts?: Omit<StartOptions, 'config'>): Promise<RunningServer>;
  /** Drains and exits (once; a second call is ignored). Before start, exits at once. */
  stop(reason: string): void;
}

export function servingProcess(): ServingProcess {
  let running: RunningServer | undefined;
  let stopping = false;
  const self: ServingProcess = {
    get running() {
      return running;
    },
    get stopping() {
      return stopping;
    },
    async start(config, opts = {}) {
      // Loaded here: a worker registers its IPC handlers before the server's modules load.
      const { startServer } = await import('./start-server.js');
      try {
        running = await startServer({ ...opts, config });
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { listener?: string };
        const addr = e.listener === 'metrics' ? config.metrics.addr : config.http.addr;
        console.error(`stevedore: cannot start: ${e.code === 'EADDRINUSE' ? `address ${addr} is already in use` : e.message}`);
        process.exit(1);
      }
      const server = running;
      // The last line, not the fix: request paths catch their own errors (server/safe-callback.ts,
      // server/connection-guards.ts). Something that still escapes is a bug to log, not a reason
      // to drop every other client's connection.
      process.on('uncaughtException', (err) => server.log.error({ err }, 'uncaught exception (a bug): still serving'));
      process.on('unhandledRejection', (err) => server.log.error({ err }, 'unhandled rejection (a bug): still serving'));
      return server;
    },
    stop(reason) {
      // A second signal while draining is ignored: in-flight requests still get their time.
      if (stopping) return;
      stopping = true;
      if (!running) process.exit(0); // nothing in flight yet
      running.log.info({ signal: reason }, 'shutting down: finishing in-flight requests');
      running.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    },
  };
  process.on('SIGTERM', () => self.stop('SIGTERM'));
  process.on('SIGINT', () => self.stop('SIGINT'));
  return self;
}
