// CI identity federation end to end (issue 21): a local OIDC issuer (discovery document and JWKS
// over HTTP on loopback, ID tokens signed with jose, as GitHub Actions issues them) is trusted by
// the real server's token service. A script exchanges an ID token (RFC 8693 token exchange) for a
// registry token; our client logs in with `-u oidc -p ID_TOKEN` and pushes; the rules' claims
// decide where. Expired, wrong-audience, unsigned, HMAC and unknown-issuer tokens are refused and
// logged; the audit file names the federated identity with its claims.
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerEngineUnavailable, startDockerEngine, type DockerEngine } from '../helpers/docker-engine.js';
import { multiLayerImage, tar, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeoInspect } from '../helpers/skopeo.js';
import { basic, cli, eventually, htpasswdText, startWithConfig, USERS, type AuthEnv } from './auth-env.js';

const AUDIENCE = 'https://registry.example.test';
const CI = process.env.CI === 'true' || process.env.CI === '1';
let engine: DockerEngine | undefined;
let unavailable: string | undefined;
let dir: string;
let env: AuthEnv;
let issuer: { url: string; server: Server; sign(claims: Record<string, unknown>, opts?: { expiresIn?: number; audience?: string }): Promise<string>; requests: string[] };
let image: BuiltImage;
let layout: string;
let auditPath: string;

async function startIssuer(): Promise<typeof issuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const requests: string[] = [];
  let url = '';
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') return res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/keys` }));
    if (req.url === '/keys') return res.end(JSON.stringify({ keys: [jwk] }));
    res.statusCode = 404;
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sign = (claims: Record<string, unknown>, opts: { expiresIn?: number; audience?: string } = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' })
      .setIssuer(url)
      .setAudience(opts.audience ?? AUDIENCE)
      .setIssuedAt(now - 5)
      .setExpirationTime(now + (opts.expiresIn ?? 300))
      .sign(privateKey);
  };
  return { url, server, sign, requests };
}

/** What GitHub Actions puts in its ID tokens (the claims the rules look at). */
function githubClaims(repository: string, ref = 'refs/heads/main'): Record<string, unknown> {
  return { sub: `repo:${repository}:ref:${ref}`, repository, ref, repository_owner: repository.split('/')[0], workflow: 'release', run_id: '42' };
}

/** The token exchange a CI script runs: RFC 8693 with the ID token as the subject token. */
async function exchange(idToken: string, scope: string): Promise<Response> {
  return fetch(`${env.server.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: idToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      service: 'stevedore',
      scope,
    }),
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-federation-'));
  auditPath = join(dir, 'audit.log');
  issuer = await startIssuer();
  await writeFile(join(dir, 'htpasswd'), htpasswdText());
  env = await startWithConfig(
    {
      auth: {
        mode: 'token',
        htpasswd: { path: join(dir, 'htpasswd') },
        tokenService: { enabled: true, keyFile: join(dir, 'token.pem') },
        admins: ['root'],
        federation: {
          issuers: [{ issuer: issuer.url, audience: AUDIENCE }],
          rules: [{ claims: { repository: 'acme/*', ref: 'refs/heads/main' }, repositories: ['${repository}/**'], actions: ['pull', 'push'] }],
        },
      },
      audit: { file: auditPath },
    },
    { dir: await mkdtemp(join(dir, 'server-')) },
  );
  image = multiLayerImage({ tag: 'v1', randomBytes: 8 * 1024 });
  layout = join(dir, 'layout');
  await writeLayout(layout, image);
  try {
    engine = await startDockerEngine();
  } catch (err) {
    if (!(err instanceof DockerEngineUnavailable) || CI) throw err;
    unavailable = err.message;
    console.warn(`docker step skipped: dockerd could not start here: ${err.message.split('\n')[0]}`);
  }
}, 240_000);

afterAll(async () => {
  await engine?.stop();
  await env?.server.stop();
  await new Promise((r) => issuer?.server.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('OIDC federation at the token service', () => {
  it('a script exchanges an ID token for a registry token holding what the rules give its claims', async () => {
    const idToken = await issuer.sign(githubClaims('acme/web'));
    const res = await exchange(idToken, 'repository:acme/web/app:pull,push repository:acme/other/app:push repository:evil/app:pull');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; scope: string; issued_token_type: string; expires_in: number; refresh_token?: string };
    expect(body.scope).toBe('repository:acme/web/app:pull,push');
    expect(body.issued_token_type).toBe('urn:ietf:params:oauth:token-type:access_token');
    expect(body.expires_in).toBeLessThanOrEqual(300);
    expect(body.refresh_token).toBeUndefined();
    // The keys came from the discovery document, fetched once and cached by each worker process
    // that answered (`Stevedore-Worker`; serve runs one per core by default).
    const workers = new Set([res.headers.get('stevedore-worker')]);
    for (let i = 0; i < 5; i++) workers.add((await exchange(idToken, 'repository:acme/web/app:pull')).headers.get('stevedore-worker'));
    expect(issuer.requests.filter((r) => r === '/.well-known/openid-configuration')).toHaveLength(workers.size);
    // The registry token works at the registry.
    const ping = await fetch(`${env.server.url}/v2/acme/web/app/tags/list`, { headers: { authorization: `Bearer ${body.access_token}` } });
    expect(ping.status).toBe(404); // authorized; the repository does not exist yet
    expect(((await ping.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('NAME_UNKNOWN');
  });

  it('our client logs in with -u oidc and the ID token, and pushes where the claims allow', async () => {
    const host = env.server.host;
    const cfg = await mkdtemp(join(dir, 'docker-ci-'));
    const idToken = await issuer.sign(githubClaims('acme/web'));
    const login = await cli(['login', '-u', 'oidc', '--password-stdin', host], { input: idToken, dockerConfig: cfg });
    expect(login.code, login.stderr).toBe(0);
    const push = await cli(['copy', `oci:${layout}:v1`, `${host}/acme/web/app:v1`], { dockerConfig: cfg });
    expect(push.code, push.stderr).toBe(0);
    expect((await skopeoInspect(`docker://${host}/acme/web/app:v1`, { creds: { username: 'root', password: USERS.root } })).Digest).toBe(image.manifest.digest);
    const elsewhere = await cli(['copy', `oci:${layout}:v1`, `${host}/acme/api/app:v1`], { dockerConfig: cfg });
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.stderr.trim().split('\n')).toHaveLength(1);
    expect(elsewhere.stderr).toMatch(/denied/i);
  }, 120_000);

  it('docker logs in with -u oidc and the ID token, and pushes', async (ctx) => {
    if (!engine) return ctx.skip(`dockerd could not start: ${unavailable}`);
    const d = engine;
    const host = env.server.host;
    const idToken = await issuer.sign(githubClaims('acme/tools'));
    const login = await d.docker(['login', '-u', 'oidc', '--password-stdin', host], { input: idToken });
    expect(login.code, login.stderr).toBe(0);
    const rootfs = join(dir, 'rootfs.tar');
    await writeFile(rootfs, tar([{ type: 'file', name: 'hello.txt', content: 'from a CI job' }]));
    expect((await d.docker(['import', rootfs, `${host}/acme/tools/cli:1`])).code).toBe(0);
    const push = await d.docker(['push', `${host}/acme/tools/cli:1`]);
    expect(push.code, push.stderr).toBe(0);
    expect((await d.docker(['tag', `${host}/acme/tools/cli:1`, `${host}/acme/web/cli:1`])).code).toBe(0);
    const denied = await d.docker(['push', `${host}/acme/web/cli:1`]);
    expect(denied.code).not.toBe(0);
    expect(`${denied.stdout}${denied.stderr}`).toMatch(/denied|unauthorized|insufficient/i);
  }, 180_000);

  it('refuses and logs expired, wrong-audience, unsigned, HMAC, unknown-issuer and unmatched tokens', async () => {
    const scope = 'repository:acme/web/app:pull';
    const expired = await issuer.sign(githubClaims('acme/web'), { expiresIn: -120 });
    const wrongAud = await issuer.sign(githubClaims('acme/web'), { audience: 'https://other.example' });
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const payload = { ...githubClaims('acme/web'), iss: issuer.url, aud: AUDIENCE, iat: now, exp: now + 300 };
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
    const hmac = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('a-shared-secret-that-nobody-should-use'));
    const unknown = `${b64({ alg: 'RS256', kid: 'k1' })}.${b64({ ...payload, iss: 'https://token.actions.evil.example' })}.c2ln`;
    const featureBranch = await issuer.sign(githubClaims('acme/web', 'refs/heads/feature'));
    const cases: [string, string, RegExp][] = [
      ['expired', expired, /expired/],
      ['wrong audience', wrongAud, /not for this registry/],
      ['alg none', unsigned, /not accepted/],
      ['HS256', hmac, /not accepted/],
      ['unknown issuer', unknown, /is not trusted/],
      ['no matching rule', featureBranch, /no federation rule matches/],
    ];
    for (const [what, token, message] of cases) {
      const res = await exchange(token, scope);
      expect(res.status, what).toBe(401);
      const body = (await res.json()) as { error: string; error_description: string };
      expect(body.error, what).toBe('invalid_grant');
      expect(body.error_description, what).toMatch(message);
      // The password grant with the reserved user name (docker login -u oidc) refuses it the same way.
      const viaBasic = await fetch(`${env.server.url}/auth/token?service=stevedore&scope=${encodeURIComponent(scope)}`, { headers: { authorization: basic('oidc', token) } });
      expect(viaBasic.status, what).toBe(401);
    }
    await eventually(async () => {
      const refused = env.server.logs.filter((l) => l.includes('federation: ID token refused'));
      for (const kind of ['expired', 'audience', 'unsigned', 'unknown-issuer', 'no-rule']) expect(refused.some((l) => l.includes(`"reason":"${kind}"`)), kind).toBe(true);
    });
  });

  it('the audit file names the federated identity with its claims', async () => {
    await eventually(async () => {
      const lines = (await readFile(auditPath, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { action: string; outcome: string; actor: { kind: string; name?: string; issuer?: string; claims?: Record<string, unknown> }; target?: Record<string, unknown>; reason?: string });
      const push = lines.find((l) => l.action === 'manifest.push' && l.target?.repository === 'acme/web/app');
      expect(push?.outcome).toBe('success');
      expect(push?.actor).toMatchObject({ kind: 'federated', name: 'oidc:repo:acme/web:ref:refs/heads/main', issuer: issuer.url, claims: { repository: 'acme/web', ref: 'refs/heads/main', run_id: '42' } });
      expect(lines.some((l) => l.action === 'token.exchange' && l.actor.kind === 'federated')).toBe(true);
      const failures = lines.filter((l) => l.action === 'login.failure' && l.actor.kind === 'federated');
      expect(failures.some((l) => l.reason?.includes('expired'))).toBe(true);
      expect(failures.some((l) => l.actor.issuer === 'https://token.actions.evil.example')).toBe(true);
    });
  });
});
