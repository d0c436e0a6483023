// Access control on the registry API: who the caller is (Basic against htpasswd, or a bearer
// token), and whether it holds what the route needs (route-scopes.ts). Anonymous callers without
// access get 401 UNAUTHORIZED with a challenge naming the scope the request needs; so do bearer
// tokens without the scope (the client fetches a new token); htpasswd users without the right
// get 403 DENIED. Sets `ctx.state.user` (per-user rate limits key on it), what the caller may
// pull for handlers that read a second repository (request-access.ts) and, for the catalog,
// `ctx.state.canPull` (the catalog lists only what the caller may pull).
import type { Context, Middleware } from 'koa';
import { RegistryError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AccessRules, Caller } from './access-rules.js';
import type { AuthConfig } from './auth-config.js';
import type { HtpasswdFile } from './htpasswd.js';
import type { LoginGuard } from './login-guard.js';
import { setPullCheck } from './request-access.js';
import { requiredAccess, scopeString, type Need } from './route-scopes.js';
import { grants, TokenError, type TokenVerifier, type VerifiedToken } from './token-verifier.js';

export interface RegistryAuthDeps {
  config: AuthConfig;
  rules: AccessRules;
  log: Logger;
  htpasswd?: HtpasswdFile;
  guard?: LoginGuard;
  verifier?: TokenVerifier;
  /** The token endpoint path when the built-in service runs on this server. */
  builtinTokenPath?: string;
}

function quote(v: string): string {
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * The built-in token service as this connection reached it: the listener's own address (loopback;
 * a listener elsewhere needs auth.token.realm, see auth-config.ts), https on TLS. Never the
 * request's Host header: `Host: evil.example` would send clients' passwords there.
 */
export function listenerOrigin(ctx: Context): string {
  const socket = ctx.req.socket;
  let host = (socket.localAddress ?? '127.0.0.1').replace(/^::ffff:(?=\d+\.)/, '');
  if (host.includes(':')) host = `[${host}]`;
  return `${ctx.protocol}://${host}:${socket.localPort}`;
}

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

  async function basicCaller(ctx: Context, needs: Need[]): Promise<Caller> {
    const header = ctx.get('Authorization');
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!m) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // `Basic Og==` (an empty user and password) is what some clients send for "no credentials".
    if (colon === 0 && decoded === ':') return undefined;
    if (colon <= 0) throw unauthorized(ctx, needs, 'malformed Basic credentials');
    const user = decoded.slice(0, colon);
    const decision = deps.guard!.check(user, ctx.ip);
    if (!decision.ok) {
      throw new RegistryError('TOOMANYREQUESTS', 'too many failed logins: try again later', { retryAfter: decision.retryAfterSeconds }).withHeader(
        'Retry-After',
        String(decision.retryAfterSeconds),
      );
    }
    const password = decoded.slice(colon + 1);
    if (!(await deps.htpasswd!.verify(user, password))) {
      deps.guard!.failed(user, ctx.ip, Date.now(), password);
      throw unauthorized(ctx, needs, 'invalid username or password');
    }
    deps.guard!.succeeded(user);
    return user;
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
    let held: (n: Need) => boolean;
    let authenticated: boolean;
    if (config.mode === 'htpasswd') {
      caller = await basicCaller(ctx, needs);
      authenticated = caller !== undefined;
      held = (n) =>
        n.type === 'registry' ? (n.name === 'admin' ? rules.isAdmin(caller) : rules.mayListCatalog(caller)) : rules.allowed(caller, n.name).has(n.action as never);
      // Anonymous callers may read what the rules give them; GET /v2/ still asks them to log in.
      if (!authenticated && (needs.length === 0 || !needs.every(held))) throw unauthorized(ctx, needs, 'authentication required');
    } else {
      const token = await bearerToken(ctx, needs);
      if (!token) throw unauthorized(ctx, needs, 'authentication required');
      caller = token.subject || undefined;
      authenticated = caller !== undefined;
      held = (n) => grants(token, n.type, n.name, n.action);
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
      ctx.state.canPull = (name: string) => rules.allowed(caller, name).has('pull');
    }
    return next();
  };
}
