// Worker-process scaling (http.workers): manifest GET and blob GET requests per second with 1 and
// with 2 workers, the load generator (this process) pinned to one core and the server (primary
// and workers) to another, interleaved ABBA, medians. Also the server's CPU time per request
// (primary + workers, /proc/PID/stat: the steadier figure on a shared machine), the primary's
// share of it (what handing connections round-robin and answering IPC costs), and RSS per process
// idle and at the end of the load.
//
// On a 2-core machine both workers share the server's one core: the figures show what running
// several workers costs per request, not a speed-up; docs/performance.md reasons from the CPU
// per request what N cores would serve.
//
// Memory per worker (issue #15's goal: idle ≤ 50 MiB, peak ≤ 80 MiB streaming 1 GiB each way):
// with 2 workers, each worker's RSS idle (and its private part, RssAnon: the rest are pages of
// the node binary and libraries, shared by all workers; and Pss, which splits those), then the peak RSS of the worker that
// took a 1 GiB blob pushed in one PUT and of the worker that served it back in one GET
// (/proc/PID VmHWM after a reset, bench/servers.ts ProcessMonitor), with their throughput; and
// as the floor, a bare node:http server on the same node binary with the workers' V8 flags.
//
// Settings: BENCH_WORKERS_SECONDS=5 (per measurement), BENCH_WORKERS_ROUNDS=2 (ABBA blocks),
// BENCH_WORKERS_CONNECTIONS=16, BENCH_WORKERS_BLOB_KIB=256, BENCH_WORKERS_CPUS="0 1" (load, server),
// BENCH_WORKERS_RATE_LIMIT=N: a per-client read limit of N requests/s (high: never refusing), to
// measure what the primary's shared buckets cost per request. BENCH_WORKERS_MEMORY_MIB=1024 (the
// blob of the memory run; 0 skips it), BENCH_WORKERS_MEMORY_ONLY=1 (only the memory run),
// BENCH_WORKERS_NODE_ARGS="..." (node flags for the server: the workers inherit them).
// BENCH_WORKERS_COMPARE_NODE_ARGS="--no-opt --no-maglev": instead of the above, 2 workers with
// the default flags against 2 workers with these, ABBA × BENCH_WORKERS_ROUNDS: memory (idle, push
// and pull peaks, MB/s) and the server CPU per manifest and blob GET, medians.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { Pool } from 'undici';
import { WORKER_V8_FLAGS } from '../server/node-flags.js';
import { MANIFEST_ACCEPT, RegistryClient } from './ops.js';
import { randomDigest } from './random.js';
import { ProcessMonitor, readCpuSeconds, startStevedore, type OpUsage, type RunningServer } from './servers.js';
import { median } from './stats.js';

const SECONDS = Number(process.env.BENCH_WORKERS_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_WORKERS_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_WORKERS_CONNECTIONS ?? 16);
const BLOB_BYTES = Number(process.env.BENCH_WORKERS_BLOB_KIB ?? 256) * 1024;
const [LOAD_CPU, SERVER_CPU] = (process.env.BENCH_WORKERS_CPUS ?? '0 1').split(/\s+/);
const RATE_LIMIT = process.env.BENCH_WORKERS_RATE_LIMIT;
const MEMORY_BYTES = Number(process.env.BENCH_WORKERS_MEMORY_MIB ?? 1024) * 1024 * 1024;
const MEMORY_ONLY = process.env.BENCH_WORKERS_MEMORY_ONLY === '1';
const flags = (v: string | undefined) => (v ?? '').split(/\s+/).filter(Boolean);
const NODE_ARGS = flags(process.env.BENCH_WORKERS_NODE_ARGS);
const COMPARE_NODE_ARGS = process.env.BENCH_WORKERS_COMPARE_NODE_ARGS === undefined ? undefined : flags(process.env.BENCH_WORKERS_COMPARE_NODE_ARGS);
const SERVER_ENV: NodeJS.ProcessEnv = RATE_LIMIT ? { STEVEDORE_RATELIMIT_PERCLIENT_READ_RATE: RATE_LIMIT, STEVEDORE_RATELIMIT_PERCLIENT_READ_BURST: RATE_LIMIT } : {};

const REPO = 'bench/workers';
const TAG = 'v1';

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** The server's processes: the one started, and its children (the workers). */
function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    /* gone */
  }
  return [pid, ...children];
}

function statusKiB(pid: number, field: 'VmRSS' | 'RssAnon'): number {
  try {
    return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}
const rssKiB = (pid: number) => statusKiB(pid, 'VmRSS');

/** Proportional set size: each resident page divided by the number of processes that map it. */
function pssKiB(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

type Idle = { rss: number; anon: number; pss: number };
const idleOf = (pid: number): Idle => ({ rss: statusKiB(pid, 'VmRSS') / 1024, anon: statusKiB(pid, 'RssAnon') / 1024, pss: pssKiB(pid) / 1024 });

/**
 * The floor under a worker's idle memory: a `node:http` server that answers every request with
 * `{}` and loads nothing else, on the same node binary with the workers' V8 flags and pinned to
 * the server's core, measured like a worker (after answering a few GET /v2/ and 1 s idle).
 */
async function bareHttpServerIdle(): Promise<Idle> {
  const code = "require('node:http').createServer((q, s) => s.end('{}')).listen(0, '127.0.0.1', function () { console.log(this.address().port) })";
  const child = spawn('taskset', ['-c', SERVER_CPU!, process.execPath, ...WORKER_V8_FLAGS, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const url = `http://127.0.0.1:${Number(String(line).trim())}`;
    for (let i = 0; i < 10; i++) await workerOf(url);
    await new Promise((r) => setTimeout(r, 1000));
    return idleOf(child.pid!);
  } finally {
    child.kill('SIGKILL');
  }
}

/** Which worker answers GET /v2/ on a new connection. */
function workerOf(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(`${url}/v2/`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.headers['stevedore-worker'] ?? '1')));
    })
      .on('error', reject)
      .end();
  });
}

/**
 * Waits until `count` different workers have answered (the server answers /v2/ as soon as the
 * first one listens; the others may take longer to start, much longer without the optimising
 * compilers): by time, not by a number of requests, which a fast first worker used up.
 */
async function untilWorkersAnswer(url: string, count: number, timeoutMs = 60_000): Promise<void> {
  const seen = new Set<string>();
  const deadline = performance.now() + timeoutMs;
  while (seen.size < count) {
    if (performance.now() > deadline) throw new Error(`only ${seen.size} of ${count} workers answered within ${timeoutMs / 1000} s`);
    seen.add(await workerOf(url));
    if (seen.size < count) await new Promise((r) => setTimeout(r, 10));
  }
}

interface Load {
  perSecond: number;
  requests: number;
}

/** Closed loop: `CONNECTIONS` keep-alive connections sending GET `path` back to back for `seconds`. */
async function load(pool: Pool, path: string, expectedLength: number, headers: Record<string, string>, seconds: number): Promise<Load> {
  let requests = 0;
  let errors = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < deadline) {
        const res = await pool.request({ path, method: 'GET', headers });
        let n = 0;
        for await (const piece of res.body as AsyncIterable<Buffer>) n += piece.length;
        if (res.statusCode === 200 && n === expectedLength) requests++;
        else errors++;
      }
    }),
  );
  if (errors > 0) throw new Error(`${errors} failed GETs of ${path}`);
  return { requests, perSecond: requests / ((performance.now() - t0) / 1000) };
}

interface Measurement {
  workers: number;
  workload: 'manifest' | 'blob';
  perSecond: number;
  /** Server CPU (all processes) per request, microseconds. */
  cpuUsPerRequest: number;
  /** The primary's CPU per request (0 with one worker: there is no primary), microseconds. */
  primaryUsPerRequest: number;
  idleRssMiB: number[];
  loadedRssMiB: number[];
}

async function measure(dataDir: string, workers: number, manifestLength: number, blobDigest: string, nodeArgs = NODE_ARGS): Promise<Measurement[]> {
  const server: RunningServer = await startStevedore({ name: `stevedore-${workers}w`, dataDir, workers, cpus: SERVER_CPU, env: SERVER_ENV, nodeArgs });
  try {
    await untilWorkersAnswer(server.url, workers);
    const pids = processTree(server.pid);
    const idle = pids.map((p) => rssKiB(p) / 1024);
    const pool = new Pool(server.url, { connections: CONNECTIONS, pipelining: 1, keepAliveTimeout: 60_000 });
    const out: Measurement[] = [];
    try {
      const workloads: { workload: 'manifest' | 'blob'; path: string; length: number; headers: Record<string, string> }[] = [
        { workload: 'manifest', path: `/v2/${REPO}/manifests/${TAG}`, length: manifestLength, headers: { accept: MANIFEST_ACCEPT } },
        { workload: 'blob', path: `/v2/${REPO}/blobs/${blobDigest}`, length: BLOB_BYTES, headers: {} },
      ];
      for (const w of workloads) {
        // A warm-up second (JIT, the connections to both workers, page cache).
        await load(pool, w.path, w.length, w.headers, 1);
        const cpu0 = pids.map(readCpuSeconds);
        const r = await load(pool, w.path, w.length, w.headers, SECONDS);
        const cpu = pids.map((p, i) => readCpuSeconds(p) - cpu0[i]!);
        const total = cpu.reduce((a, b) => a + b, 0);
        out.push({
          workers,
          workload: w.workload,
          perSecond: r.perSecond,
          cpuUsPerRequest: (total / r.requests) * 1e6,
          primaryUsPerRequest: workers > 1 ? (cpu[0]! / r.requests) * 1e6 : 0,
          idleRssMiB: idle,
          loadedRssMiB: pids.map((p) => rssKiB(p) / 1024),
        });
      }
    } finally {
      await pool.close();
    }
    return out;
  } finally {
    await server.stop();
  }
}

interface MemoryRun {
  /** Per worker, MiB: VmRSS, its private part (RssAnon) and its proportional share (Pss). */
  idle: Idle[];
  /** The worker (1 or 2) that took the push / served the pull, its peak RSS and the throughput. */
  push: { worker: number; peakMiB: number; mbPerSecond: number };
  pull: { worker: number; peakMiB: number; mbPerSecond: number };
}

/** The worker that did an operation's work: the index of the one that used the most CPU during it. */
function busiest(usages: OpUsage[]): number {
  return usages.reduce((best, u, i) => (u.cpuSeconds > usages[best]!.cpuSeconds ? i : best), 0);
}

/** Idle RSS of each of 2 workers, then the peak of the worker that takes a big blob in one PUT, and of the one that serves it back. */
async function memoryRun(dataDir: string, seed: string, digest: string, nodeArgs = NODE_ARGS): Promise<MemoryRun> {
  const server = await startStevedore({ name: 'stevedore-memory', dataDir, workers: 2, cpus: SERVER_CPU, nodeArgs });
  try {
    await untilWorkersAnswer(server.url, 2);
    const workers = processTree(server.pid).slice(1);
    if (workers.length !== 2) throw new Error(`expected 2 worker processes, found ${workers.length}`);
    // Settled: the start-up garbage collected, the requests above answered.
    await new Promise((r) => setTimeout(r, 1000));
    const idle = workers.map(idleOf);
    const monitors = workers.map((p) => new ProcessMonitor(p, 20));
    // The pull on a connection of its own: the primary hands it to the next worker, so its peak
    // is a pull's, not what the push left in the same process.
    const pusher = new RegistryClient(server.url);
    const puller = new RegistryClient(server.url);
    try {
      const measured = async (op: () => Promise<number>) => {
        for (const m of monitors) m.begin();
        const seconds = await op();
        const usages = monitors.map((m) => m.end());
        const i = busiest(usages);
        return { worker: i + 1, peakMiB: usages[i]!.peakKiB / 1024, mbPerSecond: MEMORY_BYTES / 1e6 / seconds };
      };
      const push = await measured(() => pusher.pushMonolithic('bench/memory', seed, MEMORY_BYTES, digest));
      const pull = await measured(() => puller.pullBlob('bench/memory', digest, MEMORY_BYTES));
      return { idle, push, pull };
    } finally {
      for (const m of monitors) m.close();
      await pusher.close();
      await puller.close();
    }
  } finally {
    await server.stop();
  }
}


/** 2 workers with the default node flags (A) against 2 with `args` (B), ABBA. */
async function compareFlags(dir: string, dataDir: string, manifestLength: number, blobDigest: string, args: string[]): Promise<void> {
  const seed = 'workers-memory';
  const digest = randomDigest(seed, MEMORY_BYTES);
  const runs: { b: boolean; mem: MemoryRun; load: Measurement[] }[] = [];
  const loads = [loadavg()];
  for (let round = 0; round < ROUNDS; round++) {
    for (const b of [false, true, true, false]) {
      const nodeArgs = b ? args : [];
      runs.push({ b, mem: await memoryRun(join(dir, 'memory'), seed, digest, nodeArgs), load: await measure(dataDir, 2, manifestLength, blobDigest, nodeArgs) });
    }
    loads.push(loadavg());
  }
  const pick = (b: boolean, f: (r: (typeof runs)[number]) => number) => median(runs.filter((r) => r.b === b).map(f));
  const row = (label: string, f: (r: (typeof runs)[number]) => number, digits = 0) => {
    const a = pick(false, f);
    const v = pick(true, f);
    console.log(`| ${label} | ${a.toFixed(digits)} | ${v.toFixed(digits)} | ${(v / a).toFixed(2)} |`);
  };
  console.log(`\nNode flags for serve --workers 2: default against ${args.join(' ')}; ${ROUNDS} ABBA block(s), medians; ${MEMORY_BYTES / 1024 / 1024} MiB blob`);
  console.log(`load average (1/5/15 min) before and after each block: ${loads.join(' → ')}\n`);
  console.log(`| | default | ${args.join(' ')} | ratio |`);
  console.log('|---|---:|---:|---:|');
  row('RSS idle per worker, MiB (mean of the 2)', (r) => (r.mem.idle[0]!.rss + r.mem.idle[1]!.rss) / 2);
  row('of which private (RssAnon), MiB', (r) => (r.mem.idle[0]!.anon + r.mem.idle[1]!.anon) / 2);
  row('proportional share (Pss), MiB', (r) => (r.mem.idle[0]!.pss + r.mem.idle[1]!.pss) / 2);
  row('peak RSS of the pushing worker, MiB', (r) => r.mem.push.peakMiB);
  row('peak RSS of the pulling worker, MiB', (r) => r.mem.pull.peakMiB);
  row('push, one PUT, MB/s', (r) => r.mem.push.mbPerSecond);
  row('pull, one GET, MB/s', (r) => r.mem.pull.mbPerSecond);
  for (const workload of ['manifest', 'blob'] as const) {
    const label = workload === 'manifest' ? 'manifest GET' : `blob GET (${BLOB_BYTES / 1024} KiB)`;
    row(`${label}, req/s`, (r) => r.load.find((m) => m.workload === workload)!.perSecond);
    row(`${label}, server CPU µs/request`, (r) => r.load.find((m) => m.workload === workload)!.cpuUsPerRequest);
  }
  console.log(`\nraw: ${JSON.stringify(runs)}`);
}

async function main(): Promise<void> {
  if (availableParallelism() < 2) throw new Error('the workers benchmark needs 2 cores (one for the load, one for the server)');
  // This process (all its threads) on the load core; the server gets the other.
  execFileSync('taskset', ['-a', '-pc', LOAD_CPU!, String(process.pid)], { stdio: 'ignore' });
  const dir = await mkdtemp(join(tmpdir(), 'bench-workers-'));
  const dataDir = join(dir, 'data');
  try {
    // The content, pushed through a one-worker server (untimed).
    const setup = await startStevedore({ name: 'setup', dataDir, workers: 1 });
    const client = new RegistryClient(setup.url);
    const manifestLength = (await client.pushImage(REPO, TAG)).length;
    const blob = randomBytes(BLOB_BYTES);
    const blobDigest = await client.pushSmallBlob(REPO, blob);
    if (blobDigest !== `sha256:${createHash('sha256').update(blob).digest('hex')}`) throw new Error('blob digest');
    await client.close();
    await setup.stop();

    if (COMPARE_NODE_ARGS) {
      await compareFlags(dir, dataDir, manifestLength, blobDigest, COMPARE_NODE_ARGS);
      return;
    }
    if (MEMORY_BYTES > 0) {
      const load0 = loadavg();
      const seed = 'workers-memory';
      const digest = randomDigest(seed, MEMORY_BYTES);
      const m = await memoryRun(join(dir, 'memory'), seed, digest);
      const bare = await bareHttpServerIdle();
      const mib = (x: number) => x.toFixed(0);
      console.log(`\nMemory per worker: serve --workers 2 (server on CPU ${SERVER_CPU}${NODE_ARGS.length ? `, node ${NODE_ARGS.join(' ')}` : ''}), a ${MEMORY_BYTES / 1024 / 1024} MiB blob pushed in one PUT and pulled in one GET`);
      console.log(`load average (1/5/15 min) before and after: ${load0} → ${loadavg()}\n`);
      console.log(`| idle, MiB | worker 1 | worker 2 | a bare node:http server (${WORKER_V8_FLAGS.join(' ')}) |`);
      console.log('|---|---:|---:|---:|');
      const cells = (f: (x: Idle) => number) => [...m.idle, bare].map((x) => mib(f(x))).join(' | ');
      console.log(`| RSS | ${cells((x) => x.rss)} |`);
      console.log(`| of which private (RssAnon) | ${cells((x) => x.anon)} |`);
      console.log(`| proportional share (Pss: shared pages split among the processes mapping them) | ${cells((x) => x.pss)} |`);
      console.log(`\n| | worker | its peak RSS, MiB | MB/s |`);
      console.log('|---|---:|---:|---:|');
      console.log(`| push, one PUT | ${m.push.worker} | ${mib(m.push.peakMiB)} | ${m.push.mbPerSecond.toFixed(0)} |`);
      console.log(`| pull, one GET (another connection) | ${m.pull.worker} | ${mib(m.pull.peakMiB)} | ${m.pull.mbPerSecond.toFixed(0)} |`);
      console.log(`\nraw: ${JSON.stringify({ ...m, bare })}`);
      if (MEMORY_ONLY) return;
    }

    const results: Measurement[] = [];
    const loads: string[] = [loadavg()];
    for (let round = 0; round < ROUNDS; round++) {
      for (const workers of [1, 2, 2, 1]) results.push(...(await measure(dataDir, workers, manifestLength, blobDigest)));
      loads.push(loadavg());
    }
    const rows: string[] = [];
    rows.push(`| workload | 1 worker | 2 workers | ratio |`);
    rows.push(`|---|---:|---:|---:|`);
    const pick = (workers: number, workload: string, f: (m: Measurement) => number) => median(results.filter((m) => m.workers === workers && m.workload === workload).map(f));
    for (const workload of ['manifest', 'blob'] as const) {
      const label = workload === 'manifest' ? 'manifest GET' : `blob GET (${BLOB_BYTES / 1024} KiB)`;
      const a = pick(1, workload, (m) => m.perSecond);
      const b = pick(2, workload, (m) => m.perSecond);
      rows.push(`| ${label}, req/s | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(b / a).toFixed(2)} |`);
      const ca = pick(1, workload, (m) => m.cpuUsPerRequest);
      const cb = pick(2, workload, (m) => m.cpuUsPerRequest);
      rows.push(`| ${label}, server CPU µs/request (all processes) | ${ca.toFixed(0)} | ${cb.toFixed(0)} | ${(cb / ca).toFixed(2)} |`);
      rows.push(`| ${label}, of which the primary, µs/request | — | ${pick(2, workload, (m) => m.primaryUsPerRequest).toFixed(1)} | |`);
    }
    const rss = (workers: number, key: 'idleRssMiB' | 'loadedRssMiB') => {
      const ms = results.filter((m) => m.workers === workers);
      const n = ms[0]![key].length;
      return Array.from({ length: n }, (_, i) => median(ms.map((m) => m[key][i] ?? NaN)).toFixed(0)).join(' / ');
    };
    rows.push(`| RSS idle, MiB (1 worker: the process; 2: primary / workers) | ${rss(1, 'idleRssMiB')} | ${rss(2, 'idleRssMiB')} | |`);
    rows.push(`| RSS after the load, MiB | ${rss(1, 'loadedRssMiB')} | ${rss(2, 'loadedRssMiB')} | |`);
    console.log(`\nWorker scaling: load generator on CPU ${LOAD_CPU}, server on CPU ${SERVER_CPU}; ${CONNECTIONS} keep-alive connections, ${SECONDS} s per measurement, ${ROUNDS} ABBA block(s), medians${RATE_LIMIT ? `, per-client read limit ${RATE_LIMIT}/s` : ''}`);
    console.log(`load average (1/5/15 min) before and after each block: ${loads.join(' → ')}\n`);
    console.log(rows.join('\n'));
    console.log(`\nraw: ${JSON.stringify(results)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
