// Starting and stopping the registry server. Loads no configuration validator (zod, yaml): a
// cluster's worker is handed its configuration by the primary (server/cluster/worker-main.ts);
// server/index.ts is the entry that has both.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { InstrumentedDriver, openRegistryStorage } from '../storage/index.js';
import { createApp } from './app.js';
import { AuditLog } from './audit/audit-log.js';
import { auditGcRun, auditMiddleware, auditRegistryEvent } from './audit/registry-audit.js';
import { createAuth } from './auth/index.js';
import { createListener } from './tls.js';
import type { Config } from './config.js';
import { parseAddr } from './listen-addr.js';
import { applyReload, planReload, type ReloadPlan, type ReloadTargets } from './config-reload.js';
import { ReadinessCheck } from './health.js';
import { createLogger, flushLog, type Logger } from './logger.js';
import { RegistryMetrics } from './metrics.js';
import { startMetricsServer, urlOf, type MetricsServer } from './metrics-server.js';
import type { EventSource } from './notifications/events.js';
import { Notifier } from './notifications/notifier.js';
import { RateLimiter, type RateLimiterLike } from './rate-limit.js';
import { SharedLoginGuard, SharedRateLimiter } from './cluster/shared-state.js';
import type { WorkerLink } from './cluster/worker-link.js';
import { RegistryEvents } from './registry-events.js';
import { createStorageDriver, describeStorage } from './storage-driver.js';
import { startUploadPurger } from './upload-purger.js';
import { GcStatus, startGcScheduler } from './gc-scheduler.js';
import { completeQuotaAccounting, createPolicy, quotaStorageOptions } from './policy/index.js';

/** On stop, how long pending notification events may still take to be delivered. */
const NOTIFICATION_GRACE_MS = 2000;

export interface StartOptions {
  /** A complete configuration (from loadConfig; loaded from the defaults and environment when absent); the shortcuts below override it. */
  config?: Config;
  dataDir?: string;
  addr?: string;
  logLevel?: Config['log']['level'];
  deleteEnabled?: boolean;
  logger?: Logger;
  /**
   * This process is one of `serve`'s workers (server/cluster): cross-request state goes through
   * the primary, and only the leader runs the scheduled work (GC, upload purging, the mirror's).
   */
  cluster?: WorkerLink;
}

export interface RunningServer {
  url: string;
  /** The live configuration (reload changes its reloadable parts in place). */
  config: Config;
  server: Server;
  log: Logger;
  /** Where the metrics are served (on the main listener or metrics.addr); undefined when disabled. */
  metricsUrl: string | undefined;
  /** Identifies this server process in notification events (source.instanceID). */
  instanceId: string;
  /**
   * Applies what can change at run time from a new configuration (log level, access log, rate
   * limits, notification endpoints), logs what changed, warns about changes that need a restart.
   */
  reload(next: Config): ReloadPlan;
  /** Stops accepting connections and waits for in-flight requests (up to http.drainTimeout). */
  close(): Promise<void>;
}

function applyShortcuts(base: Config, opts: StartOptions): Config {
  const c = structuredClone(base);
  if (opts.dataDir) c.storage.filesystem.rootDirectory = opts.dataDir;
  if (opts.addr) c.http.addr = opts.addr;
  if (opts.logLevel) c.log.level = opts.logLevel;
  if (opts.deleteEnabled !== undefined) c.storage.delete.enabled = opts.deleteEnabled;
  return c;
}

export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const config = applyShortcuts(opts.config ?? (await import('./config.js')).loadConfig(), opts);
  const cluster = opts.cluster;
  const baseLog = opts.logger ?? createLogger(config.log.level);
  const log = cluster ? baseLog.child({ worker: cluster.name, pid: process.pid }) : baseLog;
  /** What must happen once per registry, not once per worker. */
  const leader = !cluster || cluster.leader;
  const instanceId = randomUUID();
  const metrics = new RegistryMetrics();
  if (cluster) {
    cluster.handle('metrics-collect', () => metrics.json());
    metrics.aggregateWith(() => cluster.request('metrics'));
  }
  const driver = new InstrumentedDriver(await createStorageDriver(config), metrics);
  const storage = openRegistryStorage(driver, {
    // auto: hybrid on S3 (native hashing while an upload's chunks stay on one process; replicas
    // and restarts find a saved state after one re-read), memory on the filesystem (where a
    // re-read is cheap; with several workers that is hybrid too, see UploadStoreOptions.shared).
    digestState: config.storage.uploadDigestState === 'auto' ? (config.storage.driver === 's3' ? 'hybrid' : 'memory') : config.storage.uploadDigestState,
    quotas: quotaStorageOptions(config),
    ...(cluster ? { shared: { lock: { run: (key, fn) => cluster.run(`upload:${key}`, fn) } } } : {}),
  });
  const policy = createPolicy(config, storage, metrics.registry);
  if (leader) completeQuotaAccounting(storage, log);
  metrics.countUploadsWith(() => storage.uploads.count());
  const readiness = new ReadinessCheck({
    driver,
    instanceId,
    timeoutMs: config.health.readiness.timeout,
    cacheMs: config.health.readiness.cacheFor,
    log,
    onResult: (ready) => metrics.storageReady(ready),
  });
  const rateLimiter: RateLimiterLike = cluster ? new SharedRateLimiter(config.rateLimit, cluster, metrics) : new RateLimiter(config.rateLimit, metrics);
  const source: EventSource = { addr: hostname(), instanceID: instanceId };
  const notifier = new Notifier(config.notifications, source, log, metrics);
  const events = new RegistryEvents((err) => log.error({ err }, 'registry event listener failed'));
  events.listen((_ctx, e) => metrics.registryEvent(e));
  events.listen((ctx, e) => notifier.publish(ctx, e));
  const audit = new AuditLog(config.audit, log, (names, record) => notifier.publishAudit(names, record));
  await audit.ready(); // an audit file that cannot be opened stops the start: the trail is never silently lost
  events.listen((ctx, e) => auditRegistryEvent(audit, ctx, e));
  const serveMetricsHere = config.metrics.enabled && config.metrics.addr === '';
  // Loaded only when configured: it brings in the client (and npm undici, whose global dispatcher
  // then also serves Node's own fetch in this process).
  const mirror =
    config.mirror.upstreams.length > 0
      ? (await import('./mirror/start.js')).createMirror({ storage, config, log, events, metricsRegistry: metrics.registry, cluster })
      : undefined;
  // The web UI's mirror counters on any worker: every worker's, summed.
  if (cluster && mirror) mirror.mirror.metrics.aggregateWith(async () => (await metrics.aggregated())!);
  const auth = await createAuth(config, log, {
    driver,
    audit,
    ...(cluster
      ? {
          guard: new SharedLoginGuard(cluster),
          robotsChanged: { publish: (name: string) => cluster.broadcast('robot', name), subscribe: (forget: (name: string) => void) => cluster.onBroadcast('robot', (n) => forget(String(n))) },
        }
      : {}),
  });
  const gcStatus = new GcStatus();
  // The web UI shows the scheduler's status on whichever worker it asks: the leader's, passed on.
  if (cluster && leader) gcStatus.onChange = () => cluster.broadcast('gc-status', gcStatus.snapshot(), true);
  else if (cluster) cluster.onBroadcast('gc-status', (s) => gcStatus.apply(s as Parameters<GcStatus['apply']>[0]));
  const app = createApp(
    { storage, config, log, events, mirror: mirror?.mirror, gcStatus, policy },
    {
      metrics,
      serveMetrics: serveMetricsHere,
      readiness,
      rateLimiter,
      auth: auth.middlewares,
      audit: audit.enabled ? auditMiddleware(audit, storage) : undefined,
      worker: cluster?.name,
    },
  );
  const listener = createListener(config, app.callback(), log);
  const server = listener.server;
  const { host, port } = parseAddr(config.http.addr)!;
  server.listen({ host, port });
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
  const address = server.address() as AddressInfo;
  const url = urlOf(address).replace(/^http:/, `${listener.scheme}:`);
  source.addr = `${hostname()}:${address.port}`;
  let metricsServer: MetricsServer | undefined;
  if (config.metrics.enabled && !serveMetricsHere) {
    try {
      metricsServer = await startMetricsServer({ config, log, metrics, readiness });
    } catch (err) {
      await notifier.close();
      await new Promise<void>((r) => server.close(() => r()));
      // Tells `stevedore serve` which address could not be used.
      throw Object.assign(err as Error, { listener: 'metrics' });
    }
  }
  const metricsUrl = !config.metrics.enabled ? undefined : `${metricsServer?.url ?? url}${config.metrics.path}`;
  // Scheduled and start-up work runs in one process of a cluster: the leader (worker 1, or the
  // worker that replaced it).
  const stopPurger = leader ? startUploadPurger(storage.uploads, config, log) : () => undefined;
  // Uploads a crash interrupted while committing are completed (their clients were answered, or retry).
  if (leader) {
    void storage.uploads.recoverCommits().then(
      (n) => n > 0 && log.info({ uploads: n }, 'completed interrupted upload commits'),
      (err) => log.error({ err }, 'completing interrupted upload commits failed'),
    );
  }
  const stopGc = leader ? startGcScheduler(driver, config, log, metrics, gcStatus, storage.quotas, (result) => auditGcRun(audit, result)) : () => undefined;
  if (leader) mirror?.schedule();
  // A cluster's primary logs `listening` once every worker does (server/cluster/primary.ts).
  log.info({ url, addr: config.http.addr, ...describeStorage(config), ...(metricsUrl ? { metrics: metricsUrl } : {}) }, cluster ? 'worker listening' : 'listening');

  const reload = (next: Config): ReloadPlan => {
    const targets: ReloadTargets = {
      setLogLevel: (level) => {
        log.level = level;
      },
      setRateLimits: (c) => rateLimiter.update(c),
      setNotifications: (c) => void notifier.update(c),
      setAccessRules: (c) => auth.updateRules(c),
    };
    const summary = (p: ReloadPlan) => {
      if (p.apply.length === 0) log.info('configuration reloaded: nothing to apply');
      else log.info({ changed: p.apply, logLevel: next.log.level }, 'configuration reloaded');
      if (p.restart.length > 0) log.warn({ keys: p.restart }, 'configuration changes need a restart to take effect; running with the old values');
    };
    // Said at the more verbose of the two levels, so a switch to a quieter level is logged too.
    const levels = log.levels.values;
    let plan: ReloadPlan;
    if ((levels[next.log.level] ?? Infinity) > (levels.info ?? 30)) {
      summary(planReload(config, next));
      plan = applyReload(config, next, targets);
    } else {
      plan = applyReload(config, next, targets);
      summary(plan);
    }
    // Every worker reloads on the primary's SIGHUP; the trail gets one record, the leader's.
    if (leader) void audit.record({ action: 'config.reload', outcome: 'success', actor: { kind: 'system' }, detail: { applied: plan.apply, needRestart: plan.restart } });
    return plan;
  };

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      stopPurger();
      stopGc();
      listener.stop();
      const closed = new Promise<void>((r) => server.close(() => r()));
      // Keep-alive connections become idle as their in-flight requests finish: close them then.
      const sweeper = setInterval(() => server.closeIdleConnections(), 100);
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), config.http.drainTimeout);
      timer.unref();
      await closed;
      clearInterval(sweeper);
      clearTimeout(timer);
      await mirror?.stop();
      // Events of the last requests get a moment to reach healthy endpoints; the rest are counted as dropped.
      await notifier.close(Math.min(NOTIFICATION_GRACE_MS, config.http.drainTimeout));
      await audit.close();
      await metricsServer?.close();
      log.info('stopped');
      await flushLog(log);
    })());
  return { url, config, server, log, metricsUrl, instanceId, reload, close };
}
