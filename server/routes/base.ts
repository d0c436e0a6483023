// GET /v2/: API version check.
import type Router from '@koa/router';

export function registerBase(router: Router): void {
  router.get(/^\/v2\/?$/, (ctx) => {
    ctx.type = 'application/json';
    ctx.body = '{}';
  });
}
