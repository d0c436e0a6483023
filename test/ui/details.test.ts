// The web UI's detail views and usability, in a real browser: an index's attestation entries
// marked as such (and left out of the platforms of the tag list), an image's whole config
// (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts, Volumes, Labels), layers paired with
// their created_by lines past history steps that made no layer, annotations, referrers two deep
// (an SBOM and its signature) as a tree, the raw JSON on request, times in the user's locale and
// time zone, sizes in binary units, the keyboard (`/` to the filter, Escape closes the
// confirmation) and a name for every control.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/index.js';
import { launchBrowser, openPage, poll, shot, startRegistry } from './ui-env.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let dir: string;
let server: RunningServer;
let browser: Browser;
let imageDigest: string;
let attestationDigest: string;
let sbomDigest: string;
let sbomSignatureDigest: string;

async function pushBlob(name: string, data: Buffer): Promise<{ mediaType?: string; digest: string; size: number }> {
  const digest = sha256(data);
  const res = await fetch(new URL(`/v2/${name}/blobs/uploads/?digest=${digest}`, server.url), { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: data });
  expect(res.status).toBe(201);
  return { digest, size: data.length };
}

async function putManifest(name: string, ref: string, mediaType: string, json: unknown): Promise<{ mediaType: string; digest: string; size: number }> {
  const body = Buffer.from(JSON.stringify(json));
  const res = await fetch(new URL(`/v2/${name}/manifests/${ref}`, server.url), { method: 'PUT', headers: { 'content-type': mediaType }, body });
  expect(res.status).toBe(201);
  return { mediaType, digest: sha256(body), size: body.length };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-ui-details-'));
  server = await startRegistry(dir);
  const name = 'shop/api';
  const layers = [];
  for (const text of ['base layer', 'app layer']) layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...(await pushBlob(name, gzipSync(Buffer.from(text.repeat(300))))) });
  const config = Buffer.from(
    JSON.stringify({
      created: '2024-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: {
        Entrypoint: ['/usr/bin/api'],
        Cmd: ['--listen', ':8080'],
        Env: ['PATH=/usr/bin', 'MODE=production'],
        WorkingDir: '/srv',
        User: 'api:api',
        ExposedPorts: { '8080/tcp': {} },
        Volumes: { '/var/lib/api': {} },
        Labels: { 'org.opencontainers.image.source': 'https://git.example/shop/api' },
      },
      rootfs: { type: 'layers', diff_ids: [] },
      history: [
        { created_by: 'ADD base.tar /' },
        { created_by: 'ENV MODE=production', empty_layer: true },
        { created_by: 'COPY api /usr/bin/api' },
      ],
    }),
  );
  const cfg = { mediaType: 'application/vnd.oci.image.config.v1+json', ...(await pushBlob(name, config)) };
  const image = await putManifest(name, 'img', OCI_MANIFEST, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: cfg,
    layers,
    annotations: { 'org.opencontainers.image.revision': 'abc123' },
  });
  imageDigest = image.digest;
  // A BuildKit-style attestation manifest for it (platform unknown/unknown).
  const statement = { mediaType: 'application/vnd.in-toto+json', ...(await pushBlob(name, Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1"}'))) };
  const empty = { mediaType: 'application/vnd.oci.image.config.v1+json', ...(await pushBlob(name, Buffer.from('{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}'))) };
  const attestation = await putManifest(name, sha256(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: empty, layers: [statement] }))), OCI_MANIFEST, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: empty,
    layers: [statement],
  });
  attestationDigest = attestation.digest;
  await putManifest(name, '1.0', OCI_INDEX, {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { ...image, platform: { os: 'linux', architecture: 'amd64' } },
      {
        ...attestation,
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': image.digest },
      },
    ],
  });
  // Referrers two deep: an SBOM of the image, and a signature of that SBOM.
  const emptyConfig = { mediaType: 'application/vnd.oci.empty.v1+json', ...(await pushBlob(name, Buffer.from('{}'))) };
  const artifact = async (subject: { mediaType: string; digest: string; size: number }, artifactType: string, content: string) => {
    const layer = { mediaType: artifactType, ...(await pushBlob(name, Buffer.from(content))) };
    const json = { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType, config: emptyConfig, layers: [layer], subject };
    return putManifest(name, sha256(Buffer.from(JSON.stringify(json))), OCI_MANIFEST, json);
  };
  const sbom = await artifact(image, 'application/spdx+json', '{"spdxVersion":"SPDX-2.3"}');
  sbomDigest = sbom.digest;
  sbomSignatureDigest = (await artifact(sbom, 'application/vnd.dev.cosign.artifact.sig.v1+json', '{"critical":{}}')).digest;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Controls without an accessible name (text, aria-label, or a label element). */
function unnamedControls(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`[...document.querySelectorAll('button, input, select, textarea, a[href], summary')]
    .filter((el) => !(el.textContent.trim() || el.getAttribute('aria-label') || (el.labels && el.labels.length > 0)))
    .map((el) => el.outerHTML.slice(0, 120))`);
}

describe('web UI details', () => {
  it('marks attestation entries of an index and leaves them out of the platforms', async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    try {
      const { page, problems } = await openPage(context);
      await page.goto(new URL('/ui/#/r/shop%2Fapi', server.url).href);
      const row = page.locator('table.tags tbody tr', { hasText: '1.0' });
      await poll(() => row.count()).toBe(1);
      expect(await row.locator('td').nth(2).textContent()).toBe('linux/amd64');
      await page.getByRole('link', { name: '1.0', exact: true }).click();
      const platforms = page.getByRole('table', { name: 'Platforms' }).locator('tbody tr');
      await poll(() => platforms.count()).toBe(2);
      expect(await platforms.nth(0).locator('th').textContent()).toBe('linux/amd64');
      expect(await platforms.nth(1).locator('th').textContent()).toBe('unknown/unknown attestation');
      expect(await platforms.nth(1).locator('code').textContent()).toBe(attestationDigest.slice(7, 19));
      await shot(page, 'index-with-attestation');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("shows an image's config, layers with created_by, annotations and raw JSON; times in the user's locale", async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, locale: 'de-DE', timezoneId: 'Asia/Tokyo' });
    try {
      const { page, problems } = await openPage(context);
      await page.goto(new URL('/ui/#/r/shop%2Fapi/m/img', server.url).href);
      const config = page.locator('#config-title + dl');
      await poll(() => config.count()).toBe(1);
      const kv = await config.evaluate((dl) => {
        const out: Record<string, string> = {};
        for (const dt of dl.querySelectorAll('dt')) out[dt.textContent!] = (dt.nextElementSibling as unknown as { innerText: string }).innerText;
        return out;
      });
      expect(kv).toMatchObject({
        Platform: 'linux/amd64',
        // 2024-01-01T00:00:00Z in Tokyo, as a German reader writes it.
        Created: '01.01.2024, 09:00',
        Entrypoint: expect.stringContaining('/usr/bin/api'),
        Cmd: expect.stringMatching(/--listen[\s\S]*:8080/),
        Env: expect.stringMatching(/PATH=\/usr\/bin[\s\S]*MODE=production/),
        WorkingDir: '/srv',
        User: 'api:api',
        ExposedPorts: '8080/tcp',
        Volumes: '/var/lib/api',
      });
      expect(await page.locator('section[aria-labelledby="config-title"]').innerText()).toContain('https://git.example/shop/api');
      // Layers paired with the steps that made them (the ENV step made none).
      await poll(() => page.locator('.created-by').allTextContents()).toEqual(['ADD base.tar /', 'COPY api /usr/bin/api']);
      for (const size of await page.locator('ol.layers .size').allTextContents()) expect(size).toMatch(/^\d+ B$|^[\d,]+ KiB$/);
      expect(await page.locator('section[aria-labelledby="annotations-title"]').innerText()).toMatch(/org\.opencontainers\.image\.revision\s+abc123/);
      // The raw JSON only on request.
      const raw = page.locator('details.raw');
      expect(await raw.locator('pre').isVisible()).toBe(false);
      await raw.locator('summary').click();
      expect(await raw.locator('pre').isVisible()).toBe(true);
      expect(JSON.parse(await raw.locator('pre').innerText())).toMatchObject({ mediaType: OCI_MANIFEST, annotations: { 'org.opencontainers.image.revision': 'abc123' } });
      expect(await page.locator('dl.summary').textContent()).toContain(imageDigest);
      // The referrers as a tree: the SBOM, and under it the SBOM's signature.
      const top = page.getByRole('list', { name: 'Referrers' }).locator(':scope > li');
      await poll(() => top.count()).toBe(1);
      expect(await top.locator(':scope > a code').textContent()).toBe(sbomDigest.slice(7, 19));
      expect(await top.locator(':scope > strong').textContent()).toBe('SBOM');
      const nested = top.locator(':scope > ul.tree > li');
      expect(await nested.count()).toBe(1);
      expect(await nested.locator(':scope > strong').textContent()).toBe('Signature');
      expect(await nested.locator(':scope > a code').textContent()).toBe(sbomSignatureDigest.slice(7, 19));
      expect(await unnamedControls(page)).toEqual([]);
      await shot(page, 'image-details-de');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('works from the keyboard: / to the filter, Escape closes the confirmation; every control is named', async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    try {
      const { page, problems } = await openPage(context);
      await page.goto(new URL('/ui/', server.url).href);
      await poll(() => page.locator('table.repos tbody th a').allTextContents()).toEqual(['shop/api']);
      expect(await unnamedControls(page)).toEqual([]);
      // Focus elsewhere, then `/` returns to the filter.
      await page.locator('table.repos tbody th a').focus();
      await page.keyboard.press('/');
      expect(await page.evaluate<string | undefined>('document.activeElement?.id')).toBe('repo-filter');
      // Tab order reaches the repository link; Enter opens it.
      await page.keyboard.press('Tab');
      await poll(() => page.evaluate<string | undefined>('document.activeElement?.textContent')).toBe('shop/api');
      await page.keyboard.press('Enter');
      await page.waitForURL(/#\/r\/shop%2Fapi$/);
      await page.goto(new URL('/ui/#/r/shop%2Fapi/m/img', server.url).href);
      const del = page.getByRole('button', { name: 'Delete tag img' });
      await poll(() => del.count()).toBe(1);
      await del.focus();
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('dialog');
      await poll(() => dialog.isVisible()).toBe(true);
      await page.keyboard.press('Escape');
      await poll(() => dialog.isVisible()).toBe(false);
      expect((await fetch(new URL('/v2/shop/api/tags/list', server.url)).then((r) => r.json())) as { tags: string[] }).toMatchObject({ tags: ['1.0', 'img'] });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
