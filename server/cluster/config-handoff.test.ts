// The primary hands a worker its configuration over node:cluster's IPC channel, which serialises
// messages as JSON (server/cluster/primary.ts, worker-main.ts): a configuration must come out of
// JSON as it went in (no Infinity, NaN, Dates, Maps or undefined-valued keys in what loadConfig
// gives), or a worker would run something else than the primary validated.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';

const roundTrip = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('the configuration a worker is handed', () => {
  it('is the same after JSON, with the defaults', () => {
    const c = loadConfig({ env: {} });
    expect(roundTrip(c)).toStrictEqual(c);
  });

  it('is the same after JSON, with optional keys, sizes, durations and lists set', () => {
    const c = loadConfig({
      env: {},
      overrides: {
        http: { addr: '127.0.0.1:5000', workers: 2 },
        gc: { enabled: true, interval: '1h', retention: [{ repositories: ['a/**'], keepLast: 3 }, { repositories: ['b/**'], deleteOlderThan: '30d' }] },
        rateLimit: { global: { read: { rate: 10, burst: 20 } } },
        policy: { quotas: [{ repositories: ['team/**'], limit: '10GiB' }], immutableTags: [{ repositories: ['**'], semver: true }] },
        mirror: { upstreams: [{ prefix: 'hub', registry: 'registry.example:5000' }] },
        notifications: { endpoints: [{ name: 'hook', url: 'http://127.0.0.1:9/hook' }] },
      },
    });
    expect(c.gc.retention[0]!.keepLast).toBe(3);
    expect(c.policy.quotas[0]!.limit).toBe(10 * 1024 ** 3);
    expect(roundTrip(c)).toStrictEqual(c);
  });
});
