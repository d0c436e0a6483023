// Docker Engine (dockerd 20.10, started by the test with its own roots) against Stevedore in token
// mode with the built-in token service: `docker login` (token by GET with Basic, then the refresh
// token it stores), push (an image with another user's layer: uploaded, since docker mounts only
// from repositories it pushed to with the same credentials; then a cross-repository mount among
// her own repositories) and pull, and refusals with a message (401 insufficient_scope).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { DockerEngineUnavailable, startDockerEngine, type DockerEngine } from '../helpers/docker-engine.js';
import { tar } from '../helpers/oci-image-builder.js';
import { htpasswdText, startWithConfig, USERS, type AuthEnv } from './auth-env.js';

const CI = process.env.CI === 'true' || process.env.CI === '1';
let env: AuthEnv | undefined;
let engine: DockerEngine | undefined;
let unavailable: string | undefined;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-docker-token-'));
  await writeFile(join(dir, 'htpasswd'), htpasswdText());
  env = await startWithConfig(
    {
      auth: {
        mode: 'token',
        htpasswd: { path: join(dir, 'htpasswd') },
        tokenService: { enabled: true, keyFile: join(dir, 'token.pem') },
        access: [
          { repositories: ['alice/*'], users: ['alice'], actions: ['pull', 'push'] },
          { repositories: ['bob/*'], users: ['bob'], actions: ['pull', 'push', 'delete'] },
        ],
      },
    },
    { dir: await mkdtemp(join(dir, 'server-')) },
  );
  try {
    engine = await startDockerEngine();
  } catch (err) {
    if (!(err instanceof DockerEngineUnavailable) || CI) throw err;
    unavailable = err.message;
    console.warn(`docker tests skipped: dockerd could not start here: ${err.message.split('\n')[0]}`);
  }
}, 180_000);

afterAll(async () => {
  await engine?.stop();
  await env?.server.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

function needsDocker(ctx: TestContext): DockerEngine {
  if (!engine) ctx.skip(`dockerd could not start: ${unavailable}`);
  return engine!;
}

async function ok(run: Promise<{ code: number; stdout: string; stderr: string }>, what: string): Promise<string> {
  const r = await run;
  expect(r.code, `${what}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

describe('docker with token auth', () => {
  it('logs in through the token service; a wrong password is refused with a message', async (ctx) => {
    const d = needsDocker(ctx);
    const host = env!.server.host;
    const wrong = await d.docker(['login', '-u', 'alice', '--password-stdin', host], { input: 'not-her-password' });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/unauthorized|invalid username or password/i);
    const good = await ok(d.docker(['login', '-u', 'alice', '--password-stdin', host], { input: USERS.alice }), 'docker login');
    expect(good).toMatch(/Login Succeeded/);
  }, 120_000);

  it('pushes (mounting among her own repositories) and pulls; refusals say so', async (ctx) => {
    const d = needsDocker(ctx);
    const host = env!.server.host;
    const rootfs = join(dir, 'rootfs.tar');
    const secret = randomBytes(16).toString('hex');
    await writeFile(rootfs, tar([{ type: 'file', name: 'secret.txt', content: secret }]));
    // bob pushes a private image.
    await ok(d.docker(['login', '-u', 'bob', '--password-stdin', host], { input: USERS.bob }), 'bob login');
    await ok(d.docker(['import', rootfs, `${host}/bob/private:v1`]), 'docker import');
    await ok(d.docker(['push', `${host}/bob/private:v1`]), 'bob push');
    // alice pushes the same layer (she has it in this daemon) to her repository.
    await ok(d.docker(['login', '-u', 'alice', '--password-stdin', host], { input: USERS.alice }), 'alice login');
    await ok(d.docker(['tag', `${host}/bob/private:v1`, `${host}/alice/app:v1`]), 'docker tag');
    const pushed = await d.docker(['push', `${host}/alice/app:v1`]);
    expect(pushed.code, pushed.stderr).toBe(0);
    // Pushed once more under another of her names: docker mounts the layers from alice/app
    // (the token it asks for holds pull there): 201 to the POST (only the image config is uploaded).
    await ok(d.docker(['tag', `${host}/alice/app:v1`, `${host}/alice/copy:v1`]), 'docker tag');
    await ok(d.docker(['push', `${host}/alice/copy:v1`]), 'alice push copy');
    const copyRequests = () => env!.server.logs.filter((l) => l.includes('"path":"/v2/alice/copy/blobs/uploads/'));
    await expect.poll(() => copyRequests().some((l) => l.includes('"method":"POST"') && l.includes('"status":201'))).toBe(true);
    // Pull it back after removing the local copies.
    await ok(d.docker(['rmi', `${host}/alice/app:v1`, `${host}/alice/copy:v1`, `${host}/bob/private:v1`]), 'docker rmi');
    await ok(d.docker(['pull', `${host}/alice/app:v1`]), 'alice pull');
    const inspect = await ok(d.docker(['image', 'inspect', '--format', '{{.Id}}', `${host}/alice/app:v1`]), 'inspect');
    expect(inspect.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    // What she may not do is refused with a message (401 insufficient_scope, then docker gives up).
    const pull = await d.docker(['pull', `${host}/bob/private:v1`]);
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toMatch(/denied|unauthorized|insufficient/i);
    await ok(d.docker(['tag', `${host}/alice/app:v1`, `${host}/bob/evil:v1`]), 'docker tag');
    const push = await d.docker(['push', `${host}/bob/evil:v1`]);
    expect(push.code).not.toBe(0);
    expect(`${push.stdout}${push.stderr}`).toMatch(/denied|unauthorized|insufficient/i);
  }, 300_000);
});
