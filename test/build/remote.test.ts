// stevedore build with things from the network (loopback only): ADD of an http URL served by a
// server of the test's own (--checksum checked, Last-Modified kept, a changed file rebuilt), FROM
// an image only a registry has (our registry, pulled during the build), and a built image pushed
// to the CNCF registry (`docker-registry`, started here) and pulled back by skopeo and podman
// unchanged — same digest — and run by podman.
import { podman } from '../helpers/podman.js';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCncfRegistry, type CncfRegistry } from '../helpers/cncf-registry.js';
import { skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';
import { buildEnv, type BuildEnv } from './build-env.js';

let env: BuildEnv;
let registry: StevedoreProcess;
let cncf: CncfRegistry;
let http: Server;
let httpBase: string;
/** What the loopback HTTP server serves, by path; and how often each was asked for. */
const served = new Map<string, { body: string; lastModified?: string }>();
const hits = new Map<string, number>();

beforeAll(async () => {
  env = await buildEnv();
  [registry, cncf] = await Promise.all([startStevedore(), startCncfRegistry()]);
  http = createServer((req, res) => {
    hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1);
    const f = served.get(req.url!);
    if (!f) {
      res.writeHead(404).end('not here');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', ...(f.lastModified ? { 'last-modified': f.lastModified } : {}) }).end(f.body);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  httpBase = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}, 120_000);
afterAll(async () => {
  await new Promise((resolve) => http?.close(resolve));
  await Promise.all([registry?.stop(), cncf?.stop()]);
  await env?.close();
});

const sha256 = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

/** podman with its own state under this test's directory (test/helpers/podman.ts). */
const runPodman = (args: string[]) => podman(join(env.dir, 'podman'), args);

describe('stevedore build with remote sources and registries', () => {
  it('ADD URL --checksum: fetched, mode 0600 and Last-Modified time as Docker gives them; a wrong checksum fails in one line', async () => {
    const body = 'fetched over http\n';
    served.set('/tool.txt', { body, lastModified: 'Wed, 01 Nov 2023 10:00:00 GMT' });
    const ctx = await env.context({ Dockerfile: `FROM busybox:test\nADD --checksum=${sha256(body)} ${httpBase}/tool.txt /opt/\nRUN stat -c '%a %Y' /opt/tool.txt > /opt/stat\n` });
    const r = await env.build(['-q', '-t', 'add-url:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    const files = (await env.allEntries('add-url:1')).flat();
    const tool = files.find((e) => e.name === 'opt/tool.txt');
    expect(tool?.content).toBe(body);
    expect(tool?.mode).toBe(0o600);
    expect(files.find((e) => e.name === 'opt/stat')?.content).toBe(`600 ${Date.parse('2023-11-01T10:00:00Z') / 1000}\n`);
    // Cached with a checksum: the checksum names the content, nothing is fetched again.
    const before = hits.get('/tool.txt');
    const again = await env.build(['--progress', 'plain', '-t', 'add-url:1', ctx]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/ADD --checksum=\S+ http:\S+ \/opt\/\n#\d+ CACHED/);
    expect(hits.get('/tool.txt')).toBe(before);

    const wrong = await env.context({ Dockerfile: `FROM busybox:test\nADD --checksum=${sha256('something else')} ${httpBase}/tool.txt /opt/\n` });
    const w = await env.build(['--progress', 'plain', wrong]);
    expect(w.code).not.toBe(0);
    expect(w.stderr.trim().split('\n').pop()).toBe(`stevedore: failed to build: ADD ${httpBase}/tool.txt: checksum mismatch: expected ${sha256('something else')}, got ${sha256(body)}`);
    const bad = await env.context({ Dockerfile: `FROM busybox:test\nADD --checksum=md5:abc ${httpBase}/tool.txt /opt/\n` });
    const b = await env.build([bad]);
    expect(b.stderr.trim().split('\n').pop()).toBe('stevedore: failed to build: ADD --checksum=md5:abc: sha256:<64 hex digits> expected');
    const missing = await env.context({ Dockerfile: `FROM busybox:test\nADD ${httpBase}/nothing.txt /opt/\n` });
    const m = await env.build([missing]);
    expect(m.stderr.trim().split('\n').pop()).toBe(`stevedore: failed to build: ADD ${httpBase}/nothing.txt: HTTP 404`);
    expect(await env.leftovers()).toEqual([]);
  }, 180_000);

  it('ADD URL without a checksum: a changed file on the server is a cache miss', async () => {
    served.set('/changing.txt', { body: 'version one\n' });
    const ctx = await env.context({ Dockerfile: `FROM busybox:test\nADD ${httpBase}/changing.txt /c.txt\n` });
    expect((await env.build(['-q', '-t', 'add-url:2', ctx])).code).toBe(0);
    const cached = await env.build(['--progress', 'plain', '-t', 'add-url:2', ctx]);
    expect(cached.stderr).toMatch(/ADD http:\S+ \/c\.txt\n#\d+ CACHED/);
    served.set('/changing.txt', { body: 'version two\n' });
    const changed = await env.build(['--progress', 'plain', '-t', 'add-url:2', ctx]);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr).not.toMatch(/ADD http:\S+ \/c\.txt\n#\d+ CACHED/);
    expect((await env.allEntries('add-url:2')).flat().find((e) => e.name === 'c.txt')?.content).toBe('version two\n');
  }, 180_000);

  it('FROM an image that is not in the local store: pulled from the registry during the build', async () => {
    const base = `${registry.host}/bases/busybox:remote`;
    await env.ok(['tag', 'busybox:test', base]);
    await env.ok(['push', '--insecure-registry', registry.host, base]);
    await env.ok(['rmi', base]);
    const pushed = (await skopeoInspect(`docker://${base}`)).Digest as string;
    const ctx = await env.context({ Dockerfile: `FROM ${base}\nRUN echo on-a-pulled-base > /pulled.txt\n` });
    const r = await env.build(['--progress', 'plain', '--insecure-registry', registry.host, '-t', 'from-remote:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`#1 \\[1/2\\] FROM ${base.replace(/[.]/g, '\\.')}\\n`));
    expect(await env.imageDigest(base)).toBe(pushed); // now in the local store, as pulled
    const run = await env.stevedore(['run', '--rm', 'from-remote:1', 'cat', '/pulled.txt']);
    expect(run.stdout).toBe('on-a-pulled-base\n');
    // An image no registry has: one line naming it.
    const none = await env.context({ Dockerfile: `FROM ${registry.host}/bases/nothing:here\n` });
    const n = await env.build(['--insecure-registry', registry.host, none]);
    expect(n.code).not.toBe(0);
    expect(n.stderr.trim().split('\n').pop()).toMatch(/^stevedore: failed to build: .*bases\/nothing:here/);
    expect(n.stderr).not.toMatch(/^\s+at /m); // no stack trace
  }, 180_000);

  it('pushed to the CNCF registry, pulled back by skopeo and podman unchanged, run by podman', async () => {
    const ctx = await env.context({ 'app.txt': 'hello from a stevedore build\n', Dockerfile: 'FROM busybox:test\nCOPY app.txt /app/\nRUN echo built >> /app/app.txt\nCMD ["cat", "/app/app.txt"]\n' });
    const name = `${cncf.host}/built/app:1`;
    const r = await env.build(['-q', '--push', '--insecure-registry', cncf.host, '-t', name, ctx]);
    expect(r.code, r.stderr).toBe(0);
    const local = await env.image(name);
    expect((await skopeoInspect(`docker://${name}`)).Digest).toBe(local.manifest);
    const back = join(env.dir, 'cncf-back');
    await skopeoCopy(`docker://${name}`, `oci:${back}:x`);
    const index = JSON.parse(await readFile(join(back, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests[0]!.digest).toBe(local.manifest);

    const pull = await runPodman(['pull', '--tls-verify=false', name]);
    expect(pull.code, pull.stderr).toBe(0);
    const digest = await runPodman(['image', 'inspect', '--format', '{{.Digest}}', name]);
    expect(digest.stdout.trim()).toBe(local.manifest);
    // podman's default rlimits are above this machine's hard limits: ask for ones it may set.
    const run = await runPodman(['run', '--rm', '--pull', 'never', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', name]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('hello from a stevedore build\nbuilt\n');
    await runPodman(['rmi', '-a', '-f']);
  }, 240_000);
});
