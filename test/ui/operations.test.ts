// The web UI's Operations view (admins only) over real HTTP and in a real browser: storage used,
// the scheduled garbage collection's last run (what it freed) and next run, what the retention
// policies would delete (a dry run that deletes nothing), and the mirror's counters per upstream.
// Non-admins are refused in both auth modes: 403 with htpasswd, and the token service does not
// grant `registry:admin:*` to them (401 insufficient_scope with the token they get).
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/index.js';
import { basic, htpasswdText, RULES, USERS } from '../auth/auth-env.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { CLI } from '../helpers/stevedore-process.js';
import { launchBrowser, openPage, poll, shot, startRegistry, writeTestImages } from './ui-env.js';

const dirs: string[] = [];
const servers: RunningServer[] = [];
const root = { username: 'root', password: USERS.root };

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(name: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `stevedore-ui-ops-${name}-`));
  dirs.push(d);
  return d;
}

async function start(dir: string, overrides: Record<string, unknown>): Promise<{ server: RunningServer; host: string }> {
  const server = await startRegistry(dir, overrides as never);
  servers.push(server);
  return { server, host: new URL(server.url).host };
}

async function authConfig(dir: string, mode: 'htpasswd' | 'token') {
  const htpasswd = join(dir, 'htpasswd');
  await writeFile(htpasswd, htpasswdText());
  return mode === 'htpasswd'
    ? { mode, htpasswd: { path: htpasswd }, ...RULES }
    : { mode, htpasswd: { path: htpasswd }, tokenService: { enabled: true, keyFile: join(dir, 'token.pem') }, ...RULES };
}

/** Bytes and count of the blob files in a filesystem store: what "storage used" must say. */
async function blobFiles(dataDir: string): Promise<{ blobs: number; bytes: number }> {
  let blobs = 0;
  let bytes = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name === 'data') {
        blobs++;
        bytes += (await stat(join(d, e.name))).size;
      }
    }
  };
  await walk(join(dataDir, 'blobs'));
  return { blobs, bytes };
}

interface Operations {
  storage: { driver: string; blobs: number; bytes: number };
  gc: { enabled: boolean; intervalMs: number; lastRun?: { ok: boolean; result?: { bytesFreed: number; blobsFreed: number; manifestsDeleted: number } }; nextRunAt?: string };
  retention: { policies: { repositories: string[]; keepLast?: number; wouldDelete: number }[]; wouldDelete: { repository: string; tag: string }[]; total: number };
  mirror: { enabled: boolean; upstreams: { prefix: string; hits: number; misses: number; hitRatio?: number; cacheBytesServed: number; upstreamBytes: number; staleServed: number; upstreamErrors: number }[] };
}

describe('Operations with htpasswd access control', () => {
  let server: RunningServer;
  let dir: string;
  let browser: Browser;

  beforeAll(async () => {
    // An upstream registry (no auth) for the mirror, with one image.
    const upDir = await tempDir('upstream');
    const up = await start(upDir, {});
    await writeTestImages(upDir);
    await skopeoCopy(`oci:${join(upDir, 'image')}:v1`, `docker://${up.host}/apps/api:v1`);

    dir = await tempDir('htpasswd');
    ({ server } = await start(dir, {
      auth: await authConfig(dir, 'htpasswd'),
      // Scheduled, but not within the test: the retention policy below must only be a dry run here.
      gc: { enabled: true, interval: '1h', retention: [{ repositories: ['team/*'], keepLast: 1 }] },
      mirror: { upstreams: [{ prefix: 'up', registry: up.host, insecure: true }] },
    }));
    const host = new URL(server.url).host;
    await writeTestImages(dir);
    for (const tag of ['v1', 'v2']) await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/team/tools:${tag}`, { destCreds: root });
    // v2 is pushed again later than v1 (tag link times): keepLast 1 keeps v2 and would delete v1.
    await new Promise((r) => setTimeout(r, 20)); // distinct modification times, not synchronisation
    await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/team/tools:v2`, { destCreds: root });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
  });

  const get = (path: string, auth?: string) => fetch(new URL(path, server.url), { headers: auth ? { authorization: auth } : {} });

  it('shows an admin storage, GC schedule, the retention dry run and mirror counters', async () => {
    const admin = basic('root', USERS.root);
    // Through the mirror: a miss fetches from the upstream, the second pull is a hit from the cache.
    const manifest = await get('/v2/up/apps/api/manifests/v1', admin);
    expect(manifest.status).toBe(200);
    const layer = ((await manifest.json()) as { layers: { digest: string; size: number }[] }).layers[0]!;
    for (let i = 0; i < 2; i++) {
      const blob = await get(`/v2/up/apps/api/blobs/${layer.digest}`, admin);
      expect(blob.status).toBe(200);
      await blob.arrayBuffer();
    }
    const res = await get('/v2/_ui/operations', admin);
    expect(res.status).toBe(200);
    const ops = (await res.json()) as Operations;
    expect(ops.storage).toMatchObject({ driver: 'filesystem', ...(await blobFiles(join(dir, 'data'))) });
    expect(ops.storage.bytes).toBeGreaterThan(200 * 1024);
    expect(ops.gc.enabled).toBe(true);
    expect(ops.gc.intervalMs).toBe(3_600_000);
    expect(ops.gc.lastRun).toBeUndefined();
    expect(Date.parse(ops.gc.nextRunAt!) - Date.now()).toBeGreaterThan(50 * 60_000);
    expect(ops.retention.total).toBe(1);
    expect(ops.retention.wouldDelete).toMatchObject([{ repository: 'team/tools', tag: 'v1' }]);
    expect(ops.retention.policies).toMatchObject([{ repositories: ['team/*'], keepLast: 1, wouldDelete: 1 }]);
    // A dry run: the tag is still there.
    expect((await get('/v2/team/tools/manifests/v1', admin)).status).toBe(200);
    const upstream = ops.mirror.upstreams.find((u) => u.prefix === 'up')!;
    expect(ops.mirror.enabled).toBe(true);
    expect(upstream.misses).toBeGreaterThanOrEqual(1); // the manifest (its blobs may come with it)
    expect(upstream.hits).toBeGreaterThanOrEqual(1); // the second blob pull
    expect(upstream.hitRatio).toBeCloseTo(upstream.hits / (upstream.hits + upstream.misses));
    expect(upstream.cacheBytesServed).toBeGreaterThanOrEqual(layer.size);
    expect(upstream).toMatchObject({ staleServed: 0, upstreamErrors: 0 });
    expect(await (await get('/v2/_ui/admin', admin)).json()).toEqual({ admin: true });
  });

  it('refuses non-admins (403) and anonymous callers (401 with a challenge)', async () => {
    for (const path of ['/v2/_ui/operations', '/v2/_ui/admin']) {
      const alice = await get(path, basic('alice', USERS.alice));
      expect(alice.status, path).toBe(403);
      expect(((await alice.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DENIED');
      const anon = await get(path);
      expect(anon.status, path).toBe(401);
      expect(anon.headers.get('www-authenticate')).toMatch(/^Basic /);
    }
  });

  it('shows the Operations view to an admin only, in the browser', async () => {
    const signIn = async (user: 'root' | 'alice') => {
      const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
      const { page, problems } = await openPage(context);
      await page.goto(new URL('/ui/', server.url).href);
      await page.getByLabel('User name').fill(user);
      await page.getByLabel('Password').fill(USERS[user]);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForSelector('table.repos tbody th a');
      return { context, page, problems };
    };
    const admin = await signIn('root');
    try {
      const { page, problems } = admin;
      await page.getByRole('link', { name: 'Operations' }).click();
      await page.waitForSelector('#storage-title');
      const used = await blobFiles(join(dir, 'data'));
      const text = (sel: string) => page.locator(sel).innerText();
      expect(await text('section[aria-labelledby="storage-title"]')).toContain(String(used.blobs));
      expect(await text('section[aria-labelledby="gc-title"]')).toMatch(/every 1 h[\s\S]*none recorded/);
      expect(await page.getByRole('table', { name: 'Tags retention would delete' }).innerText()).toContain('team/tools:v1');
      const mirrorRow = await page.getByRole('table', { name: 'Mirror upstreams' }).locator('tbody tr').innerText();
      expect(mirrorRow).toMatch(/^up\s/);
      expect(mirrorRow).toMatch(/%/);
      await shot(page, 'operations-admin');
      await page.setViewportSize({ width: 320, height: 800 });
      await shot(page, 'operations-admin-320');
      expect(problems).toEqual([]);
    } finally {
      await admin.context.close();
    }
    const user = await signIn('alice');
    try {
      const { page, problems } = user;
      // The admin check has answered (403): still no link.
      await poll(() => page.locator('body[data-admin="false"]').count()).toBe(1);
      expect(await page.getByRole('link', { name: 'Operations' }).count()).toBe(0);
      await page.evaluate("location.hash = '#/ops'");
      await poll(() => page.locator('main [role=alert]').count()).toBe(1);
      expect(await page.locator('main [role=alert]').innerText()).toMatch(/DENIED/);
      await shot(page, 'operations-non-admin');
      expect(problems).toEqual([]);
    } finally {
      await user.context.close();
    }
  });
});

describe('Operations with the token service', () => {
  let server: RunningServer;
  let host: string;
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir('token');
    // GC every second with a short grace period (blobs of a push in progress are not garbage yet):
    // a deleted image's blobs are freed a few seconds later.
    ({ server, host } = await start(dir, { auth: await authConfig(dir, 'token'), gc: { enabled: true, interval: '1s', gracePeriod: '5s', deleteUntagged: true } }));
    await writeTestImages(dir);
  });

  const token = async (user: 'root' | 'alice', scope: string): Promise<string> => {
    const url = new URL('/auth/token', server.url);
    url.searchParams.set('service', 'stevedore');
    url.searchParams.set('scope', scope);
    const res = await fetch(url, { headers: { authorization: basic(user, USERS[user]) } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  };

  it('grants registry:admin:* to admins only; the last GC run says what it freed', async () => {
    const alice = await fetch(new URL('/v2/_ui/operations', server.url), { headers: { authorization: `Bearer ${await token('alice', 'registry:admin:*')}` } });
    expect(alice.status).toBe(401);
    expect(alice.headers.get('www-authenticate')).toContain('scope="registry:admin:*"');
    expect(alice.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    const anon = await fetch(new URL('/v2/_ui/operations', server.url));
    expect(anon.status).toBe(401);

    // Something for the collector to free: an image pushed, then its manifest deleted.
    await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/root/tmp:v1`, { destCreds: root });
    const repoToken = await token('root', 'repository:root/tmp:pull,delete');
    const head = await fetch(new URL('/v2/root/tmp/manifests/v1', server.url), { method: 'HEAD', headers: { authorization: `Bearer ${repoToken}`, accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const digest = head.headers.get('docker-content-digest')!;
    expect((await fetch(new URL(`/v2/root/tmp/manifests/${digest}`, server.url), { method: 'DELETE', headers: { authorization: `Bearer ${repoToken}` } })).status).toBe(202);

    const adminToken = await token('root', 'registry:admin:*');
    const ops = async () => {
      const res = await fetch(new URL('/v2/_ui/operations', server.url), { headers: { authorization: `Bearer ${adminToken}` } });
      expect(res.status).toBe(200);
      return (await res.json()) as Operations;
    };
    // Runs follow each other every second: the one that freed the image is kept when seen.
    let freeing: Operations['gc']['lastRun'];
    await poll(async () => {
      const run = (await ops()).gc.lastRun;
      if ((run?.result?.bytesFreed ?? 0) > 0) freeing = run;
      return freeing?.result?.bytesFreed ?? 0;
    }).toBeGreaterThan(200 * 1024);
    expect(freeing).toMatchObject({ ok: true });
    expect(freeing!.result!.blobsFreed).toBeGreaterThanOrEqual(2); // the config and the layers
    const o = await ops();
    expect(Date.parse(o.gc.nextRunAt!)).toBeGreaterThan(Date.now() - 1000);
    expect(o.mirror).toEqual({ enabled: false, upstreams: [] });
    expect(o.retention).toMatchObject({ policies: [], total: 0 });
  });
});

describe('the last GC run, whoever ran it', () => {
  // Two registry processes on one store (in-process servers, sharing the directory as replicas
  // share a bucket); neither schedules GC. `stevedore gc` (the compiled CLI) runs beside them.
  let a: RunningServer;
  let b: RunningServer;
  let dir: string;

  beforeAll(async () => {
    dir = await tempDir('shared');
    ({ server: a } = await start(dir, {}));
    ({ server: b } = await start(dir, {}));
    await writeTestImages(dir);
  });

  const ops = async (server: RunningServer) => {
    const res = await fetch(new URL('/v2/_ui/operations', server.url));
    expect(res.status).toBe(200);
    return (await res.json()) as Operations & { gc: { lastRun?: { by?: { runner: string; host: string } } } };
  };

  it('shows a run of stevedore gc on every server of the storage, in the API and the page', async () => {
    expect((await ops(a)).gc.lastRun).toBeUndefined();
    // Something to free: an image pushed through one server, its manifest deleted.
    const host = new URL(a.url).host;
    await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/tmp/app:v1`);
    const head = await fetch(new URL('/v2/tmp/app/manifests/v1', a.url), { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const digest = head.headers.get('docker-content-digest')!;
    expect((await fetch(new URL(`/v2/tmp/app/manifests/${digest}`, a.url), { method: 'DELETE' })).status).toBe(202);

    const gc = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CLI, 'gc', '--data-dir', join(dir, 'data'), '--delete-untagged'],
        { env: { ...process.env, STEVEDORE_GC_GRACEPERIOD: '0s' }, timeout: 120_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(gc.stderr).toBe('');
    expect(gc.code).toBe(0);
    const freed = Number(/\((\d+) bytes\)/.exec(gc.stdout)?.[1]);
    expect(freed).toBeGreaterThan(200 * 1024);

    for (const server of [a, b]) {
      const run = (await ops(server)).gc.lastRun;
      expect(run, server.url).toMatchObject({ ok: true, result: { bytesFreed: freed }, by: { runner: 'command', host: hostname() } });
    }

    const browser = await launchBrowser();
    try {
      const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
      const { page, problems } = await openPage(context);
      await page.goto(new URL('/ui/#/ops', b.url).href);
      await page.waitForSelector('#gc-title');
      const text = await page.locator('section[aria-labelledby="gc-title"]').innerText();
      expect(text).toMatch(/Last run[\s\S]*freed [\d.,]+ KiB in \d+ blobs;[\s\S]*by stevedore gc on /);
      expect(text).toContain(hostname());
      await shot(page, 'operations-gc-by-command');
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
