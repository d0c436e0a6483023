// The program of `serve`'s worker processes: server/cluster/primary.ts has node:cluster run this
// file instead of the CLI. The primary has loaded and validated the configuration; it hands the
// result over the IPC channel (at the start, and again on each SIGHUP), so a worker loads neither
// the CLI nor the configuration's parsers and validators (commander, yaml, zod: ~11 MiB of RSS in
// every worker, docs/performance.md "Memory per worker").
import type { Config } from '../config.js';
import type { RunningServer } from '../start-server.js';
import { WORKER_SLOT_VARIABLE } from './protocol.js';
import { WorkerLink, workerSlot } from './worker-link.js';

const slot = workerSlot();
if (!slot) {
  console.error(`stevedore: ${process.argv[1]} is the program of serve's worker processes (${WORKER_SLOT_VARIABLE} is not set): run \`stevedore serve\``);
  process.exit(2);
}
const link = new WorkerLink(slot);
let running: RunningServer | undefined;
let stopping = false;

// Until the server runs, a signal ends the worker at once (nothing is in flight).
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  if (!running) process.exit(0);
  running.log.info({ signal }, 'shutting down: finishing in-flight requests');
  running.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
// The primary reads the configuration on SIGHUP and sends it (`reload`); a SIGHUP sent to a
// worker itself must not end it (Node's default), and a configuration is only read by the primary.
process.on('SIGHUP', () => undefined);

link.handle('reload', (m) => {
  if (running && !stopping) running.reload(m.config as Config);
});
link.handle('config', (m) => {
  if (running) return;
  void start(m.config as Config);
});

async function start(config: Config): Promise<void> {
  const { startServer } = await import('../start-server.js');
  try {
    running = await startServer({ config, cluster: link });
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
  link.send({ op: 'ready', url: server.url, metricsUrl: server.metricsUrl });
}
