// Robot tokens end to end (issue 21): an administrator creates one with `stevedore token create`
// against the real server (token mode, built-in token service); skopeo, podman, docker and our
// client push with it as a password; it reaches only its own access; `token ls` shows it with its
// last use and never its secret; `token rm` stops the secret and a token issued from it at once.
// In htpasswd mode the secret works as a Basic password. The audit file has a line for each step.
import { podman } from '../helpers/podman.js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startContainerd, type PrivateContainerd } from '../helpers/containerd.js';
import { DockerEngineUnavailable, startDockerEngine, type DockerEngine } from '../helpers/docker-engine.js';
import { multiLayerImage, tar, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';
import { basic, cli, eventually, htpasswdText, RULES, startWithConfig, USERS, type AuthEnv } from './auth-env.js';

const CI = process.env.CI === 'true' || process.env.CI === '1';
let dir: string;
let env: AuthEnv;
let image: BuiltImage;
let layout: string;
let engine: DockerEngine | undefined;
let unavailable: string | undefined;
let rootConfig: string;
let aliceConfig: string;
let auditPath: string;
let containerd: PrivateContainerd | undefined;

interface AuditLine {
  action: string;
  outcome: string;
  actor: { kind: string; name?: string };
  target?: Record<string, unknown>;
  reason?: string;
  source?: { addr?: string };
}

async function auditLines(): Promise<AuditLine[]> {
  const text = await readFile(auditPath, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditLine);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-robots-'));
  auditPath = join(dir, 'audit.log');
  await writeFile(join(dir, 'htpasswd'), htpasswdText());
  env = await startWithConfig(
    {
      auth: {
        mode: 'token',
        htpasswd: { path: join(dir, 'htpasswd') },
        tokenService: { enabled: true, keyFile: join(dir, 'token.pem') },
        ...RULES,
      },
      audit: { file: auditPath },
    },
    { dir: await mkdtemp(join(dir, 'server-')) },
  );
  image = multiLayerImage({ tag: 'v1', randomBytes: 16 * 1024 });
  layout = join(dir, 'layout');
  await writeLayout(layout, image);
  rootConfig = await mkdtemp(join(dir, 'docker-root-'));
  aliceConfig = await mkdtemp(join(dir, 'docker-alice-'));
  const host = env.server.host;
  for (const [user, cfg] of [['root', rootConfig], ['alice', aliceConfig]] as const) {
    const r = await cli(['login', '-u', user, '--password-stdin', host], { input: USERS[user], dockerConfig: cfg });
    expect(r.code, r.stderr).toBe(0);
  }
  try {
    engine = await startDockerEngine();
  } catch (err) {
    if (!(err instanceof DockerEngineUnavailable) || CI) throw err;
    unavailable = err.message;
    console.warn(`docker steps skipped: dockerd could not start here: ${err.message.split('\n')[0]}`);
  }
}, 240_000);

afterAll(async () => {
  await containerd?.stop();
  await engine?.stop();
  await env?.server.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

/** podman with its own state under this test's directory (test/helpers/podman.ts). */
const runPodman = (args: string[], input?: string) => podman(dir, args, input);

async function createRobot(name: string, access: string[], extra: string[] = []): Promise<{ user: string; secret: string }> {
  const args = ['token', 'create', '--name', name, ...access.flatMap((a) => ['--access', a]), '--registry', env.server.host, '--json', ...extra];
  const r = await cli(args, { dockerConfig: rootConfig });
  expect(r.code, r.stderr).toBe(0);
  const t = JSON.parse(r.stdout) as { user: string; secret: string };
  return { user: t.user, secret: t.secret };
}

async function tokenFor(user: string, password: string, scope: string): Promise<Response> {
  return fetch(`${env.server.url}/auth/token?service=stevedore&scope=${encodeURIComponent(scope)}`, { headers: { authorization: basic(user, password) } });
}

describe('robot tokens in token mode', () => {
  let robot: { user: string; secret: string };

  it('an administrator creates one; its secret is shown once, never listed; others may not create', async () => {
    robot = await createRobot('ci', ['team/**:pull,push']);
    expect(robot.user).toBe('robot+ci');
    expect(robot.secret).toMatch(/^stv_robot_[A-Za-z0-9_-]{43}$/);
    const ls = await cli(['token', 'ls', '--registry', env.server.host], { dockerConfig: rootConfig });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/^NAME\s+ACCESS\s+CREATED\s+EXPIRES\s+LAST USED\s+CREATED BY\n/);
    expect(ls.stdout).toMatch(/\nci\s+team\/\*\*:pull,push\s+.*ago\s+never\s+never\s+root\n/);
    expect(ls.stdout).not.toContain(robot.secret);
    // Stored hashed: the secret is nowhere in the registry's storage.
    const stored = await readFile(join(env.server.dataDir, '_stevedore', 'robots', 'ci.json'), 'utf8');
    expect(stored).not.toContain(robot.secret);
    expect(JSON.parse(stored)).toMatchObject({ name: 'ci', createdBy: 'root', secretHash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    // alice is not an administrator: one line with a hint, no stack trace.
    const denied = await cli(['token', 'create', '--name', 'mine', '--access', 'alice/**:push', '--registry', env.server.host], { dockerConfig: aliceConfig });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr.trim().split('\n')).toHaveLength(1);
    expect(denied.stderr).toMatch(/denied|unauthorized/i);
    expect(denied.stderr).toMatch(/administrators/);
    // A bad access spec is refused by the registry with a message naming it.
    const bad = await cli(['token', 'create', '--name', 'bad', '--access', 'team/**:write', '--registry', env.server.host], { dockerConfig: rootConfig });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/invalid action "write"/);
  }, 120_000);

  it('skopeo, podman and our client push with it; it reaches nothing beyond its access', async () => {
    const host = env.server.host;
    await skopeoCopy(`oci:${layout}:v1`, `docker://${host}/team/app:v1`, { destCreds: { username: robot.user, password: robot.secret } });
    expect((await skopeoInspect(`docker://${host}/team/app:v1`, { creds: { username: 'root', password: USERS.root } })).Digest).toBe(image.manifest.digest);
    // Outside team/**: refused, although its creator (an admin) may push there.
    await expect(skopeoCopy(`oci:${layout}:v1`, `docker://${host}/alice/app:v1`, { destCreds: { username: robot.user, password: robot.secret } })).rejects.toThrow(
      /denied|unauthorized|insufficient/i,
    );
    // podman: login with the secret, then push.
    const login = await runPodman(['login', '--tls-verify=false', '-u', robot.user, '--password-stdin', host], robot.secret);
    expect(login.code, login.stderr).toBe(0);
    const pulled = await runPodman(['pull', '--tls-verify=false', `${host}/team/app:v1`]);
    expect(pulled.code, pulled.stderr).toBe(0);
    const pushed = await runPodman(['push', '--tls-verify=false', `${host}/team/app:v1`, `docker://${host}/team/podman:v1`]);
    expect(pushed.code, pushed.stderr).toBe(0);
    // Our client, with the secret as the password.
    const ours = await cli(['copy', '--creds', `${robot.user}:${robot.secret}`, `oci:${layout}:v1`, `${host}/team/ours:v1`], { dockerConfig: await mkdtemp(join(dir, 'docker-ci-')) });
    expect(ours.code, ours.stderr).toBe(0);
    const wrong = await runPodman(['login', '--tls-verify=false', '-u', robot.user, '--password-stdin', host], 'stv_robot_not-the-secret');
    expect(wrong.code).not.toBe(0);
    // Its last use is listed.
    const ls = await cli(['token', 'ls', '--registry', host, '--json'], { dockerConfig: rootConfig });
    const [t] = JSON.parse(ls.stdout) as { name: string; lastUsed?: string }[];
    expect(t!.name).toBe('ci');
    expect(Date.parse(t!.lastUsed ?? '')).toBeGreaterThan(Date.now() - 120_000);
  }, 300_000);

  it('docker logs in and pushes with it', async (ctx) => {
    if (!engine) return ctx.skip(`dockerd could not start: ${unavailable}`);
    const d = engine!;
    const host = env.server.host;
    const login = await d.docker(['login', '-u', robot.user, '--password-stdin', host], { input: robot.secret });
    expect(login.code, login.stderr).toBe(0);
    const rootfs = join(dir, 'rootfs.tar');
    await writeFile(rootfs, tar([{ type: 'file', name: 'data.txt', content: randomBytes(16).toString('hex') }]));
    expect((await d.docker(['import', rootfs, `${host}/team/docker:v1`])).code).toBe(0);
    const push = await d.docker(['push', `${host}/team/docker:v1`]);
    expect(push.code, push.stderr).toBe(0);
    const denied = await d.docker(['tag', `${host}/team/docker:v1`, `${host}/bob/docker:v1`]).then(() => d.docker(['push', `${host}/bob/docker:v1`]));
    expect(denied.code).not.toBe(0);
    expect(`${denied.stdout}${denied.stderr}`).toMatch(/denied|unauthorized|insufficient/i);
  }, 300_000);

  it('ctr pulls and pushes with it', async () => {
    const host = env.server.host;
    containerd = await startContainerd(dir);
    const { ctr } = containerd;
    const creds = `${robot.user}:${robot.secret}`;
    const pull = await ctr(['images', 'pull', '--plain-http', '--user', creds, `${host}/team/app:v1`]);
    expect(pull.code, pull.out).toBe(0);
    const push = await ctr(['images', 'push', '--plain-http', '--user', creds, `${host}/team/ctr:v1`, `${host}/team/app:v1`]);
    expect(push.code, push.out).toBe(0);
    expect((await skopeoInspect(`docker://${host}/team/ctr:v1`, { creds: { username: 'root', password: USERS.root } })).Digest).toBe(image.manifest.digest);
    const denied = await ctr(['images', 'push', '--plain-http', '--user', creds, `${host}/bob/ctr:v1`, `${host}/team/app:v1`]);
    expect(denied.code).not.toBe(0);
    expect(denied.out).toMatch(/denied|unauthorized|forbidden|insufficient/i);
  }, 300_000);

  it('token rm stops the secret and a token issued from it at once', async () => {
    const host = env.server.host;
    const issued = await tokenFor(robot.user, robot.secret, 'repository:team/app:pull');
    expect(issued.status).toBe(200);
    const { token } = (await issued.json()) as { token: string };
    const head = () => fetch(`${env.server.url}/v2/team/app/manifests/v1`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } });
    expect((await head()).status).toBe(200);
    const rmr = await cli(['token', 'rm', 'ci', '--registry', host], { dockerConfig: rootConfig });
    expect(rmr.code, rmr.stderr).toBe(0);
    expect(rmr.stdout.trim()).toBe('ci');
    // The token issued before is refused now, well before its expiry (5 minutes).
    const after = await head();
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    expect((await tokenFor(robot.user, robot.secret, 'repository:team/app:pull')).status).toBe(401);
    await expect(skopeoCopy(`oci:${layout}:v1`, `docker://${host}/team/after:v1`, { destCreds: { username: robot.user, password: robot.secret } })).rejects.toThrow(
      /unauthorized|invalid username or password/i,
    );
    const again = await cli(['token', 'rm', 'ci', '--registry', host], { dockerConfig: rootConfig });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/no robot named "ci"/);
  }, 180_000);

  it('an expired robot stops working', async () => {
    const r = await createRobot('short', ['team/**:pull'], ['--expires', '2s']);
    expect((await tokenFor(r.user, r.secret, 'repository:team/app:pull')).status).toBe(200);
    await eventually(async () => expect((await tokenFor(r.user, r.secret, 'repository:team/app:pull')).status).toBe(401), 30_000, 500);
    const ls = await cli(['token', 'ls', '--registry', env.server.host], { dockerConfig: rootConfig });
    expect(ls.stdout).toMatch(/\nshort\s+team\/\*\*:pull\s+.*\bexpired\b/);
  }, 60_000);

  it('the audit file has a line for each step: who, what, from where, outcome', async () => {
    await eventually(async () => {
      const lines = await auditLines();
      const created = lines.find((l) => l.action === 'token.create' && l.outcome === 'success' && l.target?.robot === 'ci');
      expect(created?.actor).toEqual({ kind: 'user', name: 'root' });
      expect(created?.source?.addr).toMatch(/127\.0\.0\.1/);
      // Refused: alice is no administrator; a bad access spec.
      expect(lines.some((l) => l.action === 'token.create' && l.outcome === 'failure' && l.actor.name === 'alice' && l.reason?.includes('denied'))).toBe(true);
      expect(lines.some((l) => l.action === 'token.create' && l.outcome === 'failure' && l.reason?.includes('invalid action "write"'))).toBe(true);
      const push = lines.find((l) => l.action === 'manifest.push' && l.target?.repository === 'team/app');
      expect(push).toMatchObject({ outcome: 'success', actor: { kind: 'robot', name: 'robot+ci' }, target: { tag: 'v1', digest: image.manifest.digest } });
      expect(lines.some((l) => l.action === 'tag.move' && l.target?.repository === 'team/podman' && l.actor.name === 'robot+ci')).toBe(true);
      expect(lines.some((l) => l.action === 'blob.push' && l.target?.repository === 'team/ours' && l.actor.name === 'robot+ci')).toBe(true);
      expect(lines.some((l) => l.action === 'login.failure' && l.actor.name === 'robot+ci')).toBe(true);
      expect(lines.some((l) => l.action === 'token.revoke' && l.target?.robot === 'ci' && l.actor.name === 'root')).toBe(true);
      // Reads are not recorded by default.
      expect(lines.some((l) => l.action.endsWith('.pull'))).toBe(false);
    });
  }, 60_000);
});

describe('robot tokens in htpasswd mode', () => {
  let henv: AuthEnv;
  afterAll(async () => henv?.server.stop());

  it('the secret works as a Basic password, within its access', async () => {
    const hdir = await mkdtemp(join(dir, 'htpasswd-mode-'));
    await writeFile(join(hdir, 'htpasswd'), htpasswdText());
    henv = await startWithConfig({ auth: { mode: 'htpasswd', htpasswd: { path: join(hdir, 'htpasswd') }, ...RULES } }, { dir: hdir });
    const host = henv.server.host;
    const created = await fetch(`${henv.server.url}/v2/_stevedore/tokens`, {
      method: 'POST',
      headers: { authorization: basic('root', USERS.root), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'deploy', access: ['team/*:pull,push'] }),
    });
    expect(created.status).toBe(201);
    const { user, secret } = (await created.json()) as { user: string; secret: string };
    // alice (no admin) is refused with the spec's error format.
    const refused = await fetch(`${henv.server.url}/v2/_stevedore/tokens`, { headers: { authorization: basic('alice', USERS.alice) } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DENIED');
    await skopeoCopy(`oci:${layout}:v1`, `docker://${host}/team/basic:v1`, { destCreds: { username: user, password: secret } });
    await expect(skopeoCopy(`oci:${layout}:v1`, `docker://${host}/team/deep/er:v1`, { destCreds: { username: user, password: secret } })).rejects.toThrow(/denied|forbidden/i);
    expect((await fetch(`${henv.server.url}/v2/team/basic/tags/list`, { headers: { authorization: basic(user, 'wrong') } })).status).toBe(401);
  }, 120_000);
});

describe('robot tokens on two replicas sharing storage', () => {
  const replicas: AuthEnv[] = [];
  afterAll(async () => {
    for (const r of replicas) await r.server.stop();
  });

  it('a robot created on one works on the other; removed there, it stops here within seconds', async () => {
    const rdir = await mkdtemp(join(dir, 'replicas-'));
    await writeFile(join(rdir, 'htpasswd'), htpasswdText());
    const config = { auth: { mode: 'token', htpasswd: { path: join(rdir, 'htpasswd') }, tokenService: { enabled: true, keyFile: join(rdir, 'token.pem') }, ...RULES } };
    replicas.push(await startWithConfig(config, { dir: rdir }));
    replicas.push(await startWithConfig(config, { dir: rdir })); // same data directory and signing key
    const [a, b] = replicas as [AuthEnv, AuthEnv];
    const created = await fetch(`${a.server.url}/v2/_stevedore/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await adminToken(a)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'shared', access: ['team/**:pull'] }),
    });
    expect(created.status).toBe(201);
    const { user, secret } = (await created.json()) as { user: string; secret: string };
    const onB = () => fetch(`${b.server.url}/auth/token?service=stevedore&scope=repository:team/x:pull`, { headers: { authorization: basic(user, secret) } });
    expect((await onB()).status).toBe(200);
    const removed = await fetch(`${a.server.url}/v2/_stevedore/tokens/shared`, { method: 'DELETE', headers: { authorization: `Bearer ${await adminToken(a)}` } });
    expect(removed.status).toBe(200);
    await eventually(async () => expect((await onB()).status).toBe(401), 10_000, 250);
  }, 120_000);

  async function adminToken(e: AuthEnv): Promise<string> {
    const res = await fetch(`${e.server.url}/auth/token?service=stevedore&scope=registry:admin:*`, { headers: { authorization: basic('root', USERS.root) } });
    return ((await res.json()) as { token: string }).token;
  }
});
