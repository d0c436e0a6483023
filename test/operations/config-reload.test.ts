// SIGHUP reloads the configuration of a running `stevedore serve` (the real CLI, built in dist/):
// the log level and rate limits change at once, keys that need a restart are reported and keep
// their values, and a configuration that does not load leaves the running one in place.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';
import { waitFor } from './helpers.js';

interface Line {
  level: number;
  msg: string;
  [k: string]: unknown;
}

describe('configuration reload on SIGHUP', () => {
  let dir: string;
  let cfg: string;
  let s: StevedoreProcess;

  const lines = (): Line[] =>
    s.logs.flatMap((l) => {
      try {
        return [JSON.parse(l) as Line];
      } catch {
        return [];
      }
    });

  /** Writes the config file, sends SIGHUP and waits for the reload's summary line. */
  async function reload(yaml: string, expectMsg = 'configuration reloaded'): Promise<Line> {
    await writeFile(cfg, yaml);
    const before = lines().filter((l) => l.msg === expectMsg).length;
    s.child.kill('SIGHUP');
    return waitFor(`"${expectMsg}" after SIGHUP`, () => lines().filter((l) => l.msg === expectMsg)[before]);
  }

  /** A request whose access-log line (if any) can be found by its request id. */
  async function get(path: string, id: string): Promise<number> {
    return (await fetch(`${s.url}${path}`, { headers: { 'X-Request-Id': id } })).status;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reload-'));
    cfg = join(dir, 'stevedore.yml');
    await writeFile(cfg, 'log:\n  level: info\n');
    s = await startStevedore({ dataDir: join(dir, 'data'), args: ['--config', cfg] });
  });
  afterAll(async () => {
    await s?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('changes the log level of the running process', async () => {
    expect(await get('/healthz', 'probe-before')).toBe(200);
    expect(await get('/v2/', 'marker-before')).toBe(200);
    await waitFor('the marker line', () => lines().find((l) => l.reqId === 'marker-before'));
    // At info, health checks are not in the access log (they are at debug).
    expect(lines().find((l) => l.reqId === 'probe-before')).toBeUndefined();

    const done = await reload('log:\n  level: debug\n');
    expect(done.changed).toEqual(['log.level']);
    expect(done.logLevel).toBe('debug');

    expect(await get('/healthz', 'probe-after')).toBe(200);
    const line = await waitFor('the debug access-log line', () => lines().find((l) => l.reqId === 'probe-after'));
    expect(line).toMatchObject({ level: 20, path: '/healthz', status: 200 });
  });

  it('changes the rate limits of the running process', async () => {
    for (let i = 0; i < 5; i++) expect(await get('/v2/', `unlimited-${i}`)).toBe(200);
    const done = await reload('log:\n  level: debug\nrateLimit:\n  perClient:\n    read:\n      rate: 0.01\n      burst: 2\n');
    expect(done.changed).toEqual(['rateLimit.perClient.read.burst', 'rateLimit.perClient.read.rate']);
    expect(await get('/v2/', 'limited-1')).toBe(200);
    expect(await get('/v2/', 'limited-2')).toBe(200);
    const refused = await fetch(`${s.url}/v2/`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('100');

    // And back off again.
    await reload('log:\n  level: debug\n');
    expect(await get('/v2/', 'unlimited-again')).toBe(200);
  });

  it('reports changes that need a restart and keeps their running values', async () => {
    const warned = await reload(
      'log:\n  level: debug\nstorage:\n  delete:\n    enabled: false\nhttp:\n  drainTimeout: 5s\n',
      'configuration changes need a restart to take effect; running with the old values',
    );
    expect(warned.keys).toEqual(['http.drainTimeout', 'storage.delete.enabled']);
    expect(warned.level).toBe(40);
    // Deletes are still enabled: an unknown manifest is MANIFEST_UNKNOWN, not UNSUPPORTED (405).
    const del = await fetch(`${s.url}/v2/reload/test/manifests/sha256:${'0'.repeat(64)}`, { method: 'DELETE' });
    expect(del.status).toBe(404);
  });

  it('keeps the running configuration when the new one does not load', async () => {
    const failed = await reload('log:\n  level: loud\n', 'configuration reload failed; keeping the running configuration');
    expect(failed.level).toBe(50);
    expect(String(failed.error)).toContain('log.level');
    expect(await get('/healthz', 'still-debug')).toBe(200);
    await waitFor('still logging at debug', () => lines().find((l) => l.reqId === 'still-debug'));
  });

  it('logs the reload even when switching to a quieter level', async () => {
    const done = await reload('log:\n  level: warn\n');
    expect(done.changed).toEqual(['log.level']);
    expect(await get('/v2/', 'quiet-now')).toBe(200);
    expect(await get('/v2/_catalog', 'quiet-marker')).toBe(200);
    // Nothing at info any more: send a warning-level event to flush past the requests.
    await reload('log:\n  level: warn\nstorage:\n  delete:\n    enabled: false\n', 'configuration changes need a restart to take effect; running with the old values');
    expect(lines().find((l) => l.reqId === 'quiet-now')).toBeUndefined();
  });
});
