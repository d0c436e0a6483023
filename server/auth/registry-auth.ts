// Access control on the registry API: who the caller is (Basic against htpasswd, or a bearer
// token), and whether it holds what the route needs (route-scopes.ts). Anonymous callers without
// access get 401 UNAUTHORIZED with a challenge naming the scope the request needs; so do bearer
// tokens without the scope (the client fetches a new token); htpasswd users without the right
// get 403 DENIED. Sets `ctx.state.user` (per-user rate limits key on it), what the caller may
// pull for handlers that read a second repository (request-access.ts) and, for the catalog,
// `ctx.state.canPull` (the catalog lists only what the caller may pull).
import type { Context, Middleware } from 'koa';
import { FEDERATED_STATE, type AuditLog } from '../audit/audit-log.js';
import { RegistryError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AccessRules, AccessView, Caller } from './access-rules.js';
import type { AuthConfig } from './auth-config.js';
import type { HtpasswdFile } from './htpasswd.js';
import type { LoginGuardLike } from './login-guard.js';
import { listenerOrigin } from './listener-origin.js';
import { setPullCheck } from './request-access.js';
import { RobotAccess, robotNameOf, ROBOT_USER_PREFIX, type RobotTokenStore } from './robot-tokens.js';
import { requiredAccess, scopeString, type Need } from './route-scopes.js';
import { grants, TokenError, type TokenVerifier, type VerifiedToken } from './token-verifier.js';

export interface RegistryAuthDeps {
  config: AuthConfig;
  rules: AccessRules;
  log: Logger;
  htpasswd?: HtpasswdFile;
  guard?: LoginGuardLike;
  verifier?: TokenVerifier;
  /** The token endpoint path when the built-in service runs on this server. */
  builtinTokenPath?: string;
  /** Robot tokens: Basic logins in htpasswd mode, and revocation of tokens issued to robots. */
  robots?: RobotTokenStore;
  audit?: AuditLog;
}

function quote(v: string): string {
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

export { listenerOrigin };

function accessDetail(needs: Need[]): unknown {
  return needs.map((n) => ({ Type: n.type, Name: n.name, Action: n.action }));
}

export function registryAuth(deps: RegistryAuthDeps): Middleware {
  const { config, rules, log } = deps;

  const challenge = (ctx: Context, needs: Need[], error?: string): string => {
    if (config.mode === 'htpasswd') return `Basic realm=${quote(config.htpasswd.realm)}`;
    const realm = config.token.realm || `${listenerOrigin(ctx)}${deps.builtinTokenPath}`;
    let v = `Bearer realm=${quote(realm)},service=${quote(config.token.service)}`;
    if (needs.length > 0) v += `,scope=${quote(scopeString(needs))}`;
    if (error) v += `,error=${quote(error)}`;
    return v;
  };

  const unauthorized = (ctx: Context, needs: Need[], message: string, error?: string): RegistryError =>
    new RegistryError('UNAUTHORIZED', message, accessDetail(needs)).withHeader('WWW-Authenticate', challenge(ctx, needs, error));

  /** The Basic caller and what it may do (a robot: its own access within its creator's). */
  async function basicCaller(ctx: Context, needs: Need[]): Promise<{ caller: Caller; view: AccessView }> {
    const header = ctx.get('Authorization');
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!m) return { caller: undefined, view: rules };
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // `Basic Og==` (an empty user and password) is what some clients send for "no credentials".
    if (colon === 0 && decoded === ':') return { caller: undefined, view: rules };
    if (colon <= 0) throw unauthorized(ctx, needs, 'malformed Basic credentials');
    const user = decoded.slice(0, colon);
    const decision = await deps.guard!.check(user, ctx.ip);
    if (!decision.ok) {
      throw new RegistryError('TOOMANYREQUESTS', 'too many failed logins: try again later', { retryAfter: decision.retryAfterSeconds }).withHeader(
        'Retry-After',
        String(decision.retryAfterSeconds),
      );
    }
    const password = decoded.slice(colon + 1);
    let view: AccessView | undefined;
    if (user.startsWith(ROBOT_USER_PREFIX)) {
      const robot = await deps.robots?.authenticate(user, password);
      if (robot) view = new RobotAccess(rules, robot);
    } else if (await deps.htpasswd!.verify(user, password)) {
      view = rules;
    }
    if (!view) {
      await deps.guard!.failed(user, ctx.ip, Date.now(), password);
      void deps.audit?.record({ action: 'login.failure', outcome: 'failure', actor: { kind: user.startsWith(ROBOT_USER_PREFIX) ? 'robot' : 'user', name: user.slice(0, 200) }, reason: 'invalid username or password' }, ctx);
      throw unauthorized(ctx, needs, 'invalid username or password');
    }
    await deps.guard!.succeeded(user);
    return { caller: user, view };
  }

  async function bearerToken(ctx: Context, needs: Need[]): Promise<VerifiedToken | undefined> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('Authorization'));
    if (!m) return undefined;
    try {
      return await deps.verifier!.verify(m[1]!);
    } catch (err) {
      const reason = err instanceof TokenError ? err.message : 'invalid token';
      log.info({ reqId: ctx.state.requestId, reason }, 'bearer token refused');
      throw unauthorized(ctx, needs, `invalid token: ${reason}`, 'invalid_token');
    }
  }

  return async (ctx, next) => {
    if (!ctx.path.startsWith('/v2')) return next();
    const needs = requiredAccess(ctx);
    let caller: Caller;
    let view: AccessView = rules;
    let held: (n: Need) => boolean;
    let authenticated: boolean;
    if (config.mode === 'htpasswd') {
      ({ caller, view } = await basicCaller(ctx, needs));
      authenticated = caller !== undefined;
      const v = view;
      held = (n) => (n.type === 'registry' ? (n.name === 'admin' ? v.isAdmin(caller) : v.mayListCatalog(caller)) : v.allowed(caller, n.name).has(n.action as never));
      // Anonymous callers may read what the rules give them; GET /v2/ still asks them to log in.
      if (!authenticated && (needs.length === 0 || !needs.every(held))) throw unauthorized(ctx, needs, 'authentication required');
    } else {
      const token = await bearerToken(ctx, needs);
      if (!token) throw unauthorized(ctx, needs, 'authentication required');
      caller = token.subject || undefined;
      authenticated = caller !== undefined;
      held = (n) => grants(token, n.type, n.name, n.action);
      // A removed or expired robot's tokens stop working at once (not only when they expire).
      // Only the built-in service's tokens name robots: another issuer's `robot+…` is its own.
      const ours = config.tokenService.enabled && token.issuer === config.tokenService.issuer;
      const robotName = ours ? robotNameOf(caller) : undefined;
      if (robotName !== undefined && deps.robots) {
        const robot = await deps.robots.active(robotName);
        if (!robot) {
          log.info({ reqId: ctx.state.requestId, robot: robotName }, 'bearer token refused: the robot was removed or has expired');
          throw unauthorized(ctx, needs, 'invalid token: the robot token was revoked or has expired', 'invalid_token');
        }
        view = new RobotAccess(rules, robot);
      }
      if (token.federated && ours) ctx.state[FEDERATED_STATE] = token.federated;
    }
    if (caller !== undefined) ctx.state.user = { name: caller };
    setPullCheck(ctx, (name) => held({ type: 'repository', name, action: 'pull', challenge: 'pull' }));
    // What the caller may do on a repository, for answers that say so (the web UI shows delete only where allowed).
    ctx.state.mayDo = (name: string, action: Need['action']) => held({ type: 'repository', name, action, challenge: action });
    const missing = needs.filter((n) => !n.optional && !held(n));
    if (missing.length > 0) {
      const message = `requested access to the resource is denied: ${scopeString(missing)}`;
      if (!authenticated) throw unauthorized(ctx, needs, 'authentication required', 'insufficient_scope');
      // A token lacking a scope is answered 401 as distribution does: the client is to fetch a
      // token for the scope in the challenge (what podman, skopeo and docker do on a 401, never on
      // a 403). A token service that grants less again gets the same 401, and the client gives up.
      if (config.mode === 'token') throw unauthorized(ctx, needs, message, 'insufficient_scope');
      throw new RegistryError('DENIED', message, accessDetail(missing)).withHeader('WWW-Authenticate', challenge(ctx, needs, 'insufficient_scope'));
    }
    // The catalog shows what the caller may pull (the access rules; an external issuer without
    // rules configured decides alone).
    if (needs[0]?.type === 'registry' && needs[0].name === 'catalog' && (rules.configured || config.tokenService.enabled || config.mode === 'htpasswd')) {
      ctx.state.canPull = (name: string) => view.allowed(caller, name).has('pull');
    }
    return next();
  };
}
