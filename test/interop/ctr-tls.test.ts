// containerd's `ctr` against the TLS listener: over HTTPS it talks to the registry; sent plain
// HTTP by mistake (`--plain-http`, or its localhost default) it gets Go's answer, a 400 saying
// "client sent an HTTP request to an HTTPS server", rather than a closed connection ("EOF").
// A containerd of the test's own (root, state and socket in a temp directory) does the fetching.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startContainerd, type PrivateContainerd } from '../helpers/containerd.js';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';

let dir: string;
let containerd: PrivateContainerd | undefined;
let s: StevedoreProcess | undefined;
const ctr = (args: string[]) => containerd!.ctr(args);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ctr-tls-'));
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  await writeFile(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ctr test CA']);
  ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=registry']);
  ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.cnf']);
  await writeFile(join(dir, 'config.yml'), `tls:\n  certificate: ${join(dir, 'server.crt')}\n  key: ${join(dir, 'server.key')}\n`);
  s = await startStevedore({ dataDir: join(dir, 'data'), args: ['--config', join(dir, 'config.yml')] });
  containerd = await startContainerd(dir, { readyMs: 30_000, ctrTimeoutMs: 60_000 });
}, 120_000);

afterAll(async () => {
  await containerd?.stop();
  await s?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('ctr and the TLS listener', () => {
  it('over HTTPS (CA from hosts.toml) it reaches the registry: an unknown tag is a 404', async () => {
    const hosts = join(dir, 'hosts.d', s!.host);
    await mkdir(hosts, { recursive: true });
    await writeFile(join(hosts, 'hosts.toml'), `server = "https://${s!.host}"\n\n[host."https://${s!.host}"]\n  ca = "${join(dir, 'ca.crt')}"\n`);
    const r = await ctr(['content', 'fetch', '--hosts-dir', join(dir, 'hosts.d'), `${s!.host}/some/image:missing`]);
    expect(r.code).not.toBe(0);
    // The host with the CA answered 404 over TLS (ctr then also tries the fallback `server`, without the CA).
    expect(r.out).toContain('trying next host - response was http.StatusNotFound');
    expect(r.out).not.toContain('EOF');
  });

  it('plain HTTP is answered 400 "client sent an HTTP request to an HTTPS server", not EOF', async () => {
    const r = await ctr(['content', 'fetch', '--plain-http', `${s!.host}/some/image:latest`]);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('400 Bad Request');
    expect(r.out).not.toContain('EOF');
    const res = await fetch(`http://${s!.host}/v2/`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: { message: string }[] }).errors[0]!.message).toBe('client sent an HTTP request to an HTTPS server');
    // The listener still serves TLS clients.
    expect(s!.child.exitCode).toBeNull();
  });
});
