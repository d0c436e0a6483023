// GET /v2/ — the API base endpoint (distribution-spec "Determining support").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from './client.js';
import { startTarget, type Target } from './target.js';

describe('base endpoint /v2/', () => {
  let target: Target;
  let reg: Registry;
  beforeAll(async () => {
    target = await startTarget();
    reg = new Registry(target.url);
  });
  afterAll(async () => {
    await target?.stop();
  });

  it('GET /v2/ answers 200 with Docker-Distribution-API-Version: registry/2.0', async () => {
    const res = await reg.get('/v2/');
    expect(res.status).toBe(200);
    expect(res.header('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('HEAD /v2/ answers 200 with the version header', async () => {
    const res = await reg.head('/v2/');
    expect(res.status).toBe(200);
    expect(res.header('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('GET /v2 (no trailing slash) also reaches the base endpoint', async () => {
    const res = await reg.get('/v2');
    // distribution redirects or answers directly; either way a client gets to 200 without an error.
    expect([200, 301, 307, 308]).toContain(res.status);
  });

  it('the body of GET /v2/ is JSON', async () => {
    const res = await reg.get('/v2/');
    expect(() => res.json()).not.toThrow();
  });

  it('error responses also carry the API version header', async () => {
    const res = await reg.get('/v2/no/such/repo/manifests/latest');
    expect(res.status).toBe(404);
    expect(res.header('docker-distribution-api-version')).toBe('registry/2.0');
  });
});
