// `stevedore serve`: run the registry. Flags override the config file, which overrides defaults.
import type { Command } from 'commander';
import type { ConfigInput } from '../server/index.js';

/** The flag of each configuration key `serve` takes on its command line (for errors that name it). */
const SERVE_FLAGS: Record<string, string> = {
  'http.addr': '--addr',
  'http.workers': '--workers',
  'storage.filesystem.rootDirectory': '--data-dir',
  'log.level': '--log-level',
};

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the registry server (default: filesystem storage in ./data, port 5000, no auth)')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('--addr <host:port>', 'listen address (http.addr), e.g. :5000 or 127.0.0.1:5000')
    .option('--data-dir <dir>', 'filesystem storage directory (storage.filesystem.rootDirectory)')
    .option('--log-level <level>', 'log level (log.level)')
    .option('--workers <n>', 'worker processes sharing the listener (http.workers; 0: one per core, 1: a single process)')
    .action(async (opts: { config?: string; addr?: string; dataDir?: string; logLevel?: string; workers?: string }) => {
      // The serving V8 flags (server/node-flags.ts: a small young generation, paced collections
      // during uploads) for the single process and a cluster's primary (whose workers also get
      // them). V8 sizes its heap at start-up, so this process first replaces itself (same pid,
      // stdio, arguments and environment) with node started with them: idle RSS of one process
      // 94 → 80 MiB, of a primary 78 → 73 (docs/performance.md "Memory per worker"). Flags given
      // in NODE_OPTIONS or on node's command line are kept.
      const { missingFlags, SERVING_V8_FLAGS } = await import('../server/node-flags.js');
      const missing = missingFlags(SERVING_V8_FLAGS);
      if (missing.length > 0 && process.execve) {
        process.execve(process.execPath, [process.execPath, ...process.execArgv, ...missing, ...process.argv.slice(1)], process.env);
      }
      // Loaded here so client commands do not pay for the server's modules at start-up; the
      // primary process of a cluster loads only the configuration and server/cluster/primary.ts.
      const { ConfigError, loadConfig } = await import('../server/config.js');
      const overrides: ConfigInput = {};
      if (opts.addr) overrides.http = { addr: opts.addr };
      if (opts.workers !== undefined) overrides.http = { ...overrides.http, workers: /^\d+$/.test(opts.workers) ? Number(opts.workers) : (opts.workers as never) };
      if (opts.dataDir) overrides.storage = { filesystem: { rootDirectory: opts.dataDir } };
      if (opts.logLevel) overrides.log = { level: opts.logLevel as never };
      let config;
      try {
        config = loadConfig({ file: opts.config, env: process.env, overrides, overrideFlags: SERVE_FLAGS });
      } catch (err) {
        if (err instanceof ConfigError) {
          console.error(`stevedore: ${err.message}`);
          process.exit(2);
        }
        throw err;
      }
      const reloadConfig = (log: { info: (o: object, m: string) => void; error: (o: object, m: string) => void }) => {
        log.info({ signal: 'SIGHUP', file: opts.config }, 'reloading configuration');
        try {
          return loadConfig({ file: opts.config, env: process.env, overrides, overrideFlags: SERVE_FLAGS });
        } catch (err) {
          log.error({ error: (err as Error).message }, 'configuration reload failed; keeping the running configuration');
          return undefined;
        }
      };
      const { workerCount } = await import('../server/cluster/workers.js');
      // Several workers: this process is their primary (server/cluster/primary.ts); the workers run
      // server/cluster/worker-main.ts, never this command.
      if (workerCount(config) > 1) {
        const [{ runPrimary }, { createLogger }] = await Promise.all([import('../server/cluster/primary.js'), import('../server/logger.js')]);
        const log = createLogger(config.log.level);
        process.exit(await runPrimary({ count: workerCount(config), config, log, reloadConfig: () => reloadConfig(log) }));
      }
      const serving = (await import('../server/serving-process.js')).servingProcess();
      const running = await serving.start(config);
      // Under `npm start`, stop when the parent goes away (server/parent-watch.ts).
      (await import('../server/parent-watch.js')).stopWithParent(() => serving.stop('parent exited'));
      // SIGHUP: read the configuration again (file, environment, the same flags) and apply what can
      // change at run time; a configuration that does not load leaves the running one in place.
      process.on('SIGHUP', () => {
        if (serving.stopping) return;
        const next = reloadConfig(running.log);
        if (next) running.reload(next);
      });
    });
}
