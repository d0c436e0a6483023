// The robot token administration API (`stevedore token create|ls|rm`), for `auth.admins` only:
// route-scopes.ts asks `registry:admin:*` for these paths before this middleware runs.
//   GET    /v2/_stevedore/tokens         → {"tokens": [RobotTokenInfo…]}
//   POST   /v2/_stevedore/tokens         {"name","access":["team/**:pull,push"],"expires":"90d"}
//                                        → 201 {…, "user": "robot+NAME", "secret": "…"} (the secret only here)
//   DELETE /v2/_stevedore/tokens/NAME    → 200 {"removed": NAME}
import type { Context, Middleware } from 'koa';
import { parseDuration } from '../../util/duration.js';
import type { AuditLog } from '../audit/audit-log.js';
import { RegistryError } from '../errors.js';
import { readBoundedBody } from '../request-body.js';
import { requestUser } from '../request-user.js';
import { parseAccessSpec, ROBOT_USER_PREFIX, RobotTokenError, type RobotTokenStore } from './robot-tokens.js';

export const ROBOT_TOKENS = /^\/v2\/_stevedore\/tokens\/?$/;
export const ROBOT_TOKEN = /^\/v2\/_stevedore\/tokens\/([^/]+)$/;

const BODY_LIMIT = 64 * 1024;

function badRequest(message: string): RegistryError {
  return new RegistryError('UNSUPPORTED', message, undefined, 400);
}

function asRegistryError(err: unknown): unknown {
  if (!(err instanceof RobotTokenError)) return err;
  if (err.kind === 'not-found') return new RegistryError('NAME_UNKNOWN', err.message, undefined, 404);
  if (err.kind === 'exists') return new RegistryError('UNSUPPORTED', err.message, undefined, 409);
  return badRequest(err.message);
}

function json(ctx: Context, status: number, body: unknown): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = JSON.stringify(body);
}

async function createBody(ctx: Context): Promise<{ name: string; access: string[]; expires?: string }> {
  if (!ctx.is('application/json')) throw badRequest('expected an application/json body');
  const raw = await readBoundedBody(ctx, BODY_LIMIT, () => new RegistryError('SIZE_INVALID', 'request body too large', undefined, 413));
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw badRequest('the body is not JSON');
  }
  const b = body as { name?: unknown; access?: unknown; expires?: unknown };
  if (typeof b.name !== 'string') throw badRequest('name is required');
  if (!Array.isArray(b.access) || !b.access.every((a) => typeof a === 'string')) throw badRequest('access must be a list of REPOSITORY-GLOB:ACTIONS strings');
  if (b.expires !== undefined && b.expires !== null && typeof b.expires !== 'string') throw badRequest('expires must be a duration such as 90d');
  return { name: b.name, access: b.access as string[], ...(typeof b.expires === 'string' && b.expires ? { expires: b.expires } : {}) };
}

export function robotApi(store: RobotTokenStore, audit?: AuditLog): Middleware {
  return async (ctx, next) => {
    const one = ROBOT_TOKEN.exec(ctx.path);
    if (!ROBOT_TOKENS.test(ctx.path) && !one) return next();
    const creator = requestUser(ctx);
    // The access check before this middleware let only admins through; a robot never creates robots.
    if (creator === undefined || creator.startsWith(ROBOT_USER_PREFIX)) throw new RegistryError('DENIED', 'only administrators manage robot tokens');
    try {
      if (!one && ctx.method === 'GET') return json(ctx, 200, { tokens: await store.list() });
      if (!one && ctx.method === 'POST') {
        const body = await createBody(ctx);
        let expiresInMs: number | undefined;
        if (body.expires !== undefined) {
          expiresInMs = parseDuration(body.expires);
          if (expiresInMs === undefined || expiresInMs <= 0) throw badRequest(`invalid expiry ${JSON.stringify(body.expires.slice(0, 50))}: use e.g. 90d, 12h`);
        }
        const access = body.access.map(parseAccessSpec);
        const { robot, secret } = await store.create({ name: body.name, access, expiresInMs, createdBy: creator });
        const { secretHash: _hash, ...info } = robot;
        // Refusals are recorded by the audit middleware (server/audit), which sees every outcome.
        void audit?.record({ action: 'token.create', outcome: 'success', target: { robot: robot.name, access: body.access, ...(robot.expires ? { expires: robot.expires } : {}) } }, ctx);
        return json(ctx, 201, { ...info, user: ROBOT_USER_PREFIX + robot.name, secret });
      }
      if (one && ctx.method === 'DELETE') {
        let name: string;
        try {
          name = decodeURIComponent(one[1]!);
        } catch {
          throw badRequest('invalid robot name');
        }
        const robot = await store.remove(name);
        void audit?.record({ action: 'token.revoke', outcome: 'success', target: { robot: robot.name } }, ctx);
        return json(ctx, 200, { removed: robot.name });
      }
      throw new RegistryError('UNSUPPORTED', `${ctx.method} is not supported on ${ctx.path}`);
    } catch (err) {
      throw asRegistryError(err);
    }
  };
}
