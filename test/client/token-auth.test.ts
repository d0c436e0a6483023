// The client against a registry that demands Docker token auth, and `stevedore login/logout`.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/index.js';
import { startCncfRegistry, TEST_USER, type CncfRegistry } from '../helpers/cncf-registry.js';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { CLI } from '../helpers/stevedore-process.js';
import { startTokenProxy, type TokenProxy } from '../helpers/token-auth-proxy.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;
let registry: RunningServer;
let proxy: TokenProxy;
let cncf: CncfRegistry;
let image: BuiltImage;
const USER = 'ci-bot';
const PASS = 's3cret-passw0rd';

function stevedore(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { env: { ...process.env, DOCKER_CONFIG: join(dir, 'docker'), ...env }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input ?? '');
  });
}

const configJson = async () => JSON.parse(await readFile(join(dir, 'docker', 'config.json'), 'utf8'));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'token-auth-'));
  registry = await startServer({ dataDir: join(dir, 'registry'), addr: '127.0.0.1:0', logLevel: 'silent' });
  proxy = await startTokenProxy({ upstream: registry.url, username: USER, password: PASS, publicPrefix: 'public/' });
  cncf = await startCncfRegistry({ htpasswd: true });
  image = multiLayerImage({ tag: 'v1' });
  await writeLayout(join(dir, 'layout'), image);
});

afterAll(async () => {
  await proxy?.close();
  await registry?.close();
  await cncf?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('Bearer token auth', () => {
  it('refuses a wrong password at login and stores nothing', async () => {
    const r = await stevedore(['login', '-u', USER, '--password-stdin', proxy.host], 'wrong');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^stevedore: .*authentication failed/);
    await expect(readFile(join(dir, 'docker', 'config.json'))).rejects.toThrow();
  });

  it('logs in, storing the refresh token (identity token) instead of the password', async () => {
    const r = await stevedore(['login', '-u', USER, '--password-stdin', proxy.host], `${PASS}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Login Succeeded');
    const entry = (await configJson()).auths[proxy.host];
    expect(entry.identitytoken).toMatch(/^[0-9a-f]{32}$/);
    expect(JSON.stringify(entry)).not.toContain(Buffer.from(PASS).toString('base64'));
    // Credentials are the user's only, as docker writes them.
    expect((await stat(join(dir, 'docker', 'config.json'))).mode & 0o777).toBe(0o600);
  });

  it('pushes and pulls with tokens from the refresh-token flow, one token per scope', async () => {
    proxy.tokenRequests.length = 0;
    const push = await stevedore(['push', '-q', `oci:${join(dir, 'layout')}:v1`, `${proxy.host}/team/app:v1`]);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout.trim()).toBe(image.manifest.digest);
    expect(proxy.tokenRequests.length).toBeGreaterThan(0);
    expect(proxy.tokenRequests.every((t) => t.method === 'POST' && t.grant === 'refresh_token')).toBe(true);
    // Tokens are cached: far fewer token requests than registry requests (4 blobs + manifest).
    expect(new Set(proxy.tokenRequests.map((t) => t.scopes.join(' '))).size).toBe(proxy.tokenRequests.length);
    const pull = await stevedore(['pull', '-q', `${proxy.host}/team/app:v1`, '--output', `oci:${join(dir, 'pulled')}:v1`]);
    expect(pull.stdout.trim()).toBe(image.manifest.digest);
  });

  it('pulls public repositories anonymously and is refused private ones', async () => {
    const push = await stevedore(['copy', `${proxy.host}/team/app:v1`, `${proxy.host}/public/app:v1`]);
    expect(push.code, push.stderr).toBe(0);
    const anon = join(dir, 'anon-docker');
    proxy.tokenRequests.length = 0;
    const ok = await stevedore(['digest', `${proxy.host}/public/app:v1`], undefined, { DOCKER_CONFIG: anon });
    expect(ok.stdout.trim()).toBe(image.manifest.digest);
    expect(proxy.tokenRequests[0]).toMatchObject({ method: 'GET', grant: 'anonymous', scopes: ['repository:public/app:pull'] });
    const denied = await stevedore(['digest', `${proxy.host}/team/app:v1`], undefined, { DOCKER_CONFIG: anon });
    expect(denied.code).toBe(1);
    expect(denied.stderr.trim()).toMatch(/^stevedore: .*401/);
  });

  it('logs out', async () => {
    const r = await stevedore(['logout', proxy.host]);
    expect(r.code).toBe(0);
    expect((await configJson()).auths[proxy.host]).toBeUndefined();
    const again = await stevedore(['logout', proxy.host]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(`stevedore: not logged in to ${proxy.host}`);
  });
});

describe('Basic auth (CNCF registry with htpasswd)', () => {
  it('logs in with a password, stored base64 as Docker does, and uses it', async () => {
    const r = await stevedore(['login', '-u', TEST_USER.username, '--password-stdin', cncf.host], TEST_USER.password);
    expect(r.code, r.stderr).toBe(0);
    expect((await configJson()).auths[cncf.host]).toEqual({ auth: Buffer.from(`${TEST_USER.username}:${TEST_USER.password}`).toString('base64') });
    const push = await stevedore(['push', '-q', `oci:${join(dir, 'layout')}:v1`, `${cncf.host}/team/app:v1`]);
    expect(push.stdout.trim()).toBe(image.manifest.digest);
    const bad = await stevedore(['login', '-u', TEST_USER.username, '--password-stdin', cncf.host], 'nope');
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^stevedore: .*credentials were refused/);
  });
});
