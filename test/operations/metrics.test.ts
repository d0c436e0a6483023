// Prometheus metrics as a scraper sees them: push and pull an image, scrape /metrics, parse the
// exposition format and check that the counters and histograms moved by exactly what happened.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/stevedore-process.js';
import { pushImage, Registry, repoName, ACCEPT_ALL_MANIFESTS } from '../api/client.js';
import { scrape, startTestServer, waitFor, type TestServer } from './helpers.js';

const ROUTE_FAMILIES = ['base', 'catalog', 'tags', 'manifests', 'blobs', 'blob_uploads', 'referrers', 'healthz', 'readyz', 'metrics', 'other'];

describe('metrics on the main port', () => {
  let t: TestServer;
  let reg: Registry;
  let metricsUrl: string;

  beforeAll(async () => {
    t = await startTestServer();
    reg = new Registry(t.url);
    metricsUrl = t.srv.metricsUrl!;
  });
  afterAll(() => t?.stop());

  it('is served at /metrics on the main port by default, in the text exposition format', async () => {
    expect(metricsUrl).toBe(`${t.url}/metrics`);
    const m = await scrape(metricsUrl);
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    // Process metrics (prom-client's defaults).
    expect(m.has('process_cpu_user_seconds_total')).toBe(true);
    expect(m.has('process_resident_memory_bytes')).toBe(true);
    expect(m.has('nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('counts requests, latency, bytes, storage operations and content after a push and a pull', async () => {
    const repo = repoName('metrics');
    const before = await scrape(metricsUrl);
    const { parts, manifest } = await pushImage(reg, repo, 'v1', { layers: 2 });
    const blobs = [parts.config, ...parts.layers];
    const blobBytes = blobs.reduce((a, b) => a + b.length, 0);

    const pulledManifest = await reg.get(`/v2/${repo}/manifests/v1`, { headers: { Accept: ACCEPT_ALL_MANIFESTS } });
    expect(pulledManifest.status).toBe(200);
    for (const d of [parts.configDesc, ...parts.layerDescs]) {
      const r = await reg.get(`/v2/${repo}/blobs/${d.digest}`);
      expect(r.status).toBe(200);
    }
    // The access log and the metrics are recorded when each response is over, just after the
    // client has it: wait until the last GET is counted.
    const after = await waitFor('the pull to be counted', async () => {
      const m = await scrape(metricsUrl);
      const delta = m.get('stevedore_http_requests_total', { route: 'blobs', method: 'GET', status: '200' }) -
        before.get('stevedore_http_requests_total', { route: 'blobs', method: 'GET', status: '200' });
      return delta === blobs.length ? m : undefined;
    });
    const d = (name: string, labels: Record<string, string> = {}) => after.get(name, labels) - before.get(name, labels);

    // Requests by route family, method and status.
    expect(d('stevedore_http_requests_total', { route: 'blob_uploads', method: 'POST', status: '202' })).toBe(blobs.length);
    expect(d('stevedore_http_requests_total', { route: 'blob_uploads', method: 'PUT', status: '201' })).toBe(blobs.length);
    expect(d('stevedore_http_requests_total', { route: 'manifests', method: 'PUT', status: '201' })).toBe(1);
    expect(d('stevedore_http_requests_total', { route: 'manifests', method: 'GET', status: '200' })).toBe(1);
    // Latency histograms: one observation per request, in the +Inf bucket and the count.
    expect(d('stevedore_http_request_duration_seconds_count', { route: 'blob_uploads', method: 'PUT' })).toBe(blobs.length);
    expect(d('stevedore_http_request_duration_seconds_bucket', { route: 'blob_uploads', method: 'PUT', le: '+Inf' })).toBe(blobs.length);
    expect(d('stevedore_http_request_duration_seconds_count', { route: 'manifests', method: 'GET' })).toBe(1);
    expect(d('stevedore_http_request_duration_seconds_sum', { route: 'manifests', method: 'PUT' })).toBeGreaterThan(0);
    // Bytes: the blob bodies went in with the PUTs and came out with the GETs; the manifest likewise.
    expect(d('stevedore_http_received_bytes_total', { route: 'blob_uploads' })).toBe(blobBytes);
    expect(d('stevedore_http_received_bytes_total', { route: 'manifests' })).toBe(manifest.size);
    expect(d('stevedore_http_sent_bytes_total', { route: 'blobs' })).toBe(blobBytes);
    expect(d('stevedore_http_sent_bytes_total', { route: 'manifests' })).toBe(manifest.size);
    // Content.
    expect(d('stevedore_blobs_pushed_total')).toBe(blobs.length);
    expect(d('stevedore_blobs_pushed_bytes_total')).toBe(blobBytes);
    expect(d('stevedore_manifests_pushed_total')).toBe(1);
    expect(d('stevedore_manifests_pulled_total')).toBe(1);
    expect(d('stevedore_blobs_pulled_total')).toBe(blobs.length);
    // Storage operations by driver and operation: each new blob was moved into place once.
    expect(d('stevedore_storage_operations_total', { driver: 'filesystem', operation: 'move', outcome: 'ok' })).toBe(blobs.length);
    expect(d('stevedore_storage_operation_duration_seconds_count', { driver: 'filesystem', operation: 'move' })).toBe(blobs.length);
    expect(d('stevedore_storage_operations_total', { driver: 'filesystem', operation: 'putContent', outcome: 'ok' })).toBeGreaterThan(0);
    expect(d('stevedore_storage_operations_total', { driver: 'filesystem', operation: 'stat', outcome: 'not_found' })).toBeGreaterThan(0);
    expect(d('stevedore_storage_operations_total', { driver: 'filesystem', operation: 'writer.commit', outcome: 'ok' })).toBeGreaterThanOrEqual(blobs.length);

    // Bounded labels: no repository name, tag or digest anywhere.
    for (const s of after.samples) {
      for (const v of Object.values(s.labels)) {
        expect(v).not.toContain('sha256');
        expect(v).not.toContain(repo.split('/')[1]!);
        expect(v).not.toBe('v1');
      }
      if (s.labels.route !== undefined) expect(ROUTE_FAMILIES).toContain(s.labels.route);
    }
  });

  it('reports upload sessions in progress', async () => {
    const repo = repoName('metrics');
    const base = (await scrape(metricsUrl)).get('stevedore_uploads_in_progress');
    const loc = await reg.startUpload(repo);
    expect((await scrape(metricsUrl)).get('stevedore_uploads_in_progress')).toBe(base + 1);
    expect((await reg.delete(loc)).status).toBe(204);
    expect((await scrape(metricsUrl)).get('stevedore_uploads_in_progress')).toBe(base);
  });

  it('classifies unknown paths and methods into bounded labels', async () => {
    const before = await scrape(metricsUrl);
    expect((await reg.get('/no/such/thing/sha256:abcd')).status).toBe(404);
    expect((await reg.req('PROPFIND', '/v2/')).status).toBe(405);
    const after = await waitFor('the requests to be counted', async () => {
      const m = await scrape(metricsUrl);
      return m.get('stevedore_http_requests_total', { route: 'base', method: 'other', status: '405' }) >
        before.get('stevedore_http_requests_total', { route: 'base', method: 'other', status: '405' })
        ? m
        : undefined;
    });
    expect(after.get('stevedore_http_requests_total', { route: 'other', method: 'GET', status: '404' })).toBe(
      before.get('stevedore_http_requests_total', { route: 'other', method: 'GET', status: '404' }) + 1,
    );
  });

  it('keeps health checks and scrapes out of the info-level access log, and logs registry requests with their details', async () => {
    await fetch(`${t.url}/healthz`);
    await fetch(`${t.url}/readyz`);
    const r = await reg.get('/v2/', { headers: { 'X-Request-Id': 'access-log-check-1' } });
    expect(r.status).toBe(200);
    const line = await waitFor('the access log line', () => t.logs.find((l) => l.reqId === 'access-log-check-1'));
    expect(line).toMatchObject({ level: 30, msg: 'request', method: 'GET', path: '/v2/', route: 'base', status: 200, bytesIn: 0, bytesOut: 2 });
    expect(typeof line.ms).toBe('number');
    expect(line.remote).toMatch(/127\.0\.0\.1/);
    expect(t.logs.filter((l) => l.msg === 'request' && ['/healthz', '/readyz', '/metrics'].includes(String(l.path)))).toEqual([]);
  });
});

describe('metrics on a separate address', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ metrics: { addr: '127.0.0.1:0', path: '/debug/metrics' } });
  });
  afterAll(() => t?.stop());

  it('serves metrics and health on the metrics address only', async () => {
    const url = t.srv.metricsUrl!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/debug\/metrics$/);
    expect(new URL(url).port).not.toBe(new URL(t.url).port);
    await fetch(`${t.url}/v2/`);
    const m = await waitFor('the request to be counted', async () => {
      const s = await scrape(url);
      return s.get('stevedore_http_requests_total', { route: 'base', method: 'GET', status: '200' }) === 1 ? s : undefined;
    });
    expect(m.has('process_cpu_user_seconds_total')).toBe(true);
    // Not on the registry port.
    expect((await fetch(`${t.url}/debug/metrics`)).status).toBe(404);
    expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
    // Health is on both.
    expect((await fetch(new URL('/healthz', url))).status).toBe(200);
    expect((await fetch(new URL('/readyz', url))).status).toBe(200);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});

describe('stevedore serve with a metrics address', () => {
  it('says so in one line when the metrics address is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const dataDir = await mkdtemp(join(tmpdir(), 'metrics-busy-'));
    try {
      const r = spawnSync(process.execPath, [CLI, 'serve', '--addr', '127.0.0.1:0', '--data-dir', dataDir], {
        env: { ...process.env, STEVEDORE_METRICS_ADDR: `127.0.0.1:${port}` },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toBe(`stevedore: cannot start: address 127.0.0.1:${port} is already in use`);
    } finally {
      blocker.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('metrics disabled', () => {
  it('answers /metrics like any unknown path', async () => {
    const t = await startTestServer({ metrics: { enabled: false } });
    try {
      expect(t.srv.metricsUrl).toBeUndefined();
      const r = await fetch(`${t.url}/metrics`);
      expect(r.status).toBe(404);
      expect(((await r.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('UNSUPPORTED');
    } finally {
      await t.stop();
    }
  });
});
