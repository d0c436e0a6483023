// /healthz and /readyz against a real server and a real filesystem: readiness follows whether
// the storage directory can really be written. Tests run as root, for whom permission bits are no
// obstacle, so the directory is made immutable (chattr +i, which stops root too) or, where the
// filesystem or the container does not allow that, replaced by a regular file.
import { spawnSync } from 'node:child_process';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '../api/client.js';
import { scrape, startTestServer, waitFor, type TestServer } from './helpers.js';

/** Makes `dir` unwritable even for root; returns how to undo it. */
async function makeUnwritable(dir: string): Promise<{ how: string; restore: () => Promise<void> }> {
  const chattr = spawnSync('chattr', ['+i', dir], { encoding: 'utf8' });
  if (chattr.status === 0) {
    return {
      how: 'chattr +i',
      restore: async () => {
        const r = spawnSync('chattr', ['-i', dir], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`chattr -i ${dir} failed: ${r.stderr}`);
      },
    };
  }
  const aside = `${dir}.aside`;
  await rename(dir, aside);
  await writeFile(dir, 'not a directory');
  return {
    how: 'directory replaced by a file',
    restore: async () => {
      await rm(dir, { force: true });
      await rename(aside, dir);
    },
  };
}

interface Readiness {
  status: string;
  checks: { storage: { status: string; error?: string } };
}

describe('health endpoints', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ health: { readiness: { cacheFor: '100ms', timeout: '2s' } } });
  });
  afterAll(() => t?.stop());

  it('/healthz answers while the process serves', async () => {
    const r = await fetch(`${t.url}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${t.url}/healthz`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${t.url}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('/readyz is ready when storage is writable, unready (503) when it is not, and ready again after', async () => {
    const ok = await fetch(`${t.url}/readyz`);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Readiness).checks.storage.status).toBe('ok');
    await mkdir(t.dataDir, { recursive: true });

    const blocked = await makeUnwritable(t.dataDir);
    try {
      const res = await waitFor(`/readyz to report unready (${blocked.how})`, async () => {
        const r = await fetch(`${t.url}/readyz`);
        return r.status === 503 ? ((await r.json()) as Readiness) : undefined;
      });
      expect(res.status).toBe('unready');
      expect(res.checks.storage.status).toBe('failed');
      expect(res.checks.storage.error).toBeTruthy();
      expect((await scrape(t.srv.metricsUrl!)).get('stevedore_storage_ready')).toBe(0);
      // Liveness is not readiness: the process is still alive.
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
      expect(t.logs.find((l) => l.msg === 'not ready: storage check failed')).toBeTruthy();
    } finally {
      await blocked.restore();
    }

    await waitFor('/readyz to report ready again', async () => (await fetch(`${t.url}/readyz`)).status === 200);
    expect((await scrape(t.srv.metricsUrl!)).get('stevedore_storage_ready')).toBe(1);
    // The probe leaves nothing behind.
    await new Registry(t.url).expectAlive();
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(t.dataDir)).filter((n) => n.includes('readyz'))).toEqual([]);
  });

  it('is not rate limited and not subject to the registry API', async () => {
    const limited = await startTestServer({ rateLimit: { global: { read: { rate: 0.01, burst: 1 } } } });
    try {
      expect((await fetch(`${limited.url}/v2/`)).status).toBe(200);
      expect((await fetch(`${limited.url}/v2/`)).status).toBe(429);
      for (let i = 0; i < 5; i++) {
        expect((await fetch(`${limited.url}/healthz`)).status).toBe(200);
        expect((await fetch(`${limited.url}/readyz`)).status).toBe(200);
        expect((await fetch(`${limited.url}/metrics`)).status).toBe(200);
      }
    } finally {
      await limited.stop();
    }
  });
});
