// ui.enabled: false: no page and no UI endpoints; the registry API is unchanged.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningServer } from '../../server/index.js';
import { startRegistry } from './ui-env.js';

let dir: string;
let server: RunningServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-ui-off-'));
  server = await startRegistry(dir, { ui: { enabled: false } });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

it('ui.enabled: false serves neither /ui/ nor the /v2/…/_ui endpoints', async () => {
  expect(server.config.ui.enabled).toBe(false);
  expect((await fetch(new URL('/ui/', server.url))).status).toBe(404);
  const res = await fetch(new URL('/v2/_ui/repositories', server.url));
  expect(res.status).toBe(404);
  expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('UNSUPPORTED');
  expect((await fetch(new URL('/v2/_catalog', server.url))).status).toBe(200);
});
