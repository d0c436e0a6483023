// Shared set-up for the web UI tests: a real registry (in-process, real HTTP), test images pushed
// with skopeo, and Debian's chromium driven headless by playwright-core (nothing downloaded).
// Screenshots go to STEVEDORE_UI_SCREENSHOTS, by default one directory under the system's temp
// directory that each run overwrites (named per screen: runs do not pile up).
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { loadConfig, type ConfigInput } from '../../server/config.js';
import { startServer, type RunningServer } from '../../server/index.js';
import { artifactFor, multiArchIndex, multiLayerImage, writeLayout, type BuiltArtifact, type BuiltImage, type BuiltIndex } from '../helpers/oci-image-builder.js';
import { skopeoCopy, type Credentials } from '../helpers/skopeo.js';

export const CHROMIUM = process.env.STEVEDORE_CHROMIUM ?? '/usr/bin/chromium';
export const SIGNATURE_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
export const SBOM_TYPE = 'application/spdx+json';

export async function startRegistry(dir: string, overrides: ConfigInput = {}): Promise<RunningServer> {
  const config = loadConfig({ overrides: { ...overrides, http: { addr: '127.0.0.1:0' }, storage: { filesystem: { rootDirectory: join(dir, 'data') } }, log: { level: 'silent' } } });
  return startServer({ config });
}

export interface TestImages {
  index: BuiltIndex;
  image: BuiltImage;
  signature: BuiltArtifact;
  sbom: BuiltArtifact;
}

/** Writes the test images as OCI layouts under dir. */
export async function writeTestImages(dir: string): Promise<TestImages> {
  const index = multiArchIndex({ tag: '1.0' });
  const image = multiLayerImage({ tag: 'v1', randomBytes: 200 * 1024 });
  const signature = artifactFor(image.manifest.descriptor, {
    tag: 'sig',
    artifactType: SIGNATURE_TYPE,
    layerMediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
    content: JSON.stringify({ critical: { image: { 'docker-manifest-digest': image.manifest.digest } } }),
  });
  const sbom = artifactFor(image.manifest.descriptor, { tag: 'sbom', artifactType: SBOM_TYPE, layerMediaType: SBOM_TYPE });
  await writeLayout(join(dir, 'index'), index);
  await writeLayout(join(dir, 'image'), image);
  await writeLayout(join(dir, 'sig'), signature);
  await writeLayout(join(dir, 'sbom'), sbom);
  return { index, image, signature, sbom };
}

/** Pushes with skopeo: the index (both platforms) and the image with its two referrers. */
export async function pushTestImages(dir: string, host: string, prefix: { index: string; image: string }, creds?: Credentials): Promise<void> {
  const o = creds ? { destCreds: creds } : {};
  await skopeoCopy(`oci:${join(dir, 'index')}:1.0`, `docker://${host}/${prefix.index}:1.0`, { ...o, all: true });
  await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/${prefix.image}:v1`, o);
  await skopeoCopy(`oci:${join(dir, 'sig')}:sig`, `docker://${host}/${prefix.image}:sig`, o);
  await skopeoCopy(`oci:${join(dir, 'sbom')}:sbom`, `docker://${host}/${prefix.image}:sbom`, o);
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** A page that records console errors and CSP violations (a test asserts there are none). */
export async function openPage(context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  return { page, problems };
}

let shotDir: Promise<string> | undefined;
export function screenshotDir(): Promise<string> {
  shotDir ??= (async () => {
    const d = process.env.STEVEDORE_UI_SCREENSHOTS ?? join(tmpdir(), 'stevedore-ui-screenshots');
    await mkdir(d, { recursive: true });
    return d;
  })();
  return shotDir;
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(await screenshotDir(), `${name}.png`), fullPage: true });
}

/** expect.poll with room for a shared machine (the default gives up after one second). */
export function poll<T>(fn: () => Promise<T> | T) {
  return expect.poll(fn, { timeout: 20_000, interval: 100 });
}
