// The hints the CLI gives when a registry cannot be talked to, as a user sees them: the compiled
// `stevedore` against real Stevedore servers (one plain HTTP, one TLS with a CA the client does
// not trust), one line on stderr with the hint and exit status 1. Loopback registries are insecure
// by default (as in Docker): a client configuration with `insecureLoopback: false` makes them
// normal, verified HTTPS registries here. (A path given where `oci:DIR` was meant, and a closed
// port, are in client-cli.test.ts.)
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, startServer, type RunningServer } from '../../server/index.js';
import { CLI } from '../helpers/stevedore-process.js';

let dir: string;
let plain: RunningServer;
let tls: RunningServer;
let plainHost: string;
let tlsHost: string;
let secureClient: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function stevedore(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const base = { DOCKER_CONFIG: join(dir, 'docker'), STEVEDORE_CERTS_DIRS: join(dir, 'no-certs'), STEVEDORE_DOCKER_DAEMON_JSON: join(dir, 'none.json') };
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...base, ...env }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The one line the CLI printed (it must be exactly one). */
function oneLine(r: Run): string {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^stevedore: /);
  return lines[0]!;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-hints-'));
  await mkdir(join(dir, 'docker'));
  await mkdir(join(dir, 'no-certs'));
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.crt', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  plain = await startServer({ dataDir: join(dir, 'plain'), addr: '127.0.0.1:0', logLevel: 'silent' });
  const tlsConfig = loadConfig({ env: {}, overrides: { tls: { certificate: join(dir, 'server.crt'), key: join(dir, 'server.key') }, log: { level: 'silent' } } });
  tls = await startServer({ config: tlsConfig, dataDir: join(dir, 'tls'), addr: '127.0.0.1:0' });
  plainHost = new URL(plain.url).host;
  tlsHost = new URL(tls.url).host;
  secureClient = join(dir, 'secure-client.yaml');
  await writeFile(secureClient, 'insecureLoopback: false\n');
});

afterAll(async () => {
  await plain?.close();
  await tls?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a registry that cannot be talked to: one line with a hint, exit status 1', () => {
  it('TLS spoken to a plain-HTTP registry says it speaks plain HTTP and how to allow it', async () => {
    const r = await stevedore(['tags', '--client-config', secureClient, `${plainHost}/app`]);
    expect(r.code).toBe(1);
    expect(oneLine(r)).toMatch(
      new RegExp(`^stevedore: GET https://${plainHost}/v2/.*: the registry at ${plainHost} speaks plain HTTP: use --insecure-registry ${plainHost} or add it to insecure-registries$`),
    );
  });

  it('plain HTTP spoken to a TLS registry (answered 400) says it speaks HTTPS only', async () => {
    const r = await stevedore(['tags', '--plain-http', `${tlsHost}/app`]);
    expect(r.code).toBe(1);
    expect(oneLine(r)).toMatch(new RegExp(`^stevedore: GET http://${tlsHost}/v2/.*: the registry at ${tlsHost} speaks HTTPS only: drop it from insecure-registries \\(and --plain-http\\)$`));
  });

  it('a certificate from an unknown authority says where the CA certificate goes (certs.d, STEVEDORE_CERTS_DIRS)', async () => {
    const r = await stevedore(['tags', '--client-config', secureClient, `${tlsHost}/app`]);
    expect(r.code).toBe(1);
    const line = oneLine(r);
    expect(line).toContain(`put its CA certificate in /etc/docker/certs.d/${tlsHost}/ca.crt`);
    expect(line).toContain(`(or a ${tlsHost}/ directory under one of STEVEDORE_CERTS_DIRS)`);
    // And following the hint works: the CA (here the self-signed certificate) under STEVEDORE_CERTS_DIRS.
    const certs = join(dir, 'certs');
    await mkdir(join(certs, tlsHost), { recursive: true });
    execFileSync('cp', [join(dir, 'server.crt'), join(certs, tlsHost, 'ca.crt')]);
    const trusted = await stevedore(['tags', '--client-config', secureClient, `${tlsHost}/app`], { STEVEDORE_CERTS_DIRS: certs });
    expect(trusted.stderr).not.toMatch(/certificate/i);
    expect(trusted.stderr).toMatch(/NAME_UNKNOWN|unknown/i); // over verified HTTPS: the registry itself answered
  });

  it('a registry that stopped: says it is not answering at HOST:PORT', async () => {
    const gone = await startServer({ dataDir: join(dir, 'gone'), addr: '127.0.0.1:0', logLevel: 'silent' });
    const host = new URL(gone.url).host;
    await gone.close();
    const r = await stevedore(['tags', `${host}/app`]);
    expect(r.code).toBe(1);
    expect(oneLine(r)).toMatch(new RegExp(`: the registry is not answering at ${host}$`));
  });
});
