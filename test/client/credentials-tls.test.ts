// Where the client finds credentials and certificates: containers' auth.json, a Docker credential
// helper program, and a registry behind TLS whose CA is trusted through certs.d.
import { execFile, execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/index.js';
import { startCncfRegistry, TEST_USER, type CncfRegistry } from '../helpers/cncf-registry.js';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { CLI } from '../helpers/stevedore-process.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;
let cncf: CncfRegistry;
let registry: RunningServer;
let tls: Server;
let tlsHost: string;
let image: BuiltImage;

function stevedore(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, DOCKER_CONFIG: join(dir, 'empty-docker'), ...env }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'creds-tls-'));
  cncf = await startCncfRegistry({ htpasswd: true });
  registry = await startServer({ dataDir: join(dir, 'registry'), addr: '127.0.0.1:0', logLevel: 'silent' });
  image = multiLayerImage({ tag: 'v1', randomBytes: 256 * 1024 });
  await writeLayout(join(dir, 'layout'), image);

  // A CA and a server certificate for 127.0.0.1, made with openssl for this test only.
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=stevedore test CA']);
  ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'ext.cnf']);
  // TLS in front of the registry (Stevedore serves TLS itself once the access-control issue lands).
  tls = createHttpsServer({ key: await readFile(join(dir, 'server.key')), cert: await readFile(join(dir, 'server.crt')) }, (req, res) => {
    const up = httpRequest(new URL(req.url!, registry.url), { method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode!, ur.headers);
      ur.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  tlsHost = `127.0.0.1:${(tls.address() as { port: number }).port}`;
});

afterAll(async () => {
  tls?.close();
  await registry?.close();
  await cncf?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('credentials', () => {
  it("reads containers' auth.json from REGISTRY_AUTH_FILE", async () => {
    const authFile = join(dir, 'auth.json');
    const auth = Buffer.from(`${TEST_USER.username}:${TEST_USER.password}`).toString('base64');
    await writeFile(authFile, JSON.stringify({ auths: { [cncf.host]: { auth } } }));
    const r = await stevedore(['push', '-q', `oci:${join(dir, 'layout')}:v1`, `${cncf.host}/creds/authjson:v1`], { REGISTRY_AUTH_FILE: authFile });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(image.manifest.digest);
  });

  it('asks a Docker credential helper named in credHelpers', async () => {
    // A credential helper speaking Docker's protocol: `get` reads the server URL on stdin.
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-stevedoretest');
    await writeFile(
      helper,
      `#!/bin/sh\nread server\necho "$1 $server" >> ${join(dir, 'helper.log')}\n` +
        `[ "$1" = get ] && [ "$server" = "${cncf.host}" ] && echo '{"ServerURL":"${cncf.host}","Username":"${TEST_USER.username}","Secret":"${TEST_USER.password}"}' && exit 0\n` +
        `echo "credentials not found in native keychain"; exit 1\n`,
    );
    await chmod(helper, 0o755);
    const cfg = join(dir, 'helper-docker');
    await mkdir(cfg, { recursive: true });
    await writeFile(join(cfg, 'config.json'), JSON.stringify({ credHelpers: { [cncf.host]: 'stevedoretest' } }));
    const r = await stevedore(['tags', `${cncf.host}/creds/authjson`], { DOCKER_CONFIG: cfg, PATH: `${bin}:${process.env.PATH}` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('v1');
    expect(await readFile(join(dir, 'helper.log'), 'utf8')).toContain(`get ${cncf.host}`);
  });
});

describe('TLS', () => {
  // 127.0.0.1 is insecure by default (as in Docker); `insecureLoopback: false` makes it a normal,
  // verified HTTPS registry for these tests.
  const secureConfig = async () => {
    const p = join(dir, 'secure-client.yaml');
    await writeFile(p, 'insecureLoopback: false\n');
    return p;
  };

  it('refuses a registry whose certificate it cannot verify, in one line', async () => {
    const r = await stevedore(['digest', '--client-config', await secureConfig(), `${tlsHost}/tls/app:v1`], { STEVEDORE_CERTS_DIRS: join(dir, 'no-certs') });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^stevedore: (HEAD|GET) https:\/\/127\.0\.0\.1:\d+\/v2\/tls\/app\/manifests\/v1: .*(SELF_SIGNED|UNABLE_TO_VERIFY|certificate)/i);
  });

  it('trusts a CA from certs.d/<host>/ca.crt and pushes and pulls over verified HTTPS', async () => {
    const certs = join(dir, 'certs.d');
    await mkdir(join(certs, tlsHost), { recursive: true });
    await writeFile(join(certs, tlsHost, 'ca.crt'), await readFile(join(dir, 'ca.crt')));
    const env = { STEVEDORE_CERTS_DIRS: certs };
    const cfg = await secureConfig();
    const push = await stevedore(['push', '-q', '--client-config', cfg, `oci:${join(dir, 'layout')}:v1`, `${tlsHost}/tls/app:v1`], env);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout.trim()).toBe(image.manifest.digest);
    const pull = await stevedore(['pull', '-q', '--client-config', cfg, `${tlsHost}/tls/app:v1`, '--output', `oci:${join(dir, 'tls-out')}:v1`], env);
    expect(pull.stdout.trim()).toBe(image.manifest.digest);
  });
});
