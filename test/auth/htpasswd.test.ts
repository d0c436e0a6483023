// htpasswd mode: HTTP Basic against bcrypt entries, the access rules applied by the registry,
// the file re-read when it changes, per-user rate limits keyed on the logged-in user, and
// brute-force protection on the Basic path.
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';
import { basic, challengeParams, cli, eventually, htpasswdText, RULES, startWithConfig, USERS, type AuthEnv } from './auth-env.js';

let env: AuthEnv;
let base: string;
let image: BuiltImage;
let layout: string;
let htpasswdPath: string;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stevedore-auth-htpasswd-'));
  htpasswdPath = join(dir, 'htpasswd');
  await writeFile(htpasswdPath, htpasswdText());
  env = await startWithConfig({ auth: { mode: 'htpasswd', htpasswd: { path: htpasswdPath, realm: 'test-realm' }, bruteForce: { maxFailures: 3 }, ...RULES } }, { dir });
  base = env.server.url;
  image = multiLayerImage({ tag: 'v1', randomBytes: 32 * 1024 });
  layout = join(dir, 'layout');
  await writeLayout(layout, image);
});

afterAll(async () => {
  await env?.server.stop();
  if (env) await rm(env.dir, { recursive: true, force: true });
});

const get = (path: string, auth?: [string, string], method = 'GET') =>
  fetch(new URL(path, base), { method, headers: auth ? { authorization: basic(...auth) } : {} });

describe('htpasswd mode', () => {
  it('asks for Basic credentials and refuses wrong ones with UNAUTHORIZED', async () => {
    const res = await get('/v2/');
    expect(res.status).toBe(401);
    expect(challengeParams(res.headers.get('www-authenticate'))).toMatchObject({ scheme: 'Basic', realm: 'test-realm' });
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('UNAUTHORIZED');
    expect((await get('/v2/', ['alice', 'wrong'])).status).toBe(401);
    expect((await get('/v2/', ['alice', USERS.alice])).status).toBe(200); // a $2y$ entry
    expect((await get('/v2/', ['bob', USERS.bob])).status).toBe(200); // a $2b$ entry
  });

  it('skopeo --creds and the stevedore CLI push and pull what the rules allow; the rest is 401/403', async () => {
    const host = env.server.host;
    await skopeoCopy(`oci:${layout}:v1`, `docker://${host}/alice/app:v1`, { destCreds: { username: 'alice', password: USERS.alice } });
    await skopeoCopy(`oci:${layout}:v1`, `docker://${host}/public/base:v1`, { destCreds: { username: 'root', password: USERS.root } });
    // Anonymous pull of public/*, nothing else.
    expect((await skopeoInspect(`docker://${host}/public/base:v1`)).Digest).toBe(image.manifest.digest);
    await expect(skopeoInspect(`docker://${host}/alice/app:v1`)).rejects.toThrow(/unauthorized|authentication required|401/i);
    const dockerConfig = join(env.dir, 'docker-bob');
    const login = await cli(['login', '-u', 'bob', '--password-stdin', host], { input: USERS.bob, dockerConfig });
    expect(login.code, login.stderr).toBe(0);
    const push = await cli(['push', '-q', `oci:${layout}:v1`, `${host}/team/tools:v1`], { dockerConfig });
    expect(push.code, push.stderr).toBe(0);
    const denied = await cli(['push', '-q', `oci:${layout}:v1`, `${host}/alice/app:bob`], { dockerConfig });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/403|denied/i);
    const pull = await cli(['pull', '-q', `${host}/team/tools:v1`, '--output', `oci:${join(env.dir, 'out')}:v1`, '--creds', `alice:${USERS.alice}`], { dockerConfig: join(env.dir, 'none') });
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout.trim()).toBe(image.manifest.digest);
  });

  it('answers 403 DENIED to authenticated callers without the right, and filters the catalog', async () => {
    const res = await get('/v2/team/tools/manifests/v1', ['alice', USERS.alice], 'DELETE');
    expect(res.status).toBe(403);
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DENIED');
    const anonPush = await fetch(new URL('/v2/public/base/blobs/uploads/', base), { method: 'POST' });
    expect(anonPush.status).toBe(401);
    const catalog = async (auth?: [string, string]) => ((await (await get('/v2/_catalog', auth)).json()) as { repositories: string[] }).repositories;
    expect(await catalog(['alice', USERS.alice])).toEqual(['alice/app', 'public/base', 'team/tools']);
    expect(await catalog(['bob', USERS.bob])).toEqual(['public/base', 'team/tools']);
    expect(await catalog(['root', USERS.root])).toEqual(['alice/app', 'public/base', 'team/tools']);
    expect(await catalog()).toEqual(['public/base']);
  });

  it('re-reads the htpasswd file when it changes', async () => {
    expect((await get('/v2/', ['carol', 'carol-pw'])).status).toBe(401);
    await appendFile(htpasswdPath, htpasswdText({ carol: 'carol-pw' }));
    // Polled once a second (the file is checked at most that often): fewer failed logins than the brute-force limit.
    await eventually(async () => expect((await get('/v2/', ['carol', 'carol-pw'])).status).toBe(200), 30_000, 1000);
    // Removing a user takes effect too, even for a password verified (and remembered) before.
    await writeFile(htpasswdPath, (await readFile(htpasswdPath, 'utf8')).replace(/^carol:.*\n/m, ''));
    // (The first refusal is a 401; polling on would make the brute-force guard answer 429.)
    const refused = await eventually(async () => {
      const status = (await get('/v2/', ['carol', 'carol-pw'])).status;
      expect(status).not.toBe(200);
      return status;
    });
    expect(refused).toBe(401);
  });

  it('applies changed access rules on SIGHUP', async () => {
    const alice: [string, string] = ['alice', USERS.alice];
    expect((await get('/v2/shared/docs/tags/list', alice)).status).toBe(403);
    const config = parse(await readFile(env.configPath, 'utf8')) as { auth: { access: unknown[] } };
    config.auth.access.push({ repositories: ['shared/*'], users: ['alice'], actions: ['pull'] });
    await writeFile(env.configPath, stringify(config));
    env.server.child.kill('SIGHUP');
    // Allowed now: the repository does not exist (404 NAME_UNKNOWN) instead of 403.
    await eventually(async () => expect((await get('/v2/shared/docs/tags/list', alice)).status).toBe(404));
    expect(env.server.logs.some((l) => l.includes('configuration reloaded') && l.includes('auth.access'))).toBe(true);
  });

  it('counts the same wrong password retried at once (as ctr does, five times) as one failure', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await get('/v2/', ['alice', 'one-typo'])).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    expect((await get('/v2/', ['alice', USERS.alice])).status).toBe(200);
  });

  it('slows down repeated failed Basic logins (429 with Retry-After) and logs them', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5 && statuses.at(-1) !== 429; i++) statuses.push((await get('/v2/', ['bob', `guess-${i}`])).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const res = await get('/v2/', ['bob', USERS.bob]);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('TOOMANYREQUESTS');
    await eventually(async () => expect(env.server.logs.filter((l) => l.includes('"login failed"') && l.includes('"user":"bob"')).length).toBeGreaterThanOrEqual(3));
  });
});

describe('per-user rate limits', () => {
  let limited: AuthEnv;
  afterAll(async () => {
    await limited?.server.stop();
    if (limited) await rm(limited.dir, { recursive: true, force: true });
  });

  it('key on the authenticated user: one user running out leaves the other alone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stevedore-auth-ratelimit-'));
    await writeFile(join(dir, 'htpasswd'), htpasswdText());
    limited = await startWithConfig({ auth: { mode: 'htpasswd', htpasswd: { path: join(dir, 'htpasswd') } }, rateLimit: { perUser: { read: { rate: 0.001, burst: 3 } } } }, { dir });
    const hit = (user: keyof typeof USERS) => fetch(new URL('/v2/', limited.server.url), { headers: { authorization: basic(user, USERS[user]) } });
    expect([(await hit('alice')).status, (await hit('alice')).status, (await hit('alice')).status]).toEqual([200, 200, 200]);
    const fourth = await hit('alice');
    expect(fourth.status).toBe(429);
    expect(((await fourth.json()) as { errors: { detail: { limit: string } }[] }).errors[0]!.detail.limit).toBe('user');
    expect((await hit('bob')).status).toBe(200);
  });
});
