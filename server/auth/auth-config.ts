// The `auth` and `tls` sections of the server configuration (README "Access control and TLS").
// Kept apart from server/config.ts, which only mounts them.
import { z } from 'zod';
import { duration } from '../config-duration.js';
import { ACTIONS, type Action } from './actions.js';

export { ACTIONS, type Action };

const accessRule = z
  .strictObject({
    /** Repository name globs: `*` within one path component, `**` across components; `${user}` is the caller's name. */
    repositories: z.array(z.string().min(1)).min(1),
    /** User names; `*` is any authenticated user. */
    users: z.array(z.string().min(1)).default([]),
    groups: z.array(z.string().min(1)).default([]),
    /** Also applies to callers who did not log in. */
    anonymous: z.boolean().default(false),
    actions: z.array(z.enum(ACTIONS)).min(1),
    /**
     * The token service may grant these callers `registry:catalog:*` (needed for anonymous
     * callers: a CNCF registry behind the token service lists every repository to the holder).
     */
    catalog: z.boolean().default(false),
  })
  .refine((r) => r.users.length > 0 || r.groups.length > 0 || r.anonymous, { message: 'a rule needs users, groups or anonymous: true' });

/** One trusted OIDC issuer (a CI system's identity tokens: GitHub Actions, GitLab CI, Kubernetes). */
const federationIssuer = z.strictObject({
  /** The `iss` of its tokens; its keys come from ISSUER/.well-known/openid-configuration → jwks_uri. */
  issuer: z.string().refine(isHttpUrl, { message: 'must be an http:// or https:// URL' }),
  /** Tokens must carry this in `aud` (what the CI job asked its issuer for, e.g. the registry's URL). */
  audience: z.string().min(1),
  /** The JWKS URL, when the issuer has no discovery document. */
  jwksUrl: z.string().default(''),
});

/** Claims → access: every claim listed must match (exact or glob); repositories may use `${claim}`. */
const federationRule = z.strictObject({
  /** Only tokens of this issuer; empty: any trusted issuer. */
  issuer: z.string().default(''),
  /** Claim name → glob (`*` within a path component, `**` across) or a list of them (any). */
  claims: z.record(z.string(), z.union([z.string(), z.array(z.string()).min(1)])).default({}),
  repositories: z.array(z.string().min(1)).min(1),
  actions: z.array(z.enum(ACTIONS)).min(1),
});

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

const JWT_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'] as const;

export const AuthConfigSchema = z
  .strictObject({
    mode: z.enum(['none', 'htpasswd', 'token']).default('none'),
    htpasswd: z
      .strictObject({
        /** bcrypt entries (`user:$2y$…`); re-read when the file changes. */
        path: z.string().default(''),
        /** The Basic challenge's realm. */
        realm: z.string().min(1).default('stevedore'),
      })
      .prefault({}),
    token: z
      .strictObject({
        /** The token service URL clients are sent to; empty: the built-in service on this server. */
        realm: z.string().default(''),
        /** Tokens must carry this as `aud`. */
        service: z.string().min(1).default('stevedore'),
        /** Tokens must carry this as `iss`; empty: any issuer whose key is trusted. */
        issuer: z.string().default(''),
        /** Trusted keys: a JWKS URL, a JWKS file, and/or a PEM certificate bundle (x5c chains, kid lookups). */
        jwksUrl: z.string().default(''),
        jwksFile: z.string().default(''),
        rootCertBundle: z.string().default(''),
        algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).default(['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA']),
        /** Clock skew allowed on exp and nbf. */
        leeway: duration.prefault('30s'),
      })
      .prefault({}),
    tokenService: z
      .strictObject({
        /** Serve the built-in token service on this server (users from auth.htpasswd.path). */
        enabled: z.boolean().default(false),
        /** Run only the token service: the registry API answers 404 (registries elsewhere trust its JWKS). */
        standalone: z.boolean().default(false),
        /** The token endpoint is PATH/token, the published keys PATH/jwks.json. */
        path: z
          .string()
          .regex(/^\/[A-Za-z0-9._~/-]*[^/]$/, { message: 'must be a path such as /auth' })
          .refine((p) => !/^\/v2(\/|$)/.test(p), { message: 'must not be under /v2' })
          .default('/auth'),
        /** The signing key (PKCS#8 PEM, EC P-256); generated with mode 0600 on first start when missing. */
        keyFile: z.string().default(''),
        /**
         * A PEM certificate (chain) for the signing key, sent as `x5c` in every token: registries that
         * trust a certificate bundle (the CNCF registry's `rootcertbundle`) verify it. Generated
         * self-signed on first start when the file is missing. Empty: no certificate.
         */
        certificate: z.string().default(''),
        /** `kid` of issued tokens: the RFC 7638 thumbprint, or the libtrust key id (docker/distribution's form). */
        keyIdFormat: z.enum(['jwk-thumbprint', 'libtrust']).default('jwk-thumbprint'),
        /**
         * Further service names (other registries' `service`) the token service issues tokens for,
         * with `aud` = the requested one; auth.token.service is always served.
         */
        services: z.array(z.string().min(1)).default([]),
        /** `iss` of issued tokens. */
        issuer: z.string().min(1).default('stevedore-token-service'),
        expiry: duration.prefault('5m'),
        refreshExpiry: duration.prefault('720h'),
      })
      .prefault({}),
    /** CI identity federation: OIDC ID tokens exchanged at the token service for registry tokens. */
    federation: z
      .strictObject({
        /** The reserved user name of the password grant (`docker login -u oidc -p "$ID_TOKEN"`). */
        username: z.string().min(1).default('oidc'),
        issuers: z.array(federationIssuer).default([]),
        rules: z.array(federationRule).default([]),
        /** Signature algorithms accepted (never `none` nor HMAC). */
        algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).default(['RS256', 'ES256', 'ES384', 'PS256', 'EdDSA']),
        /** Clock skew allowed on exp, iat and nbf. */
        leeway: duration.prefault('30s'),
        /** How long an issuer's discovery document is used before it is fetched again. */
        discoveryCacheFor: duration.prefault('1h'),
      })
      .prefault({}),
    /** Group name → user names. */
    groups: z.record(z.string(), z.array(z.string().min(1))).default({}),
    /** Users (or `@group`) allowed everything, including the whole catalog. */
    admins: z.array(z.string().min(1)).default([]),
    /** Who may do what; empty: every authenticated user may do everything and anonymous callers nothing. */
    access: z.array(accessRule).default([]),
    bruteForce: z
      .strictObject({
        /** Failed logins of one user name before further attempts for it are refused for a while. */
        maxFailures: z.number().int().positive().default(5),
        /** Failed logins from one client address (any user names) before it is refused for a while. */
        maxFailuresPerClient: z.number().int().positive().default(20),
        /** Failures older than this are forgotten. */
        window: duration.prefault('15m'),
        /** The first lock; each further failure while over the limit doubles it, up to maxLockout. */
        lockout: duration.prefault('10s'),
        maxLockout: duration.prefault('15m'),
      })
      .prefault({}),
  })
  .prefault({});

export const TlsConfigSchema = z
  .strictObject({
    /** PEM certificate chain and key; both set: HTTPS. Re-read when either file changes. */
    certificate: z.string().default(''),
    key: z.string().default(''),
    /** PEM CA bundle: clients must present a certificate issued by one of these (mTLS). */
    clientCAs: z.string().default(''),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  })
  .prefault({})
  .refine((t) => !t.certificate === !t.key, { message: 'certificate and key go together' })
  .refine((t) => !t.clientCAs || !!t.certificate, { message: 'clientCAs needs certificate and key' });

export type AuthConfig = z.output<typeof AuthConfigSchema>;
export type TlsConfig = z.output<typeof TlsConfigSchema>;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Settings that only make sense together, checked on the merged configuration. `listenHost` is
 * the host of http.addr (undefined: every interface).
 */
export function authConfigProblems(a: AuthConfig, listenHost?: string): string[] {
  const out: string[] = [];
  // Without a realm the challenge names the listener's own address, which only loopback clients
  // can be sure to reach as it is; elsewhere the public URL must be configured (it is never taken
  // from the request's Host header, which any client sets).
  if (a.mode === 'token' && a.tokenService.enabled && !a.tokenService.standalone && !a.token.realm && !(listenHost && isLoopback(listenHost))) {
    out.push(`auth.token.realm: is required when http.addr is not a loopback address (the token service URL clients reach, e.g. https://registry.example.com${a.tokenService.path}/token)`);
  }
  const needsHtpasswd = a.mode === 'htpasswd' || a.tokenService.enabled;
  if (needsHtpasswd && !a.htpasswd.path) out.push(`auth.htpasswd.path: is required when ${a.mode === 'htpasswd' ? 'auth.mode is htpasswd' : 'auth.tokenService is enabled'}`);
  if (a.tokenService.enabled && !a.tokenService.keyFile) out.push('auth.tokenService.keyFile: is required when the token service is enabled (it is created on first start)');
  if (a.mode === 'token' && !a.tokenService.enabled && !a.token.jwksUrl && !a.token.jwksFile && !a.token.rootCertBundle) {
    out.push('auth.token: needs jwksUrl, jwksFile or rootCertBundle (or auth.tokenService.enabled)');
  }
  if (a.mode === 'token' && !a.tokenService.enabled && !a.token.realm) out.push('auth.token.realm: is required without the built-in token service');
  if (a.federation.issuers.length > 0 && !a.tokenService.enabled) out.push('auth.federation: needs auth.tokenService.enabled (ID tokens are exchanged there)');
  for (const [i, r] of a.federation.rules.entries()) {
    if (r.issuer && !a.federation.issuers.some((t) => t.issuer === r.issuer)) out.push(`auth.federation.rules.${i}.issuer: ${r.issuer} is not among auth.federation.issuers`);
  }
  if (a.tokenService.standalone && !a.tokenService.enabled) out.push('auth.tokenService.standalone: needs auth.tokenService.enabled');
  return out;
}
