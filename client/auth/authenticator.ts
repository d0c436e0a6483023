// Answers registry auth challenges: Basic with stored credentials, or Bearer tokens from the
// registry's token service (Docker token auth: GET with `account`, or the OAuth2 POST flow with
// a refresh token), cached per registry and scope until they expire.
import { ClientError, kindOfResponse, parseErrorBody } from '../errors.js';
import { header, type Transport } from '../transport.js';
import { parseChallenges, type Challenge } from './challenge.js';
import type { CredentialSource, Credentials } from './credentials.js';

interface CachedAuth {
  value: string;
  expiresAt: number;
}

export interface TokenResponse {
  token?: string;
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
  issued_at?: string;
}

/** Tokens are refreshed this long before they expire. */
const EXPIRY_MARGIN_MS = 10_000;
/** The token spec's default lifetime when expires_in is missing. */
const DEFAULT_TOKEN_LIFETIME_S = 60;

export class Authenticator {
  private readonly cache = new Map<string, CachedAuth>();
  /** The challenge each registry last sent: lets later requests authenticate up front. */
  private readonly challenges = new Map<string, Challenge>();

  constructor(
    private readonly transport: Transport,
    private readonly credentials: CredentialSource,
    private readonly clientId = 'stevedore',
  ) {}

  private key(registry: string, scopes: string[]): string {
    return `${registry}|${[...scopes].sort().join(' ')}`;
  }

  /** An Authorization header known to work for these scopes, if any. */
  async cached(registry: string, scopes: string[]): Promise<string | undefined> {
    const hit = this.cache.get(this.key(registry, scopes));
    if (hit && hit.expiresAt > Date.now() + EXPIRY_MARGIN_MS) return hit.value;
    const challenge = this.challenges.get(registry);
    if (challenge) return this.authorize(registry, scopes, challenge);
    return undefined;
  }

  /** Token requests in flight: concurrent requests for the same scopes share one. */
  private readonly pending = new Map<string, Promise<string>>();

  /** Handles a 401: works out an Authorization header for the challenge, or throws. */
  authorize(registry: string, scopes: string[], challenge: Challenge): Promise<string> {
    this.challenges.set(registry, challenge);
    const key = this.key(registry, scopes);
    let p = this.pending.get(key);
    if (!p) {
      p = this.obtain(registry, scopes, challenge).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  private async obtain(registry: string, scopes: string[], challenge: Challenge): Promise<string> {
    const creds = await this.credentials.get(registry);
    let value: string;
    let expiresAt = Number.POSITIVE_INFINITY;
    if (challenge.scheme === 'basic') {
      if (!creds?.username || creds.password === undefined) {
        throw new ClientError(`${registry} requires a username and password (stevedore login ${registry})`);
      }
      value = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    } else if (challenge.scheme === 'bearer') {
      const realm = challenge.params.realm;
      if (!realm) throw new ClientError(`${registry} sent a Bearer challenge without a realm`);
      const scopeList = scopes.length > 0 ? scopes : challenge.params.scope ? challenge.params.scope.split(' ') : [];
      const tok = await this.fetchToken(registry, realm, challenge.params.service, scopeList, creds);
      const token = tok.token ?? tok.access_token;
      if (!token) throw new ClientError(`token service ${realm} returned no token`);
      value = `Bearer ${token}`;
      const issued = tok.issued_at ? Date.parse(tok.issued_at) : Date.now();
      expiresAt = (Number.isNaN(issued) ? Date.now() : Math.min(issued, Date.now())) + (tok.expires_in ?? DEFAULT_TOKEN_LIFETIME_S) * 1000;
    } else {
      throw new ClientError(`${registry} asks for unsupported authentication scheme ${challenge.scheme}`, { kind: 'unsupported' });
    }
    this.cache.set(this.key(registry, scopes), { value, expiresAt });
    return value;
  }

  /** Fetches a token: OAuth2 POST when we hold a refresh token, otherwise GET (Basic-authenticated if we can). */
  async fetchToken(registry: string, realm: string, service: string | undefined, scopes: string[], creds: Credentials | undefined, opts: { offline?: boolean } = {}): Promise<TokenResponse> {
    let res;
    if (creds?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: this.clientId });
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      res = await this.transport.send(registry, {
        method: 'POST',
        path: realm,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (creds?.username) {
        url.searchParams.set('account', creds.username);
        headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
      }
      if (opts.offline) {
        url.searchParams.set('offline_token', 'true');
        url.searchParams.set('client_id', this.clientId);
      }
      res = await this.transport.send(registry, { method: 'GET', path: url.toString(), headers });
    }
    const text = await res.body.text();
    if (res.status === 401 || res.status === 403) {
      throw new ClientError(`${registry}: authentication failed at ${realm}: ${parseErrorBody(text).message ?? `HTTP ${res.status}`}`, {
        kind: 'unauthorized',
        hint: `log in with: stevedore login ${registry}`,
      });
    }
    if (res.status >= 300) throw new ClientError(`${registry}: token service ${realm} answered HTTP ${res.status}`, { kind: kindOfResponse(res.status) });
    try {
      return JSON.parse(text) as TokenResponse;
    } catch {
      throw new ClientError(`${registry}: token service ${realm} returned invalid JSON (${header(res, 'content-type') ?? 'no content type'})`);
    }
  }

  /**
   * Checks credentials against a registry the way `docker login` does: GET /v2/, answering its
   * challenge with these credentials only. For token auth an offline token is asked for; a
   * refresh token in the answer is returned so it can be stored instead of the password.
   */
  async login(registry: string, creds: Credentials): Promise<{ identityToken?: string }> {
    const res = await this.transport.send(registry, { method: 'GET', path: '/v2/' });
    await res.body.dump();
    if (res.status === 200) return {};
    if (res.status !== 401) throw new ClientError(`${registry}: GET /v2/ answered HTTP ${res.status}`, { kind: kindOfResponse(res.status) });
    const challenge = parseChallenges(header(res, 'www-authenticate') ?? '')[0];
    if (!challenge) throw new ClientError(`${registry}: 401 without a WWW-Authenticate challenge`);
    let authorization: string;
    let identityToken: string | undefined;
    if (challenge.scheme === 'basic') {
      authorization = `Basic ${Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`).toString('base64')}`;
    } else if (challenge.scheme === 'bearer' && challenge.params.realm) {
      const tok = await this.fetchToken(registry, challenge.params.realm, challenge.params.service, [], creds, { offline: true });
      const token = tok.token ?? tok.access_token;
      if (!token) throw new ClientError(`${registry}: the token service returned no token`);
      authorization = `Bearer ${token}`;
      identityToken = tok.refresh_token;
    } else {
      throw new ClientError(`${registry} asks for unsupported authentication scheme ${challenge.scheme}`, { kind: 'unsupported' });
    }
    const check = await this.transport.send(registry, { method: 'GET', path: '/v2/', headers: { authorization } });
    await check.body.dump();
    if (check.status === 401 || check.status === 403) throw new ClientError(`${registry}: login failed: the credentials were refused (HTTP ${check.status})`, { kind: 'unauthorized' });
    if (check.status !== 200) throw new ClientError(`${registry}: GET /v2/ answered HTTP ${check.status}`, { kind: kindOfResponse(check.status) });
    return identityToken ? { identityToken } : {};
  }

  forget(registry: string): void {
    for (const k of this.cache.keys()) if (k.startsWith(`${registry}|`)) this.cache.delete(k);
    this.challenges.delete(registry);
  }
}
