// Verifies registry bearer tokens (distribution's token.md and jwt.md) with jose: the signature
// against trusted keys (a JWKS URL, a JWKS file re-read when it changes, a PEM certificate bundle
// with `x5c` chains or `kid` lookups, the built-in token service's own key), an algorithm
// allow-list (so `none` and HS256-with-a-public-key never verify), `aud` = the service, `iss`
// when configured, `exp` required and `nbf` honoured with a small leeway. Verified tokens are
// remembered by their exact bytes until they expire, so a client's repeated requests cost a map
// lookup instead of an ECDSA verify.
import { X509Certificate, type KeyObject, type webcrypto } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTHeaderParameters, type JWTPayload } from 'jose';
import type { AuthConfig } from './auth-config.js';
import { jwkThumbprint, libtrustKeyId } from './key-ids.js';

export interface ResourceAccess {
  type: string;
  name: string;
  actions: string[];
}

export interface VerifiedToken {
  subject: string;
  access: ResourceAccess[];
  expiresAt: number;
  /** `iss` ('' when absent). */
  issuer: string;
  /** A token the built-in token service issued for a federated identity: its issuer, subject and claims. */
  federated?: { issuer: string; subject: string; claims: Record<string, unknown> };
}

function federatedClaim(v: unknown): VerifiedToken['federated'] {
  if (!v || typeof v !== 'object') return undefined;
  const f = v as { iss?: unknown; sub?: unknown; claims?: unknown };
  if (typeof f.iss !== 'string' || typeof f.sub !== 'string') return undefined;
  return { issuer: f.iss, subject: f.sub, claims: f.claims && typeof f.claims === 'object' ? (f.claims as Record<string, unknown>) : {} };
}

export class TokenError extends Error {}

type KeyResolver = (header: JWTHeaderParameters) => Promise<KeyObject | webcrypto.CryptoKey>;

const CACHE_MAX = 10_000;
const CACHE_MAX_MS = 5 * 60_000;

function pemCertificates(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

export class TokenVerifier {
  private readonly keysById = new Map<string, KeyObject>();
  private readonly roots: X509Certificate[] = [];
  private remote?: ReturnType<typeof createRemoteJWKSet>;
  private localFile?: { stamp: string; checkedAt: number; set: ReturnType<typeof createLocalJWKSet> };
  private readonly cache = new Map<string, VerifiedToken>();

  private constructor(private readonly config: AuthConfig['token']) {}

  /** `extraKeys`/`extraRoots`: the built-in token service's own key and certificate, trusted besides the configured ones. */
  static async create(config: AuthConfig['token'], extraKeys: KeyObject[] = [], extraRoots: X509Certificate[] = []): Promise<TokenVerifier> {
    const v = new TokenVerifier(config);
    for (const k of extraKeys) await v.trust(k);
    v.roots.push(...extraRoots);
    if (config.rootCertBundle) {
      let certs: X509Certificate[];
      try {
        certs = pemCertificates(readFileSync(config.rootCertBundle, 'utf8'));
      } catch (err) {
        throw new Error(`auth.token.rootCertBundle ${config.rootCertBundle}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (certs.length === 0) throw new Error(`auth.token.rootCertBundle ${config.rootCertBundle}: no PEM certificates`);
      for (const c of certs) {
        v.roots.push(c);
        await v.trust(c.publicKey);
      }
    }
    if (config.jwksUrl) v.remote = createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
    if (config.jwksFile) v.jwksFileSet(); // fails at start when the file is missing or invalid
    return v;
  }

  private async trust(key: KeyObject): Promise<void> {
    this.keysById.set(await jwkThumbprint(key), key);
    this.keysById.set(libtrustKeyId(key), key);
  }

  private jwksFileSet(): ReturnType<typeof createLocalJWKSet> {
    const path = this.config.jwksFile;
    const now = Date.now();
    if (this.localFile && now - this.localFile.checkedAt < 1000) return this.localFile.set;
    try {
      const st = statSync(path);
      const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
      if (this.localFile?.stamp !== stamp) {
        const set = createLocalJWKSet(JSON.parse(readFileSync(path, 'utf8')) as JSONWebKeySet);
        this.localFile = { stamp, checkedAt: now, set };
      } else {
        this.localFile.checkedAt = now;
      }
    } catch (err) {
      if (!this.localFile) throw new Error(`auth.token.jwksFile ${path}: ${(err as Error).message}`);
      this.localFile.checkedAt = now; // keep the keys read before
    }
    return this.localFile.set;
  }

  /** The leaf key of an `x5c` chain that ends at a certificate of the bundle. */
  private chainKey(x5c: string[]): KeyObject {
    let chain: X509Certificate[];
    try {
      chain = x5c.map((b64) => new X509Certificate(Buffer.from(b64, 'base64')));
    } catch {
      throw new TokenError('invalid x5c certificate');
    }
    const now = Date.now();
    for (const c of chain) {
      if (Date.parse(c.validFrom) > now || Date.parse(c.validTo) < now) throw new TokenError('x5c certificate outside its validity period');
    }
    for (let i = 0; i + 1 < chain.length; i++) {
      if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) throw new TokenError('x5c chain is broken');
    }
    const last = chain[chain.length - 1]!;
    const anchored = this.roots.some((r) => r.fingerprint256 === last.fingerprint256 || (last.checkIssued(r) && last.verify(r.publicKey)));
    if (!anchored) throw new TokenError('x5c chain does not lead to a trusted certificate');
    return chain[0]!.publicKey;
  }

  private readonly resolveKey: KeyResolver = async (header) => {
    // Without trusted certificates an `x5c` proves nothing, and the key is looked up by `kid` as for
    // any token (a JWKS-configured registry accepts a token service's tokens that also carry x5c).
    if (Array.isArray(header.x5c) && header.x5c.length > 0 && this.roots.length > 0) return this.chainKey(header.x5c);
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    if (kid !== undefined) {
      const k = this.keysById.get(kid);
      if (k) return k;
    }
    const sets = [this.config.jwksFile ? this.jwksFileSet() : undefined, this.remote].filter((s) => s !== undefined);
    for (const set of sets) {
      try {
        return await set(header);
      } catch (err) {
        if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      }
    }
    throw new TokenError(kid === undefined ? 'token has no kid' : `no trusted key with kid ${kid}`);
  };

  async verify(token: string, now = Date.now()): Promise<VerifiedToken> {
    const hit = this.cache.get(token);
    if (hit && hit.expiresAt > now) return hit;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.resolveKey, {
        algorithms: this.config.algorithms,
        audience: this.config.service,
        ...(this.config.issuer ? { issuer: this.config.issuer } : {}),
        clockTolerance: Math.round(this.config.leeway / 1000),
        requiredClaims: ['exp'],
        currentDate: new Date(now),
      }));
    } catch (err) {
      if (err instanceof TokenError) throw err;
      throw new TokenError((err as Error).message || 'invalid token');
    }
    const access = Array.isArray(payload.access)
      ? (payload.access as unknown[]).filter(
          (a): a is ResourceAccess =>
            !!a && typeof a === 'object' && typeof (a as ResourceAccess).type === 'string' && typeof (a as ResourceAccess).name === 'string' && Array.isArray((a as ResourceAccess).actions),
        )
      : [];
    const federated = federatedClaim(payload.fed);
    const verified: VerifiedToken = {
      subject: typeof payload.sub === 'string' ? payload.sub : '',
      issuer: typeof payload.iss === 'string' ? payload.iss : '',
      access,
      expiresAt: Math.min(payload.exp! * 1000 + this.config.leeway, now + CACHE_MAX_MS),
      ...(federated ? { federated } : {}),
    };
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(token, verified);
    return verified;
  }
}

/** Whether the token grants `action` on the resource; `*` among a token's actions grants every action (as in distribution). */
export function grants(token: VerifiedToken, type: string, name: string, action: string): boolean {
  return token.access.some((a) => a.type === type && a.name === name && (a.actions.includes(action) || a.actions.includes('*')));
}
