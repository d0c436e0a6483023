// Starting the two registries under test as child processes, and watching their memory and CPU.
//
// Durability (so the comparison is at equal durability): docker-registry's filesystem
// storage driver fsyncs a file when its writer is closed or committed (every PATCH
// closes the upload file; the final PUT commits it; every small link/metadata file is
// written the same way), then renames it into place. Stevedore's filesystem driver fsyncs
// uploaded data and every small file before it is renamed into place, and also fsyncs the
// directories it changes (docker-registry does not), before acknowledging a commit. Neither
// server is run with fsync turned off (Stevedore's noSync exists for layout tests only), so
// both push figures include getting the bytes onto the disk; if anything Stevedore does
// slightly more work per commit.
//
// Logging: both servers run at log level warn with no per-request access log, so neither
// pays for formatting and piping a log line per request.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

/** The checkout root, whether we run from bench/ (TS runner) or dist/bench/ (compiled). */
export const REPO_ROOT = findRepoRoot(import.meta.dirname);
export const CLI = join(REPO_ROOT, 'bin', 'stevedore.js');

function findRepoRoot(from: string): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'stevedore') return dir;
      } catch {
        /* keep looking */
      }
    }
    if (dirname(dir) === dir) throw new Error(`no stevedore package.json above ${from}`);
  }
}

export type ServerKind = 'stevedore' | 'docker-registry';

export interface RunningServer {
  /** Label used in the report ("stevedore", "docker-registry", or "docker-registry#2" in an A/A run). */
  name: string;
  kind: ServerKind;
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  pid: number;
  dataDir: string;
  child: ChildProcess;
  /** Last lines the server wrote (for error messages). */
  logs: string[];
  stop(): Promise<void>;
}

const MAX_LOG_LINES = 200;

/** When set (BENCH_LOG_DIR), every server's output is also written to <dir>/<name>.log. */
let logDir: string | undefined;
export function setServerLogDir(dir: string | undefined): void {
  logDir = dir;
}

function collectLogs(child: ChildProcess, logs: string[], name: string, onLine?: (line: string) => void): void {
  const file = logDir ? createWriteStream(join(logDir, `${name.replace(/[^\w.-]/g, '-')}.log`), { flags: 'a' }) : undefined;
  child.once('exit', () => file?.end());
  const push = (line: string) => {
    file?.write(`${line}\n`);
    logs.push(line);
    if (logs.length > MAX_LOG_LINES) logs.shift();
    onLine?.(line);
  };
  // Always drain both pipes: a server blocked on a full stdout pipe would wreck the figures.
  createInterface({ input: child.stdout! }).on('line', push);
  createInterface({ input: child.stderr! }).on('line', (l) => push(l));
}

function makeStop(child: ChildProcess): () => Promise<void> {
  const exited = once(child, 'exit');
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
}

export interface StevedoreOptions {
  name?: string;
  dataDir: string;
  /** Log level (default warn, like docker-registry here). */
  logLevel?: string;
  /** Extra `serve` arguments. */
  args?: string[];
  /** Extra node arguments (e.g. --cpu-prof). */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /**
   * `serve --workers` (default 1: one process, so that /proc/PID figures are the whole server's
   * and the comparisons with docker-registry stay as they were; bench/workers.ts measures more).
   */
  workers?: number;
  /** Pins the server (and its workers) to these CPUs (`taskset -c`), e.g. "1". */
  cpus?: string;
}

/**
 * Starts `stevedore serve` on a free loopback port (as in test/helpers/stevedore-process.ts) and
 * waits until it is ready. At log level warn the server does not log its "listening" line, so
 * instead of --addr 127.0.0.1:0 we pick the free port ourselves and poll GET /v2/; the
 * "listening" line is still honoured when it appears.
 */
export async function startStevedore(opts: StevedoreOptions): Promise<RunningServer> {
  await mkdir(opts.dataDir, { recursive: true });
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const argv = [
      ...(opts.nodeArgs ?? []),
      CLI,
      'serve',
      '--addr',
      `127.0.0.1:${port}`,
      '--data-dir',
      opts.dataDir,
      '--log-level',
      opts.logLevel ?? 'warn',
      ...(opts.args?.includes('--workers') ? [] : ['--workers', String(opts.workers ?? 1)]),
      ...(opts.args ?? []),
    ];
    // taskset execs node: the child's pid is the server's.
    const [cmd, cmdArgs] = opts.cpus ? ['taskset', ['-c', opts.cpus, process.execPath, ...argv]] : [process.execPath, argv];
    const child = spawn(cmd, cmdArgs as string[], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
    const logs: string[] = [];
    let loggedUrl: string | undefined;
    collectLogs(child, logs, opts.name ?? 'stevedore', (line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; url?: string };
        if (rec.msg === 'listening' && rec.url) loggedUrl = rec.url.replace(/\/+$/, '');
      } catch {
        /* not JSON */
      }
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForV2('stevedore', url, child, logs, () => loggedUrl !== undefined);
      return {
        name: opts.name ?? 'stevedore',
        kind: 'stevedore',
        url: loggedUrl ?? url,
        pid: child.pid!,
        dataDir: opts.dataDir,
        child,
        logs,
        stop: makeStop(child),
      };
    } catch (err) {
      lastErr = err;
      child.kill('SIGKILL');
    }
  }
  throw lastErr;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  srv.close();
  await once(srv, 'close');
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

/** A bucket on an S3 server (the benchmark's Ceph RGW) for one registry. */
export interface S3Target {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * The S3 part size both registries use (their defaults, stated explicitly so the comparison stays
 * fair if a default changes): Stevedore's storage.s3.chunkSize, docker-registry's s3 chunksize.
 */
export const S3_CHUNK_BYTES = 10 * 1024 * 1024;

/** `STEVEDORE_*` variables that put Stevedore on `target` (redirects off unless asked: blobs are streamed). */
export function stevedoreS3Env(target: S3Target, redirect = false): NodeJS.ProcessEnv {
  return {
    STEVEDORE_STORAGE_DRIVER: 's3',
    STEVEDORE_STORAGE_S3_BUCKET: target.bucket,
    STEVEDORE_STORAGE_S3_ENDPOINT: target.endpoint,
    STEVEDORE_STORAGE_S3_REGION: target.region,
    STEVEDORE_STORAGE_S3_FORCEPATHSTYLE: 'true',
    STEVEDORE_STORAGE_S3_ACCESSKEYID: target.accessKeyId,
    STEVEDORE_STORAGE_S3_SECRETACCESSKEY: target.secretAccessKey,
    STEVEDORE_STORAGE_S3_CHUNKSIZE: String(S3_CHUNK_BYTES),
    STEVEDORE_STORAGE_S3_REDIRECT_ENABLED: String(redirect),
    STEVEDORE_STORAGE_UPLOADPURGING_ENABLED: 'false',
  };
}

export interface DockerRegistryOptions {
  name?: string;
  dataDir: string;
  /** Where to write the generated config file. */
  configPath: string;
  binary?: string;
  /** Its `s3` storage driver on this bucket instead of the filesystem in `dataDir`. */
  s3?: S3Target;
  /** With `s3`: blob GETs redirect to presigned S3 URLs (the driver's default) instead of streaming. */
  s3Redirect?: boolean;
  /** Run as a pull-through cache of this registry (`proxy.remoteurl`). */
  proxyRemoteUrl?: string;
}

/**
 * docker-registry's environment. With the s3 driver, AWS_CA_BUNDLE is left out: the Go SDK then
 * tries to install the bundle into distribution's wrapped HTTP transport and panics ("unable to
 * load custom CA bundle, HTTPClient's transport unsupported type"); the benchmark's S3 endpoint is
 * plain HTTP on loopback anyway.
 */
function dockerRegistryEnv(opts: DockerRegistryOptions): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (opts.s3) delete env.AWS_CA_BUNDLE;
  return env;
}

/** docker-registry's `storage:` section (indented YAML lines). */
function dockerRegistryStorage(opts: DockerRegistryOptions): string[] {
  const common = ['  delete:', '    enabled: true', '  cache:', '    blobdescriptor: inmemory', '  maintenance:', '    uploadpurging:', '      enabled: false'];
  if (!opts.s3) return ['  filesystem:', `    rootdirectory: ${JSON.stringify(opts.dataDir)}`, ...common];
  const t = opts.s3;
  return [
    '  s3:',
    `    regionendpoint: ${JSON.stringify(t.endpoint)}`,
    // (distribution 2.8 uses path-style URLs whenever regionendpoint is set; 3.x reads forcepathstyle.)
    '    forcepathstyle: true',
    `    region: ${JSON.stringify(t.region)}`,
    `    bucket: ${JSON.stringify(t.bucket)}`,
    `    accesskey: ${JSON.stringify(t.accessKeyId)}`,
    `    secretkey: ${JSON.stringify(t.secretAccessKey)}`,
    '    secure: false',
    '    v4auth: true',
    `    chunksize: ${S3_CHUNK_BYTES}`,
    // The s3 driver redirects blob GETs to presigned URLs by default; Stevedore's default is to
    // stream them. Both stream here (unless s3Redirect), so the pull figures compare the registries.
    ...(opts.s3Redirect ? [] : ['  redirect:', '    disable: true']),
    ...common,
  ];
}

/**
 * Starts CNCF distribution (Debian's docker-registry) with our own config: filesystem storage
 * in `dataDir` (or its s3 driver on `s3`), delete enabled, no auth, loopback only, log level
 * warn, no access log. The in-memory blob descriptor cache is on, as in the config Debian and upstream ship.
 */
export async function startDockerRegistry(opts: DockerRegistryOptions): Promise<RunningServer> {
  await mkdir(opts.dataDir, { recursive: true });
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const config = [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      ...dockerRegistryStorage(opts),
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(opts.proxyRemoteUrl ? ['proxy:', `  remoteurl: ${JSON.stringify(opts.proxyRemoteUrl)}`] : []),
      '',
    ].join('\n');
    await writeFile(opts.configPath, config);
    const child = spawn(opts.binary ?? 'docker-registry', ['serve', opts.configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: dockerRegistryEnv(opts),
    });
    const logs: string[] = [];
    collectLogs(child, logs, opts.name ?? 'docker-registry');
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForV2('docker-registry', url, child, logs);
      return {
        name: opts.name ?? 'docker-registry',
        kind: 'docker-registry',
        url,
        pid: child.pid!,
        dataDir: opts.dataDir,
        child,
        logs,
        stop: makeStop(child),
      };
    } catch (err) {
      lastErr = err;
      child.kill('SIGKILL');
    }
  }
  throw lastErr;
}

async function waitForV2(
  what: string,
  url: string,
  child: ChildProcess,
  logs: string[],
  ready: () => boolean = () => false,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${String(child.exitCode ?? child.signalCode)}) before serving:\n${logs.join('\n')}`);
    }
    if (ready()) return;
    try {
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not up yet */
    }
    await sleep(50);
  }
  throw new Error(`${what} did not answer ${url}/v2/ within 30 s:\n${logs.join('\n')}`);
}

// ---------------------------------------------------------------------------------------
// Memory and CPU

function readStatusKiB(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
    const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(text);
    if (!rss || !hwm) return undefined;
    return { rss: Number(rss[1]), hwm: Number(hwm[1]) };
  } catch {
    return undefined;
  }
}

const CLK_TCK = 100; // USER_HZ: what /proc reports times in on Linux, whatever the kernel HZ

/** User+system CPU seconds used so far by all threads of `pid` (/proc/PID/stat utime+stime). */
export function readCpuSeconds(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' '); // fields[0] is stat field 3
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

export interface OpUsage {
  /** Peak resident set size during the operation, KiB. */
  peakKiB: number;
  /** Server CPU time (user+system, all threads) during the operation, seconds. */
  cpuSeconds: number;
}

/**
 * Tracks a server process's resident memory and CPU time. The peak of each measured operation
 * is the larger of (a) VmHWM, which the kernel keeps exactly, after resetting it at the start
 * of the operation by writing 5 to /proc/PID/clear_refs (allowed as root / same user on
 * Linux >= 4.0), and (b) VmRSS polled every `intervalMs` (the fallback when the reset is not
 * allowed). `overallPeakKiB` is the maximum over the whole run. Only the one process is
 * watched: both servers are single processes (the stevedore launcher runs the CLI in-process).
 */
export class ProcessMonitor {
  /** RSS when the server was idle, before the workloads (see markIdle). */
  startKiB: number;
  overallPeakKiB = 0;
  private phasePeakKiB = 0;
  private phaseCpuStart = 0;
  private timer: NodeJS.Timeout;
  private canReset = true;

  constructor(readonly pid: number, intervalMs = 50) {
    const s = readStatusKiB(pid);
    this.startKiB = s?.rss ?? 0;
    this.overallPeakKiB = s?.hwm ?? 0;
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  private poll(): void {
    const s = readStatusKiB(this.pid);
    if (!s) return;
    this.phasePeakKiB = Math.max(this.phasePeakKiB, s.rss, this.canReset ? s.hwm : 0);
    this.overallPeakKiB = Math.max(this.overallPeakKiB, s.rss, s.hwm);
  }

  /** Starts a measured operation: forget the previous peak, note the CPU clock. */
  begin(): void {
    this.poll(); // fold the lifetime HWM into overallPeak before resetting it
    if (this.canReset) {
      try {
        writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      } catch {
        this.canReset = false;
      }
    }
    this.phasePeakKiB = 0;
    this.poll();
    this.phaseCpuStart = readCpuSeconds(this.pid);
  }

  /** Ends a measured operation. */
  end(): OpUsage {
    const cpuSeconds = readCpuSeconds(this.pid) - this.phaseCpuStart;
    this.poll();
    return { peakKiB: this.phasePeakKiB, cpuSeconds };
  }

  /** Re-reads the idle baseline (call once the server has settled). */
  markIdle(): void {
    this.startKiB = readStatusKiB(this.pid)?.rss ?? this.startKiB;
  }

  close(): void {
    this.poll();
    clearInterval(this.timer);
  }
}
