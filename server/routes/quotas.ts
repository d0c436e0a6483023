// GET /v2/_quotas: every storage quota with its limit and usage (server/policy/quotas.ts), for
// `stevedore quota ls` and dashboards. Registry-wide: route-scopes.ts requires `registry:admin:*`
// when access control is on.
import type Router from '@koa/router';
import { policyOf } from '../policy/index.js';
import type { RegistryDeps } from '../registry-deps.js';

export const QUOTAS = /^\/v2\/_quotas\/?$/;

export function registerQuotas(router: Router, deps: RegistryDeps): void {
  const { quotas } = policyOf(deps);
  router.get(QUOTAS, async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ quotas: await quotas.report() });
  });
}
