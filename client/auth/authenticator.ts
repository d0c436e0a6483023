// Answers registry auth challenges: Basic with stored credentials, or Bearer tokens from the
// registry's token service (Docker token auth: GET with `account`, or the OAuth2 POST flow with
// a refresh token), cached per registry and scope until they expire.
import { ClientError, parseErrorBody } from '../errors.js';
import { header, type Transport } from '../transport.js';
import type { Challenge } from './challenge.js';
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

  /** Handles a 401: works out an Authorization header for the challenge, or throws. */
  async authorize(registry: string, scopes: string[], challenge: Challenge): Promise<string> {
    this.challenges.set(registry, challenge);
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
      throw new ClientError(`${registry} asks for unsupported authentication scheme ${challenge.scheme}`);
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
      throw new ClientError(`${registry}: authentication failed at ${realm}: ${parseErrorBody(text).message ?? `HTTP ${res.status}`}`);
    }
    if (res.status >= 300) throw new ClientError(`${registry}: token service ${realm} answered HTTP ${res.status}`);
    try {
      return JSON.parse(text) as TokenResponse;
    } catch {
      throw new ClientError(`${registry}: token service ${realm} returned invalid JSON (${header(res, 'content-type') ?? 'no content type'})`);
    }
  }

  forget(registry: string): void {
    for (const k of this.cache.keys()) if (k.startsWith(`${registry}|`)) this.cache.delete(k);
    this.challenges.delete(registry);
  }
}
