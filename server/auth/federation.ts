// CI identity federation: an OIDC ID token from a trusted issuer (GitHub Actions, GitLab CI, a
// Kubernetes service account) is exchanged at the token service for a registry token, with no
// secret stored here. The issuer's keys come from its discovery document's `jwks_uri` (cached);
// the token must be signed with an allowed asymmetric algorithm (so `none` and HMAC never pass),
// be for the configured audience and not be expired. What it may do comes from the rules, which
// match its claims: the same token never gets more than a matching rule names.
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Logger } from '../logger.js';
import { globToRegExp, type AccessView, type Caller } from './access-rules.js';
import type { Action, AuthConfig } from './auth-config.js';

export type FederationConfig = AuthConfig['federation'];

/** Why an ID token was refused; `kind` for callers and tests, the message for the client and the log. */
export class FederationError extends Error {
  constructor(
    readonly kind: 'malformed' | 'unsigned' | 'unknown-issuer' | 'expired' | 'audience' | 'signature' | 'no-rule' | 'discovery',
    message: string,
    /** What the token claims (unverified), for the log and the audit record. */
    readonly claimed: { issuer?: string; subject?: string } = {},
  ) {
    super(message);
    this.name = 'FederationError';
  }
}

export interface FederatedPrincipal {
  /** The registry token's subject: `oidc:` and the ID token's `sub`. */
  name: string;
  issuer: string;
  subject: string;
  claims: Record<string, unknown>;
  access: FederatedAccess;
  /** The ID token's expiry (ms): a registry token issued from it lasts no longer. */
  expiresAt: number;
}

/** Claims kept for the audit trail (the token's own bookkeeping claims left out, the size bounded). */
function auditClaims(payload: JWTPayload): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let size = 0;
  for (const [k, v] of Object.entries(payload)) {
    if (['aud', 'exp', 'iat', 'nbf', 'jti'].includes(k)) continue;
    const len = JSON.stringify(v)?.length ?? 0;
    if (size + len > 4096) continue;
    size += len;
    out[k] = v;
  }
  return out;
}

interface CompiledRule {
  issuer: string;
  claims: [string, RegExp[]][];
  repositories: string[];
  actions: Action[];
}

/** Values substituted into repository globs must not widen them. */
function claimText(v: unknown): string | undefined {
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return undefined;
  const s = String(v);
  return /[*?[\]{}\s]/.test(s) ? undefined : s;
}

export function compileRules(rules: FederationConfig['rules']): CompiledRule[] {
  return rules.map((r) => ({
    issuer: r.issuer,
    claims: Object.entries(r.claims).map(([k, v]) => [k, (Array.isArray(v) ? v : [v]).map(globToRegExp)] as [string, RegExp[]]),
    repositories: r.repositories,
    actions: r.actions,
  }));
}

/** The access the rules give a verified token's claims: repository globs (with `${claim}` filled in) → actions. */
export function accessForClaims(rules: CompiledRule[], issuer: string, claims: Record<string, unknown>): { re: RegExp; actions: Action[] }[] {
  const out: { re: RegExp; actions: Action[] }[] = [];
  for (const rule of rules) {
    if (rule.issuer && rule.issuer !== issuer) continue;
    const matches = rule.claims.every(([name, globs]) => {
      const v = claimText(claims[name]);
      return v !== undefined && globs.some((g) => g.test(v));
    });
    if (!matches) continue;
    for (const pattern of rule.repositories) {
      let ok = true;
      const filled = pattern.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
        const v = claimText(claims[name]);
        if (v === undefined) ok = false;
        return v ?? '';
      });
      if (ok) out.push({ re: globToRegExp(filled), actions: rule.actions });
    }
  }
  return out;
}

export class FederatedAccess implements AccessView {
  constructor(private readonly entries: { re: RegExp; actions: Action[] }[]) {}

  allowed(_caller: Caller, repository: string): Set<Action> {
    const out = new Set<Action>();
    for (const e of this.entries) if (e.re.test(repository)) for (const a of e.actions) out.add(a);
    return out;
  }

  isAdmin(): boolean {
    return false;
  }

  mayListCatalog(): boolean {
    return true;
  }

  /** No catalog token: a registry behind this token service may list everything to its holder. */
  mayGetCatalogToken(): boolean {
    return false;
  }
}

interface IssuerKeys {
  fetchedAt: number;
  keys: ReturnType<typeof createRemoteJWKSet>;
}

export class Federation {
  private readonly keys = new Map<string, IssuerKeys>();
  private readonly failedAt = new Map<string, number>();
  private readonly rules: CompiledRule[];

  constructor(
    private readonly config: FederationConfig,
    private readonly log: Logger,
  ) {
    this.rules = compileRules(config.rules);
  }

  get username(): string {
    return this.config.username;
  }

  get enabled(): boolean {
    return this.config.issuers.length > 0;
  }

  /** The issuer's JWKS, from its discovery document (cached for discoveryCacheFor; a failure is retried after 30 s). */
  private async keysOf(issuer: FederationConfig['issuers'][number]): Promise<IssuerKeys['keys']> {
    const now = Date.now();
    const hit = this.keys.get(issuer.issuer);
    if (hit && now - hit.fetchedAt < this.config.discoveryCacheFor) return hit.keys;
    let jwksUri = issuer.jwksUrl;
    if (!jwksUri) {
      const failed = this.failedAt.get(issuer.issuer);
      if (failed !== undefined && now - failed < 30_000 && hit) return hit.keys;
      const url = `${issuer.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000), redirect: 'error' });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
        // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
        if (doc.issuer !== issuer.issuer) throw new Error(`the document names issuer ${JSON.stringify(doc.issuer)}`);
        if (typeof doc.jwks_uri !== 'string' || !/^https?:\/\//.test(doc.jwks_uri)) throw new Error('the document has no jwks_uri');
        jwksUri = doc.jwks_uri;
        this.failedAt.delete(issuer.issuer);
      } catch (err) {
        this.failedAt.set(issuer.issuer, now);
        this.log.error({ issuer: issuer.issuer, url, err: (err as Error).message }, 'federation: fetching the discovery document failed');
        if (hit) return hit.keys; // keep the keys known before
        throw new FederationError('discovery', `the issuer's keys cannot be fetched now`, { issuer: issuer.issuer });
      }
    }
    const keys = createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: 30_000, cacheMaxAge: this.config.discoveryCacheFor });
    this.keys.set(issuer.issuer, { fetchedAt: now, keys });
    return keys;
  }

  /** Verifies an ID token and maps its claims to access; throws FederationError. */
  async exchange(idToken: string, now = Date.now()): Promise<FederatedPrincipal> {
    let claimed: JWTPayload;
    let alg: unknown;
    try {
      claimed = decodeJwt(idToken);
      alg = decodeProtectedHeader(idToken).alg;
    } catch {
      throw new FederationError('malformed', 'the password is not an ID token (a signed JWT)');
    }
    const who = { issuer: typeof claimed.iss === 'string' ? claimed.iss.slice(0, 200) : undefined, subject: typeof claimed.sub === 'string' ? claimed.sub.slice(0, 200) : undefined };
    if (typeof alg !== 'string' || alg === 'none' || alg.startsWith('HS')) throw new FederationError('unsigned', `ID tokens signed with ${JSON.stringify(alg)} are not accepted`, who);
    const issuer = this.config.issuers.find((i) => i.issuer === claimed.iss);
    if (!issuer) throw new FederationError('unknown-issuer', `issuer ${JSON.stringify(who.issuer ?? '')} is not trusted`, who);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(idToken, await this.keysOf(issuer), {
        issuer: issuer.issuer,
        audience: issuer.audience,
        algorithms: this.config.algorithms,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: Math.round(this.config.leeway / 1000),
        currentDate: new Date(now),
      }));
    } catch (err) {
      if (err instanceof FederationError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new FederationError('expired', 'the ID token has expired', who);
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'aud') {
        throw new FederationError('audience', `the ID token is not for this registry (audience must be ${issuer.audience})`, who);
      }
      throw new FederationError('signature', `the ID token does not verify: ${(err as Error).message}`, who);
    }
    const claims = auditClaims(payload);
    const entries = accessForClaims(this.rules, issuer.issuer, payload);
    if (entries.length === 0) throw new FederationError('no-rule', 'no federation rule matches the ID token', who);
    return {
      name: `oidc:${payload.sub}`,
      issuer: issuer.issuer,
      subject: payload.sub!,
      claims,
      access: new FederatedAccess(entries),
      expiresAt: payload.exp! * 1000,
    };
  }
}
