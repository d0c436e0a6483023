// The web UI with access control, in a real browser: a login form (htpasswd Basic, or the built-in
// token service's password grant), only the repositories the user may pull, delete only where the
// user may delete (with a confirmation naming what else goes), forged deletes refused, and no
// credentials in the address, cookies or web storage.
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

/** A registry with the given auth mode and the test content, pushed as the admin. */
async function registry(mode: 'htpasswd' | 'token'): Promise<{ server: RunningServer; host: string }> {
  const dir = await mkdtemp(join(tmpdir(), `stevedore-ui-${mode}-`));
  dirs.push(dir);
  const htpasswd = join(dir, 'htpasswd');
  await writeFile(htpasswd, htpasswdText());
  const auth =
    mode === 'htpasswd'
      ? { mode, htpasswd: { path: htpasswd }, ...RULES }
      : { mode, htpasswd: { path: htpasswd }, tokenService: { enabled: true, keyFile: join(dir, 'token.pem') }, ...RULES };
  const server = await startRegistry(dir, { auth } as never);
  servers.push(server);
  const host = new URL(server.url).host;
  const root = { username: 'root', password: USERS.root };
  await writeTestImages(dir);
  await pushTestImages(dir, host, { index: 'alice/web', image: 'alice/app' }, root);
  for (const tag of ['v1', 'v2']) await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/team/tools:${tag}`, { destCreds: root });
  await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/secret/vault:v1`, { destCreds: root });
  await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/public/base:v1`, { destCreds: root });
  return { server, host };
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
      expect(await context.cookies()).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
