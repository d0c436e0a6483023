// The built-in token service (distribution's docs/spec/auth/token.md and oauth.md): users from
// htpasswd (or anonymous), short-lived ES256 JWTs carrying the granted subset of the requested
// scopes, the OAuth2 POST flow with password and refresh_token grants, and the public keys as a
// JWKS. Refresh tokens are JWTs too (signed by the same key, with an audience no registry accepts),
// so nothing has to be stored; a refresh stops working when the user leaves the htpasswd file.
// Robots (`robot+NAME` with their secret, robot-tokens.ts) log in like users; CI jobs exchange an
// OIDC ID token (federation.ts) with the reserved user name or OAuth2's token-exchange grant.
import { randomUUID } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { SignJWT, jwtVerify } from 'jose';
import type { AccessRules, AccessView } from '../auth/access-rules.js';
import { FEDERATED_STATE, type AuditLog, type FederatedIdentity } from '../audit/audit-log.js';
import { FederationError, type Federation, type FederatedPrincipal } from '../auth/federation.js';
import { RobotAccess, robotNameOf, ROBOT_USER_PREFIX, type RobotTokenStore } from '../auth/robot-tokens.js';
import type { AuthConfig } from '../auth/auth-config.js';
import type { HtpasswdFile } from '../auth/htpasswd.js';
import type { LoginGuardLike } from '../auth/login-guard.js';
import type { ResourceAccess } from '../auth/token-verifier.js';
import type { Logger } from '../logger.js';
import { readBoundedBody } from '../request-body.js';
import { grantScopes } from './scopes.js';
import type { SigningKey } from './signing-key.js';

const FORM_LIMIT = 64 * 1024;
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN_TYPES = ['urn:ietf:params:oauth:token-type:id_token', 'urn:ietf:params:oauth:token-type:jwt'];

/** Who a token is for: a user of the htpasswd file, a robot, or a federated CI identity. */
export interface Principal {
  name: string;
  /** What it may do (the access rules for users). */
  view: AccessView;
  federated?: FederatedPrincipal;
}

class TokenRequestError extends Error {
  constructor(
    readonly status: number,
    readonly oauthError: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface TokenServiceDeps {
  config: AuthConfig;
  key: SigningKey;
  htpasswd: HtpasswdFile;
  rules: AccessRules;
  guard: LoginGuardLike;
  log: Logger;
  robots?: RobotTokenStore;
  federation?: Federation;
  audit?: AuditLog;
}

export class TokenService {
  readonly tokenPath: string;
  readonly jwksPath: string;

  constructor(private readonly deps: TokenServiceDeps) {
    this.tokenPath = `${deps.config.tokenService.path}/token`;
    this.jwksPath = `${deps.config.tokenService.path}/jwks.json`;
  }

  get service(): string {
    return this.deps.config.token.service;
  }

  /** `kid`, and the certificate chain when there is one (registries with a certificate bundle check it first). */
  private header(): { alg: 'ES256'; typ: 'JWT'; kid: string; x5c?: string[] } {
    const { kid, x5c } = this.deps.key;
    return x5c ? { alg: 'ES256', typ: 'JWT', kid, x5c } : { alg: 'ES256', typ: 'JWT', kid };
  }

  /** Signs an access token for `subject` ('' for anonymous) with these grants, for `audience` (a registry's service name). */
  async issue(
    subject: string,
    access: ResourceAccess[],
    now = Date.now(),
    audience = this.service,
    opts: { notAfter?: number; claims?: Record<string, unknown> } = {},
  ): Promise<{ token: string; expiresIn: number; issuedAt: Date }> {
    const { key, config } = this.deps;
    const iat = Math.floor(now / 1000);
    let expiresIn = Math.max(1, Math.round(config.tokenService.expiry / 1000));
    // A token from a federated ID token lasts no longer than the ID token.
    if (opts.notAfter !== undefined) expiresIn = Math.max(1, Math.min(expiresIn, Math.floor(opts.notAfter / 1000) - iat));
    const token = await new SignJWT({ ...opts.claims, access })
      .setProtectedHeader(this.header())
      .setIssuer(config.tokenService.issuer)
      .setSubject(subject)
      .setAudience(audience)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + expiresIn)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { token, expiresIn, issuedAt: new Date(iat * 1000) };
  }

  private refreshAudience(): string {
    return `${this.deps.config.tokenService.issuer}#refresh`;
  }

  private async issueRefresh(subject: string): Promise<string> {
    const { key, config } = this.deps;
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader(this.header())
      .setIssuer(config.tokenService.issuer)
      .setSubject(subject)
      .setAudience(this.refreshAudience())
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.round(config.tokenService.refreshExpiry / 1000))
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  private async subjectOfRefresh(refreshToken: string): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(refreshToken, this.deps.key.publicKey, {
        algorithms: ['ES256'],
        audience: this.refreshAudience(),
        issuer: this.deps.config.tokenService.issuer,
        requiredClaims: ['exp', 'sub'],
      });
      const sub = payload.sub!;
      const robot = robotNameOf(sub);
      if (robot !== undefined) {
        // A removed or expired robot's refresh tokens stop with it.
        const r = await this.deps.robots?.active(robot);
        if (!r) throw new Error('unknown robot');
        return { name: sub, view: new RobotAccess(this.deps.rules, r) };
      }
      if (!this.deps.htpasswd.has(sub)) throw new Error('unknown user');
      return { name: sub, view: this.deps.rules };
    } catch {
      throw new TokenRequestError(401, 'invalid_grant', 'invalid or expired refresh token');
    }
  }

  /** Verifies an OIDC ID token; refusals are logged and audited. */
  private async federate(ctx: Context, idToken: string): Promise<Principal> {
    const { federation, log, audit } = this.deps;
    if (!federation?.enabled) throw new TokenRequestError(401, 'invalid_grant', 'identity federation is not configured');
    try {
      const p = await federation.exchange(idToken);
      const identity: FederatedIdentity = { issuer: p.issuer, subject: p.subject, claims: p.claims };
      ctx.state[FEDERATED_STATE] = identity;
      return { name: p.name, view: p.access, federated: p };
    } catch (err) {
      if (!(err instanceof FederationError)) throw err;
      log.warn({ client: ctx.ip, reason: err.kind, issuer: err.claimed.issuer, subject: err.claimed.subject, err: err.message }, 'federation: ID token refused');
      void audit?.record(
        {
          action: 'login.failure',
          outcome: 'failure',
          actor: { kind: 'federated', ...(err.claimed.subject ? { name: `oidc:${err.claimed.subject}` } : {}), ...(err.claimed.issuer ? { issuer: err.claimed.issuer } : {}) },
          reason: err.message,
          detail: { refused: err.kind, unverifiedClaims: true },
        },
        ctx,
      );
      throw new TokenRequestError(401, 'invalid_grant', `ID token refused: ${err.message}`);
    }
  }

  /** Checks a password (a user's, a robot's secret, or an ID token), with brute-force protection; returns who it is or throws. */
  private async login(ctx: Context, user: string, password: string): Promise<Principal> {
    const { guard, htpasswd, robots, federation, audit, rules } = this.deps;
    if (federation?.enabled && user === federation.username) return this.federate(ctx, password);
    const decision = await guard.check(user, ctx.ip);
    if (!decision.ok) throw new TokenRequestError(429, 'slow_down', 'too many failed logins: try again later', decision.retryAfterSeconds);
    let principal: Principal | undefined;
    if (user.startsWith(ROBOT_USER_PREFIX)) {
      const robot = await robots?.authenticate(user, password);
      if (robot) principal = { name: user, view: new RobotAccess(rules, robot) };
    } else if (await htpasswd.verify(user, password)) {
      principal = { name: user, view: rules };
    }
    if (!principal) {
      await guard.failed(user, ctx.ip, Date.now(), password);
      void audit?.record({ action: 'login.failure', outcome: 'failure', actor: { kind: user.startsWith(ROBOT_USER_PREFIX) ? 'robot' : 'user', name: user.slice(0, 200) }, reason: 'invalid username or password' }, ctx);
      throw new TokenRequestError(401, 'invalid_grant', 'invalid username or password');
    }
    await guard.succeeded(user);
    return principal;
  }

  /** The audience of the token: the requested service when it is ours or one of `tokenService.services`. */
  private audienceFor(service: string | null | undefined): string {
    if (!service) return this.service;
    if (service !== this.service && !this.deps.config.tokenService.services.includes(service)) {
      throw new TokenRequestError(400, 'invalid_request', `unknown service ${JSON.stringify(service.slice(0, 200))}`);
    }
    return service;
  }

  private async answer(ctx: Context, who: Principal | undefined, scopes: string[], offline: boolean, audience: string, extra: Record<string, unknown> = {}): Promise<void> {
    const caller = who?.name;
    const access = grantScopes(who?.view ?? this.deps.rules, caller, scopes);
    const fed = who?.federated;
    const { token, expiresIn, issuedAt } = await this.issue(
      caller ?? '',
      access,
      Date.now(),
      audience,
      fed ? { notAfter: fed.expiresAt, claims: { fed: { iss: fed.issuer, sub: fed.subject, claims: fed.claims } } } : {},
    );
    const body: Record<string, unknown> = { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt.toISOString(), ...extra };
    if (ctx.method === 'POST') body.scope = access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' ');
    // A federated identity has no refresh token: a new ID token is exchanged instead.
    if (offline && caller !== undefined && !fed) body.refresh_token = await this.issueRefresh(caller);
    if (caller !== undefined) ctx.state.user = { name: caller };
    if (fed) void this.deps.audit?.record({ action: 'token.exchange', outcome: 'success', target: { scopes: body.scope ?? access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' ') } }, ctx);
    this.deps.log.debug({ user: caller ?? '', requested: scopes, granted: access }, 'token issued');
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(body);
  }

  private async handleGet(ctx: Context): Promise<void> {
    const q = new URLSearchParams(ctx.querystring);
    const audience = this.audienceFor(q.get('service'));
    const scopes = q.getAll('scope');
    const auth = ctx.get('Authorization');
    let caller: Principal | undefined;
    if (auth && !/^Basic\s+Og==\s*$/i.test(auth)) {
      const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth);
      const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      if (colon <= 0) throw new TokenRequestError(401, 'invalid_request', 'malformed Basic credentials');
      caller = await this.login(ctx, decoded.slice(0, colon), decoded.slice(colon + 1));
      const account = q.get('account');
      if (account && account !== caller.name && account !== decoded.slice(0, colon)) throw new TokenRequestError(400, 'invalid_request', 'account does not match the credentials');
    }
    await this.answer(ctx, caller, scopes, q.get('offline_token') === 'true', audience);
  }

  private async handlePost(ctx: Context): Promise<void> {
    if (!ctx.is('application/x-www-form-urlencoded')) throw new TokenRequestError(400, 'invalid_request', 'expected an application/x-www-form-urlencoded body');
    const body = await readBoundedBody(ctx, FORM_LIMIT, () => new TokenRequestError(413, 'invalid_request', 'request body too large'));
    const form = new URLSearchParams(body.toString('utf8'));
    const audience = this.audienceFor(form.get('service'));
    const grant = form.get('grant_type');
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    if (grant === TOKEN_EXCHANGE) {
      // RFC 8693: the CI job's ID token as the subject token, no client credentials.
      const type = form.get('subject_token_type') ?? '';
      if (!ID_TOKEN_TYPES.includes(type)) throw new TokenRequestError(400, 'invalid_request', `subject_token_type must be one of ${ID_TOKEN_TYPES.join(', ')}`);
      const who = await this.federate(ctx, form.get('subject_token') ?? '');
      return this.answer(ctx, who, scopes, false, audience, { issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer' });
    }
    if (!form.get('client_id')) throw new TokenRequestError(400, 'invalid_request', 'client_id is required');
    const offline = form.get('access_type') === 'offline';
    if (grant === 'password') {
      const user = form.get('username') ?? '';
      if (!user) throw new TokenRequestError(400, 'invalid_request', 'username is required');
      const caller = await this.login(ctx, user, form.get('password') ?? '');
      return this.answer(ctx, caller, scopes, offline, audience);
    }
    if (grant === 'refresh_token') {
      const caller = await this.subjectOfRefresh(form.get('refresh_token') ?? '');
      return this.answer(ctx, caller, scopes, offline, audience);
    }
    throw new TokenRequestError(400, 'unsupported_grant_type', `unsupported grant_type ${JSON.stringify((grant ?? '').slice(0, 50))}`);
  }

  middleware(): Middleware {
    return async (ctx, next) => {
      if (ctx.path === this.jwksPath && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
        ctx.type = 'application/json';
        ctx.set('Cache-Control', 'max-age=300');
        ctx.body = JSON.stringify({ keys: [this.deps.key.publicJwk] });
        return;
      }
      if (ctx.path !== this.tokenPath) return next();
      try {
        if (ctx.method === 'GET') await this.handleGet(ctx);
        else if (ctx.method === 'POST') await this.handlePost(ctx);
        else throw new TokenRequestError(405, 'invalid_request', `${ctx.method} is not supported on the token endpoint`);
      } catch (err) {
        if (!(err instanceof TokenRequestError)) throw err;
        ctx.status = err.status;
        if (err.retryAfter !== undefined) ctx.set('Retry-After', String(err.retryAfter));
        if (err.status === 401) ctx.set('WWW-Authenticate', `Basic realm="${this.deps.config.htpasswd.realm}"`);
        ctx.type = 'application/json';
        const code = err.status === 401 ? 'UNAUTHORIZED' : err.status === 429 ? 'TOOMANYREQUESTS' : 'UNSUPPORTED';
        // Both shapes: the registry error format Docker clients read and OAuth2's.
        ctx.body = JSON.stringify({ errors: [{ code, message: err.message, detail: {} }], error: err.oauthError, error_description: err.message });
      }
    };
  }
}
