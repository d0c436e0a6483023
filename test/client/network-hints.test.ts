// What the client says when a registry cannot be talked to: the real transport against real
// servers (plain HTTP, TLS with a CA nobody trusts, a closed port). The scheme is forced per test
// (loopback registries are otherwise insecure by default and fall back to plain HTTP).
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError } from '../../client/errors.js';
import type { HostResolver, HostSettings } from '../../client/registry-hosts.js';
import { Transport } from '../../client/transport.js';

let dir: string;
let plain: Server;
let tls: Server;
const hostOf = (s: Server) => `127.0.0.1:${(s.address() as AddressInfo).port}`;
const listen = (s: Server) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
const close = (s: Server | undefined) => new Promise<void>((r) => (s ? (s.close(() => r()), s.closeAllConnections()) : r()));

/** A transport that speaks `scheme` to every host, verifying certificates, with no retries. */
function transport(scheme: 'http' | 'https'): Transport {
  const hosts = { resolve: (apiHost: string): HostSettings => ({ apiHost, scheme, skipTlsVerify: false, ca: [] }) } as unknown as HostResolver;
  return new Transport(hosts, { retries: 0, minDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1 });
}

async function failure(scheme: 'http' | 'https', host: string): Promise<ClientError> {
  const t = transport(scheme);
  try {
    const res = await t.send(host, { method: 'GET', path: '/v2/' });
    await res.body.dump();
    throw new Error(`expected a failure, got HTTP ${res.status}`);
  } catch (err) {
    expect(err).toBeInstanceOf(ClientError);
    return err as ClientError;
  } finally {
    await t.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'network-hints-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], {
    cwd: dir,
    stdio: 'pipe',
  });
  plain = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  tls = createHttpsServer({ key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) }, (_req, res) => res.writeHead(200).end('{}'));
  await Promise.all([listen(plain), listen(tls)]);
});

afterAll(async () => {
  await Promise.all([close(plain), close(tls)]);
  await rm(dir, { recursive: true, force: true });
});

describe('a registry that cannot be talked to', () => {
  it('TLS spoken to a plain-HTTP registry: says it speaks plain HTTP and how to allow it', async () => {
    const err = await failure('https', hostOf(plain));
    expect(err.kind).toBe('unavailable');
    expect(err.hint).toBe(`the registry at ${hostOf(plain)} speaks plain HTTP: use --insecure-registry ${hostOf(plain)} or add it to insecure-registries`);
  });

  it('plain HTTP spoken to a TLS registry: says it may speak HTTPS only', async () => {
    const err = await failure('http', hostOf(tls));
    expect(err.kind).toBe('unavailable');
    expect(err.hint).toMatch(new RegExp(`^the registry at ${hostOf(tls).replace(/\./g, '\\.')} may speak HTTPS only`));
  });

  it('a certificate from an unknown authority: says where the CA certificate goes', async () => {
    const err = await failure('https', hostOf(tls));
    expect(err.kind).toBe('unavailable');
    expect(err.hint).toContain(`/etc/docker/certs.d/${hostOf(tls)}/ca.crt`);
    expect(err.hint).toContain('STEVEDORE_CERTS_DIRS');
  });

  it('a closed port: says the registry is not answering there', async () => {
    const probe = createHttpServer();
    await listen(probe);
    const host = hostOf(probe);
    await close(probe);
    const err = await failure('http', host);
    expect(err.kind).toBe('unavailable');
    expect(err.message).toMatch(/ECONNREFUSED$/);
    expect(err.hint).toBe(`the registry is not answering at ${host}`);
  });
});
