// The Docker deployment (docker-compose.yml, Dockerfile, .dockerignore, deploy/) checked without
// Docker: the compose file is parsed and its structure checked; Stevedore's configuration is loaded
// through the real loadConfig with the compose file's environment, so it stays in sync with the
// schema; the Dockerfile's runtime stage is checked against the files the build produces; the
// nginx configuration passes `nginx -t` and carries a chunked push and a skopeo copy to two real
// Stevedore replicas (its upstream host names and listen port replaced by loopback addresses).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { digestOf } from '../../oci/index.js';
import { configFromEnv } from '../../server/config.js';
import { loadConfig, startServer, type RunningServer } from '../../server/index.js';
import { multiLayerImage, OciLayoutReader, writeLayout } from '../helpers/oci-image-builder.js';
import { skopeoCopy } from '../helpers/skopeo.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const at = (p: string) => join(ROOT, p);
const read = (p: string) => readFileSync(at(p), 'utf8');

// ---- docker compose's variable interpolation ($$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err})

type Env = Record<string, string | undefined>;

function interpolate(value: string, env: Env): string {
  return value.replace(/\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_]\w*)/g, (m, braced, op, arg, bare) => {
    if (m === '$$') return '$';
    const v = env[(braced ?? bare) as string];
    if (!op) return v ?? '';
    const missing = (op as string).startsWith(':') ? !v : v === undefined;
    if ((op as string).endsWith('-')) return missing ? (arg as string) : v!;
    if (missing) throw new Error(`${braced}: ${arg}`);
    return v!;
  });
}

function interpolateAll(node: unknown, env: Env): unknown {
  if (typeof node === 'string') return interpolate(node, env);
  if (Array.isArray(node)) return node.map((n) => interpolateAll(n, env));
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, env)]));
  return node;
}

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string> | string[];
  volumes?: string[];
  ports?: string[];
  expose?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  restart?: string;
  stop_grace_period?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** docker-compose.yml as `docker compose config` would see it (merge keys resolved, variables substituted). */
function compose(env: Env = {}): Compose {
  const doc = parseYaml(read('docker-compose.yml'), { merge: true }) as Compose;
  return interpolateAll(doc, env) as Compose;
}

function environmentOf(s: Service): Record<string, string> {
  if (!s.environment) return {};
  if (!Array.isArray(s.environment)) return s.environment;
  return Object.fromEntries(s.environment.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

const CONFIG_PATH = '/etc/stevedore/config.yml';
const REPLICAS = ['stevedore-1', 'stevedore-2'];

// ---- Dockerfile and .dockerignore

interface Instruction {
  op: string;
  args: string;
}

/** Stages of a Dockerfile: instructions with continuation lines joined, comments dropped. */
function dockerfileStages(text: string): Instruction[][] {
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!cur && (line === '' || line.startsWith('#'))) continue;
    if (cur && line.startsWith('#')) continue;
    if (line.endsWith('\\')) cur += `${line.slice(0, -1)} `;
    else {
      logical.push(cur + line);
      cur = '';
    }
  }
  const stages: Instruction[][] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+(.*)$/s.exec(l)!;
    const ins = { op: m[1]!.toUpperCase(), args: m[2]!.trim() };
    if (ins.op === 'FROM') stages.push([]);
    if (ins.op !== 'ARG' || stages.length) stages.at(-1)?.push(ins);
  }
  return stages;
}

/** Is `path` (relative to the context) left out by .dockerignore? (The simple patterns it uses.) */
function dockerignored(path: string, patterns: string[]): boolean {
  const toRegex = (p: string) =>
    new RegExp(
      `^${p
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\//g, '\u0000')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')
        .replace(/\u0000/g, '(.*/)?')}$`,
    );
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const raw of patterns) {
    const neg = raw.startsWith('!');
    const re = toRegex(neg ? raw.slice(1) : raw);
    if (prefixes.some((p) => re.test(p))) ignored = !neg;
  }
  return ignored;
}

const dockerignore = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

function execForm(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  expect(Array.isArray(parsed) && parsed.every((a) => typeof a === 'string'), `exec form: ${args}`).toBe(true);
  return parsed as string[];
}

// ---- nginx

function upstreamServers(conf: string): string[] {
  const block = /upstream\s+stevedore\s*\{([^}]*)\}/.exec(conf);
  expect(block, 'upstream stevedore { … } in deploy/nginx.conf').not.toBeNull();
  return [...block![1]!.matchAll(/^\s*server\s+([^\s;]+)/gm)].map((m) => m[1]!);
}

function directive(conf: string, name: string): string[] {
  return [...conf.matchAll(new RegExp(`^\\s*${name}\\s+([^;]+);`, 'gm'))].map((m) => m[1]!.trim());
}

function seconds(v: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v)!;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

describe('docker-compose.yml', () => {
  it('runs MinIO with a volume, a one-shot bucket creation, two Stevedore replicas and nginx on port 5000', () => {
    const c = compose();
    expect(Object.keys(c.services).sort()).toEqual(['minio', 'minio-init', 'nginx', 'stevedore-1', 'stevedore-2']);

    // Two identical replicas of the image built from this repository, not published themselves.
    const replicas = Object.entries(c.services).filter(([, s]) => s.build !== undefined);
    expect(replicas.map(([n]) => n)).toEqual(REPLICAS);
    for (const [name, s] of replicas) {
      const context = typeof s.build === 'string' ? s.build : s.build!.context;
      expect(existsSync(join(at(context), 'Dockerfile')), `${name}: build context has a Dockerfile`).toBe(true);
      expect(s.image).toBe('stevedore:local');
      expect(s.ports, `${name} is reached through nginx only`).toBeUndefined();
      expect(s.expose).toEqual(['5000']);
      expect(s.volumes).toEqual([`./deploy/stevedore.yml:${CONFIG_PATH}:ro`]);
      expect(s.depends_on).toEqual({
        minio: { condition: 'service_healthy' },
        'minio-init': { condition: 'service_completed_successfully' },
      });
      expect(s.restart).toBe('unless-stopped');
      // Room for http.drainTimeout (30s) on `docker compose down`.
      expect(parseInt(s.stop_grace_period!, 10)).toBeGreaterThan(loadConfig({ file: at('deploy/stevedore.yml'), env: environmentOf(s) }).http.drainTimeout / 1000);
    }
    expect(c.services['stevedore-1']).toEqual(c.services['stevedore-2']);

    const nginx = c.services.nginx!;
    expect(nginx.image).toMatch(/^nginx:/);
    expect(nginx.ports).toEqual(['5000:5000']);
    expect(compose({ STEVEDORE_PORT: '5443' }).services.nginx!.ports).toEqual(['5443:5000']);
    expect(nginx.volumes).toEqual(['./deploy/nginx.conf:/etc/nginx/nginx.conf:ro']);
    expect(nginx.depends_on).toEqual(Object.fromEntries(REPLICAS.map((r) => [r, { condition: 'service_healthy' }])));

    const minio = c.services.minio!;
    expect(minio.image).toMatch(/^minio\/minio:RELEASE\./);
    expect(minio.volumes).toEqual(['minio-data:/data']);
    expect(Object.keys(c.volumes ?? {})).toEqual(['minio-data']);
    expect(minio.command).toEqual(['server', '/data', '--console-address', ':9001']);
    expect(minio.healthcheck?.test).toEqual(['CMD', 'mc', 'ready', 'local']);
    expect(minio.ports, 'MinIO is internal').toBeUndefined();

    const init = c.services['minio-init']!;
    expect(init.image).toMatch(/^minio\/mc:RELEASE\./);
    expect(init.restart).toBe('no');
    expect(init.depends_on).toEqual({ minio: { condition: 'service_healthy' } });

    // Every host path mounted exists in the repository.
    for (const [name, s] of Object.entries(c.services)) {
      for (const v of s.volumes ?? []) {
        const src = v.split(':')[0]!;
        if (src.startsWith('.')) expect(existsSync(at(src)), `${name}: ${src}`).toBe(true);
        else expect(c.volumes, `${name}: named volume ${src}`).toHaveProperty(src);
      }
    }
  });

  it("gives Stevedore a configuration that loads through loadConfig and matches MinIO's bucket, endpoint and credentials", () => {
    for (const env of [{}, { MINIO_ROOT_USER: 'admin', MINIO_ROOT_PASSWORD: 'a-long-secret-1' }]) {
      const c = compose(env);
      const minioEnv = environmentOf(c.services.minio!);
      expect(minioEnv.MINIO_ROOT_PASSWORD!.length, 'MinIO wants 8+ characters').toBeGreaterThanOrEqual(8);
      for (const name of REPLICAS) {
        const replicaEnv = environmentOf(c.services[name]!);
        // Each STEVEDORE_* variable names a configuration key (configFromEnv ignores unknown ones).
        for (const [k, v] of Object.entries(replicaEnv)) {
          if (k.startsWith('STEVEDORE_')) expect(configFromEnv({ [k]: v }), `${name}: ${k} is a config key`).not.toEqual({});
        }
        // What `stevedore serve --config /etc/stevedore/config.yml` loads in the container.
        const config = loadConfig({ file: at('deploy/stevedore.yml'), env: replicaEnv });
        expect(config.storage.driver).toBe('s3');
        const s3 = config.storage.s3;
        expect(s3.accessKeyId).toBe(minioEnv.MINIO_ROOT_USER);
        expect(s3.secretAccessKey).toBe(minioEnv.MINIO_ROOT_PASSWORD);
        expect(s3.forcePathStyle).toBe(true);
        expect(s3.region).toBe('us-east-1');
        expect(s3.redirect.enabled, 'presigned URLs would name a host only the compose network resolves').toBe(false);
        const endpoint = new URL(s3.endpoint);
        expect(c.services, `endpoint host ${endpoint.hostname} is a service`).toHaveProperty(endpoint.hostname);
        expect(endpoint.hostname).toBe('minio');
        expect(endpoint.port, "MinIO's S3 API port").toBe('9000');
        expect(config.http.addr).toBe(':5000');
      }
      // minio-init creates that bucket on that endpoint with the same credentials.
      const script = (c.services['minio-init']!.command as string[]).join('\n');
      const bucket = loadConfig({ file: at('deploy/stevedore.yml'), env: environmentOf(c.services['stevedore-1']!) }).storage.s3.bucket;
      expect(script).toContain('mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"');
      expect(script).toContain(`mc mb --ignore-existing local/${bucket}`);
      expect(environmentOf(c.services['minio-init']!)).toEqual(minioEnv);
    }
  });

  it('refuses the configuration without credentials, so a missing variable cannot go unnoticed', () => {
    // Without the variables, the file alone names no keys: the SDK's default chain would apply.
    const config = loadConfig({ file: at('deploy/stevedore.yml'), env: {} });
    expect(config.storage.s3.accessKeyId).toBe('');
    expect(() => loadConfig({ file: at('deploy/stevedore.yml'), env: { STEVEDORE_STORAGE_S3_ACCESSKEYID: 'only-one' } })).toThrow(
      /accessKeyId and secretAccessKey go together/,
    );
  });
});

describe('Dockerfile', () => {
  const stages = dockerfileStages(read('Dockerfile'));
  const build = stages[0]!;
  const runtime = stages.at(-1)!;
  const args = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op).map((i) => i.args);

  it('builds in one stage and runs the compiled CLI with production dependencies as a non-root user in another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build[0]!.args).toMatch(/ AS build$/);
    const buildRuns = args(build, 'RUN').join('\n');
    expect(buildRuns).toMatch(/npm ci\b/);
    expect(buildRuns).toContain('npm run build');
    expect(buildRuns).toMatch(/npm prune --omit=dev/);

    expect(runtime[0]!.args).not.toMatch(/ AS build$/);
    const user = args(runtime, 'USER');
    expect(user.length).toBe(1);
    expect(user[0]).not.toMatch(/^(root|0)(:|$)/);
    expect(args(runtime, 'EXPOSE')).toEqual(['5000']);
    const health = args(runtime, 'HEALTHCHECK')[0]!;
    expect(health).toContain('http://127.0.0.1:5000/healthz');

    // ENTRYPOINT + CMD: `node <workdir>/bin/stevedore.js serve --config /etc/stevedore/config.yml`.
    const entrypoint = execForm(args(runtime, 'ENTRYPOINT')[0]!);
    const cmd = execForm(args(runtime, 'CMD')[0]!);
    expect(cmd).toEqual(['serve', '--config', CONFIG_PATH]);
    const workdir = args(runtime, 'WORKDIR')[0]!;
    expect(entrypoint).toEqual(['node', `${workdir}/bin/stevedore.js`]);
  });

  it('copies into the runtime image the files the command needs, which the build produces', () => {
    const copies = args(runtime, 'COPY').map((a) => {
      const words = a.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice(7);
      const rest = words.filter((w) => !w.startsWith('--'));
      return { from, sources: rest.slice(0, -1), dest: rest.at(-1)! };
    });
    const fromBuild = (src: string) => copies.find((c) => c.from === 'build' && c.sources.includes(src));
    const buildDir = args(build, 'WORKDIR')[0]!;
    // The launcher, and what it imports: dist/cli/main.js, compiled from cli/main.ts by `npm run build`
    // (or, for the commands parsed without commander, its bundle in dist/bundle/, made by the same build).
    expect(fromBuild(`${buildDir}/bin`)?.dest).toBe('./bin');
    expect(fromBuild(`${buildDir}/dist`)?.dest).toBe('./dist');
    expect(fromBuild(`${buildDir}/node_modules`)?.dest).toBe('./node_modules');
    expect(fromBuild(`${buildDir}/package.json`)).toBeDefined(); // "type": "module" for dist/
    expect(read('bin/stevedore.js')).toContain("'../dist/cli/main.js'");
    expect(read('bin/stevedore.js')).toContain("'../dist/bundle/main.js'");
    expect(existsSync(at('cli/main.ts'))).toBe(true);
    const pkg = JSON.parse(read('package.json')) as { type: string; bin: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.type).toBe('module');
    expect(pkg.bin.stevedore).toBe('bin/stevedore.js');
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json && node scripts/bundle.mjs');
    const tsBuild = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    const ts = JSON.parse(read('tsconfig.json')) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(tsBuild.include).toContain('cli');
    expect(ts.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: '.' });

    // The build context (.dockerignore) keeps what the build stage needs and leaves out the rest.
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'bin/stevedore.js', 'cli/main.ts', 'scripts/bundle.mjs', 'deploy/image-config.yml']) {
      expect(dockerignored(needed, dockerignore), `${needed} is in the build context`).toBe(false);
    }
    for (const dir of tsBuild.include) if (existsSync(at(dir))) expect(dockerignored(dir, dockerignore), dir).toBe(false);
    for (const left of ['node_modules/yaml/package.json', 'dist/cli/main.js', '.git/HEAD', 'test/api/blobs.test.ts', 'server/config.test.ts']) {
      expect(dockerignored(left, dockerignore), `${left} is not in the build context`).toBe(true);
    }

    // The configuration baked in at /etc/stevedore/config.yml loads, and serves on the exposed port.
    const baked = copies.find((c) => c.from === undefined && c.dest === CONFIG_PATH);
    expect(baked?.sources).toEqual(['deploy/image-config.yml']);
    const config = loadConfig({ file: at('deploy/image-config.yml'), env: {} });
    expect(config.http.addr).toBe(':5000');
    expect(config.storage.driver).toBe('filesystem');
    expect(args(runtime, 'RUN').join('\n')).toContain(`chown node:node ${config.storage.filesystem.rootDirectory}`);
  });
});

// ---- nginx: `nginx -t`, then a real push through it to two Stevedore replicas

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** deploy/nginx.conf with the replicas' host names (and optionally the listen port) replaced. */
function nginxConfFor(upstreams: string[], listen?: string): string {
  let conf = read('deploy/nginx.conf');
  REPLICAS.forEach((name, i) => {
    const before = conf;
    conf = conf.replace(`server ${name}:5000 `, `server ${upstreams[i]} `);
    expect(conf, `${name} in the upstream`).not.toBe(before);
  });
  if (listen) {
    expect(directive(conf, 'listen')).toEqual(['5000']);
    conf = conf.replace(/^(\s*)listen 5000;/m, `$1listen ${listen};`);
  }
  return conf;
}

function nginxArgs(dir: string, extra: string): string[] {
  return ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', 'stderr', '-g', `pid ${join(dir, 'nginx.pid')};${extra}`];
}

describe('deploy/nginx.conf', () => {
  const conf = read('deploy/nginx.conf');
  let dir: string;
  const replicas: RunningServer[] = [];
  let nginx: ChildProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stevedore-nginx-'));
  });
  afterAll(async () => {
    if (nginx && nginx.exitCode === null && nginx.signalCode === null) {
      const exited = once(nginx, 'exit');
      nginx.kill('SIGQUIT'); // graceful: workers finish, master exits
      const timer = setTimeout(() => nginx?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await Promise.allSettled(replicas.map((r) => r.close()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('balances over the compose replicas and streams bodies of any size with long timeouts', () => {
    expect(upstreamServers(conf)).toEqual(REPLICAS.map((r) => `${r}:5000`));
    expect(directive(conf, 'listen')).toEqual(['5000']);
    expect(directive(conf, 'client_max_body_size')).toEqual(['0']);
    expect(directive(conf, 'proxy_request_buffering')).toEqual(['off']);
    expect(directive(conf, 'proxy_buffering')).toEqual(['off']);
    expect(directive(conf, 'proxy_http_version')).toEqual(['1.1']);
    for (const t of ['client_body_timeout', 'send_timeout', 'proxy_send_timeout', 'proxy_read_timeout']) {
      expect(seconds(directive(conf, t)[0]!), t).toBeGreaterThanOrEqual(300);
    }
  });

  it('passes nginx -t', async () => {
    // `nginx -t` resolves upstream host names: the compose services' names become loopback.
    await writeFile(join(dir, 'nginx.conf'), nginxConfFor(['127.0.0.1:5000', '127.0.0.1:5001']));
    // Output to a file: the config logs to /dev/stdout and /dev/stderr, which cannot be opened
    // when they are sockets (Node's pipes to a child are); in a container they are pipes.
    const out = openSync(join(dir, 'nginx-t.out'), 'w');
    const res = spawnSync('nginx', ['-t', ...nginxArgs(dir, '')], { stdio: ['ignore', out, out] });
    closeSync(out);
    if (res.error) throw new Error(`nginx not found (Debian package nginx-light; npm test installs it): ${res.error.message}`);
    const text = readFileSync(join(dir, 'nginx-t.out'), 'utf8');
    expect(res.status, text).toBe(0);
    expect(text).toMatch(/test is successful/);
  });

  it('carries pushes and pulls to two replicas, each upload session to one replica', async () => {
    // Two replicas sharing one storage, as the compose replicas share the bucket.
    const data = join(dir, 'data');
    for (let i = 0; i < 2; i++) replicas.push(await startServer({ dataDir: data, addr: '127.0.0.1:0', logLevel: 'silent' }));
    const port = await freePort();
    await writeFile(
      join(dir, 'nginx.conf'),
      nginxConfFor(
        replicas.map((r) => new URL(r.url).host),
        `127.0.0.1:${port}`,
      ),
    );
    const outFile = join(dir, 'nginx.out');
    const out = openSync(outFile, 'w');
    nginx = spawn('nginx', nginxArgs(dir, ' daemon off; master_process on;'), { stdio: ['ignore', out, out] });
    closeSync(out);
    const nginxOut = () => readFileSync(outFile, 'utf8').slice(-4000);
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      if (nginx.exitCode !== null) throw new Error(`nginx exited (${nginx.exitCode}): ${nginxOut()}`);
      const ok = await fetch(`${base}/v2/`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (i > 100) throw new Error(`nginx did not answer on ${base}: ${nginxOut()}`);
      await delay(50); // polling interval
    }

    const patches = async () => Promise.all(replicas.map((r) => metricSum(r, 'stevedore_http_requests_total', 'method="PATCH"')));
    const baseHits = async () => Promise.all(replicas.map((r) => metricSum(r, 'stevedore_http_requests_total', 'route="base"')));

    // GETs are spread over both replicas (a random hash key per request).
    const before = await baseHits();
    for (let i = 0; i < 24; i++) {
      const res = await fetch(`${base}/v2/`);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/); // nginx's $request_id
      await res.arrayBuffer();
    }
    const after = await baseHits();
    for (let i = 0; i < 2; i++) expect(after[i]! - before[i]!, `replica ${i + 1} served GET /v2/`).toBeGreaterThan(0);

    // A monolithic push above nginx's default 1 MiB body limit.
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const mono = await fetch(`${base}/v2/lb/app/blobs/uploads/?digest=${digestOf(big)}`, {
      method: 'POST',
      body: big,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(mono.status, await mono.text()).toBe(201);

    // A chunked upload: PATCHes with Content-Range, one streamed without a length (chunked
    // encoding through nginx), then PUT. Every request of the session reaches the same replica.
    const blob = Buffer.from(Array.from({ length: 5 * 1024 * 1024 }, (_, i) => (i * 31) & 255));
    const patchesBefore = await patches();
    let res = await fetch(`${base}/v2/lb/app/blobs/uploads/`, { method: 'POST' });
    expect(res.status).toBe(202);
    let location = res.headers.get('location')!;
    const cut = [0, 1 << 20, 2 << 20, 3 << 20];
    for (let i = 0; i < cut.length - 1; i++) {
      const chunk = blob.subarray(cut[i], cut[i + 1]);
      res = await fetch(new URL(location, base), {
        method: 'PATCH',
        body: chunk,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${cut[i]}-${cut[i + 1]! - 1}` },
      });
      expect(res.status, await res.text()).toBe(202);
      location = res.headers.get('location')!;
    }
    const rest = blob.subarray(3 << 20);
    const stream = new ReadableStream<Uint8Array>({
      start(ctrl) {
        for (let off = 0; off < rest.length; off += 256 * 1024) ctrl.enqueue(rest.subarray(off, off + 256 * 1024));
        ctrl.close();
      },
    });
    res = await fetch(new URL(location, base), {
      method: 'PATCH',
      body: stream,
      headers: { 'Content-Type': 'application/octet-stream' },
      duplex: 'half',
    } as RequestInit & { duplex: 'half' });
    expect(res.status, await res.text()).toBe(202);
    expect(res.headers.get('range')).toBe(`0-${blob.length - 1}`);
    location = res.headers.get('location')!;
    const put = new URL(location, base);
    put.searchParams.set('digest', digestOf(blob));
    res = await fetch(put, { method: 'PUT' });
    expect(res.status, await res.text()).toBe(201);
    const patchesAfter = await patches();
    const perReplica = patchesAfter.map((n, i) => n - patchesBefore[i]!).sort();
    expect(perReplica, 'the 4 PATCHes of one session on one replica').toEqual([0, 4]);

    const got = await fetch(`${base}/v2/lb/app/blobs/${digestOf(blob)}`);
    expect(got.status).toBe(200);
    expect(digestOf(Buffer.from(await got.arrayBuffer()))).toBe(digestOf(blob));

    // skopeo through the load balancer, both ways.
    const image = multiLayerImage({ tag: 'v1', randomBytes: 4 * 1024 * 1024 });
    await writeLayout(join(dir, 'src'), image);
    await skopeoCopy(`oci:${join(dir, 'src')}:v1`, `docker://127.0.0.1:${port}/lb/image:v1`);
    await skopeoCopy(`docker://127.0.0.1:${port}/lb/image:v1`, `oci:${join(dir, 'pulled')}:v1`);
    const layout = await OciLayoutReader.open(join(dir, 'pulled'));
    expect(layout.resolve('v1').digest).toBe(image.manifest.digest);
    for (const b of image.blobs) expect(digestOf(await layout.blob(b.descriptor.digest))).toBe(b.descriptor.digest);
  });
});

/** Sum of a metric's samples whose labels contain `labels`, from a replica's /metrics. */
async function metricSum(server: RunningServer, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^(\w+)(\{[^}]*\})? (\S+)$/gm)) {
    if (m[1] === name && (m[2] ?? '').includes(labels)) sum += Number(m[3]);
  }
  return sum;
}
