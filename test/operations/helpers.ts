// Shared by the operations suites (metrics, health, notifications, rate limits, reload): an
// in-process server with a configuration and captured logs, a Prometheus exposition parser,
// a webhook receiver whose behaviour the test switches, and polling.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../server/logger.js';
import { loadConfig, startServer, type ConfigInput, type RunningServer } from '../../server/index.js';

// ---------------------------------------------------------------------------------------------
// polling

/** Polls `probe` until it returns a value other than undefined/false; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// ---------------------------------------------------------------------------------------------
// in-process server with captured logs

export interface LogRecord {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export class LogCapture extends Writable {
  readonly records: LogRecord[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim()) this.records.push(JSON.parse(line) as LogRecord);
    }
    cb();
  }

  find(pred: (r: LogRecord) => boolean): LogRecord | undefined {
    return this.records.find(pred);
  }

  filter(pred: (r: LogRecord) => boolean): LogRecord[] {
    return this.records.filter(pred);
  }
}

export interface TestServer {
  srv: RunningServer;
  url: string;
  dataDir: string;
  logs: LogCapture;
  stop(): Promise<void>;
}

/** startServer on a fresh data dir and a free loopback port, with `config` layered over the defaults. */
export async function startTestServer(config: ConfigInput = {}, logLevel: 'info' | 'debug' = 'info'): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'stevedore-ops-'));
  const logs = new LogCapture();
  const cfg = loadConfig({
    overrides: {
      ...config,
      http: { addr: '127.0.0.1:0', ...config.http },
      storage: { filesystem: { rootDirectory: dataDir }, ...config.storage },
      log: { level: logLevel, ...config.log },
    },
  });
  const srv = await startServer({ config: cfg, logger: createLogger(cfg.log.level, logs) });
  let stopped: Promise<void> | undefined;
  return {
    srv,
    url: srv.url,
    dataDir,
    logs,
    stop: () =>
      (stopped ??= (async () => {
        try {
          await srv.close();
        } finally {
          await rm(dataDir, { recursive: true, force: true });
        }
      })()),
  };
}

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition format

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseLabels(s: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g;
  for (const m of s.matchAll(re)) labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  return labels;
}

/** Parses the text format (version 0.0.4): every sample line, with its labels. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const raw = m[3]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    samples.push({ name: m[1]!, labels: m[2] ? parseLabels(m[2]) : {}, value });
  }
  return samples;
}

export class Metrics {
  constructor(
    readonly samples: Sample[],
    readonly contentType: string,
  ) {}

  /** The value of the sample with exactly these labels (0 when the series does not exist yet). */
  get(name: string, labels: Record<string, string> = {}): number {
    const want = Object.entries(labels);
    const s = this.samples.find(
      (x) => x.name === name && want.every(([k, v]) => x.labels[k] === v) && Object.keys(x.labels).length === want.length,
    );
    return s?.value ?? 0;
  }

  /** Sum over all series of `name` whose labels include `labels`. */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.samples
      .filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
      .reduce((a, x) => a + x.value, 0);
  }

  has(name: string): boolean {
    return this.samples.some((x) => x.name === name);
  }
}

export async function scrape(url: string): Promise<Metrics> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url} -> ${res.status}`);
  return new Metrics(parseExposition(await res.text()), res.headers.get('content-type') ?? '');
}

// ---------------------------------------------------------------------------------------------
// webhook receiver

export interface Delivery {
  headers: IncomingMessage['headers'];
  body: { events: Record<string, any>[] };
}

export type ReceiverMode = 'ok' | 'fail' | 'hang';

/** An HTTP endpoint for notifications: answers 200 ('ok'), 503 ('fail'), or never ('hang'). */
export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  /** Requests received and not answered (mode 'hang'). */
  readonly hanging: ServerResponse[] = [];
  mode: ReceiverMode = 'ok';
  private server: Server | undefined;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/events`;
  }

  /** All events delivered (answered 200), in arrival order. */
  get events(): Record<string, any>[] {
    return this.deliveries.flatMap((d) => d.body.events);
  }

  async start(port = 0): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.mode === 'hang') {
          this.hanging.push(res);
          return;
        }
        if (this.mode === 'fail') {
          res.writeHead(503).end();
          return;
        }
        this.deliveries.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Delivery['body'] });
        res.writeHead(200).end();
      });
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening (connections are refused until start(port) again). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    for (const r of this.hanging.splice(0)) r.destroy();
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

/** A loopback port that nothing listens on (yet). */
export async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
