// The parts of prom-client the server uses, each loaded from its own file. prom-client's index
// also loads the Pushgateway (node:https with tls, node:zlib) and the Summary (tdigest, bintrees),
// which the server never uses: ~3 MiB of RSS in every process, and its default metrics
// @opentelemetry/api (~0.8 MiB, below) (docs/performance.md "Memory per
// worker"). Every server module takes prom-client from here (the files are prom-client 15's;
// it has no exports map, and test/operations/metrics.test.ts checks the exposition they give).
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const load = createRequire(import.meta.url);

export const Registry = load('prom-client/lib/registry') as typeof Prom.Registry;
export type Registry = Prom.Registry;
export const Counter = load('prom-client/lib/counter') as typeof Prom.Counter;
export type Counter<T extends string = string> = Prom.Counter<T>;
export const Gauge = load('prom-client/lib/gauge') as typeof Prom.Gauge;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export const Histogram = load('prom-client/lib/histogram') as typeof Prom.Histogram;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
export const AggregatorRegistry = load('prom-client/lib/cluster') as typeof Prom.AggregatorRegistry;

/** prom-client's default metrics after process_cpu_*, in its order (prom-client/lib/defaultMetrics.js). */
const DEFAULT_METRICS = [
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'eventLoopLag',
  'processResources',
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
];

/**
 * prom-client's default metrics (process_*, nodejs_*), the same names, help and values. Not its
 * collectDefaultMetrics: its process_cpu_* module loads @opentelemetry/api (50 files) for
 * exemplars, which the server does not use; those three counters are made here instead.
 */
export function collectDefaultMetrics(opts: { register: Registry }): void {
  const registers = [opts.register];
  let last = process.cpuUsage();
  const user = new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers,
    // This one metric's collect sets all three (as prom-client's does).
    collect() {
      const now = process.cpuUsage();
      const userMicros = now.user - last.user;
      const systemMicros = now.system - last.system;
      last = now;
      user.inc(userMicros / 1e6);
      system.inc(systemMicros / 1e6);
      total.inc((userMicros + systemMicros) / 1e6);
    },
  });
  const system = new Counter({ name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', registers });
  const total = new Counter({ name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', registers });
  for (const name of DEFAULT_METRICS) {
    const metric = load(`prom-client/lib/metrics/${name}`) as (register: Registry, config: { eventLoopMonitoringPrecision: number }) => void;
    metric(opts.register, { eventLoopMonitoringPrecision: 10 });
  }
}
export type { MetricObjectWithValues, MetricValue } from 'prom-client';
