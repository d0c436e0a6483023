// The built-in token service (distribution's docs/spec/auth/token.md and oauth.md): users from
// htpasswd (or anonymous), short-lived ES256 JWTs carrying the granted subset of the requested
// scopes, the OAuth2 POST flow with password and refresh_token grants, and the public keys as a
// JWKS. Refresh tokens are JWTs too (signed by the same key, with an audience no registry accepts),
// so nothing has to be stored; a refresh stops working when the user leaves the htpasswd file.
import { randomUUID } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { SignJWT, jwtVerify } from 'jose';
import type { AccessRules, Caller } from '../auth/access-rules.js';
import type { AuthConfig } from '../auth/auth-config.js';
import type { HtpasswdFile } from '../auth/htpasswd.js';
import type { LoginGuard } from '../auth/login-guard.js';
import type { ResourceAccess } from '../auth/token-verifier.js';
import type { Logger } from '../logger.js';
import { readBoundedBody } from '../request-body.js';
import { grantScopes } from './scopes.js';
import type { SigningKey } from './signing-key.js';

const FORM_LIMIT = 64 * 1024;

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
  guard: LoginGuard;
  log: Logger;
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
  async issue(subject: string, access: ResourceAccess[], now = Date.now(), audience = this.service): Promise<{ token: string; expiresIn: number; issuedAt: Date }> {
    const { key, config } = this.deps;
    const iat = Math.floor(now / 1000);
    const expiresIn = Math.max(1, Math.round(config.tokenService.expiry / 1000));
    const token = await new SignJWT({ access })
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

  private async subjectOfRefresh(refreshToken: string): Promise<string> {
    try {
      const { payload } = await jwtVerify(refreshToken, this.deps.key.publicKey, {
        algorithms: ['ES256'],
        audience: this.refreshAudience(),
        issuer: this.deps.config.tokenService.issuer,
        requiredClaims: ['exp', 'sub'],
      });
      const sub = payload.sub!;
      if (!this.deps.htpasswd.has(sub)) throw new Error('unknown user');
      return sub;
    } catch {
      throw new TokenRequestError(401, 'invalid_grant', 'invalid or expired refresh token');
    }
  }

  /** Checks a password, with brute-force protection; returns the user or throws. */
  private async login(ctx: Context, user: string, password: string): Promise<string> {
    const { guard, htpasswd } = this.deps;
    const decision = guard.check(user, ctx.ip);
    if (!decision.ok) throw new TokenRequestError(429, 'slow_down', 'too many failed logins: try again later', decision.retryAfterSeconds);
    if (!(await htpasswd.verify(user, password))) {
      guard.failed(user, ctx.ip, Date.now(), password);
      throw new TokenRequestError(401, 'invalid_grant', 'invalid username or password');
    }
    guard.succeeded(user);
    return user;
  }

  /** The audience of the token: the requested service when it is ours or one of `tokenService.services`. */
  private audienceFor(service: string | null | undefined): string {
    if (!service) return this.service;
    if (service !== this.service && !this.deps.config.tokenService.services.includes(service)) {
      throw new TokenRequestError(400, 'invalid_request', `unknown service ${JSON.stringify(service.slice(0, 200))}`);
    }
    return service;
  }

  private async answer(ctx: Context, caller: Caller, scopes: string[], offline: boolean, audience: string): Promise<void> {
    const access = grantScopes(this.deps.rules, caller, scopes);
    const { token, expiresIn, issuedAt } = await this.issue(caller ?? '', access, Date.now(), audience);
    const body: Record<string, unknown> = { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt.toISOString() };
    if (ctx.method === 'POST') body.scope = access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' ');
    if (offline && caller !== undefined) body.refresh_token = await this.issueRefresh(caller);
    if (caller !== undefined) ctx.state.user = { name: caller };
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
    let caller: Caller;
    if (auth && !/^Basic\s+Og==\s*$/i.test(auth)) {
      const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth);
      const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      if (colon <= 0) throw new TokenRequestError(401, 'invalid_request', 'malformed Basic credentials');
      caller = await this.login(ctx, decoded.slice(0, colon), decoded.slice(colon + 1));
      const account = q.get('account');
      if (account && account !== caller) throw new TokenRequestError(400, 'invalid_request', 'account does not match the credentials');
    }
    await this.answer(ctx, caller, scopes, q.get('offline_token') === 'true', audience);
  }

  private async handlePost(ctx: Context): Promise<void> {
    if (!ctx.is('application/x-www-form-urlencoded')) throw new TokenRequestError(400, 'invalid_request', 'expected an application/x-www-form-urlencoded body');
    const body = await readBoundedBody(ctx, FORM_LIMIT, () => new TokenRequestError(413, 'invalid_request', 'request body too large'));
    const form = new URLSearchParams(body.toString('utf8'));
    const audience = this.audienceFor(form.get('service'));
    if (!form.get('client_id')) throw new TokenRequestError(400, 'invalid_request', 'client_id is required');
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    const grant = form.get('grant_type');
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
