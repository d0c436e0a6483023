// A Stevedore server configured as a mirror (in this process), with its log lines captured and
// helpers to read its metrics and to pull through it with skopeo and the compiled `stevedore` CLI.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../server/logger.js';
import { loadConfig, startServer, type ConfigInput, type RunningServer } from '../../server/index.js';
import { CLI } from '../helpers/stevedore-process.js';

export interface MirrorServer {
  server: RunningServer;
  url: string;
  host: string;
  dataDir: string;
  logs: Record<string, unknown>[];
  /** The value of a metric line (`name{labels}`), 0 when absent. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

/** `opts.config`: further configuration (e.g. `auth`) besides the mirror's. */
export async function startMirrorServer(mirror: NonNullable<ConfigInput['mirror']>, opts: { dataDir?: string; config?: ConfigInput } = {}): Promise<MirrorServer> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'mirror-data-')));
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const config = loadConfig({ env: {}, overrides: { ...opts.config, mirror, log: { level: 'info', access: { enabled: false } } } });
  const server = await startServer({ config, dataDir, addr: '127.0.0.1:0', logger: createLogger('info', sink) });
  return {
    server,
    url: server.url,
    host: new URL(server.url).host,
    dataDir,
    logs,
    async metric(name, labels = {}) {
      const text = await (await fetch(server.metricsUrl!)).text();
      const want = Object.entries(labels);
      let total = 0;
      for (const line of text.split('\n')) {
        const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
        if (want.every(([k, v]) => have[k] === v)) total += Number(m[3]);
      }
      return total;
    },
    async close() {
      await server.close();
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The compiled CLI with no user configuration (no mirrors, no credentials) unless given. */
export async function stevedoreCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const home = await mkdtemp(join(tmpdir(), 'mirror-cli-'));
  await mkdir(join(home, 'docker'), { recursive: true });
  return new Promise<CliRun>((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        env: {
          ...process.env,
          DOCKER_CONFIG: join(home, 'docker'),
          STEVEDORE_CLIENT_CONFIG: join(home, 'none.yaml'),
          STEVEDORE_DOCKER_DAEMON_JSON: join(home, 'none.json'),
          ...env,
        },
        timeout: 180_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  }).finally(() => rm(home, { recursive: true, force: true }));
}
