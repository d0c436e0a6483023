// The program of `serve`'s worker processes: server/cluster/primary.ts has node:cluster run this
// file instead of the CLI. The primary has loaded and validated the configuration; it hands the
// result over the IPC channel (at the start, and again on each SIGHUP), so a worker loads neither
// the CLI nor the configuration's parsers and validators (commander, yaml, zod: ~11 MiB of RSS in
// every worker, docs/performance.md "Memory per worker").
import type { Config } from '../config.js';
import { servingProcess } from '../serving-process.js';
import { WORKER_SLOT_VARIABLE } from './protocol.js';
import { WorkerLink, workerSlot } from './worker-link.js';

const slot = workerSlot();
if (!slot) {
  console.error(`stevedore: ${process.argv[1]} is the program of serve's worker processes (${WORKER_SLOT_VARIABLE} is not set): run \`stevedore serve\``);
  process.exit(2);
}
const link = new WorkerLink(slot);
const serving = servingProcess();
// The primary reads the configuration on SIGHUP and sends it (`reload`); a SIGHUP sent to a
// worker itself must not end it (Node's default), and a configuration is only read by the primary.
process.on('SIGHUP', () => undefined);

link.handle('reload', (m) => {
  if (serving.running && !serving.stopping) serving.running.reload(m.config as Config);
});
link.handle('config', (m) => {
  if (serving.running) return;
  void serving.start(m.config as Config, { cluster: link }).then((server) => link.send({ op: 'ready', url: server.url, metricsUrl: server.metricsUrl }));
});
