// GET /v2/: API version check.
import type Router from '@koa/router';

export const BASE = /^\/v2\/?$/;

export function registerBase(router: Router): void {
  router.get(BASE, (ctx) => {
    ctx.type = 'application/json';
    ctx.body = '{}';
  });
}
