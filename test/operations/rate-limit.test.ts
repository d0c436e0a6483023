// Rate limits over real HTTP, and skopeo (containers/image) as a client that meets them.
//
// What skopeo 1.9 does with 429 (seen in its --debug output against this server): requests
// without a body (GET, HEAD, POST to start an upload, the final PUT of an upload) are retried by
// containers/image itself, sleeping for Retry-After, whatever --retry-times says; requests with a
// body (PATCH of a chunk, PUT of a manifest) are not, and fail the copy with `toomanyrequests`,
// which --retry-times then retries as a whole (TOOMANYREQUESTS is a retryable error code there).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, Registry, repoName } from '../api/client.js';
import { dockerImage, multiLayerImage, writeDirImage, writeLayout } from '../helpers/oci-image-builder.js';
import { skopeoCopy, skopeoInspectRaw } from '../helpers/skopeo.js';
import { CLI } from '../helpers/stevedore-process.js';
import { scrape, startTestServer, type TestServer } from './helpers.js';

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, DOCKER_CONFIG: '/nonexistent/stevedore-tests' }, timeout: 180_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('rate limits', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ratelimit-'));
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('are off by default', async () => {
    const t = await startTestServer();
    try {
      const statuses = await Promise.all(Array.from({ length: 50 }, () => fetch(`${t.url}/v2/`).then((r) => r.status)));
      expect(new Set(statuses)).toEqual(new Set([200]));
    } finally {
      await t.stop();
    }
  });

  it('answer a burst over the limit with 429 TOOMANYREQUESTS and Retry-After, reads and writes separately', async () => {
    const t = await startTestServer({ rateLimit: { perClient: { read: { rate: 0.5, burst: 3 }, write: { rate: 0.5, burst: 1 } } } });
    try {
      const reg = new Registry(t.url);
      for (let i = 0; i < 3; i++) expect((await reg.get('/v2/')).status).toBe(200);
      const refused = await reg.get('/v2/');
      const body = expectError(refused, 429, 'TOOMANYREQUESTS');
      expect(body.errors[0]!.message).toMatch(/client read limit/);
      expect(refused.header('retry-after')).toBe('2'); // one token at 0.5/s
      expect(refused.header('docker-distribution-api-version')).toBe('registry/2.0');
      expect((await reg.head('/v2/')).status).toBe(429);

      // Writes have their own bucket.
      const repo = repoName('ratelimit');
      expect((await reg.post(`/v2/${repo}/blobs/uploads/`)).status).toBe(202);
      const second = await reg.post(`/v2/${repo}/blobs/uploads/`);
      expectError(second, 429, 'TOOMANYREQUESTS');
      expect(Number(second.header('retry-after'))).toBeGreaterThanOrEqual(1);

      const m = await scrape(t.srv.metricsUrl!);
      expect(m.get('stevedore_rate_limited_requests_total', { scope: 'client', kind: 'read' })).toBe(2);
      expect(m.get('stevedore_rate_limited_requests_total', { scope: 'client', kind: 'write' })).toBe(1);
      expect(m.get('stevedore_http_requests_total', { route: 'base', method: 'GET', status: '429' })).toBe(1);
    } finally {
      await t.stop();
    }
  });

  it('a global limit applies to all clients together', async () => {
    const t = await startTestServer({ rateLimit: { global: { read: { rate: 0.01, burst: 2 } } } });
    try {
      expect((await fetch(`${t.url}/v2/`)).status).toBe(200);
      expect((await fetch(`${t.url}/v2/_catalog`)).status).toBe(200);
      const r = await fetch(`${t.url}/v2/`);
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('100');
      expect((await scrape(t.srv.metricsUrl!)).get('stevedore_rate_limited_requests_total', { scope: 'global', kind: 'read' })).toBe(1);
    } finally {
      await t.stop();
    }
  });

  it('skopeo retries and succeeds: a push with --retry-times under a write limit, a read under a read limit', async () => {
    const t = await startTestServer({ rateLimit: { perClient: { write: { rate: 2, burst: 3 }, read: { rate: 2, burst: 2 } } } });
    try {
      const host = new URL(t.url).host;
      const img = multiLayerImage({ tag: 'v1', randomBytes: 64 * 1024 });
      await writeLayout(join(work, 'push'), img);
      await skopeoCopy(`oci:${join(work, 'push')}:v1`, `docker://${host}/ratelimit/push:v1`, { extraArgs: ['--retry-times', '8'] });
      const m = await scrape(t.srv.metricsUrl!);
      expect(m.get('stevedore_rate_limited_requests_total', { scope: 'client', kind: 'write' })).toBeGreaterThan(0);
      // A request with a body was refused on the way (so the copy got through by --retry-times, not
      // only by containers/image's own retries of body-less requests).
      const refused = t.logs.filter((l) => l.msg === 'request' && l.status === 429).map((l) => `${String(l.method)} ${String(l.route)}`);
      expect(refused.some((r) => r === 'PATCH blob_uploads' || r === 'PUT manifests'), refused.join(', ')).toBe(true);

      // The manifest arrived byte for byte (and the registry accepted it, so every blob it names is there).
      // Reads: containers/image sleeps for Retry-After and retries by itself (the helper passes --retry-times 0).
      const before = m.get('stevedore_rate_limited_requests_total', { scope: 'client', kind: 'read' });
      for (let i = 0; i < 2; i++) {
        expect((await skopeoInspectRaw(`docker://${host}/ratelimit/push:v1`)).equals(img.manifest.bytes)).toBe(true);
      }

      const after = await scrape(t.srv.metricsUrl!);
      expect(after.get('stevedore_rate_limited_requests_total', { scope: 'client', kind: 'read' })).toBeGreaterThan(before);
    } finally {
      await t.stop();
    }
  });

  it("stevedore's own client waits out 429s (Retry-After) and succeeds, pushing and pulling", async () => {
    const t = await startTestServer({ rateLimit: { perClient: { write: { rate: 2, burst: 2 }, read: { rate: 3, burst: 2 } } } });
    try {
      const host = new URL(t.url).host;
      const img = multiLayerImage({ tag: 'v1', randomBytes: 64 * 1024 });
      await writeLayout(join(work, 'own-client'), img);
      const push = await runCli(['push', '-q', `oci:${join(work, 'own-client')}:v1`, `${host}/ratelimit/own:v1`]);
      expect(push.code, push.stderr).toBe(0);
      expect(push.stdout.trim()).toBe(img.manifest.digest);
      const pull = await runCli(['pull', '-q', `${host}/ratelimit/own:v1`, '--output', `oci:${join(work, 'own-client-out')}:v1`]);
      expect(pull.code, pull.stderr).toBe(0);
      expect(pull.stdout.trim()).toBe(img.manifest.digest);
      const m = await scrape(t.srv.metricsUrl!);
      expect(m.get('stevedore_rate_limited_requests_total', { scope: 'client', kind: 'write' })).toBeGreaterThan(0);
      expect(m.get('stevedore_rate_limited_requests_total', { scope: 'client', kind: 'read' })).toBeGreaterThan(0);
    } finally {
      await t.stop();
    }
  });

  it('skopeo without --retry-times fails on a 429 to a request with a body', async () => {
    // One write token at a time: a session POST takes it, so the chunk PATCH that follows at once is refused.
    const t = await startTestServer({ rateLimit: { perClient: { write: { rate: 0.5, burst: 1 } } } });
    try {
      const img = dockerImage({ tag: 'v1' });
      await writeDirImage(join(work, 'noretry'), img);
      const host = new URL(t.url).host;
      await expect(skopeoCopy(`dir:${join(work, 'noretry')}`, `docker://${host}/ratelimit/noretry:v1`)).rejects.toThrow(/toomanyrequests/);
    } finally {
      await t.stop();
    }
  });
});
