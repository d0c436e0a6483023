// The sniff that decides whether an insecure registry speaks plain HTTP before its first request,
// against real servers: Node's http and https, the CNCF registry (Go's net/http, which reads a
// request line by line), a closed port; and the transport using it, so a plain-HTTP registry is
// reached without an HTTPS attempt while a TLS one still gets HTTPS.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostResolver } from '../../client/registry-hosts.js';
import { sniffTls } from '../../client/tls-sniff.js';
import { Transport } from '../../client/transport.js';
import { startCncfRegistry, type CncfRegistry } from '../helpers/cncf-registry.js';

let dir: string;
let plain: Server;
let tls: Server;
let cncf: CncfRegistry;
/** Requests each server answered (the sniff's ClientHello is not one: it is a client error). */
const requests = { plain: 0, tls: 0 };
const hostOf = (s: { address(): unknown }) => `127.0.0.1:${(s.address() as AddressInfo).port}`;
const listen = (s: { listen(port: number, host: string, cb: () => void): unknown }) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
const close = (s: Server | undefined) => new Promise<void>((r) => (s ? (s.close(() => r()), s.closeAllConnections()) : r()));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tls-sniff-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], {
    cwd: dir,
    stdio: 'pipe',
  });
  plain = createHttpServer((_req, res) => {
    requests.plain++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  tls = createHttpsServer({ key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) }, (_req, res) => {
    requests.tls++;
    res.writeHead(200).end('{}');
  });
  await Promise.all([listen(plain), listen(tls)]);
  cncf = await startCncfRegistry();
});

afterAll(async () => {
  await Promise.all([close(plain), close(tls), cncf?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

describe('sniffTls', () => {
  it('a plain HTTP server (Node) is plain', async () => {
    expect(await sniffTls(hostOf(plain))).toBe('plain');
  });

  it('the CNCF registry on plain HTTP (Go) is plain, at once', async () => {
    const t0 = performance.now();
    expect(await sniffTls(cncf.host, 5000)).toBe('plain');
    expect(performance.now() - t0).toBeLessThan(4000); // answered, not timed out
  });

  it('a TLS server is TLS', async () => {
    expect(await sniffTls(hostOf(tls))).toBe('tls');
  });

  it('a closed port, a silent server and a host without a port are unknown', async () => {
    const silent = createNetServer((s) => s.resume()); // reads and never answers
    await listen(silent);
    const closed = createNetServer();
    await listen(closed);
    const closedHost = hostOf(closed);
    await new Promise<void>((r) => closed.close(() => r()));
    try {
      expect(await sniffTls(closedHost)).toBe('unknown');
      expect(await sniffTls(hostOf(silent), 200)).toBe('unknown');
      expect(await sniffTls('127.0.0.1')).toBe('unknown');
    } finally {
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

describe('an insecure registry through the transport', () => {
  const send = async (host: string) => {
    const t = new Transport(new HostResolver({ insecure: [host], certDirs: [] }));
    try {
      const res = await t.send(host, { method: 'GET', path: '/v2/' });
      await res.body.dump();
      return { status: res.status, url: res.url, tlsAgents: [...(t as unknown as { agents: Map<string, unknown> }).agents.keys()].filter((k) => k.startsWith('https')) };
    } finally {
      await t.close();
    }
  };

  it('speaking plain HTTP is reached over HTTP without an HTTPS attempt', async () => {
    const before = requests.plain;
    const r = await send(hostOf(plain));
    expect(r.status).toBe(200);
    expect(r.url).toBe(`http://${hostOf(plain)}/v2/`);
    expect(r.tlsAgents).toEqual([]);
    expect(requests.plain - before).toBe(1);
  });

  it('speaking TLS is still reached over HTTPS (without verification)', async () => {
    const before = requests.tls;
    const r = await send(hostOf(tls));
    expect(r.status).toBe(200);
    expect(r.url).toBe(`https://${hostOf(tls)}/v2/`);
    expect(requests.tls - before).toBe(1);
  });
});
