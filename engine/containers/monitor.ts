// The monitor of a detached container: `node monitor.js ROOT ID`, started by `stevedore run -d`
// in its own session. It runs the container through the runtime with the log file as its output,
// then records the exit status and cleans up (or removes the container with --rm). It also takes
// over a container a foreground `run` left due for a restart under its --restart policy.
// Kept apart from the CLI so each monitor loads only what it needs.
import { EngineContext } from './engine-context.js';
import { superviseDetached } from './lifecycle.js';


if (import.meta.url === `file://${process.argv[1]}`) {
  const [root, id] = process.argv.slice(2);
  if (!root || !id) {
    process.stderr.write('usage: monitor.js ROOT CONTAINER-ID\n');
    process.exit(2);
  }
  // Signals meant for the terminal that started us must not end the monitor.
  for (const sig of ['SIGINT', 'SIGHUP', 'SIGPIPE'] as const) process.on(sig, () => {});
  try {
    await superviseDetached(new EngineContext(root), id);
  } catch (err) {
    process.stderr.write(`stevedore monitor: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
