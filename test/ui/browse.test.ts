// The web UI without access control, in a real browser: find a repository with the filter, open
// a tag, see platforms, layers with created_by and referrers, copy the pull command; the page
// obeys its Content-Security-Policy and works at 320 px and in the dark scheme.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/index.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { launchBrowser, openPage, poll, pushTestImages, SBOM_TYPE, shot, SIGNATURE_TYPE, startRegistry, writeTestImages, type TestImages } from './ui-env.js';

let dir: string;
let server: RunningServer;
let browser: Browser;
let context: BrowserContext;
let images: TestImages;
let host: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-ui-browse-'));
  server = await startRegistry(dir);
  host = new URL(server.url).host;
  images = await writeTestImages(dir);
  await pushTestImages(dir, host, { index: 'apps/web', image: 'apps/api' });
  // Neighbours the filter must hide.
  await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/tools/builder:latest`);
  await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/apps/apiary:v1`);
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB', timezoneId: 'Europe/Berlin' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('web UI without access control', () => {
  it('serves the page with a strict CSP and its assets with long-lived cache headers', async () => {
    const page = await fetch(new URL('/ui/', server.url));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'.*script-src 'self'/);
    expect(page.headers.get('content-security-policy')).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    const js = /src="(\/ui\/assets\/app\.[0-9a-f]{16}\.js)"/.exec(html)?.[1];
    expect(js).toBeDefined();
    const asset = await fetch(new URL(js!, server.url));
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(asset.headers.get('cache-control')).toMatch(/max-age=31536000.*immutable/);
    expect((await fetch(new URL('/ui/assets/app.0000000000000000.js', server.url))).status).toBe(404);
    expect((await fetch(new URL('/ui/', server.url), { method: 'POST' })).status).toBe(405);
    const redirect = await fetch(new URL('/ui', server.url), { redirect: 'manual' });
    expect(redirect.headers.get('location')).toBe('/ui/');
  });

  it('finds a repository by typing in the filter and shows its tags with sizes and types', async () => {
    const { page, problems } = await openPage(context);
    await page.goto(new URL('/ui/', server.url).href);
    const rows = page.locator('table.repos tbody th a');
    await poll(() => rows.allTextContents()).toEqual(['apps/api', 'apps/apiary', 'apps/web', 'tools/builder']);
    await shot(page, 'repositories');
    // The filter is labelled and has focus on load; typing narrows the list.
    const filter = page.getByLabel('Filter repositories');
    await poll(() => page.evaluate<boolean>("document.activeElement?.id === 'repo-filter'")).toBe(true);
    await filter.pressSequentially('apps/api');
    await poll(() => rows.allTextContents()).toEqual(['apps/api', 'apps/apiary']);
    await filter.fill('');
    await filter.pressSequentially('web');
    await poll(() => rows.allTextContents()).toEqual(['apps/web']);
    // Repository totals: tag count and a binary-unit size.
    const row = page.locator('table.repos tbody tr').first();
    await poll(() => row.locator('td').first().textContent()).toBe('1');
    expect(await row.locator('td').nth(2).textContent()).toMatch(/^\d+(\.\d)? (KiB|MiB)$/);
    await shot(page, 'repositories-filtered');
    // Keyboard: down from the filter reaches the row's link, Enter opens it.
    await filter.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/r\/apps%2Fweb$/);
    await poll(() => page.locator('table.tags tbody th a').allTextContents()).toEqual(['1.0']);
    const tagRow = page.locator('table.tags tbody tr').first();
    expect(await tagRow.locator('.badge').textContent()).toBe('index');
    expect(await tagRow.textContent()).toContain('linux/amd64, linux/arm64/v8');
    await shot(page, 'repository-web');
    expect(problems).toEqual([]);
  });

  it('opens an index and shows its platforms', async () => {
    const { page, problems } = await openPage(context);
    await page.goto(new URL('/ui/#/r/apps%2Fweb', server.url).href);
    await page.getByRole('link', { name: '1.0' }).click();
    const platforms = page.getByRole('table', { name: 'Platforms' });
    await poll(() => platforms.locator('tbody th').allTextContents()).toEqual(['linux/amd64', 'linux/arm64/v8']);
    expect(await page.locator('dl.summary').textContent()).toContain(images.index.index.digest);
    await shot(page, 'index');
    // A platform opens its image.
    await platforms.locator('tbody a').nth(1).click();
    await poll(() => page.locator('.created-by').allTextContents()).toEqual(['stevedore test layer 0', 'stevedore test layer 1']);
    expect(await page.locator('#config-title + dl').textContent()).toContain('linux/arm64/v8');
    expect(problems).toEqual([]);
  });

  it('opens an image: config, layers with created_by, referrers; copies the pull command', async () => {
    const { page, problems } = await openPage(context);
    await page.goto(new URL('/ui/#/r/apps%2Fapi', server.url).href);
    const tags = page.locator('table.tags tbody th a');
    await poll(() => tags.allTextContents()).toEqual(['sbom', 'sig', 'v1']);
    // The repository's pull command names the image, not an artifact's tag.
    expect(await page.locator('.pull code').first().textContent()).toBe(`docker pull ${host}/apps/api:v1`);
    // Sortable: by type puts the image after the two artifacts; again reverses.
    const typeSort = page.getByRole('button', { name: 'Type' });
    await typeSort.click();
    await poll(() => page.locator('table.tags tbody .badge').allTextContents()).toEqual(['artifact', 'artifact', 'image']);
    await typeSort.click();
    await poll(() => page.locator('table.tags tbody .badge').allTextContents()).toEqual(['image', 'artifact', 'artifact']);
    await shot(page, 'repository-api');
    await page.getByRole('link', { name: 'v1', exact: true }).click();
    const layers = page.locator('ol.layers > li');
    await poll(() => layers.count()).toBe(3);
    for (const [i, layer] of images.image.layers.entries()) {
      const text = await layers.nth(i).textContent();
      expect(text).toContain(layer.descriptor.digest.slice(7, 19));
      expect(text).toContain(`stevedore test layer ${i}`);
    }
    expect(await page.locator('#config-title + dl').textContent()).toContain('/bin/sh');
    // Both referrers, with their artifact types, each openable.
    const referrers = page.getByRole('list', { name: 'Referrers' }).locator(':scope > li');
    await poll(() => referrers.count()).toBe(2);
    const text = await page.getByRole('list', { name: 'Referrers' }).textContent();
    expect(text).toContain(SIGNATURE_TYPE);
    expect(text).toContain(SBOM_TYPE);
    expect(await referrers.locator('strong').allTextContents()).toEqual(expect.arrayContaining(['Signature', 'SBOM']));
    await shot(page, 'image');
    // No access control: delete is offered (the server allows it).
    expect(await page.getByRole('button', { name: 'Delete tag v1' }).count()).toBe(1);
    // Copy the pull command.
    await page.getByRole('button', { name: 'Copy docker pull command' }).click();
    await poll(() => page.evaluate<string>('navigator.clipboard.readText()')).toBe(`docker pull ${host}/apps/api:v1`);
    await poll(() => page.locator('#toast').textContent()).toContain('Copied');
    // Open the SBOM from the tree: an artifact whose subject links back.
    await page.getByRole('list', { name: 'Referrers' }).getByRole('link', { name: images.sbom.manifest.digest.slice(7, 19) }).click();
    await poll(() => page.locator('dl.summary').textContent()).toContain(SBOM_TYPE);
    expect(await page.locator('dl.summary').textContent()).toContain(images.image.manifest.digest.slice(7, 19));
    expect(problems).toEqual([]);
  });

  it('pages the repository list 50 at a time', async () => {
    // 55 more repositories, each the image by cross-repository mounts and a manifest PUT.
    const img = images.image;
    for (let i = 0; i < 55; i++) {
      const repo = `bulk/r-${String(i).padStart(2, '0')}`;
      for (const b of img.blobs) {
        const res = await fetch(new URL(`/v2/${repo}/blobs/uploads/?mount=${b.descriptor.digest}&from=apps/api`, server.url), { method: 'POST' });
        expect(res.status).toBe(201);
      }
      const put = await fetch(new URL(`/v2/${repo}/manifests/v1`, server.url), { method: 'PUT', headers: { 'content-type': img.manifest.mediaType }, body: img.manifest.bytes });
      expect(put.status).toBe(201);
    }
    const { page, problems } = await openPage(context);
    await page.goto(new URL('/ui/', server.url).href);
    const rows = page.locator('table.repos tbody th a');
    await poll(() => page.locator('#repo-count').textContent()).toBe('59 repositories, page 1 of 2');
    expect(await rows.count()).toBe(50);
    expect(await rows.first().textContent()).toBe('apps/api');
    await page.getByRole('button', { name: 'Next →' }).click();
    await poll(() => page.locator('#repo-count').textContent()).toBe('59 repositories, page 2 of 2');
    const secondPage = [...Array.from({ length: 8 }, (_, i) => `bulk/r-${47 + i}`), 'tools/builder'];
    await poll(() => rows.allTextContents()).toEqual(secondPage);
    expect(await page.getByRole('button', { name: 'Next →' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: '← Previous' }).click();
    await poll(() => page.locator('#repo-count').textContent()).toBe('59 repositories, page 1 of 2');
    // A filter that fits one page has no pager.
    await page.getByLabel('Filter repositories').fill('apps');
    await poll(() => rows.count()).toBe(3);
    expect(await page.getByRole('button', { name: 'Next →' }).count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it('is usable at 320 px wide and in the dark colour scheme', async () => {
    const narrow = await browser.newContext({ viewport: { width: 320, height: 640 }, colorScheme: 'dark' });
    try {
      const { page, problems } = await openPage(narrow);
      await page.goto(new URL('/ui/#/r/apps%2Fapi/m/v1', server.url).href);
      await poll(() => page.locator('ol.layers > li').count()).toBe(3);
      // Nothing wider than the screen: no horizontal scrolling of the page.
      expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(320);
      const bg = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
      expect(bg).toBe('rgb(15, 18, 22)');
      await shot(page, 'image-320-dark');
      await page.goto(new URL('/ui/', server.url).href);
      await poll(() => page.locator('table.repos tbody th a').count()).toBeGreaterThanOrEqual(4);
      expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(320);
      await shot(page, 'repositories-320-dark');
      expect(problems).toEqual([]);
    } finally {
      await narrow.close();
    }
  });
});
