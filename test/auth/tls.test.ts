// `stevedore serve` over HTTPS (certificate from the config, reloaded when it changes), with the
// token service on the same port, and with client certificates (mTLS). The CA is made with
// openssl for each run. Our client trusts it through certs.d, refuses it without, and skips
// verification when the registry is marked insecure.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { cli, eventually, htpasswdText, startWithConfig, USERS, type AuthEnv } from './auth-env.js';

let dir: string;
let image: BuiltImage;
let env: AuthEnv;
let clientConfig: string;

const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A certificate for 127.0.0.1 signed by the test CA. */
function serverCert(name: string, cn: string): void {
  ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', 'san.cnf']);
}

/** The certificate the server presents now. */
function presented(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(s.getPeerX509Certificate()!.fingerprint256);
      s.end();
    });
    s.on('error', reject);
  });
}

function certsDir(host: string, files: Record<string, string>): Promise<string> {
  const d = join(dir, `certs-${Object.keys(files).join('-') || 'none'}-${Math.random().toString(36).slice(2)}`);
  return (async () => {
    await mkdir(join(d, host), { recursive: true });
    for (const [name, src] of Object.entries(files)) await writeFile(join(d, host, name), await readFile(join(dir, src)));
    return d;
  })();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-auth-tls-'));
  await writeFile(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=stevedore test CA']);
  serverCert('server', 'registry one');
  await writeFile(join(dir, 'htpasswd'), htpasswdText());
  env = await startWithConfig(
    {
      tls: { certificate: join(dir, 'server.crt'), key: join(dir, 'server.key') },
      auth: { mode: 'token', htpasswd: { path: join(dir, 'htpasswd') }, tokenService: { enabled: true, keyFile: join(dir, 'token.pem') } },
    },
    { dir },
  );
  clientConfig = join(dir, 'client.yaml');
  // Loopback registries are insecure by default (as in Docker): make this one a normal, verified one.
  await writeFile(clientConfig, 'insecureLoopback: false\n');
  image = multiLayerImage({ tag: 'v1', randomBytes: 32 * 1024 });
  await writeLayout(join(dir, 'layout'), image);
});

afterAll(async () => {
  await env?.server.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('HTTPS', () => {
  it('serves https:// with keep-alive; the token realm is https too', async () => {
    expect(env.server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = await readFile(join(dir, 'ca.crt'));
    const agent = new Agent({ keepAlive: true, ca });
    const get = () =>
      new Promise<{ status: number; reused: boolean; challenge: string; protocol: string }>((resolve, reject) => {
        const req = request(new URL('/v2/', env.server.url), { agent }, (res) => {
          const protocol = (res.socket as import('node:tls').TLSSocket).getProtocol() ?? '';
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket, challenge: String(res.headers['www-authenticate']), protocol }));
        });
        req.on('error', reject);
        req.end();
      });
    const first = await get();
    const second = await get();
    agent.destroy();
    expect(first.status).toBe(401);
    expect(first.challenge).toContain(`realm="${env.server.url}/auth/token"`);
    expect(['TLSv1.2', 'TLSv1.3']).toContain(first.protocol);
    expect(second.reused).toBe(true);
  });

  it('our client logs in, pushes and pulls with the CA in certs.d', async () => {
    const certs = await certsDir(env.server.host, { 'ca.crt': 'ca.crt' });
    const opts = { dockerConfig: join(dir, 'docker'), env: { STEVEDORE_CERTS_DIRS: certs, STEVEDORE_CLIENT_CONFIG: clientConfig } };
    const login = await cli(['login', '-u', 'alice', '--password-stdin', env.server.host], { ...opts, input: USERS.alice });
    expect(login.code, login.stderr).toBe(0);
    const push = await cli(['push', '-q', `oci:${join(dir, 'layout')}:v1`, `${env.server.host}/alice/app:v1`], opts);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout.trim()).toBe(image.manifest.digest);
    const pull = await cli(['pull', '-q', `${env.server.host}/alice/app:v1`, '--output', `oci:${join(dir, 'out')}:v1`], opts);
    expect(pull.code, pull.stderr).toBe(0);
  });

  it('without the CA: one clear TLS error; marked insecure: verification is skipped', async () => {
    const certs = await certsDir(env.server.host, {});
    const opts = { dockerConfig: join(dir, 'docker-anon'), env: { STEVEDORE_CERTS_DIRS: certs, STEVEDORE_CLIENT_CONFIG: clientConfig } };
    const refused = await cli(['digest', '--creds', `alice:${USERS.alice}`, `${env.server.host}/alice/app:v1`], opts);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^stevedore: .*https:\/\/127\.0\.0\.1:\d+.*(UNABLE_TO_VERIFY|SELF_SIGNED|certificate)/i);
    const insecure = await cli(['digest', '--insecure-registry', env.server.host, '--creds', `alice:${USERS.alice}`, `${env.server.host}/alice/app:v1`], opts);
    expect(insecure.code, insecure.stderr).toBe(0);
    expect(insecure.stdout.trim()).toBe(image.manifest.digest);
  });

  it('picks up a renewed certificate without a restart', async () => {
    const port = Number(new URL(env.server.url).port);
    const before = await presented(port);
    expect(before).toBe(new X509Certificate(await readFile(join(dir, 'server.crt'))).fingerprint256);
    serverCert('renewed', 'registry one renewed');
    // Key first, then certificate (a reload in between keeps the old pair: they do not match).
    await writeFile(join(dir, 'server.key'), await readFile(join(dir, 'renewed.key')));
    await writeFile(join(dir, 'server.crt'), await readFile(join(dir, 'renewed.crt')));
    const renewed = new X509Certificate(await readFile(join(dir, 'renewed.crt'))).fingerprint256;
    await eventually(async () => expect(await presented(port)).toBe(renewed));
    expect(env.server.logs.some((l) => l.includes('tls: certificate reloaded'))).toBe(true);
  });
});

describe('client certificates (mTLS)', () => {
  let mtls: AuthEnv;
  afterAll(async () => {
    await mtls?.server.stop();
  });

  it('accepts clients with a certificate from the CA bundle and refuses the others', async () => {
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'clientca.key', '-out', 'clientca.crt', '-days', '2', '-subj', '/CN=stevedore client CA']);
    ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=ci-runner']);
    ssl(['x509', '-req', '-in', 'client.csr', '-CA', 'clientca.crt', '-CAkey', 'clientca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2']);
    serverCert('mtls', 'registry two');
    const mdir = join(dir, 'mtls');
    await mkdir(mdir);
    mtls = await startWithConfig({ tls: { certificate: join(dir, 'mtls.crt'), key: join(dir, 'mtls.key'), clientCAs: join(dir, 'clientca.crt') } }, { dir: mdir });
    const host = mtls.server.host;
    const withCert = await certsDir(host, { 'ca.crt': 'ca.crt', 'client.cert': 'client.crt', 'client.key': 'client.key' });
    const push = await cli(['push', '-q', `oci:${join(dir, 'layout')}:v1`, `${host}/mtls/app:v1`], { dockerConfig: join(dir, 'd1'), env: { STEVEDORE_CERTS_DIRS: withCert, STEVEDORE_CLIENT_CONFIG: clientConfig } });
    expect(push.code, push.stderr).toBe(0);
    const withoutCert = await certsDir(host, { 'ca.crt': 'ca.crt' });
    const refused = await cli(['digest', `${host}/mtls/app:v1`], { dockerConfig: join(dir, 'd2'), env: { STEVEDORE_CERTS_DIRS: withoutCert, STEVEDORE_CLIENT_CONFIG: clientConfig } });
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
  });
});
