// `stevedore serve` with http.workers > 1: this process forks the workers (node:cluster; they
// share the listening socket, the primary hands out connections round-robin) and serves nothing
// itself. A worker runs server/cluster/worker-main.ts, not the CLI: the primary hands it the
// configuration it validated (and the one it reads again on SIGHUP). It holds the state that
// must be one across workers and that storage does not already share: keyed locks (uploads, the
// mirror's one transfer per blob), the rate-limit buckets and the failed-login counters; it
// gathers every worker's metrics for whichever worker is scraped, passes broadcasts on, restarts
// a worker that died, reloads the configuration for all on SIGHUP and drains all on SIGTERM.
//
// Worker 1 (slot 0) starts alone first, so that what a first start creates (the token signing
// key, certificates) is created once, then the others; `listening` is logged when all listen.
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { LoginGuard } from '../auth/login-guard.js';
import type { Config } from '../config.js';
import { applyReload } from '../config-reload.js';
import { flushLog, type Logger } from '../logger.js';
import { missingFlags, WORKER_V8_FLAGS } from '../node-flags.js';
import { stopWithParent } from '../parent-watch.js';
import { RateLimiter, type RequestKind } from '../rate-limit.js';
import { LockTable } from './lock-table.js';
import { isClusterMessage, WORKER_SLOT_VARIABLE, type ClusterMessage } from './protocol.js';

/** A worker that dies this soon after it started counts towards a crash loop. */
const QUICK_DEATH_MS = 5_000;
/** Quick deaths in a row of one slot after which the primary gives up and stops. */
const MAX_QUICK_DEATHS = 5;
/** How long the primary waits for every worker's metrics. */
const METRICS_TIMEOUT_MS = 3_000;


export interface PrimaryOptions {
  count: number;
  config: Config;
  log: Logger;
  /** Reads the configuration again (SIGHUP); undefined when it does not load (logged by the caller). */
  reloadConfig: () => Config | undefined;
}

interface Slot {
  worker: Worker | undefined;
  startedAt: number;
  quickDeaths: number;
  ready: boolean;
}

type Waiter = { worker: number; id: number };

/** Runs the cluster until it is stopped; resolves with the exit code for the process. */
export function runPrimary(opts: PrimaryOptions): Promise<number> {
  const { count, log } = opts;
  let config = opts.config;
  /**
   * What the workers run: the configuration they started with and the reloadable parts of every
   * reload since (the rest needs a restart). A worker that replaces one that died gets this too.
   */
  const workerConfig = structuredClone(opts.config);
  const slots: Slot[] = Array.from({ length: count }, () => ({ worker: undefined, startedAt: 0, quickDeaths: 0, ready: false }));
  const locks = new LockTable<Waiter>();
  const limiter = new RateLimiter(config.rateLimit);
  const guard = new LoginGuard(config.auth.bruteForce, log);
  let stopping = false;
  let announced = false;
  let url = '';
  let metricsUrl: string | undefined;
  /** The last broadcast of each sticky topic, for workers that start later (a replaced worker). */
  const sticky = new Map<string, unknown>();
  let finish!: (code: number) => void;
  const done = new Promise<number>((r) => (finish = r));

  const send = (w: Worker | undefined, m: Omit<ClusterMessage, 'stevedore'>) => {
    if (w && w.isConnected()) w.send({ stevedore: 1, ...m });
  };
  const byId = (id: number) => slots.find((s) => s.worker?.id === id)?.worker;
  const grant = (w: Waiter) => send(byId(w.worker), { reply: w.id, result: true });

  /** Metrics collections under way: request id → what arrived and whom to answer. */
  let collectId = 0;
  const collections = new Map<number, { expect: Set<number>; parts: unknown[]; answer: (parts: unknown[]) => void }>();
  const collect = (answer: (parts: unknown[]) => void) => {
    const id = ++collectId;
    const live = slots.map((s) => s.worker).filter((w): w is Worker => !!w && w.isConnected());
    const c = { expect: new Set(live.map((w) => w.id)), parts: [] as unknown[], answer };
    collections.set(id, c);
    const end = () => {
      if (!collections.delete(id)) return;
      clearTimeout(timer);
      answer(c.parts);
    };
    const timer = setTimeout(end, METRICS_TIMEOUT_MS);
    for (const w of live) send(w, { op: 'metrics-collect', id });
    if (c.expect.size === 0) end();
    return { id, end };
  };
  const collected = (workerId: number, m: ClusterMessage): boolean => {
    const c = collections.get(m.reply!);
    if (!c) return false;
    if (m.error === undefined && c.expect.delete(workerId)) c.parts.push(m.result);
    else c.expect.delete(workerId);
    if (c.expect.size === 0) {
      collections.delete(m.reply!);
      c.answer(c.parts);
    }
    return true;
  };

  const onMessage = (w: Worker, m: ClusterMessage) => {
    if (m.reply !== undefined) {
      collected(w.id, m);
      return;
    }
    const answer = (result: unknown) => m.id !== undefined && send(w, { reply: m.id, result });
    switch (m.op) {
      case 'lock':
        if (locks.acquire(String(m.key), { worker: w.id, id: m.id! }, m.wait !== false)) answer(true);
        else if (m.wait === false) answer(false);
        return;
      case 'unlock':
        locks.release(String(m.key), w.id, grant);
        return;
      case 'rate':
        answer(limiter.check(m.kind as RequestKind, String(m.client), m.user === undefined || m.user === null ? undefined : String(m.user)));
        return;
      case 'login-check':
        answer(guard.check(String(m.user), String(m.client)));
        return;
      case 'login-failed':
        guard.failed(String(m.user), String(m.client), Date.now(), m.password === undefined ? undefined : String(m.password));
        answer(true);
        return;
      case 'login-ok':
        guard.succeeded(String(m.user));
        answer(true);
        return;
      case 'metrics':
        collect((parts) => answer(parts));
        return;
      case 'broadcast':
        if (m.sticky === true) sticky.set(String(m.topic), m.data);
        for (const s of slots) if (s.worker && s.worker !== w) send(s.worker, { op: 'broadcast', topic: m.topic, data: m.data });
        return;
      case 'ready': {
        const s = slots.find((x) => x.worker === w);
        if (s) s.ready = true;
        for (const [topic, data] of sticky) send(w, { op: 'broadcast', topic, data });
        url = String(m.url);
        metricsUrl = m.metricsUrl === undefined ? undefined : String(m.metricsUrl);
        onReady();
        return;
      }
      default:
        if (m.id !== undefined) send(w, { reply: m.id, error: `unknown request ${String(m.op)}` });
    }
  };

  // The workers' V8 flags (server/node-flags.ts), unless NODE_OPTIONS or node's command line set them.
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)), args: [], execArgv: [...process.execArgv, ...missingFlags(WORKER_V8_FLAGS)] });

  const fork = (index: number) => {
    const w = cluster.fork({ [WORKER_SLOT_VARIABLE]: `${index}/${count}` });
    const s = slots[index]!;
    s.worker = w;
    s.startedAt = Date.now();
    s.ready = false;
    w.on('message', (m: unknown) => {
      if (isClusterMessage(m)) onMessage(w, m);
    });
    w.on('exit', (code: number | null, signal: NodeJS.Signals | null) => onExit(index, w, code, signal));
    send(w, { op: 'config', config: workerConfig });
  };

  const onReady = () => {
    if (announced) return;
    if (!slots[0]!.ready) return;
    // The leader is up: the rest start now (in parallel).
    for (let i = 1; i < count; i++) if (!slots[i]!.worker) fork(i);
    if (!slots.every((s) => s.ready)) return;
    announced = true;
    const pids = slots.map((s) => s.worker!.process.pid);
    log.info({ url, addr: config.http.addr, workers: count, pids, ...(metricsUrl ? { metrics: metricsUrl } : {}) }, 'listening');
  };

  const onExit = (index: number, w: Worker, code: number | null, signal: NodeJS.Signals | null) => {
    locks.releaseAll(w.id, grant);
    for (const [id, c] of collections) {
      if (c.expect.delete(w.id) && c.expect.size === 0) {
        collections.delete(id);
        c.answer(c.parts);
      }
    }
    const s = slots[index]!;
    if (s.worker === w) s.worker = undefined;
    if (stopping) {
      if (slots.every((x) => !x.worker)) finish(0);
      return;
    }
    if (!announced) {
      // A worker that cannot start (address in use, bad storage) said why on stderr: stop with its status.
      log.error({ worker: index + 1, code, signal }, 'a worker exited while starting; stopping');
      void stop(code && code !== 0 ? code : 1);
      return;
    }
    s.quickDeaths = Date.now() - s.startedAt < QUICK_DEATH_MS ? s.quickDeaths + 1 : 0;
    if (s.quickDeaths >= MAX_QUICK_DEATHS) {
      log.fatal({ worker: index + 1, code, signal, deaths: s.quickDeaths }, 'a worker keeps dying right after it starts; stopping');
      void stop(1);
      return;
    }
    log.error({ worker: index + 1, pid: w.process.pid, code, signal }, 'worker exited; starting a new one');
    fork(index);
  };

  let exitCode = 0;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    const live = slots.map((s) => s.worker).filter((w): w is Worker => !!w);
    if (live.length === 0) finish(code);
    // Each worker drains its own in-flight requests (http.drainTimeout) and exits.
    for (const w of live) w.process.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const s of slots) s.worker?.process.kill('SIGKILL');
    }, config.http.drainTimeout + 10_000);
    killer.unref();
  };

  const onSignal = (signal: string) => {
    if (stopping) return;
    log.info({ signal, workers: count }, 'shutting down: workers finish their in-flight requests');
    void stop(0);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => {
    if (stopping) return;
    // Read once, here: a configuration that does not load is logged once and changes nothing.
    const next = opts.reloadConfig();
    if (!next) return;
    // The primary's own part of a reload: the shared rate-limit buckets.
    if (JSON.stringify(next.rateLimit) !== JSON.stringify(config.rateLimit)) limiter.update(next.rateLimit);
    config = { ...config, rateLimit: next.rateLimit };
    applyReload(workerConfig, next, { setLogLevel: () => undefined, setRateLimits: () => undefined, setNotifications: () => undefined });
    // Each worker applies it and logs what it applied.
    for (const s of slots) send(s.worker, { op: 'reload', config: next });
  });
  stopWithParent(() => onSignal('parent exited'));

  fork(0);
  return done.then(async (code) => {
    if (!stopping || exitCode === 0) log.info('stopped');
    await flushLog(log);
    return exitCode || code;
  });
}
