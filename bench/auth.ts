// Access-control benchmark: manifest GET requests/s with token auth on (every request carries a
// Bearer JWT the registry verifies) and off, for Stevedore and for the CNCF registry (Debian's
// docker-registry 2.8, `auth.token` with a rootcertbundle) with the same signing key, in one run.
//
// One EC P-256 key and a self-signed certificate for it (made with openssl) are the issuer; both
// registries trust the certificate (Stevedore: auth.token.rootCertBundle; distribution:
// rootcertbundle), and the same ES256 token (kid = libtrust key id, which both look up) is sent to
// both. Each registry runs twice on one data directory: without auth, and in token mode. Rounds
// are interleaved across the cases (order rotated each round) and medians reported, with the
// ratio auth on / off for each registry and Stevedore / docker-registry with auth on.
// Stevedore remembers verified tokens (by their exact bytes, until expiry), distribution verifies
// every request; hence the two token cases below.
//
// Cases: no token; the same token on every request (what clients do until it expires); a new token
// on every request (every request goes through the signature check on both registries).
//
//   BENCH_AUTH_CONCURRENCY=32  BENCH_AUTH_SECONDS=2  BENCH_AUTH_ROUNDS=3  BENCH_AUTH_DISTINCT_TOKENS=20000
//   BENCH_DIR  DOCKER_REGISTRY_BIN
import { execFileSync, spawn } from 'node:child_process';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { Pool } from 'undici';
import { libtrustKeyId } from '../server/auth/key-ids.js';
import { readCpuSeconds, startStevedore, type RunningServer } from './servers.js';
import { median } from './stats.js';

const num = (k: string, d: number) => Number(process.env[k] ?? d);
const CONCURRENCY = num('BENCH_AUTH_CONCURRENCY', 32);
const SECONDS = num('BENCH_AUTH_SECONDS', 2);
const ROUNDS = num('BENCH_AUTH_ROUNDS', 3);
// More than Stevedore's verified-token cache holds (10k, first in first out), used in turn: never a hit.
const DISTINCT = num('BENCH_AUTH_DISTINCT_TOKENS', 20_000);
const DOCKER_REGISTRY = process.env.DOCKER_REGISTRY_BIN ?? 'docker-registry';
const SERVICE = 'bench-registry';
const ISSUER = 'bench-issuer';
const REPO = 'bench/app';
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

interface Server {
  label: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** A server measured with no token, the same token on every request, or a new token on each. */
interface Case {
  label: string;
  server: Server;
  tokens: string[];
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function pushImage(url: string): Promise<{ manifest: Buffer }> {
  const put = async (data: Buffer) => {
    const digest = sha256(data);
    // POST then PUT (distribution 2.8 has no single-POST upload).
    const start = await fetch(`${url}/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
    await start.arrayBuffer();
    const loc = new URL(start.headers.get('location') ?? '', url);
    loc.searchParams.set('digest', digest);
    const res = await fetch(loc, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
    if (res.status !== 201) throw new Error(`blob push to ${url}: HTTP ${res.status} ${await res.text()}`);
    return { mediaType: '', digest, size: data.length };
  };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = Buffer.alloc(1024, 7);
  const c = await put(config);
  const l = await put(layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: { ...c, mediaType: 'application/vnd.oci.image.config.v1+json' },
      layers: [{ ...l, mediaType: 'application/vnd.oci.image.layer.v1.tar' }],
    }),
  );
  const res = await fetch(`${url}/v2/${REPO}/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'content-type': MANIFEST_TYPE } });
  if (res.status !== 201) throw new Error(`manifest push to ${url}: HTTP ${res.status} ${await res.text()}`);
  return { manifest };
}

/** Closed-loop manifest GETs for `SECONDS`: requests/s and the server's CPU µs per request. */
let nextToken = 0;

async function load(c: Case, expected: number, seconds: number): Promise<{ rps: number; cpuUs: number }> {
  const s = { ...c.server, label: c.label };
  const pool = new Pool(s.url, { connections: CONCURRENCY, pipelining: 1, keepAliveTimeout: 60_000 });
  let ok = 0;
  let firstError: string | undefined;
  const cpu0 = readCpuSeconds(s.pid);
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const headers: Record<string, string> = { accept: MANIFEST_TYPE };
        if (c.tokens.length > 0) headers.authorization = `Bearer ${c.tokens[nextToken++ % c.tokens.length]}`;
        const res = await pool.request({ path: `/v2/${REPO}/manifests/v1`, method: 'GET', headers });
        const body = await res.body.arrayBuffer();
        if (res.statusCode === 200 && body.byteLength === expected) ok++;
        else firstError ??= `HTTP ${res.statusCode}: ${Buffer.from(body).toString().slice(0, 200)}`;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = readCpuSeconds(s.pid) - cpu0;
  await pool.close();
  if (firstError) throw new Error(`${s.label}: ${firstError}`);
  return { rps: ok / elapsed, cpuUs: (cpu / ok) * 1e6 };
}

async function startCncf(label: string, dir: string, dataDir: string, auth: string[]): Promise<Server> {
  const { createServer } = await import('node:net');
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const configPath = join(dir, `${label}.yml`);
  const lines = ['version: 0.1', 'log:', '  level: warn', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${dataDir}`, '  cache:', '    blobdescriptor: inmemory', '  maintenance:', '    uploadpurging:', '      enabled: false', 'http:', `  addr: 127.0.0.1:${port}`, ...auth, ''];
  await writeFile(configPath, lines.join('\n'));
  const child = spawn(DOCKER_REGISTRY, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${label} exited: ${err}`);
    try {
      await (await fetch(`${url}/v2/`)).arrayBuffer();
      break;
    } catch {
      if (i > 600) throw new Error(`${label} did not start: ${err}`);
      await sleep(50);
    }
  }
  return {
    label,
    url,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function startOurs(label: string, dataDir: string, configPath?: string): Promise<Server> {
  // Log level info for the "listening" line; no access log, so no per-request logging cost.
  const s: RunningServer = await startStevedore({
    name: label,
    dataDir,
    logLevel: 'info',
    args: configPath ? ['--config', configPath] : [],
    env: { STEVEDORE_LOG_ACCESS_ENABLED: 'false', STEVEDORE_METRICS_ENABLED: 'true' },
  });
  return { label, url: s.url, pid: s.pid, stop: () => s.stop() };
}


async function main(): Promise<void> {
  const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'stevedore-bench-auth-'));
  const servers: Server[] = [];
  try {
    const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'issuer.key', '-out', 'issuer.crt', '-days', '2', '-subj', '/CN=bench token issuer']);
    const key = createPrivateKey(readFileSync(join(dir, 'issuer.key')));
    const cert = new X509Certificate(readFileSync(join(dir, 'issuer.crt')));
    const now = Math.floor(Date.now() / 1000);
    const sign = (jti: string) =>
      new SignJWT({ access: [{ type: 'repository', name: REPO, actions: ['pull'] }] })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: libtrustKeyId(cert.publicKey) })
        .setIssuer(ISSUER)
        .setSubject('bench')
        .setAudience(SERVICE)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + 3600)
        .setJti(jti)
        .sign(key);
    const token = await sign('bench');
    // More distinct tokens than the run sends: none repeats, so every request is verified.
    const distinct: string[] = [];
    for (let i = 0; i < DISTINCT; i++) distinct.push(await sign(`bench-${i}`));

    const ourData = join(dir, 'stevedore-data');
    const cncfData = join(dir, 'cncf-data');
    await mkdir(cncfData, { recursive: true });
    const ourConfig = join(dir, 'stevedore-token.yml');
    await writeFile(
      ourConfig,
      ['auth:', '  mode: token', '  token:', '    realm: https://auth.invalid/token', `    service: ${SERVICE}`, `    issuer: ${ISSUER}`, `    rootCertBundle: ${join(dir, 'issuer.crt')}`, '    algorithms: [ES256]', ''].join('\n'),
    );
    const ourOff = await startOurs('stevedore', ourData);
    servers.push(ourOff);
    const cncfOff = await startCncf('docker-registry', dir, cncfData, []);
    servers.push(cncfOff);
    const { manifest } = await pushImage(ourOff.url);
    await pushImage(cncfOff.url);
    const ourOn = await startOurs('stevedore+token', ourData, ourConfig);
    servers.push(ourOn);
    const cncfOn = await startCncf('docker-registry+token', dir, cncfData, ['auth:', '  token:', '    realm: https://auth.invalid/token', `    service: ${SERVICE}`, `    issuer: ${ISSUER}`, `    rootcertbundle: ${join(dir, 'issuer.crt')}`]);
    servers.push(cncfOn);
    // Both token-mode servers must refuse a request without the token (the auth path is really on).
    for (const s of [ourOn, cncfOn]) {
      const res = await fetch(`${s.url}/v2/${REPO}/manifests/v1`);
      await res.arrayBuffer();
      if (res.status !== 401) throw new Error(`${s.label} answered ${res.status} without a token`);
    }
    console.log(`auth benchmark: manifest GET, ${CONCURRENCY} connections, ${ROUNDS} rounds of ${SECONDS}s per case (after a 1s warm-up), ES256 tokens`);
    const order: Case[] = [
      { label: 'stevedore', server: ourOff, tokens: [] },
      { label: 'stevedore+same', server: ourOn, tokens: [token] },
      { label: 'stevedore+distinct', server: ourOn, tokens: distinct },
      { label: 'docker-registry', server: cncfOff, tokens: [] },
      { label: 'docker-registry+same', server: cncfOn, tokens: [token] },
      { label: 'docker-registry+distinct', server: cncfOn, tokens: distinct },
    ];
    for (const s of order) await load(s, manifest.length, 1);
    const results = new Map<string, { rps: number[]; cpu: number[] }>(order.map((s) => [s.label, { rps: [], cpu: [] }]));
    for (let r = 0; r < ROUNDS; r++) {
      const rotated = [...order.slice(r % order.length), ...order.slice(0, r % order.length)];
      for (const s of rotated) {
        const { rps, cpuUs } = await load(s, manifest.length, SECONDS);
        results.get(s.label)!.rps.push(rps);
        results.get(s.label)!.cpu.push(cpuUs);
      }
    }
    const m = (label: string) => ({ rps: median(results.get(label)!.rps), cpu: median(results.get(label)!.cpu) });
    const what: Record<string, string> = { '': 'none', same: 'token, the same on every request', distinct: 'token, a new one on every request (each verified)' };
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    console.log('\n| server | auth | requests/s | vs auth off | server CPU µs/request |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const c of order) {
      const [name, mode = ''] = c.label.split('+');
      const x = m(c.label);
      console.log(`| ${name} | ${what[mode]} | ${x.rps.toFixed(0)} | ${mode ? ratio(x.rps, m(name!).rps) : ''} | ${x.cpu.toFixed(0)} |`);
    }
    for (const mode of ['same', 'distinct']) {
      console.log(`stevedore / docker-registry, ${what[mode]}: ${ratio(m(`stevedore+${mode}`).rps, m(`docker-registry+${mode}`).rps)} requests/s, ${ratio(m(`docker-registry+${mode}`).cpu, m(`stevedore+${mode}`).cpu)} less CPU per request`);
    }
  } finally {
    for (const s of servers.reverse()) await s.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`auth benchmark failed: ${(err as Error).message}`);
  process.exit(1);
});
