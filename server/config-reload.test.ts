import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { applyReload, changedKeys, planReload } from './config-reload.js';

describe('operations configuration', () => {
  it('defaults keep the registry as it was: metrics at /metrics on the main port, no limits, no endpoints', () => {
    const c = loadConfig();
    expect(c.metrics).toEqual({ enabled: true, path: '/metrics', addr: '' });
    expect(c.log.access).toEqual({ enabled: true, probes: false });
    expect(c.health.readiness).toEqual({ timeout: 2000, cacheFor: 1000 });
    expect(c.notifications.endpoints).toEqual([]);
    for (const scope of ['global', 'perClient', 'perUser'] as const) {
      expect(c.rateLimit[scope]).toEqual({ read: { rate: 0, burst: 0 }, write: { rate: 0, burst: 0 } });
    }
    expect(c.rateLimit.maxTrackedKeys).toBe(10_000);
  });

  it('fills in endpoint defaults and validates endpoints', () => {
    const c = loadConfig({ overrides: { notifications: { endpoints: [{ name: 'audit', url: 'https://hooks.example/registry' }] } } });
    expect(c.notifications.endpoints[0]).toEqual({
      name: 'audit',
      url: 'https://hooks.example/registry',
      disabled: false,
      headers: {},
      timeout: 5000,
      retries: 5,
      backoff: 1000,
      maxBackoff: 60_000,
      queueSize: 1000,
      include: { actions: [], mediaTypes: [] },
      exclude: { actions: [], mediaTypes: [] },
    });
    expect(() => loadConfig({ overrides: { notifications: { endpoints: [{ name: 'x', url: 'ftp://a/b' }] } } })).toThrow(/notifications\.endpoints\.0\.url/);
    expect(() =>
      loadConfig({ overrides: { notifications: { endpoints: [{ name: 'x', url: 'http://a' }, { name: 'x', url: 'http://b' }] } } }),
    ).toThrow(/duplicate endpoint name "x"/);
    expect(() => loadConfig({ overrides: { notifications: { endpoints: [{ name: 'x', url: 'http://a', include: { actions: ['pet' as never] } }] } } })).toThrow(
      /notifications\.endpoints\.0\.include\.actions/,
    );
    expect(() => loadConfig({ overrides: { notifications: { endpoints: [{ name: 'x', url: 'http://a', retry: 3 } as never] } } })).toThrow(
      /unknown key notifications\.endpoints\.0\.retry/,
    );
  });

  it('validates metrics and rate limit settings', () => {
    expect(() => loadConfig({ overrides: { metrics: { path: '/v2/metrics' } } })).toThrow(/metrics\.path/);
    expect(() => loadConfig({ overrides: { metrics: { addr: 'nowhere' } } })).toThrow(/metrics\.addr/);
    expect(() => loadConfig({ overrides: { rateLimit: { perClient: { read: { rate: -1 } } } } })).toThrow(/rateLimit\.perClient\.read\.rate/);
    expect(loadConfig({ env: { STEVEDORE_RATELIMIT_PERCLIENT_WRITE_RATE: '5', STEVEDORE_METRICS_ADDR: '127.0.0.1:9100' } })).toMatchObject({
      rateLimit: { perClient: { write: { rate: 5 } } },
      metrics: { addr: '127.0.0.1:9100' },
    });
  });
});

describe('config reload', () => {
  it('lists the changed keys', () => {
    expect(changedKeys({ a: { b: 1, c: [1] }, d: 'x' }, { a: { b: 2, c: [1] }, d: 'x', e: true })).toEqual(['a.b', 'e']);
  });

  it('applies log level, access log, rate limits and notifications; the rest needs a restart', () => {
    const running = loadConfig();
    const next = loadConfig({
      overrides: {
        log: { level: 'debug', access: { probes: true } },
        rateLimit: { global: { write: { rate: 3 } } },
        notifications: { endpoints: [{ name: 'n', url: 'http://127.0.0.1:1/x' }] },
        http: { addr: ':6000' },
        storage: { delete: { enabled: false } },
      },
    });
    expect(planReload(running, next)).toEqual({
      apply: ['log.access.probes', 'log.level', 'notifications.endpoints', 'rateLimit.global.write.rate'],
      restart: ['http.addr', 'storage.delete.enabled'],
    });
    const calls: string[] = [];
    const plan = applyReload(running, next, {
      setLogLevel: (l) => calls.push(`level ${l}`),
      setRateLimits: (r) => calls.push(`rate ${r.global.write.rate}`),
      setNotifications: (n) => calls.push(`endpoints ${n.endpoints.length}`),
    });
    expect(plan.restart).toEqual(['http.addr', 'storage.delete.enabled']);
    expect(calls).toEqual(['level debug', 'rate 3', 'endpoints 1']);
    expect(running.log.level).toBe('debug');
    expect(running.log.access.probes).toBe(true);
    // Keys that need a restart keep their running values.
    expect(running.http.addr).toBe(':5000');
    expect(running.storage.delete.enabled).toBe(true);
    // Nothing changed: nothing to do.
    expect(planReload(running, structuredClone(running))).toEqual({ apply: [], restart: [] });
  });
});
