import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadUiBundle, uiStatic } from './static-assets.js';

let dir: string;
let base: string;
let close: () => void;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-ui-assets-'));
  await writeFile(join(dir, 'index.html'), '<link href="./assets/app.css"><script src="./assets/app.js"></script>');
  await writeFile(join(dir, 'app.css'), 'body{}');
  await writeFile(join(dir, 'app.js'), 'console.log(1)');
  const app = new Koa();
  app.use(uiStatic(loadUiBundle(dir)));
  app.use((ctx) => {
    ctx.body = 'next';
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});

afterAll(async () => {
  close?.();
  await rm(dir, { recursive: true, force: true });
});

describe('web UI assets', () => {
  it('names assets by content hash in the page and serves them for a year', async () => {
    const bundle = loadUiBundle(dir);
    const html = bundle.index.toString();
    expect(html).toMatch(/href="\/ui\/assets\/app\.[0-9a-f]{16}\.css"/);
    expect(html).toMatch(/src="\/ui\/assets\/app\.[0-9a-f]{16}\.js"/);
    const js = /src="([^"]+)"/.exec(html)![1]!;
    const res = await fetch(base + js);
    expect(await res.text()).toBe('console.log(1)');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers every /ui/ path with the page (revalidated), other paths go on', async () => {
    for (const p of ['/ui/', '/ui/anything']) {
      const res = await fetch(base + p);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    }
    expect(await (await fetch(`${base}/uix`)).text()).toBe('next');
    expect(await (await fetch(`${base}/v2/`)).text()).toBe('next');
    expect((await fetch(`${base}/ui/assets/app.js`)).status).toBe(404);
    expect((await fetch(`${base}/ui/`, { method: 'DELETE' })).status).toBe(405);
  });
});
