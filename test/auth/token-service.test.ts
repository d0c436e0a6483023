// Token auth with the built-in token service on the same port: skopeo and our own client log in
// and push/pull what the access rules allow; everything else gets 401/403 with the spec's error
// codes and a challenge naming the needed scope; OAuth2 POST and refresh tokens; brute force.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeo, skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';
import { basic, challengeParams, cli, eventually, htpasswdText, RULES, startWithConfig, USERS, type AuthEnv } from './auth-env.js';

let env: AuthEnv;
let base: string;
let image: BuiltImage;
let layout: string;

interface TokenAnswer {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
  scope?: string;
}

async function token(scopes: string[], auth?: [string, string], extra: Record<string, string> = {}): Promise<TokenAnswer> {
  const u = new URL('/auth/token', base);
  u.searchParams.set('service', 'stevedore');
  for (const s of scopes) u.searchParams.append('scope', s);
  for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
  const res = await fetch(u, { headers: auth ? { authorization: basic(...auth) } : {} });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as TokenAnswer;
}

function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

async function errorOf(res: Response): Promise<{ code: string; challenge: Record<string, string> }> {
  const body = (await res.json()) as { errors: { code: string }[] };
  return { code: body.errors[0]!.code, challenge: challengeParams(res.headers.get('www-authenticate')) };
}

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stevedore-auth-token-'));
  await writeFile(join(dir, 'htpasswd'), htpasswdText());
  env = await startWithConfig(
    {
      auth: {
        mode: 'token',
        htpasswd: { path: join(dir, 'htpasswd') },
        tokenService: { enabled: true, keyFile: join(dir, 'keys', 'token.pem') },
        // Earlier tests fail 4 logins on purpose from 127.0.0.1; the last test locks alice, then the address.
        bruteForce: { maxFailures: 3, maxFailuresPerClient: 9, lockout: '60s' },
        ...RULES,
      },
    },
    { dir },
  );
  base = env.server.url;
  image = multiLayerImage({ tag: 'v1', randomBytes: 64 * 1024 });
  layout = join(dir, 'layout');
  await writeLayout(layout, image);
});

afterAll(async () => {
  await env?.server.stop();
  if (env) await rm(env.dir, { recursive: true, force: true });
});

describe('built-in token service', () => {
  it('persists its generated ES256 key with mode 0600 and publishes it as a JWKS', async () => {
    const st = await stat(join(env.dir, 'keys', 'token.pem'));
    expect(st.mode & 0o777).toBe(0o600);
    const jwks = (await (await fetch(new URL('/auth/jwks.json', base))).json()) as { keys: { kty: string; crv: string; kid: string; d?: string }[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(jwks.keys[0]!.d).toBeUndefined();
    const t = await token(['repository:alice/app:pull'], ['alice', USERS.alice]);
    const header = JSON.parse(Buffer.from(t.token.split('.')[0]!, 'base64url').toString()) as { alg: string; kid: string };
    expect(header).toMatchObject({ alg: 'ES256', kid: jwks.keys[0]!.kid });
  });

  it('grants the allowed subset of the requested scopes, with token, access_token, expires_in, issued_at', async () => {
    const t = await token(['repository:alice/app:pull,push,delete', 'repository:bob/app:pull', 'repository:team/tools:pull,push', 'registry:catalog:*'], ['alice', USERS.alice]);
    expect(t.token).toBe(t.access_token);
    expect(t.expires_in).toBeGreaterThan(0);
    expect(Math.abs(Date.parse(t.issued_at) - Date.now())).toBeLessThan(60_000);
    const c = claims(t.token);
    expect(c).toMatchObject({ sub: 'alice', aud: 'stevedore', iss: 'stevedore-token-service' });
    expect(c.access).toEqual([
      { type: 'repository', name: 'alice/app', actions: ['pull', 'push', 'delete'] },
      { type: 'repository', name: 'team/tools', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    // Anonymous: only the public area, no refresh token even when asked.
    const anon = await token(['repository:public/base:pull,push', 'repository:alice/app:pull'], undefined, { offline_token: 'true' });
    expect(claims(anon.token)).toMatchObject({ sub: '', access: [{ type: 'repository', name: 'public/base', actions: ['pull'] }] });
    expect(anon.refresh_token).toBeUndefined();
  });

  it('grants `repository:NAME:*` as the actions the caller holds; the catalog to anonymous callers only by a catalog rule', async () => {
    const t = await token(['repository:alice/app:*', 'repository:team/tools:*', 'repository:bob/app:*'], ['alice', USERS.alice]);
    expect(claims(t.token).access).toEqual([
      { type: 'repository', name: 'alice/app', actions: ['pull', 'push', 'delete'] },
      { type: 'repository', name: 'team/tools', actions: ['pull'] },
    ]);
    // RULES have an anonymous rule for public/*, but none gives the catalog: a registry that
    // does not filter its catalog (the CNCF one) would list every repository to the holder.
    const anon = await token(['registry:catalog:*', 'repository:public/base:pull']);
    expect(claims(anon.token).access).toEqual([{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
  });

  it('refuses wrong passwords with 401 at the token endpoint', async () => {
    const res = await fetch(new URL('/auth/token?service=stevedore&scope=repository:bob/x:pull', base), { headers: { authorization: basic('bob', 'nope') } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('UNAUTHORIZED');
  });

  it('supports the OAuth2 POST flow: password grant with access_type=offline, then refresh_token grant', async () => {
    const post = (form: Record<string, string>) =>
      fetch(new URL('/auth/token', base), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
    const first = await post({ grant_type: 'password', username: 'bob', password: USERS.bob, service: 'stevedore', client_id: 'test', access_type: 'offline', scope: 'repository:team/tools:pull,push' });
    expect(first.status).toBe(200);
    const a = (await first.json()) as TokenAnswer;
    expect(a.access_token).toBeTruthy();
    expect(a.refresh_token).toBeTruthy();
    expect(a.scope).toBe('repository:team/tools:pull,push');
    // The refresh token is not an access token.
    const misuse = await fetch(new URL('/v2/', base), { headers: { authorization: `Bearer ${a.refresh_token}` } });
    expect(misuse.status).toBe(401);
    const second = await post({ grant_type: 'refresh_token', refresh_token: a.refresh_token!, service: 'stevedore', client_id: 'test', scope: 'repository:bob/app:push' });
    expect(second.status).toBe(200);
    expect(claims(((await second.json()) as TokenAnswer).access_token)).toMatchObject({ sub: 'bob', access: [{ name: 'bob/app', actions: ['push'] }] });
    const bad = await post({ grant_type: 'refresh_token', refresh_token: `${a.refresh_token!.slice(0, -4)}AAAA`, service: 'stevedore', client_id: 'test' });
    expect(bad.status).toBe(401);
    const wrongPw = await post({ grant_type: 'password', username: 'alice', password: 'x', service: 'stevedore', client_id: 'test' });
    expect(wrongPw.status).toBe(401);
    // GET with offline_token=true gives a refresh token as well.
    expect((await token([], ['alice', USERS.alice], { offline_token: 'true', client_id: 'test' })).refresh_token).toBeTruthy();
  });
});

describe('registry in token mode', () => {
  it('answers 401 with a Bearer challenge naming the scope each route needs', async () => {
    const cases: [string, string, string | undefined][] = [
      ['GET', '/v2/', undefined],
      ['GET', '/v2/_catalog', 'registry:catalog:*'],
      ['GET', '/v2/alice/app/tags/list', 'repository:alice/app:pull'],
      ['HEAD', '/v2/alice/app/manifests/v1', 'repository:alice/app:pull'],
      ['PUT', '/v2/alice/app/manifests/v1', 'repository:alice/app:pull,push'],
      ['DELETE', '/v2/alice/app/manifests/v1', 'repository:alice/app:delete'],
      ['GET', `/v2/alice/app/blobs/${image.config.descriptor.digest}`, 'repository:alice/app:pull'],
      ['DELETE', `/v2/alice/app/blobs/${image.config.descriptor.digest}`, 'repository:alice/app:delete'],
      ['POST', '/v2/alice/app/blobs/uploads/', 'repository:alice/app:pull,push'],
      ['PATCH', '/v2/alice/app/blobs/uploads/some-id', 'repository:alice/app:pull,push'],
      ['GET', `/v2/alice/app/referrers/${image.config.descriptor.digest}`, 'repository:alice/app:pull'],
      ['POST', `/v2/alice/app/blobs/uploads/?mount=${image.config.descriptor.digest}&from=team/tools`, 'repository:alice/app:pull,push repository:team/tools:pull'],
    ];
    for (const [method, path, scope] of cases) {
      const res = await fetch(new URL(path, base), { method });
      expect(res.status, `${method} ${path}`).toBe(401);
      if (method !== 'HEAD') expect((await errorOf(res)).code).toBe('UNAUTHORIZED');
      const ch = challengeParams(res.headers.get('www-authenticate'));
      expect(ch).toMatchObject({ scheme: 'Bearer', realm: `${base}/auth/token`, service: 'stevedore' });
      expect(ch.scope, `${method} ${path}`).toBe(scope);
    }
  });

  it('names the listener in the realm, never the request\'s Host header', async () => {
    const { request } = await import('node:http');
    const u = new URL('/v2/', base);
    const header = await new Promise<string | undefined>((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, headers: { host: 'evil.example:443' } }, (res) => {
        res.resume();
        resolve(res.headers['www-authenticate']);
      });
      req.on('error', reject);
      req.end();
    });
    expect(challengeParams(header ?? null).realm).toBe(`${base}/auth/token`);
  });

  it('refuses to start the built-in token service without a realm on a listener other than loopback, in one line', async () => {
    const { spawn } = await import('node:child_process');
    const { stringify } = await import('yaml');
    const { CLI } = await import('../helpers/stevedore-process.js');
    const configPath = join(env.dir, 'no-realm.yml');
    await writeFile(
      configPath,
      stringify({ auth: { mode: 'token', htpasswd: { path: join(env.dir, 'htpasswd') }, tokenService: { enabled: true, keyFile: join(env.dir, 'no-realm-key.pem') } } }),
    );
    const child = spawn(process.execPath, [CLI, 'serve', '--config', configPath, '--addr', '0.0.0.0:0', '--data-dir', join(env.dir, 'no-realm-data')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000); // it must not start listening
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(killer);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/auth\.token\.realm: is required when http\.addr is not a loopback address/);
  });

  it('skopeo with --creds pushes to its own namespace and pulls from the team area, and is refused elsewhere', async () => {
    const alice = { username: 'alice', password: USERS.alice };
    await skopeoCopy(`oci:${layout}:v1`, `docker://${env.server.host}/alice/app:v1`, { destCreds: alice });
    const info = await skopeoInspect(`docker://${env.server.host}/alice/app:v1`, { creds: alice });
    expect(info.Digest).toBe(image.manifest.digest);
    // bob (group ci) pushes to team/*, alice may only pull there.
    await skopeoCopy(`oci:${layout}:v1`, `docker://${env.server.host}/team/tools:v1`, { destCreds: { username: 'bob', password: USERS.bob } });
    expect((await skopeoInspect(`docker://${env.server.host}/team/tools:v1`, { creds: alice })).Digest).toBe(image.manifest.digest);
    await expect(skopeoCopy(`oci:${layout}:v1`, `docker://${env.server.host}/team/tools:v2`, { destCreds: alice })).rejects.toThrow(/denied|unauthorized|403|401/i);
    await expect(skopeoCopy(`oci:${layout}:v1`, `docker://${env.server.host}/bob/app:v1`, { destCreds: alice })).rejects.toThrow(/denied|unauthorized|403|401/i);
    // Anonymous: nothing outside public/*.
    await expect(skopeoInspect(`docker://${env.server.host}/alice/app:v1`)).rejects.toThrow(/unauthorized|authentication required|401/i);
  });

  it('skopeo login stores credentials that later copies use; anonymous pull works for public/*', async () => {
    const authfile = join(env.dir, 'skopeo-auth.json');
    await skopeo(['login', '--tls-verify=false', '--authfile', authfile, '-u', 'root', '-p', USERS.root, env.server.host]);
    expect(JSON.parse(await readFile(authfile, 'utf8')).auths[env.server.host]).toBeTruthy();
    await skopeo(['copy', '--retry-times', '0', '--preserve-digests', '--dest-tls-verify=false', '--dest-authfile', authfile, `oci:${layout}:v1`, `docker://${env.server.host}/public/base:v1`]);
    const info = await skopeoInspect(`docker://${env.server.host}/public/base:v1`); // --no-creds
    expect(info.Digest).toBe(image.manifest.digest);
    await expect(skopeo(['login', '--tls-verify=false', '--authfile', authfile, '-u', 'root', '-p', 'wrong', env.server.host])).rejects.toThrow(/401|unauthorized|invalid/i);
  });

  it('stevedore login, then push and pull with the stored refresh token; forbidden pushes fail with a message', async () => {
    const dockerConfig = join(env.dir, 'docker-bob');
    const login = await cli(['login', '-u', 'bob', '--password-stdin', env.server.host], { input: USERS.bob, dockerConfig });
    expect(login.code, login.stderr).toBe(0);
    const stored = JSON.parse(await readFile(join(dockerConfig, 'config.json'), 'utf8')) as { auths: Record<string, { identitytoken?: string; auth?: string }> };
    expect(stored.auths[env.server.host]?.identitytoken).toBeTruthy(); // the refresh token, not the password
    const push = await cli(['push', '-q', `oci:${layout}:v1`, `${env.server.host}/bob/tool:v1`], { dockerConfig });
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout.trim()).toBe(image.manifest.digest);
    const out = join(env.dir, 'pulled');
    const pull = await cli(['pull', '-q', `${env.server.host}/bob/tool:v1`, '--output', `oci:${out}:v1`], { dockerConfig });
    expect(pull.code, pull.stderr).toBe(0);
    const denied = await cli(['push', '-q', `oci:${layout}:v1`, `${env.server.host}/alice/app:evil`], { dockerConfig });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr.trim().split('\n')).toHaveLength(1);
    expect(denied.stderr).toMatch(/403|denied|DENIED/);
    const wrong = await cli(['login', '-u', 'bob', '--password-stdin', env.server.host], { input: 'not-it', dockerConfig: join(env.dir, 'docker-x') });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/authentication failed|refused/);
  });

  it('a token for repository A cannot push to B nor read it: 401 insufficient_scope naming the scope, as distribution answers', async () => {
    const t = (await token(['repository:alice/app:pull,push'], ['alice', USERS.alice])).token;
    const auth = { authorization: `Bearer ${t}` };
    const ok = await fetch(new URL('/v2/alice/app/blobs/uploads/', base), { method: 'POST', headers: auth });
    expect(ok.status).toBe(202);
    for (const [method, path, scope] of [
      ['POST', '/v2/alice/other/blobs/uploads/', 'repository:alice/other:pull,push'],
      ['GET', '/v2/alice/other/tags/list', 'repository:alice/other:pull'],
      ['PUT', '/v2/team/tools/manifests/x', 'repository:team/tools:pull,push'],
    ] as const) {
      const res = await fetch(new URL(path, base), { method, headers: auth });
      expect(res.status, `${method} ${path}`).toBe(401);
      const e = await errorOf(res);
      expect(e.code).toBe('UNAUTHORIZED');
      expect(e.challenge).toMatchObject({ scheme: 'Bearer', realm: `${base}/auth/token`, service: 'stevedore', scope, error: 'insufficient_scope' });
    }
    // A mount from a repository the token does not cover is an ordinary upload (202); the
    // challenge of a refused mount still asks for pull on the source.
    const mount = await fetch(new URL(`/v2/alice/app/blobs/uploads/?mount=${image.config.descriptor.digest}&from=bob/tool`, base), { method: 'POST', headers: auth });
    expect(mount.status).toBe(202);
    const refused = await fetch(new URL(`/v2/alice/other/blobs/uploads/?mount=${image.config.descriptor.digest}&from=bob/tool`, base), { method: 'POST', headers: auth });
    expect(refused.status).toBe(401);
    expect((await errorOf(refused)).challenge.scope).toBe('repository:alice/other:pull,push repository:bob/tool:pull');
    // An anonymous token without the scope: 401, log in.
    const anon = (await token(['repository:alice/app:pull'])).token;
    const res = await fetch(new URL('/v2/alice/app/tags/list', base), { headers: { authorization: `Bearer ${anon}` } });
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe('UNAUTHORIZED');
  });

  it('lists in the catalog only what the caller may pull; the admin sees everything', async () => {
    const list = async (user: keyof typeof USERS) => {
      const t = (await token(['registry:catalog:*'], [user, USERS[user]])).token;
      const res = await fetch(new URL('/v2/_catalog', base), { headers: { authorization: `Bearer ${t}` } });
      expect(res.status).toBe(200);
      return ((await res.json()) as { repositories: string[] }).repositories;
    };
    expect(await list('alice')).toEqual(['alice/app', 'public/base', 'team/tools']);
    expect(await list('bob')).toEqual(['bob/tool', 'public/base', 'team/tools']);
    expect(await list('root')).toEqual(['alice/app', 'bob/tool', 'public/base', 'team/tools']);
  });

  it('slows down repeated failed logins per user and per client address, and logs them', async () => {
    const attempt = (user: string, password: string) =>
      fetch(new URL('/auth/token?service=stevedore', base), { headers: { authorization: basic(user, password) } });
    let status = 0;
    let retryAfter: string | null = null;
    // maxFailures is 3: the 4th attempt at the latest is refused without looking at the password.
    for (let i = 0; i < 5 && status !== 429; i++) {
      const res = await attempt('alice', `guess-${i}`);
      status = res.status;
      retryAfter = res.headers.get('retry-after');
    }
    expect(status).toBe(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    // Locked: even the right password is refused for now; other users still get in.
    expect((await attempt('alice', USERS.alice)).status).toBe(429);
    expect((await attempt('root', USERS.root)).status).toBe(200);
    // Guessing at many user names from one address locks the address (maxFailuresPerClient 9).
    const statuses: number[] = [];
    for (let i = 0; i < 10 && statuses.at(-1) !== 429; i++) statuses.push((await attempt(`mallory${i}`, 'guess')).status);
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.slice(0, -1).every((s) => s === 401)).toBe(true);
    expect((await attempt('root', USERS.root)).status).toBe(429);
    await eventually(async () => {
      expect(env.server.logs.some((l) => l.includes('"login failed"') && l.includes('"user":"alice"'))).toBe(true);
      expect(env.server.logs.some((l) => l.includes('too many failed logins'))).toBe(true);
    });
  });
});
