// Builds access control from the configuration: the registry's auth middleware and, when
// enabled, the built-in token service (mounted on the same app, before the registry routes).
import type { Middleware } from 'koa';
import type { StorageDriver } from '../../storage/driver.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Config } from '../config.js';
import { RegistryError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TokenService } from '../token-service/token-service.js';
import { AccessRules } from './access-rules.js';
import { LoginGuard, type LoginGuardLike } from './login-guard.js';

export interface Auth {
  /** Mounted in order before rate limiting and the routes. */
  middlewares: Middleware[];
  tokenService?: TokenService;
  /** Applies reloaded access rules, groups and admins. */
  updateRules(config: Config['auth']): void;
}

export interface AuthParts {
  /** Where robot tokens are kept (the registry's storage); without it there are no robots. */
  driver?: StorageDriver;
  audit?: AuditLog;
  /** The failed-login counters: this process's own unless given (a cluster's, held by its primary). */
  guard?: LoginGuardLike;
  /** Told when a robot is created or removed, and to forget one another process changed (a cluster's broadcast). */
  robotsChanged?: { publish(name: string): void; subscribe(forget: (name: string) => void): void };
}

export async function createAuth(config: Config, log: Logger, parts: AuthParts = {}): Promise<Auth> {
  const a = config.auth;
  const { audit } = parts;
  const rules = new AccessRules(a);
  const updateRules = (next: Config['auth']) => rules.update(next);
  if (a.mode === 'none' && !a.tokenService.enabled) return { middlewares: [], updateRules };
  // Loaded only when access control is on: the token service, the verifier and federation bring
  // in the JWT library (jose), htpasswd bcrypt (a server without auth does not pay their memory).
  const [{ loadOrCreateCertificate }, { loadOrCreateSigningKey }, { TokenService }, { Federation }, { robotApi }, { RobotTokenStore }, { HtpasswdFile }, { registryAuth }, { TokenVerifier }] =
    await Promise.all([
      import('../token-service/certificate.js'),
      import('../token-service/signing-key.js'),
      import('../token-service/token-service.js'),
      import('./federation.js'),
      import('./robot-api.js'),
      import('./robot-tokens.js'),
      import('./htpasswd.js'),
      import('./registry-auth.js'),
      import('./token-verifier.js'),
    ]);
  const guard = parts.guard ?? new LoginGuard(a.bruteForce, log);
  const htpasswd = a.htpasswd.path ? new HtpasswdFile(a.htpasswd.path, log) : undefined;
  const robots = parts.driver ? new RobotTokenStore(parts.driver, log, parts.robotsChanged) : undefined;
  const federation = a.tokenService.enabled && a.federation.issuers.length > 0 ? new Federation(a.federation, log) : undefined;
  const middlewares: Middleware[] = [];
  let tokenService: TokenService | undefined;
  const key = a.tokenService.enabled ? await loadOrCreateSigningKey(a.tokenService.keyFile, a.tokenService.keyIdFormat) : undefined;
  const cert = key && a.tokenService.certificate ? await loadOrCreateCertificate(a.tokenService.certificate, key.privateKey, a.tokenService.issuer) : undefined;
  if (key) {
    if (key.created) log.info({ keyFile: a.tokenService.keyFile, kid: key.kid }, 'token service: generated a signing key');
    if (cert) {
      key.x5c = cert.x5c;
      key.publicJwk = { ...key.publicJwk, x5c: cert.x5c };
      if (cert.created) log.info({ certificate: a.tokenService.certificate }, 'token service: generated a self-signed certificate for the signing key');
    }
    tokenService = new TokenService({ config: a, key, htpasswd: htpasswd!, rules, guard, log, robots, federation, audit });
    middlewares.push(tokenService.middleware());
  }
  if (a.tokenService.standalone) {
    middlewares.push(async (ctx, next) => {
      if (ctx.path.startsWith('/v2')) throw new RegistryError('UNSUPPORTED', 'this server runs only the token service', undefined, 404);
      return next();
    });
  } else if (a.mode !== 'none') {
    const verifier =
      a.mode === 'token' ? await TokenVerifier.create(a.token, key ? [key.publicKey] : [], cert ? [cert.chain.at(-1)!] : []) : undefined;
    middlewares.push(registryAuth({ config: a, rules, log, htpasswd, guard, verifier, builtinTokenPath: tokenService?.tokenPath, robots, audit }));
    if (robots) middlewares.push(robotApi(robots, audit));
  }
  log.info(
    { mode: a.mode, tokenService: tokenService ? tokenService.tokenPath : false, ...(federation ? { federation: a.federation.issuers.map((i) => i.issuer) } : {}) },
    'access control',
  );
  return { middlewares, tokenService, updateRules };
}
