// Listing: GET /v2/<name>/tags/list and GET /v2/_catalog, with `n` / `last` pagination,
// lexical order and the `Link: <...>; rel="next"` header (distribution-spec "Listing tags";
// the catalog endpoint of the Docker registry API that distribution and clients use).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, pushImage, Registry, repoName, type Res, SPEC_ERROR_CODES } from './client.js';
import { IS_CNCF, itStevedore, startTarget, type Target } from './target.js';

function nextLink(res: Res): string | undefined {
  const link = res.header('link');
  if (!link) return undefined;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  expect(m, `Link header ${link}`).not.toBeNull();
  return m![1];
}

function lexical(a: string[]): string[] {
  return [...a].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}

describe('tags list', () => {
  let target: Target;
  let reg: Registry;
  const repo = repoName('tags');
  // Pushed out of order; byte-wise lexical order is 1.0 < Zed < _under < alpha < latest < v10 < v2.
  const TAGS = ['v2', 'latest', 'Zed', 'v10', '1.0', 'alpha', '_under'];

  beforeAll(async () => {
    target = await startTarget();
    reg = new Registry(target.url);
    const { manifest } = await pushImage(reg, repo, TAGS[0]);
    for (const t of TAGS.slice(1)) await reg.pushManifest(repo, t, manifest);
  });
  afterAll(async () => {
    await target?.stop();
  });

  it('GET tags/list: 200 with the repository name and every tag', async () => {
    const res = await reg.get(`/v2/${repo}/tags/list`);
    expect(res.status).toBe(200);
    expect(res.header('content-type')).toMatch(/^application\/json\b/);
    const body = res.json<{ name: string; tags: string[] }>();
    expect(body.name).toBe(repo);
    expect(lexical(body.tags)).toEqual(lexical(TAGS));
  });

  // distribution 2.8 lists tags in storage order.
  itStevedore('tags come in lexical (byte) order', async () => {
    const res = await reg.get(`/v2/${repo}/tags/list`);
    expect(res.json<{ tags: string[] }>().tags).toEqual(lexical(TAGS));
  });

  it('a repository that does not exist: 404 NAME_UNKNOWN', async () => {
    expectError(await reg.get(`/v2/${repoName('nothere')}/tags/list`), 404, 'NAME_UNKNOWN');
  });

  // distribution 2.8 ignores `n` and `last` on tags/list (added in distribution 3).
  itStevedore('n limits the number of tags (conformance: n = half)', async () => {
    const n = Math.floor(TAGS.length / 2);
    const res = await reg.get(`/v2/${repo}/tags/list`, { query: { n: String(n) } });
    expect(res.status).toBe(200);
    expect(res.json<{ tags: string[] }>().tags).toEqual(lexical(TAGS).slice(0, n));
  });

  itStevedore('last starts after the given tag', async () => {
    const all = lexical(TAGS);
    const res = await reg.get(`/v2/${repo}/tags/list`, { query: { n: '2', last: all[2]! } });
    expect(res.status).toBe(200);
    expect(res.json<{ tags: string[] }>().tags).toEqual(all.slice(3, 5));
    const rest = await reg.get(`/v2/${repo}/tags/list`, { query: { last: all[4]! } });
    expect(rest.json<{ tags: string[] }>().tags).toEqual(all.slice(5));
  });

  itStevedore('last that is not a tag: the tags lexically after it', async () => {
    const res = await reg.get(`/v2/${repo}/tags/list`, { query: { last: 'b' } });
    expect(res.json<{ tags: string[] }>().tags).toEqual(lexical(TAGS).filter((t) => t > 'b'));
  });

  itStevedore('paging with n follows Link rel="next" through every tag; the last page has no Link', async () => {
    const seen: string[] = [];
    let url: string | undefined = `/v2/${repo}/tags/list?n=3`;
    let pages = 0;
    while (url) {
      const res = await reg.get(url);
      expect(res.status).toBe(200);
      const page = res.json<{ tags: string[] }>().tags;
      expect(page.length).toBeLessThanOrEqual(3);
      seen.push(...page);
      url = nextLink(res);
      if (url) expect(url).toContain(`/v2/${repo}/tags/list`);
      pages += 1;
      expect(pages).toBeLessThan(10);
    }
    expect(seen).toEqual(lexical(TAGS));
    expect(pages).toBe(3);
  });

  itStevedore.each(['-1', 'abc'])('a malformed n=%s: 400 with an error body', async (n) => {
    expectError(await reg.get(`/v2/${repo}/tags/list`, { query: { n } }), 400, ['PAGINATION_NUMBER_INVALID', ...SPEC_ERROR_CODES]);
  });

  itStevedore('n larger than the number of tags: all of them, no Link', async () => {
    const res = await reg.get(`/v2/${repo}/tags/list`, { query: { n: '100' } });
    expect(res.json<{ tags: string[] }>().tags).toEqual(lexical(TAGS));
    expect(res.header('link')).toBeNull();
  });

  it('a deleted manifest\'s tags leave the list', async () => {
    const r = repoName('tags-del');
    const { manifest } = await pushImage(reg, r, 'one');
    await reg.pushManifest(r, 'two', manifest);
    await pushImage(reg, r, 'three');
    expect((await reg.delete(`/v2/${r}/manifests/${manifest.digest}`)).status).toBe(202);
    const res = await reg.get(`/v2/${r}/tags/list`);
    expect(res.json<{ tags: string[] }>().tags).toEqual(['three']);
  });
});

describe('catalog', () => {
  let target: Target;
  let reg: Registry;
  // Names whose lexical order is the same whichever way a registry walks its storage.
  const REPOS = ['zeta/x/y', 'beta/two', 'alpha', 'gamma', 'beta/one', 'delta-1', 'omega'];

  beforeAll(async () => {
    target = await startTarget();
    reg = new Registry(target.url);
    for (const r of REPOS) await pushImage(reg, r, 'latest');
  });
  afterAll(async () => {
    await target?.stop();
  });

  it('GET /v2/_catalog: every repository, in lexical order', async () => {
    const res = await reg.get('/v2/_catalog');
    expect(res.status).toBe(200);
    expect(res.json<{ repositories: string[] }>().repositories).toEqual(lexical(REPOS));
  });

  it('n limits the page and sets Link rel="next" with n and last', async () => {
    const res = await reg.get('/v2/_catalog', { query: { n: '2' } });
    expect(res.status).toBe(200);
    const all = lexical(REPOS);
    expect(res.json<{ repositories: string[] }>().repositories).toEqual(all.slice(0, 2));
    const link = nextLink(res);
    expect(link).toBeDefined();
    const u = new URL(link!, target.url);
    expect(u.pathname).toBe('/v2/_catalog');
    expect(u.searchParams.get('n')).toBe('2');
    expect(u.searchParams.get('last')).toBe(all[1]);
  });

  it.each(['-1', 'abc', '1.5'])('a malformed n=%s: 400 with an error body, never 5xx', async (n) => {
    const res = await reg.get('/v2/_catalog', { query: { n } });
    expect(res.status).toBeLessThan(500);
    if (!IS_CNCF) expectError(res, 400, ['PAGINATION_NUMBER_INVALID', ...SPEC_ERROR_CODES]);
  });

  it('last starts after the given repository', async () => {
    const all = lexical(REPOS);
    const res = await reg.get('/v2/_catalog', { query: { n: '3', last: all[1]! } });
    expect(res.json<{ repositories: string[] }>().repositories).toEqual(all.slice(2, 5));
  });

  it('following Link rel="next" visits every repository once; the last page has no Link', async () => {
    const seen: string[] = [];
    let url: string | undefined = '/v2/_catalog?n=3';
    let pages = 0;
    while (url) {
      const res = await reg.get(url);
      expect(res.status).toBe(200);
      const page = res.json<{ repositories: string[] }>().repositories;
      expect(page.length).toBeLessThanOrEqual(3);
      seen.push(...page);
      url = nextLink(res);
      pages += 1;
      expect(pages).toBeLessThan(10);
    }
    expect(seen).toEqual(lexical(REPOS));
    expect(pages).toBe(3);
  });

  itStevedore('lexical order is byte order of the whole name, also across "/" (a-b < a.b < a/b < a_b)', async () => {
    const extra = ['lex/a_b', 'lex/a/b', 'lex/a-b', 'lex/a.b'];
    for (const r of extra) await pushImage(reg, r, 'latest');
    const res = await reg.get('/v2/_catalog', { query: { n: '1000', last: 'lex' } });
    const page = res.json<{ repositories: string[] }>().repositories.filter((r) => r.startsWith('lex/'));
    expect(page).toEqual(lexical(extra));
  });
});
