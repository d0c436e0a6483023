// The web UI with access control, in a real browser: a login form (htpasswd Basic, or the token
// service's password grant done by the registry for the page, with the token service built in or
// on another origin), only the repositories the user may pull, guests browsing what anonymous
// callers may pull, delete only where the user may delete (with a confirmation naming what else
// goes), forged deletes and forged session requests refused, and no credentials in the address,
// web storage or any cookie a script can read.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/index.js';
import { basic, htpasswdText, RULES, USERS } from '../auth/auth-env.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { launchBrowser, openPage, poll, pushTestImages, shot, startRegistry, writeTestImages } from './ui-env.js';

let browser: Browser;
const dirs: string[] = [];
const servers: RunningServer[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  for (const s of servers) await s.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** The test rules, with the public area listed to anonymous callers too (a token service grants them the catalog only so). */
const RULES_PUBLIC_CATALOG = { ...RULES, access: RULES.access.map((r) => ('anonymous' in r ? { ...r, catalog: true } : r)) };

async function tempDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `stevedore-ui-${name}-`));
  dirs.push(dir);
  return dir;
}

/**
 * A registry with the given auth mode and the test content, pushed as the admin. `external`: the
 * token service runs alone on another server (another origin), the registry trusts its JWKS.
 */
async function registry(mode: 'htpasswd' | 'token' | 'external', rules: object = RULES): Promise<{ server: RunningServer; host: string; tokenServer?: RunningServer }> {
  const dir = await tempDir(mode);
  const htpasswd = join(dir, 'htpasswd');
  await writeFile(htpasswd, htpasswdText());
  let tokenServer: RunningServer | undefined;
  let auth: object;
  if (mode === 'htpasswd') auth = { mode, htpasswd: { path: htpasswd }, ...rules };
  else if (mode === 'token') auth = { mode, htpasswd: { path: htpasswd }, tokenService: { enabled: true, keyFile: join(dir, 'token.pem') }, ...rules };
  else {
    const tdir = await tempDir('token-service');
    tokenServer = await startRegistry(tdir, { auth: { htpasswd: { path: htpasswd }, tokenService: { enabled: true, standalone: true, keyFile: join(tdir, 'token.pem') }, ...rules } } as never);
    servers.push(tokenServer);
    // The registry has the rules too: its catalog lists only what the caller may pull.
    auth = { mode: 'token', token: { realm: `${tokenServer.url.replace(/\/$/, '')}/auth/token`, jwksUrl: `${tokenServer.url.replace(/\/$/, '')}/auth/jwks.json` }, ...rules };
  }
  const server = await startRegistry(dir, { auth } as never);
  servers.push(server);
  const host = new URL(server.url).host;
  const root = { username: 'root', password: USERS.root };
  await writeTestImages(dir);
  await pushTestImages(dir, host, { index: 'alice/web', image: 'alice/app' }, root);
  for (const tag of ['v1', 'v2']) await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/team/tools:${tag}`, { destCreds: root });
  await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/secret/vault:v1`, { destCreds: root });
  await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/public/base:v1`, { destCreds: root });
  return { server, host, tokenServer };
}

async function signIn(page: Page, url: string, user: keyof typeof USERS, password: string = USERS[user]): Promise<void> {
  await page.goto(new URL('/ui/', url).href);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const repoNames = (page: Page) => page.locator('table.repos tbody th a').allTextContents();

/** The tags of a repository as the API lists them for the admin. */
async function apiTags(url: string, repo: string, auth: string): Promise<string[]> {
  const res = await fetch(new URL(`/v2/${repo}/tags/list`, url), { headers: { authorization: auth } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { tags: string[] }).tags;
}

describe('web UI with htpasswd access control', () => {
  let server: RunningServer;
  beforeAll(async () => {
    ({ server } = await registry('htpasswd'));
  });

  it('asks for a login, refuses a wrong password, shows only what the user may pull', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    try {
      const { page, problems } = await openPage(context);
      await page.goto(new URL('/ui/', server.url).href);
      await poll(() => page.getByRole('heading', { name: 'Sign in to the registry' }).count()).toBe(1);
      await shot(page, 'login');
      await signIn(page, server.url, 'alice', 'wrong-password');
      await poll(() => page.getByRole('alert').textContent()).toContain('wrong user name or password');
      await signIn(page, server.url, 'alice');
      await poll(() => repoNames(page)).toEqual(['alice/app', 'alice/web', 'public/base', 'team/tools']);
      expect(await page.locator('#session').textContent()).toContain('alice');
      await shot(page, 'alice-repositories');
      // alice may pull team/tools but not delete there: no delete button.
      await page.getByRole('link', { name: 'team/tools' }).click();
      await page.getByRole('link', { name: 'v1', exact: true }).click();
      await poll(() => page.locator('ol.layers > li').count()).toBe(3);
      await poll(() => page.locator('#referrers-title + div').textContent()).not.toContain('Loading');
      expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
      await shot(page, 'alice-no-delete');
      // In her own namespace she may delete.
      await page.goto(new URL('/ui/#/r/alice%2Fapp/m/v1', server.url).href);
      await poll(() => page.getByRole('button', { name: 'Delete tag v1' }).count()).toBe(1);
      // A namespace she may not see: the registry says so, nothing is shown.
      await page.goto(new URL('/ui/#/r/secret%2Fvault', server.url).href);
      await poll(() => page.getByRole('alert').textContent()).toContain('DENIED');
      expect(await page.locator('table.tags tbody th a').count()).toBe(0);
      // A forged delete with her credentials (what a script on the page could send) is refused.
      const forged = await page.evaluate<number>(
        `fetch('/v2/team/tools/manifests/v2', { method: 'DELETE', headers: { Authorization: ${JSON.stringify(basic('alice', USERS.alice))} } }).then((r) => r.status)`,
      );
      expect(forged).toBe(403);
      // And without credentials (a cross-site request carries none: the UI keeps no cookie).
      expect((await fetch(new URL('/v2/team/tools/manifests/v2', server.url), { method: 'DELETE' })).status).toBe(401);
      expect(await apiTags(server.url, 'team/tools', basic('root', USERS.root))).toEqual(['v1', 'v2']);
      // Credentials are in the page's memory only.
      expect(page.url()).not.toContain(USERS.alice);
      expect(await context.cookies()).toEqual([]);
      expect(await page.evaluate<number>('localStorage.length + sessionStorage.length')).toBe(0);
      // Signing out forgets them.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await poll(() => page.getByRole('heading', { name: 'Sign in to the registry' }).count()).toBe(1);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('lets a guest browse what anonymous callers may pull, without delete', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    try {
      const { page, problems } = await openPage(context);
      await page.goto(new URL('/ui/', server.url).href);
      await page.getByRole('button', { name: 'Browse public repositories' }).click();
      await poll(() => repoNames(page)).toEqual(['public/base']);
      expect(await page.locator('#session').textContent()).toContain('Guest');
      await page.getByRole('link', { name: 'public/base' }).click();
      await page.getByRole('link', { name: 'v1', exact: true }).click();
      await poll(() => page.locator('ol.layers > li').count()).toBe(3);
      await poll(() => page.locator('#referrers-title + div').textContent()).not.toContain('Loading');
      expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
      // Elsewhere the registry asks for a login: the page shows the form.
      await page.goto(new URL('/ui/#/r/alice%2Fapp', server.url).href);
      await poll(() => page.getByRole('heading', { name: 'Sign in to the registry' }).count()).toBe(1);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('lets an admin delete a tag after a confirmation naming what else goes; the API no longer lists it', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    try {
      const { page, problems } = await openPage(context);
      await signIn(page, server.url, 'root');
      await poll(() => repoNames(page)).toEqual(['alice/app', 'alice/web', 'public/base', 'secret/vault', 'team/tools']);
      await page.goto(new URL('/ui/#/r/team%2Ftools/m/v2', server.url).href);
      await page.getByRole('button', { name: 'Delete tag v2' }).click();
      const dialog = page.getByRole('dialog');
      await poll(() => dialog.textContent()).toContain('still tagged v1');
      expect(await dialog.textContent()).toContain('team/tools:v2');
      await shot(page, 'admin-confirm-delete');
      // Cancel keeps it.
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      expect(await apiTags(server.url, 'team/tools', basic('root', USERS.root))).toEqual(['v1', 'v2']);
      await page.getByRole('button', { name: 'Delete tag v2' }).click();
      await dialog.getByRole('button', { name: 'Delete' }).click();
      await page.waitForURL(/#\/r\/team%2Ftools$/);
      await poll(() => page.locator('table.tags tbody th a').allTextContents()).toEqual(['v1']);
      expect(await apiTags(server.url, 'team/tools', basic('root', USERS.root))).toEqual(['v1']);
      // The manifest naming its other tags before it goes.
      await page.goto(new URL('/ui/#/r/team%2Ftools/m/v1', server.url).href);
      await page.getByRole('button', { name: 'Delete manifest' }).click();
      await poll(() => dialog.textContent()).toContain('With it go the tags: v1');
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe('web UI with the built-in token service', () => {
  let server: RunningServer;
  beforeAll(async () => {
    ({ server } = await registry('token'));
  });

  it('logs in with the password grant and shows only what the token grants', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    try {
      const { page, problems } = await openPage(context);
      await signIn(page, server.url, 'alice');
      await poll(() => repoNames(page)).toEqual(['alice/app', 'alice/web', 'public/base', 'team/tools']);
      await page.goto(new URL('/ui/#/r/team%2Ftools/m/v1', server.url).href);
      await poll(() => page.locator('ol.layers > li').count()).toBe(3);
      await poll(() => page.locator('#referrers-title + div').textContent()).not.toContain('Loading');
      expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
      await page.goto(new URL('/ui/#/r/alice%2Fapp/m/v1', server.url).href);
      await poll(() => page.getByRole('list', { name: 'Referrers' }).locator(':scope > li').count()).toBe(2);
      await poll(() => page.getByRole('button', { name: 'Delete tag v1' }).count()).toBe(1);
      await shot(page, 'token-alice-image');
      // A token for team/tools asking for delete is granted pull only; a delete with it is refused.
      const form = new URLSearchParams({ grant_type: 'password', username: 'alice', password: USERS.alice, client_id: 'test', service: 'stevedore', scope: 'repository:team/tools:pull,delete' });
      const t = (await (await fetch(new URL('/auth/token', server.url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() })).json()) as { access_token: string };
      const forged = await fetch(new URL('/v2/team/tools/manifests/v1', server.url), { method: 'DELETE', headers: { authorization: `Bearer ${t.access_token}` } });
      // Refused (403 DENIED, or 401 insufficient_scope as distribution answers a token lacking a scope).
      expect([401, 403]).toContain(forged.status);
      expect(((await forged.json()) as { errors: { code: string }[] }).errors[0]!.code).toMatch(/^(DENIED|UNAUTHORIZED)$/);
      const rootForm = new URLSearchParams({ grant_type: 'password', username: 'root', password: USERS.root, client_id: 'test', service: 'stevedore', scope: 'repository:team/tools:pull' });
      const rootToken = (await (await fetch(new URL('/auth/token', server.url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: rootForm.toString() })).json()) as { access_token: string };
      expect(await apiTags(server.url, 'team/tools', `Bearer ${rootToken.access_token}`)).toEqual(['v1', 'v2']);
      await expectSessionCookieOnly(page);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

/** The refresh token is in an http-only, same-site, /ui/-scoped cookie: nothing a script can read. */
async function expectSessionCookieOnly(page: Page): Promise<void> {
  const cookies = await page.context().cookies();
  expect(cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path }))).toEqual([
    { name: 'stevedore_ui_session', httpOnly: true, sameSite: 'Strict', path: '/ui/' },
  ]);
  expect(await page.evaluate<string>('document.cookie')).toBe('');
  expect(await page.evaluate<number>('localStorage.length + sessionStorage.length')).toBe(0);
  expect(page.url()).not.toContain(cookies[0]!.value);
}

describe('web UI with a token service on another origin', () => {
  let server: RunningServer;
  let tokenServer: RunningServer;
  beforeAll(async () => {
    ({ server, tokenServer } = (await registry('external', RULES_PUBLIC_CATALOG)) as { server: RunningServer; tokenServer: RunningServer });
  });

  it('signs in through the registry, keeps the session over a reload, deletes where allowed, signs out', async () => {
    expect(new URL(tokenServer.url).origin).not.toBe(new URL(server.url).origin);
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    try {
      const { page, problems } = await openPage(context);
      await signIn(page, server.url, 'alice', 'wrong-password');
      await poll(() => page.getByRole('alert').textContent()).toContain('wrong user name or password');
      expect(await context.cookies()).toEqual([]);
      await signIn(page, server.url, 'alice');
      await poll(() => repoNames(page)).toEqual(['alice/app', 'alice/web', 'public/base', 'team/tools']);
      await expectSessionCookieOnly(page);
      // A reload asks for no password: the session cookie is still there.
      await page.reload();
      await poll(() => repoNames(page)).toEqual(['alice/app', 'alice/web', 'public/base', 'team/tools']);
      expect(await page.locator('#session').textContent()).toContain('alice');
      await page.goto(new URL('/ui/#/r/team%2Ftools/m/v1', server.url).href);
      await poll(() => page.locator('ol.layers > li').count()).toBe(3);
      await poll(() => page.locator('#referrers-title + div').textContent()).not.toContain('Loading');
      expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
      await page.goto(new URL('/ui/#/r/secret%2Fvault', server.url).href);
      await poll(() => page.getByRole('alert').textContent()).toContain('DENIED');
      expect(await page.locator('table.tags tbody th a').count()).toBe(0);
      // In her namespace she deletes a tag; the registry no longer lists it.
      await page.goto(new URL('/ui/#/r/alice%2Fapp/m/v1', server.url).href);
      await poll(() => page.getByRole('list', { name: 'Referrers' }).locator(':scope > li').count()).toBe(2);
      await page.getByRole('button', { name: 'Delete tag v1' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
      await page.waitForURL(/#\/r\/alice%2Fapp$/);
      await poll(() => page.locator('table.tags tbody th a').allTextContents()).toEqual(['sbom', 'sig']);
      await shot(page, 'external-token-alice-deleted');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await poll(() => page.getByRole('heading', { name: 'Sign in to the registry' }).count()).toBe(1);
      await poll(() => context.cookies()).toEqual([]);
      await page.reload();
      await poll(() => page.getByRole('heading', { name: 'Sign in to the registry' }).count()).toBe(1);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
    // Checked over the API with a token from the token service.
    const form = new URLSearchParams({ grant_type: 'password', username: 'root', password: USERS.root, client_id: 'test', service: 'stevedore', scope: 'repository:alice/app:pull' });
    const t = (await (await fetch(new URL('/auth/token', tokenServer.url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() })).json()) as { access_token: string };
    expect(await apiTags(server.url, 'alice/app', `Bearer ${t.access_token}`)).toEqual(['sbom', 'sig']);
  });

  it('lets a guest browse what anonymous callers may pull, without delete', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    try {
      const { page, problems } = await openPage(context);
      await page.goto(new URL('/ui/', server.url).href);
      await page.getByRole('button', { name: 'Browse public repositories' }).click();
      await poll(() => repoNames(page)).toEqual(['public/base']);
      expect(await page.locator('#session').textContent()).toContain('Guest');
      await page.getByRole('link', { name: 'public/base' }).click();
      await page.getByRole('link', { name: 'v1', exact: true }).click();
      await poll(() => page.locator('ol.layers > li').count()).toBe(3);
      await poll(() => page.locator('#referrers-title + div').textContent()).not.toContain('Loading');
      expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
      await shot(page, 'external-token-guest');
      // Elsewhere the registry asks for a login: the page shows the form.
      await page.goto(new URL('/ui/#/r/alice%2Fapp', server.url).href);
      await poll(() => page.getByRole('heading', { name: 'Sign in to the registry' }).count()).toBe(1);
      expect(await context.cookies()).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("shows an admin the Operations view, and a user none", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    try {
      const { page, problems } = await openPage(context);
      await signIn(page, server.url, 'root');
      await poll(() => page.locator('body[data-admin="true"]').count()).toBe(1);
      await page.getByRole('link', { name: 'Operations' }).click();
      await page.waitForSelector('#storage-title');
      expect(await page.locator('section[aria-labelledby="storage-title"]').innerText()).toMatch(/Used\s+[\d.,]+ (KiB|MiB)/);
      await shot(page, 'external-token-operations');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await signIn(page, server.url, 'alice');
      await poll(() => page.locator('body[data-admin="false"]').count()).toBe(1);
      expect(await page.getByRole('link', { name: 'Operations' }).count()).toBe(0);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('refuses session requests from anywhere but the page itself', async () => {
    const context = await browser.newContext();
    try {
      const { page } = await openPage(context);
      await signIn(page, server.url, 'alice');
      await poll(() => repoNames(page)).toContain('alice/app');
      // Another origin of the same site (the token service's host, another port: SameSite does not
      // tell them apart) cannot use the cookie: its JSON request needs a CORS preflight, refused.
      await page.goto(new URL('/auth/jwks.json', tokenServer.url).href);
      const cross = await page.evaluate<string>(
        `fetch(${JSON.stringify(new URL('/ui/token', server.url).href)}, { method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' }, body: '{"scope":"repository:alice/app:pull,delete"}' }).then((r) => 'answered ' + r.status, (e) => 'failed: ' + e.name)`,
      );
      expect(cross).toBe('failed: TypeError');
    } finally {
      await context.close();
    }
    // Without a browser's help: a form-encodable body, a foreign Origin, a cross-site fetch, a GET.
    const url = new URL('/ui/token', server.url);
    const post = (headers: Record<string, string>, body = '{"scope":"registry:catalog:*"}') => fetch(url, { method: 'POST', headers, body });
    const text = await post({ 'Content-Type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('UNSUPPORTED');
    expect((await post({ 'Content-Type': 'application/json', Origin: 'http://evil.example' })).status).toBe(403);
    expect((await post({ 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'same-site' })).status).toBe(403);
    expect((await fetch(url)).status).toBe(405);
    const login = await fetch(new URL('/ui/login', server.url), { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `username=alice&password=${USERS.alice}` });
    expect(login.status).toBe(415);
    expect(login.headers.get('set-cookie')).toBeNull();
    // A same-origin request without a session gets an anonymous token, which the registry treats as such.
    const anon = (await (await post({ 'Content-Type': 'application/json' }, '{"scope":"repository:alice/app:pull"}')).json()) as { user: string; token: string };
    expect(anon.user).toBe('');
    expect((await fetch(new URL('/v2/alice/app/tags/list', server.url), { headers: { authorization: `Bearer ${anon.token}` } })).status).toBe(401);
  });
});
