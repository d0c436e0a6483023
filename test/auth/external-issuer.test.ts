// Token mode trusting an issuer that is not Stevedore: keys from a JWKS file (re-read when it
// changes), a certificate bundle (x5c chains and libtrust-style kids, as the CNCF registry's token
// servers use), and a remote JWKS (Stevedore's own token service running alone on another
// server). The tests sign their own tokens with jose; every malformed one is refused.
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libtrustKeyId } from '../../server/auth/key-ids.js';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeo, skopeoInspect } from '../helpers/skopeo.js';
import { challengeParams, cli, eventually, htpasswdText, startWithConfig, USERS, type AuthEnv } from './auth-env.js';

const SERVICE = 'registry.test';
const ISSUER = 'test-issuer';
let dir: string;
let env: AuthEnv;
let base: string;
let image: BuiltImage;
type SigningKey = Parameters<SignJWT['sign']>[0];
let key: SigningKey;
let kid: string;
let jwksPath: string;

type Access = { type: string; name: string; actions: string[] }[];

async function sign(access: Access, o: { key?: SigningKey | ReturnType<typeof createPrivateKey>; kid?: string; alg?: string; aud?: string; iss?: string; exp?: number; nbf?: number; x5c?: string[] } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const header: Record<string, unknown> = { alg: o.alg ?? 'ES256', typ: 'JWT' };
  if (o.x5c) header.x5c = o.x5c;
  else header.kid = o.kid ?? kid;
  return new SignJWT({ access })
    .setProtectedHeader(header as never)
    .setIssuer(o.iss ?? ISSUER)
    .setSubject('ci')
    .setAudience(o.aud ?? SERVICE)
    .setIssuedAt(now)
    .setNotBefore(o.nbf ?? now)
    .setExpirationTime(o.exp ?? now + 300)
    .sign((o.key ?? key) as SigningKey);
}

const pushPull = (repo: string): Access => [{ type: 'repository', name: repo, actions: ['pull', 'push'] }];

async function status(path: string, token: string, method = 'GET'): Promise<number> {
  const res = await fetch(new URL(path, base), { method, headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-auth-external-'));
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  const jwk: JWK = await exportJWK(pair.publicKey);
  kid = await calculateJwkThumbprint(jwk);
  jwksPath = join(dir, 'jwks.json');
  await writeFile(jwksPath, JSON.stringify({ keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] }));
  // A CA and an issuer certificate made with openssl, as for the CNCF registry's rootcertbundle.
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test token CA']);
  ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'issuer.key', '-out', 'issuer.csr', '-subj', '/CN=test token issuer']);
  ssl(['x509', '-req', '-in', 'issuer.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'issuer.crt', '-days', '2']);
  env = await startWithConfig(
    {
      auth: {
        mode: 'token',
        token: { realm: 'https://auth.invalid/token', service: SERVICE, issuer: ISSUER, jwksFile: jwksPath, rootCertBundle: join(dir, 'ca.crt'), algorithms: ['ES256', 'RS256'] },
      },
    },
    { dir },
  );
  base = env.server.url;
  image = multiLayerImage({ tag: 'v1', randomBytes: 16 * 1024 });
  await writeLayout(join(dir, 'layout'), image);
});

afterAll(async () => {
  await env?.server.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('token mode with an external issuer (JWKS file)', () => {
  it('challenges with the configured realm and service; there is no built-in token endpoint', async () => {
    const res = await fetch(new URL('/v2/ci/app/tags/list', base));
    expect(res.status).toBe(401);
    expect(challengeParams(res.headers.get('www-authenticate'))).toEqual({ scheme: 'Bearer', realm: 'https://auth.invalid/token', service: SERVICE, scope: 'repository:ci/app:pull' });
    expect((await fetch(new URL('/auth/token', base))).status).toBe(404);
  });

  it('skopeo pushes and pulls with tokens the issuer signed', async () => {
    const token = await sign([...pushPull('ci/app')]);
    await skopeo(['copy', '--retry-times', '0', '--preserve-digests', '--dest-tls-verify=false', '--dest-registry-token', token, `oci:${join(dir, 'layout')}:v1`, `docker://${env.server.host}/ci/app:v1`]);
    const { stdout } = await skopeo(['inspect', '--retry-times', '0', '--tls-verify=false', '--registry-token', token, `docker://${env.server.host}/ci/app:v1`]);
    expect(JSON.parse(stdout.toString()).Digest).toBe(image.manifest.digest);
    // The same token does not reach another repository.
    await expect(skopeo(['copy', '--retry-times', '0', '--dest-tls-verify=false', '--dest-registry-token', token, `oci:${join(dir, 'layout')}:v1`, `docker://${env.server.host}/ci/other:v1`])).rejects.toThrow(/denied|403/i);
  });

  it('refuses expired, not-yet-valid, tampered, other-service, other-issuer, unknown-key, alg none and HS256-with-public-key tokens', async () => {
    const path = '/v2/ci/app/tags/list';
    const now = Math.floor(Date.now() / 1000);
    expect(await status(path, await sign(pushPull('ci/app')))).toBe(200);
    // A few seconds of clock skew are tolerated (leeway 30 s by default).
    expect(await status(path, await sign(pushPull('ci/app'), { exp: now - 5 }))).toBe(200);
    const bad: Record<string, string> = {
      expired: await sign(pushPull('ci/app'), { exp: now - 600, nbf: now - 900 }),
      notYetValid: await sign(pushPull('ci/app'), { nbf: now + 600, exp: now + 900 }),
      otherService: await sign(pushPull('ci/app'), { aud: 'another-registry' }),
      otherIssuer: await sign(pushPull('ci/app'), { iss: 'someone-else' }),
    };
    // Tampered: the access claim rewritten, the signature kept.
    const good = (await sign(pushPull('ci/app'))).split('.');
    const claims = JSON.parse(Buffer.from(good[1]!, 'base64url').toString());
    claims.access = pushPull('ci/app').concat(pushPull('admin/secret'));
    bad.tampered = [good[0], Buffer.from(JSON.stringify(claims)).toString('base64url'), good[2]].join('.');
    // alg none: an unsecured JWT.
    const noneHeader = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid })).toString('base64url');
    bad.algNone = `${noneHeader}.${good[1]}.`;
    // HS256 keyed with the public key (the classic algorithm confusion), PEM and JWK-JSON bytes.
    const jwks = JSON.parse(await readFile(jwksPath, 'utf8')) as { keys: JWK[] };
    const publicPem = createPublicKey({ key: jwks.keys[0] as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    bad.hs256Pem = await sign(pushPull('ci/app'), { alg: 'HS256', key: new TextEncoder().encode(publicPem) });
    bad.hs256Jwk = await sign(pushPull('ci/app'), { alg: 'HS256', key: new TextEncoder().encode(JSON.stringify(jwks.keys[0])) });
    // A key nobody trusts, claiming the trusted kid.
    bad.unknownKey = await sign(pushPull('ci/app'), { key: (await generateKeyPair('ES256')).privateKey });
    bad.garbage = 'not.a.jwt';
    for (const [name, token] of Object.entries(bad)) {
      const res = await fetch(new URL(path, base), { headers: { authorization: `Bearer ${token}` } });
      expect(res.status, name).toBe(401);
      expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, name).toBe('UNAUTHORIZED');
      expect(challengeParams(res.headers.get('www-authenticate')).error, name).toBe('invalid_token');
    }
  });

  it('re-reads the JWKS file: a rotated key is trusted once the file names it', async () => {
    const next = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(next.publicKey);
    const nextKid = await calculateJwkThumbprint(jwk);
    const token = await sign(pushPull('ci/app'), { key: next.privateKey, kid: nextKid });
    expect(await status('/v2/ci/app/tags/list', token)).toBe(401);
    const jwks = JSON.parse(await readFile(jwksPath, 'utf8')) as { keys: JWK[] };
    await writeFile(jwksPath, JSON.stringify({ keys: [...jwks.keys, { ...jwk, kid: nextKid }] }));
    await eventually(async () => expect(await status('/v2/ci/app/tags/list', token)).toBe(200));
  });

  it('trusts x5c chains that end at the certificate bundle, and libtrust kids of bundle certificates', async () => {
    const issuerKey = createPrivateKey(await readFile(join(dir, 'issuer.key')));
    const issuerCert = new X509Certificate(await readFile(join(dir, 'issuer.crt')));
    const caKey = createPrivateKey(await readFile(join(dir, 'ca.key')));
    const caCert = new X509Certificate(await readFile(join(dir, 'ca.crt')));
    const x5c = [issuerCert.raw.toString('base64')];
    expect(await status('/v2/ci/app/tags/list', await sign(pushPull('ci/app'), { key: issuerKey, x5c }))).toBe(200);
    expect(await status('/v2/ci/app/tags/list', await sign(pushPull('ci/app'), { key: issuerKey, x5c: [...x5c, caCert.raw.toString('base64')] }))).toBe(200);
    expect(await status('/v2/ci/app/tags/list', await sign(pushPull('ci/app'), { key: caKey, kid: libtrustKeyId(caCert.publicKey) }))).toBe(200);
    // A self-made certificate in x5c is not trusted; nor a chain signed with another key than its leaf.
    ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'rogue.key', '-out', 'rogue.crt', '-days', '1', '-subj', '/CN=rogue']);
    const rogue = new X509Certificate(await readFile(join(dir, 'rogue.crt')));
    expect(await status('/v2/ci/app/tags/list', await sign(pushPull('ci/app'), { key: createPrivateKey(await readFile(join(dir, 'rogue.key'))), x5c: [rogue.raw.toString('base64')] }))).toBe(401);
    expect(await status('/v2/ci/app/tags/list', await sign(pushPull('ci/app'), { key: (await generateKeyPair('ES256')).privateKey, x5c }))).toBe(401);
  });
});

describe('a registry trusting a token service that runs alone on another server (JWKS URL)', () => {
  let issuer: AuthEnv;
  let registry: AuthEnv;
  afterAll(async () => {
    await registry?.server.stop();
    await issuer?.server.stop();
  });

  it('stevedore login and push go through the remote token service', async () => {
    const sdir = join(dir, 'issuer');
    await mkdir(sdir);
    await writeFile(join(sdir, 'htpasswd'), htpasswdText());
    issuer = await startWithConfig(
      { auth: { htpasswd: { path: join(sdir, 'htpasswd') }, token: { service: 'remote-registry' }, tokenService: { enabled: true, standalone: true, keyFile: join(sdir, 'key.pem'), issuer: 'central' } } },
      { dir: sdir },
    );
    expect((await fetch(new URL('/v2/', issuer.server.url))).status).toBe(404);
    const rdir = join(dir, 'remote');
    await mkdir(rdir);
    registry = await startWithConfig(
      { auth: { mode: 'token', token: { realm: `${issuer.server.url}/auth/token`, service: 'remote-registry', issuer: 'central', jwksUrl: `${issuer.server.url}/auth/jwks.json` } } },
      { dir: rdir },
    );
    const dockerConfig = join(dir, 'docker-remote');
    const login = await cli(['login', '-u', 'alice', '--password-stdin', registry.server.host], { input: USERS.alice, dockerConfig });
    expect(login.code, login.stderr).toBe(0);
    const push = await cli(['push', '-q', `oci:${join(dir, 'layout')}:v1`, `${registry.server.host}/alice/app:v1`], { dockerConfig });
    expect(push.code, push.stderr).toBe(0);
    expect((await skopeoInspect(`docker://${registry.server.host}/alice/app:v1`, { creds: { username: 'alice', password: USERS.alice } })).Digest).toBe(image.manifest.digest);
  });
});
