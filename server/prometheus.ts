// The parts of prom-client the server uses, each loaded from its own file. prom-client's index
// also loads the Pushgateway (node:https with tls, node:zlib) and the Summary (tdigest, bintrees),
// which the server never uses: ~3 MiB of RSS in every process (docs/performance.md "Memory per
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
export const collectDefaultMetrics = load('prom-client/lib/defaultMetrics') as typeof Prom.collectDefaultMetrics;
export type { MetricObjectWithValues, MetricValue } from 'prom-client';
