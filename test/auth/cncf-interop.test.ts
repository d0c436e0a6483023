// Stevedore's built-in token service in front of CNCF registries: Debian's docker-registry 2.8 in
// token mode (realm = our token endpoint, rootcertbundle = the token service's certificate)
// trusts our tokens, so skopeo and our own CLI log in, push and pull through it, and the access
// rules of our token service decide what the CNCF registry allows. Two ways 2.8 finds the key:
// the `x5c` chain (a certificate generated on first start), or a libtrust `kid` looked up among the
// bundle certificates' keys (a certificate the operator made with openssl for our key). A Stevedore
// registry configured like the CNCF one verifies the same tokens. One token service serves several
// registries: the CNCF registry has a service name of its own (auth.tokenService.services).
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libtrustKeyId } from '../../server/auth/key-ids.js';
import { startCncfRegistry, type CncfRegistry } from '../helpers/cncf-registry.js';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';
import { basic, cli, htpasswdText, RULES, startWithConfig, USERS, type AuthEnv } from './auth-env.js';

const SERVICE = 'registry.test';
const CNCF_SERVICE = 'cncf.test';
const ISSUER = 'stevedore-token-service';
const creds = (user: keyof typeof USERS) => ({ username: user, password: USERS[user] });

let dir: string;
let image: BuiltImage;
let layout: string;
const stops: (() => Promise<unknown>)[] = [];

function header(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** A Stevedore server running the token service (and a registry in token mode that trusts it). */
async function tokenService(name: string, tokenService: Record<string, unknown>): Promise<AuthEnv> {
  const sub = join(dir, name);
  await mkdir(sub);
  const env = await startWithConfig(
    {
      auth: {
        mode: 'token',
        htpasswd: { path: join(dir, 'htpasswd') },
        token: { service: SERVICE },
        tokenService: { enabled: true, keyFile: join(sub, 'token.pem'), issuer: ISSUER, ...tokenService },
        ...RULES,
      },
    },
    { dir: sub },
  );
  stops.push(() => env.server.stop());
  return env;
}

async function cncf(realm: string, rootCertBundle: string, service = SERVICE): Promise<CncfRegistry> {
  const r = await startCncfRegistry({ token: { realm, service, issuer: ISSUER, rootCertBundle } });
  stops.push(() => r.stop());
  return r;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-cncf-token-'));
  await writeFile(join(dir, 'htpasswd'), htpasswdText());
  image = multiLayerImage({ tag: 'v1', randomBytes: 64 * 1024 });
  layout = join(dir, 'layout');
  await writeLayout(layout, image);
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('CNCF registry trusting the token service by its certificate (x5c)', () => {
  let ts: AuthEnv;
  let registry: CncfRegistry;
  let certPath: string;

  beforeAll(async () => {
    certPath = join(dir, 'x5c', 'token.crt');
    ts = await tokenService('x5c', { certificate: certPath, services: [CNCF_SERVICE] });
    registry = await cncf(`${ts.server.url}/auth/token`, certPath, CNCF_SERVICE);
  });

  it('generates a self-signed certificate for its key on first start and sends it as x5c', async () => {
    const cert = new X509Certificate(await readFile(certPath));
    expect(cert.subject).toBe(`CN=${ISSUER}`);
    expect(Date.parse(cert.validTo)).toBeGreaterThan(Date.now() + 365 * 86_400_000);
    const res = await fetch(`${ts.server.url}/auth/token?service=${CNCF_SERVICE}&scope=repository:alice/app:pull`, { headers: { authorization: basic('alice', USERS.alice) } });
    expect(res.status).toBe(200);
    const h = header(((await res.json()) as { token: string }).token);
    expect(h.x5c).toEqual([cert.raw.toString('base64')]);
    // The JWKS carries the chain too, and the same kid.
    const jwks = (await (await fetch(`${ts.server.url}/auth/jwks.json`)).json()) as { keys: { kid: string; x5c: string[] }[] };
    expect(jwks.keys[0]).toMatchObject({ kid: h.kid, x5c: h.x5c });
  });

  it('skopeo with --creds pushes and pulls what the access rules allow; the CNCF registry refuses the rest', async () => {
    await skopeoCopy(`oci:${layout}:v1`, `docker://${registry.host}/alice/app:v1`, { destCreds: creds('alice') });
    expect((await skopeoInspect(`docker://${registry.host}/alice/app:v1`, { creds: creds('alice') })).Digest).toBe(image.manifest.digest);
    // bob (group ci) may push team/*; alice may only pull there.
    await skopeoCopy(`oci:${layout}:v1`, `docker://${registry.host}/team/tools:v1`, { destCreds: creds('bob') });
    expect((await skopeoInspect(`docker://${registry.host}/team/tools:v1`, { creds: creds('alice') })).Digest).toBe(image.manifest.digest);
    await expect(skopeoCopy(`oci:${layout}:v1`, `docker://${registry.host}/team/tools:v2`, { destCreds: creds('alice') })).rejects.toThrow(/denied|unauthorized|401|403/i);
    await expect(skopeoInspect(`docker://${registry.host}/alice/app:v1`, { creds: creds('bob') })).rejects.toThrow(/denied|unauthorized|401|403/i);
    await expect(skopeoInspect(`docker://${registry.host}/alice/app:v1`)).rejects.toThrow(/denied|unauthorized|401|403/i);
    // The refusal is the CNCF registry's, for a token with less than the push needs.
    const t = await fetch(`${ts.server.url}/auth/token?service=${CNCF_SERVICE}&scope=repository:team/tools:pull,push`, { headers: { authorization: basic('alice', USERS.alice) } });
    const token = ((await t.json()) as { token: string }).token;
    const push = await fetch(`${registry.url}/v2/team/tools/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(push.status).toBe(401);
    expect(push.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
    const pull = await fetch(`${registry.url}/v2/team/tools/manifests/v1`, { method: 'HEAD', headers: { authorization: `Bearer ${token}`, accept: image.manifest.mediaType } });
    expect(pull.status).toBe(200);
    // The token is for the CNCF registry only: Stevedore's registry (service registry.test) refuses it.
    const mine = await fetch(`${ts.server.url}/v2/team/tools/tags/list`, { headers: { authorization: `Bearer ${token}` } });
    expect(mine.status).toBe(401);
    const unknown = await fetch(`${ts.server.url}/auth/token?service=elsewhere.test`, { headers: { authorization: basic('alice', USERS.alice) } });
    expect(unknown.status).toBe(400);
  });

  it('stevedore login, then push and pull through the CNCF registry; a forbidden push fails with a one-line message', async () => {
    const dockerConfig = join(dir, 'docker-bob');
    const login = await cli(['login', '-u', 'bob', '--password-stdin', registry.host], { input: USERS.bob, dockerConfig });
    expect(login.code, login.stderr).toBe(0);
    const push = await cli(['push', '-q', `oci:${layout}:v1`, `${registry.host}/bob/tool:v1`], { dockerConfig });
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout.trim()).toBe(image.manifest.digest);
    const pull = await cli(['pull', '-q', `${registry.host}/bob/tool:v1`, '--output', `oci:${join(dir, 'pulled')}:v1`], { dockerConfig });
    expect(pull.code, pull.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(dir, 'pulled', 'index.json'), 'utf8')).manifests[0].digest).toBe(image.manifest.digest);
    const denied = await cli(['push', '-q', `oci:${layout}:v1`, `${registry.host}/alice/app:evil`], { dockerConfig });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr.trim().split('\n')).toHaveLength(1);
    expect(denied.stderr).toMatch(/401|403|denied|unauthorized/i);
    const wrong = await cli(['login', '-u', 'bob', '--password-stdin', registry.host], { input: 'not-it', dockerConfig: join(dir, 'docker-x') });
    expect(wrong.code).not.toBe(0);
  });

  it('a Stevedore registry configured like the CNCF one (rootCertBundle, issuer) verifies the same tokens', async () => {
    const sub = join(dir, 'verifier');
    await mkdir(sub);
    const other = await startWithConfig(
      { auth: { mode: 'token', token: { realm: `${ts.server.url}/auth/token`, service: SERVICE, issuer: ISSUER, rootCertBundle: certPath } } },
      { dir: sub },
    );
    stops.push(() => other.server.stop());
    await skopeoCopy(`oci:${layout}:v1`, `docker://${other.server.host}/alice/app:v1`, { destCreds: creds('alice') });
    expect((await skopeoInspect(`docker://${other.server.host}/alice/app:v1`, { creds: creds('alice') })).Digest).toBe(image.manifest.digest);
    await expect(skopeoCopy(`oci:${layout}:v1`, `docker://${other.server.host}/team/tools:v1`, { destCreds: creds('alice') })).rejects.toThrow(/denied|unauthorized|401|403/i);
    // And the token service's own registry still verifies its tokens (x5c anchored at its own certificate).
    await skopeoCopy(`oci:${layout}:v1`, `docker://${ts.server.host}/alice/app:v1`, { destCreds: creds('alice') });
  });
});

describe('CNCF registry trusting the token service by its libtrust kid', () => {
  it('finds the key by kid among the bundle certificates (one made with openssl for our key)', async () => {
    const ts = await tokenService('libtrust', { keyIdFormat: 'libtrust' });
    const keyFile = join(dir, 'libtrust', 'token.pem');
    const certPath = join(dir, 'libtrust', 'openssl.crt');
    await promisify(execFile)('openssl', ['req', '-x509', '-key', keyFile, '-out', certPath, '-days', '2', '-subj', '/CN=token issuer']);
    const cert = new X509Certificate(await readFile(certPath));
    const res = await fetch(`${ts.server.url}/auth/token?service=${SERVICE}`, { headers: { authorization: basic('alice', USERS.alice) } });
    const h = header(((await res.json()) as { token: string }).token);
    expect(h.kid).toBe(libtrustKeyId(cert.publicKey));
    expect(h.x5c).toBeUndefined();
    const registry = await cncf(`${ts.server.url}/auth/token`, certPath);
    await skopeoCopy(`oci:${layout}:v1`, `docker://${registry.host}/alice/app:v1`, { destCreds: creds('alice') });
    expect((await skopeoInspect(`docker://${registry.host}/alice/app:v1`, { creds: creds('alice') })).Digest).toBe(image.manifest.digest);
    await expect(skopeoCopy(`oci:${layout}:v1`, `docker://${registry.host}/bob/app:v1`, { destCreds: creds('alice') })).rejects.toThrow(/denied|unauthorized|401|403/i);
  });
});

describe('CNCF registry trusting a CA that issued the token service certificate', () => {
  it('verifies the x5c chain up to the CA in its bundle', async () => {
    const sub = join(dir, 'ca');
    await mkdir(sub);
    // The operator's way: a key, a certificate for it from the company CA, then the token service.
    const ssl = (args: string[]) => promisify(execFile)('openssl', args, { cwd: sub });
    await ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=company CA']);
    await ssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'token.pem']);
    await ssl(['req', '-new', '-key', 'token.pem', '-out', 'token.csr', '-subj', '/CN=token service']);
    await ssl(['x509', '-req', '-in', 'token.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'token.crt', '-days', '2']);
    const before = await readFile(join(sub, 'token.crt'), 'utf8');
    const env = await startWithConfig(
      {
        auth: {
          mode: 'token',
          htpasswd: { path: join(dir, 'htpasswd') },
          token: { service: SERVICE },
          tokenService: { enabled: true, keyFile: join(sub, 'token.pem'), certificate: join(sub, 'token.crt'), issuer: ISSUER },
          ...RULES,
        },
      },
      { dir: sub },
    );
    stops.push(() => env.server.stop());
    expect(await readFile(join(sub, 'token.crt'), 'utf8')).toBe(before); // used, not replaced
    const registry = await cncf(`${env.server.url}/auth/token`, join(sub, 'ca.crt'));
    await skopeoCopy(`oci:${layout}:v1`, `docker://${registry.host}/bob/app:v1`, { destCreds: creds('bob') });
    expect((await skopeoInspect(`docker://${registry.host}/bob/app:v1`, { creds: creds('bob') })).Digest).toBe(image.manifest.digest);
    await expect(skopeoInspect(`docker://${registry.host}/bob/app:v1`, { creds: creds('alice') })).rejects.toThrow(/denied|unauthorized|401|403/i);
  });
});
