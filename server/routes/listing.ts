// Tag listing and the catalog, paginated with `n` and `last` and RFC 5988 Link headers.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { RegistryError } from '../errors.js';
import type { RegistryContent } from '../registry-content.js';
import type { RegistryDeps } from '../registry-deps.js';
import { queryString, repositoryName } from '../route-params.js';

export const TAGS = /^\/v2\/(.+)\/tags\/list$/;
export const CATALOG = /^\/v2\/_catalog$/;
const MAX_PAGE = 10_000;

/** Applies `last` and `n` to a sorted list; sets the Link header when more entries follow. */
function paginate(ctx: Context, all: string[]): string[] {
  const nRaw = queryString(ctx, 'n');
  const last = queryString(ctx, 'last');
  let n: number | undefined;
  if (nRaw !== undefined) {
    n = Number(nRaw);
    if (!/^\d+$/.test(nRaw) || !Number.isSafeInteger(n)) {
      throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer', { n: nRaw.slice(0, 50) });
    }
    n = Math.min(n, MAX_PAGE);
  }
  const start = last === undefined ? all : all.filter((x) => x > last);
  if (n === undefined) return start;
  const page = start.slice(0, n);
  if (start.length > n && page.length > 0) {
    const q = new URLSearchParams({ n: String(n), last: page[page.length - 1]! });
    ctx.set('Link', `<${ctx.path}?${q.toString()}>; rel="next"`);
  }
  return page;
}

export function registerListing(router: Router, { storage }: RegistryDeps, content: RegistryContent): void {
  router.get(TAGS, async (ctx) => {
    const name = repositoryName(ctx);
    const tags = await content.tags(name);
    if (tags.length === 0 && !(await storage.catalog.exists(name))) {
      throw new RegistryError('NAME_UNKNOWN', undefined, { name });
    }
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ name, tags: paginate(ctx, tags) });
  });

  router.get(CATALOG, async (ctx) => {
    // Access control (server/auth) narrows the catalog to what the caller may pull.
    const canPull = ctx.state.canPull as ((name: string) => boolean) | undefined;
    const all = await storage.catalog.list();
    const repositories = paginate(ctx, canPull ? all.filter(canPull) : all);
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ repositories });
  });
}
