// Web UI benchmark (README "Web UI"): how long the page takes, in Debian's chromium driven headless
// by playwright-core, against a registry with many repositories and a repository with many tags.
//
// The content is written straight into a filesystem store's layout (storage/layout.ts): one small
// image shared by BENCH_UI_REPOS repositories (tag `latest` each) and one repository `big/repo`
// with BENCH_UI_TAGS tags. The registry runs in this process over loopback HTTP. Measured, as
// medians over BENCH_UI_REPS runs:
//   tags first render   from a navigation to the repository (page already loaded) until its first
//                       tag row is in the DOM
//   tags cold load      a fresh page load of the repository's address until its first tag row
//                       (the README's target: 500 ms for 5,000 tags, counting the page load)
//   repos first render  a fresh load of /ui/ until the first repository row
//   repos filter        from typing a filter until the list shows the match
// Between measurements the page's background requests (repository summaries) are let finish.
//
//   BENCH_UI_REPOS=10000  BENCH_UI_TAGS=5000  BENCH_UI_REPS=5  BENCH_DIR (default: the OS temp dir)
//   STEVEDORE_CHROMIUM=/usr/bin/chromium
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { asDigest, type Digest } from '../oci/index.js';
import { loadConfig } from '../server/config.js';
import { startServer } from '../server/index.js';
import { layout } from '../storage/layout.js';
import { mapLimit } from '../storage/index.js';
import { median } from './stats.js';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const REPOS = env('BENCH_UI_REPOS', 10_000);
const TAGS = env('BENCH_UI_TAGS', 5_000);
const REPS = env('BENCH_UI_REPS', 5);
const TARGET_MS = 500;

const digest = (b: Buffer): Digest => asDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);

async function put(root: string, path: string, content: Buffer | string): Promise<void> {
  const file = join(root, path);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, content);
}

async function writeContent(root: string): Promise<void> {
  const layer = Buffer.from('not really a tar, the UI does not read layers');
  const config = Buffer.from(
    JSON.stringify({ created: '2024-01-01T00:00:00Z', os: 'linux', architecture: 'amd64', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [digest(layer)] }, history: [{ created_by: 'bench layer' }] }),
  );
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest(layer), size: layer.length }],
    }),
  );
  const m = digest(manifest);
  for (const b of [layer, config, manifest]) await put(root, layout.blobData(digest(b)), b);
  const revision = JSON.stringify({ mediaType, size: manifest.length });
  const repo = async (name: string, tags: string[]) => {
    await put(root, layout.catalogEntry(name), '');
    await put(root, layout.revisionLink(name, m), revision);
    for (const t of tags) await put(root, layout.tagLink(name, t), m);
  };
  const names = Array.from({ length: REPOS }, (_, i) => `team-${String(i % 100).padStart(2, '0')}/app-${String(i).padStart(5, '0')}`);
  await mapLimit(names, 16, (n) => repo(n, ['latest']));
  await repo('big/repo', Array.from({ length: TAGS }, (_, i) => `1.${Math.floor(i / 100)}.${i % 100}`));
}


/**
 * Records in the page when each watched selector first matches (performance.now(), i.e. since the
 * navigation started), from a MutationObserver: no polling from outside adds to the figures.
 */
const WATCH = `(() => {
  window.__seen = {};
  window.__watch = (sel) => { delete window.__seen[sel]; window.__watching = [...(window.__watching || []), sel]; };
  new MutationObserver(() => {
    for (const sel of window.__watching || []) if (!window.__seen[sel] && document.querySelector(sel)) window.__seen[sel] = performance.now();
  }).observe(document, { childList: true, subtree: true });
})()`;

/** Milliseconds from `start` (run in the page, or a navigation when it returns a URL) until `selector` matches. */
async function timeUntil(page: Page, selector: string, start: string | { goto: string }): Promise<number> {
  let ms: number;
  if (typeof start === 'string') {
    const t0 = await page.evaluate<number>(`window.__watch(${JSON.stringify(selector)}), performance.now()`);
    await page.evaluate(start);
    await page.waitForSelector(selector, { timeout: 60_000 });
    ms = (await page.evaluate<number>(`window.__seen[${JSON.stringify(selector)}]`)) - t0;
  } else {
    await page.addInitScript(`window.__watching = [${JSON.stringify(selector)}]`);
    // Waited for in the page itself: playwright's waitForSelector would first inject its selector
    // engine, a script that holds the page's main thread for tens of milliseconds while it loads.
    await page.goto(start.goto, { waitUntil: 'commit' });
    const sel = JSON.stringify(selector);
    ms = await page.evaluate<number>(
      `new Promise((resolve, reject) => { const t0 = Date.now(); const check = () => window.__seen?.[${sel}] ? resolve(window.__seen[${sel}]) : Date.now() - t0 > 60000 ? reject(new Error('timed out')) : setTimeout(check, 10); check(); })`,
    );
  }
  // The page's background requests (repository summaries) finish before the next measurement.
  await page.waitForLoadState('networkidle');
  return Math.round(ms);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'stevedore-bench-ui-'));
  const root = join(dir, 'data');
  try {
    const t0 = Date.now();
    await writeContent(root);
    console.log(`content: ${REPOS} repositories, big/repo with ${TAGS} tags (${Date.now() - t0} ms to write)`);
    const server = await startServer({ config: loadConfig({ overrides: { http: { addr: '127.0.0.1:0' }, storage: { filesystem: { rootDirectory: root } }, log: { level: 'warn' } } }) });
    const browser = await chromium.launch({ executablePath: process.env.STEVEDORE_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.addInitScript(WATCH);
      const ui = new URL('/ui/', server.url).href;
      const results: Record<string, number[]> = { 'tags first render': [], 'tags cold load': [], 'repos first render': [], 'repos filter': [] };
      for (let i = 0; i <= REPS; i++) {
        const warm = i === 0; // the first round warms caches and is not counted
        const record = (k: string, ms: number) => !warm && results[k]!.push(ms);
        record('repos first render', await timeUntil(page, 'table.repos tbody th a', { goto: ui }));
        const filter = page.getByLabel('Filter repositories');
        await filter.fill('no-such-repository');
        await page.waitForSelector('text=No repository matches the filter.');
        const want = `team-${String(4242 % 100).padStart(2, '0')}/app-04242`;
        const input = `(() => { const f = document.getElementById('repo-filter'); f.value = 'app-04242'; f.dispatchEvent(new Event('input')); })()`;
        record('repos filter', await timeUntil(page, `table.repos tbody th a[href$="${encodeURIComponent(want)}"]`, input));
        await page.goto(ui);
        await page.waitForSelector('table.repos tbody th a');
        await page.waitForLoadState('networkidle');
        record('tags first render', await timeUntil(page, 'table.tags tbody th a', "location.hash = '#/r/big%2Frepo'"));
        await page.goto('about:blank');
        record('tags cold load', await timeUntil(page, 'table.tags tbody th a', { goto: `${ui}#/r/big%2Frepo` }));
      }
      if (process.env.BENCH_UI_PROFILE) {
        // What the last cold load waited for: each request's start and end since the navigation.
        const entries = await page.evaluate<{ name: string; startTime: number; responseEnd: number; entryType: string }[]>(
          `performance.getEntries().filter((e) => e.entryType === 'resource' || e.entryType === 'navigation').map((e) => ({ name: e.name, entryType: e.entryType, startTime: e.startTime, responseEnd: e.responseEnd }))`,
        );
        console.log('cold load of the repository, requests (ms since navigation start):');
        for (const e of entries) console.log(`  ${Math.round(e.startTime)}..${Math.round(e.responseEnd)}  ${e.name.replace(server.url, '/')}`);
        const nav = await page.evaluate<Record<string, number>>(
          `(() => { const n = performance.getEntriesByType('navigation')[0].toJSON(); const o = {}; for (const k of ['responseEnd', 'domInteractive', 'domContentLoadedEventStart', 'domContentLoadedEventEnd', 'loadEventEnd']) o[k] = Math.round(n[k]); for (const m of performance.getEntriesByType('mark')) o[m.name] = Math.round(m.startTime); for (const p of performance.getEntriesByType('paint')) o[p.name] = Math.round(p.startTime); return o; })()`,
        );
        console.log(`  ${JSON.stringify(nav)}`);
        console.log(`  first tag row at ${results['tags cold load']!.at(-1)} ms`);
      }
      console.log(`| measurement | median ms (${REPS} runs) |\n|---|---|`);
      for (const [k, xs] of Object.entries(results)) console.log(`| ${k} | ${median(xs)} |`);
      // The target counts a fresh page load straight to the repository's address.
      const tags = median(results['tags cold load']!);
      console.log(`first render of a repository with ${TAGS} tags, fresh page load: ${tags} ms (target ${TARGET_MS} ms: ${tags <= TARGET_MS ? 'met' : 'MISSED'})`);
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    if (!process.env.BENCH_KEEP_DATA) await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
