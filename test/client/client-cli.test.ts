// The registry client as a user drives it: `stevedore push/pull/copy/tags/catalog/inspect/digest/delete`
// against Stevedore and the CNCF registry (with htpasswd), plain HTTP on loopback.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/index.js';
import { startCncfRegistry, TEST_USER, type CncfRegistry } from '../helpers/cncf-registry.js';
import { multiArchIndex, multiLayerImage, writeLayout, type BuiltImage, type BuiltIndex } from '../helpers/oci-image-builder.js';
import { skopeoInspectRaw, skopeoCopy } from '../helpers/skopeo.js';
import { CLI } from '../helpers/stevedore-process.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function stevedore(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, DOCKER_CONFIG: dockerConfig, ...env }, timeout: 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function ok(args: string[]): Promise<Run> {
  const r = await stevedore(args);
  if (r.code !== 0) throw new Error(`stevedore ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r;
}

let dir: string;
let dockerConfig: string;
let server: RunningServer;
let host: string;
let cncf: CncfRegistry;
let image: BuiltImage;
let index: BuiltIndex;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'client-cli-'));
  dockerConfig = join(dir, 'docker-config'); // no stored credentials unless a test writes them
  server = await startServer({ dataDir: join(dir, 'registry'), addr: '127.0.0.1:0', logLevel: 'silent' });
  host = new URL(server.url).host;
  cncf = await startCncfRegistry({ htpasswd: true });
  image = multiLayerImage({ tag: 'v1' });
  index = multiArchIndex({ tag: 'multi' });
  await writeLayout(join(dir, 'image'), image);
  await writeLayout(join(dir, 'index'), index);
});

afterAll(async () => {
  await server?.close();
  await cncf?.stop();
  await rm(dir, { recursive: true, force: true });
});

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('stevedore push / pull', () => {
  it('pushes an OCI layout image with its digest preserved, readable by skopeo', async () => {
    const r = await ok(['push', `oci:${join(dir, 'image')}:v1`, `${host}/app/one:v1`]);
    expect(r.stdout).toContain(image.manifest.digest);
    expect(r.stderr).toMatch(/Copying blob sha256:/);
    const raw = await skopeoInspectRaw(`docker://${host}/app/one:v1`);
    expect(sha(raw)).toBe(image.manifest.digest);
  });

  it('skips blobs that are already there on a second push, and mounts them across repositories', async () => {
    const again = await ok(['push', '--json', `oci:${join(dir, 'image')}:v1`, `${host}/app/one:v1`]);
    expect(JSON.parse(again.stdout).blobs).toMatchObject({ copied: 0, skipped: image.blobs.length });
    const other = await ok(['copy', '--json', `${host}/app/one:v1`, `${host}/app/two:v1`]);
    expect(JSON.parse(other.stdout).blobs).toMatchObject({ copied: 0, mounted: image.blobs.length });
  });

  it('pulls into an OCI layout with identical bytes', async () => {
    const out = join(dir, 'pulled');
    const r = await ok(['pull', '-q', `${host}/app/one:v1`, '--output', `oci:${out}:v1`]);
    expect(r.stdout.trim()).toBe(image.manifest.digest);
    const idx = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(idx.manifests[0]).toMatchObject({ digest: image.manifest.digest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } });
    for (const b of image.blobs) {
      // Compare digests: deep equality of multi-MB buffers is very slow in the test runner.
      expect(sha(await readFile(join(out, 'blobs', 'sha256', b.descriptor.digest.slice(7))))).toBe(sha(b.bytes));
    }
    // What we wrote, skopeo reads.
    await skopeoCopy(`oci:${out}:v1`, `docker://${host}/app/from-stevedore-layout:v1`);
  });

  it('pushes a multi-arch index with --all-platforms and pulls one platform of it', async () => {
    const r = await ok(['push', '--all-platforms', '-q', `oci:${join(dir, 'index')}:multi`, `${host}/app/multi:1`]);
    expect(r.stdout.trim()).toBe(index.index.digest);
    const arm = index.index.json.manifests.find((d) => d.platform?.architecture === 'arm64')!;
    const out = join(dir, 'arm');
    const p = await ok(['pull', '--platform', 'linux/arm64', '-q', `${host}/app/multi:1`, '--output', `oci:${out}:arm`]);
    expect(p.stdout.trim()).toBe(arm.digest);
    const bad = await stevedore(['pull', '--platform', 'linux/s390x', `${host}/app/multi:1`, '--output', `oci:${join(dir, 'none')}`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^stevedore: .*no image for platform linux\/s390x \(available: linux\/amd64, linux\/arm64\/v8\)$/);
  });

  it('pulls what skopeo pushed, digests equal', async () => {
    await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/skopeo/pushed:v1`);
    const r = await ok(['digest', `${host}/skopeo/pushed:v1`]);
    expect(r.stdout.trim()).toBe(image.manifest.digest);
  });
});

describe('registry to registry, with htpasswd auth on the CNCF registry', () => {
  it('needs credentials, and copies with them keeping digests', async () => {
    const denied = await stevedore(['copy', `${host}/app/multi:1`, `${cncf.host}/mirror/multi:1`]);
    expect(denied.code).toBe(1);
    expect(denied.stderr.trim().split('\n').pop()).toMatch(/^stevedore: .*(username and password|401)/);
    const creds = `${TEST_USER.username}:${TEST_USER.password}`;
    const r = await ok(['copy', '--all-platforms', '-q', '--creds', creds, `${host}/app/multi:1`, `${cncf.host}/mirror/multi:1`]);
    expect(r.stdout.trim()).toBe(index.index.digest);
    const raw = await skopeoInspectRaw(`docker://${cncf.host}/mirror/multi:1`, { creds: { username: TEST_USER.username, password: TEST_USER.password } });
    expect(sha(raw)).toBe(index.index.digest);
  });

  it('uses credentials stored in Docker config.json', async () => {
    const cfgDir = join(dir, 'with-creds');
    await mkdir(cfgDir, { recursive: true });
    const auth = Buffer.from(`${TEST_USER.username}:${TEST_USER.password}`).toString('base64');
    await writeFile(join(cfgDir, 'config.json'), JSON.stringify({ auths: { [cncf.host]: { auth } } }));
    const r = await stevedore(['tags', `${cncf.host}/mirror/multi`], { DOCKER_CONFIG: cfgDir });
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['1']);
  });
});

describe('listing, inspecting, deleting', () => {
  it('lists tags and the catalog', async () => {
    await ok(['copy', `${host}/app/one:v1`, `${host}/app/one:v2`]);
    expect((await ok(['tags', `${host}/app/one`])).stdout).toBe('v1\nv2\n');
    const cat = (await ok(['catalog', host])).stdout.trim().split('\n');
    expect(cat).toEqual(expect.arrayContaining(['app/one', 'app/two', 'app/multi']));
  });

  it('inspects an image: raw manifest bytes, and manifest with config', async () => {
    const raw = await ok(['inspect', '--raw', `${host}/app/one:v1`]);
    expect(Buffer.from(raw.stdout)).toEqual(image.manifest.bytes);
    const doc = JSON.parse((await ok(['inspect', `${host}/app/one:v1`])).stdout);
    expect(doc.digest).toBe(image.manifest.digest);
    expect(doc.config.architecture).toBe('amd64');
  });

  it('deletes a tag, then the manifest by digest', async () => {
    await ok(['delete', `${host}/app/one:v2`]);
    expect((await ok(['tags', `${host}/app/one`])).stdout).toBe('v1\n');
    await ok(['delete', `${host}/app/two@${image.manifest.digest}`]);
    const gone = await stevedore(['digest', `${host}/app/two:v1`]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/MANIFEST_UNKNOWN/);
  });
});

describe('bad input and broken transfers', () => {
  it('rejects invalid references and locations in one line', async () => {
    for (const args of [
      ['pull', 'Not/Valid', '--output', `oci:${dir}/x`],
      ['push', 'oci:', `${host}/x`],
      ['copy', 'oci-archive:/tmp/x.tar', `${host}/x`],
      ['copy', 'docker-archive:', `${host}/x`],
      ['pull', `${host}/x@sha256:abc`, '--output', `oci:${dir}/x`],
      ['pull', `${host}/app/one:v1`, '--platform', 'linux', '--output', `oci:${dir}/x`],
    ]) {
      const r = await stevedore(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^stevedore: /);
    }
  });

  it('says when a registry is unreachable', async () => {
    const r = await stevedore(['tags', '127.0.0.1:1/nothing']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('stevedore: GET http://127.0.0.1:1/v2/nothing/tags/list: ECONNREFUSED: the registry is not answering at 127.0.0.1:1');
  }, 120_000);

  it('a usage error is one line with a --help hint and docker\'s exit status 125, not the whole help', async () => {
    const r = await stevedore(['pull', '--no-such-flag', `${host}/x`]);
    expect(r.code).toBe(125);
    expect(r.stderr.trim().split('\n')).toEqual([`stevedore: unknown option '--no-such-flag'; see 'stevedore pull --help'`]);
    const missing = await stevedore(['push']);
    expect(missing.code).toBe(125);
    expect(missing.stderr.trim()).toMatch(/^stevedore: missing required argument .*; see 'stevedore push --help'$/);
  });

  it('a path given where oci:DIR was meant says what to write, instead of going to Docker Hub', async () => {
    // An absolute path (was: "repository name must be lowercase" or a registry request), and an
    // existing directory named without ./ (was: a request to Docker Hub for docker.io/test/client).
    for (const path of [join(dir, 'image'), 'test/client']) {
      const r = await stevedore(['push', path, `${host}/x`], {});
      expect(r.code, path).toBe(1);
      expect(r.stderr.trim()).toBe(`stevedore: ${path} is a path, not an image reference: for an OCI layout write oci:${path}, for a docker save archive docker-archive:${path}`);
    }
  });

  it('resumes an interrupted blob download with Range', async () => {
    // A proxy that cuts the first download of the big layer half-way (fault injection).
    const big = image.layers.reduce((a, b) => (a.descriptor.size > b.descriptor.size ? a : b));
    const seen: string[] = [];
    let cut = false;
    const proxy: Server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.range ?? ''}`);
      const up = httpRequest(new URL(req.url!, server.url), { method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode!, ur.headers);
        if (!cut && req.method === 'GET' && req.url!.endsWith(big.descriptor.digest)) {
          cut = true;
          let sent = 0;
          ur.on('data', (c: Buffer) => {
            if (sent > big.descriptor.size / 2) return;
            sent += c.length;
            res.write(c);
            if (sent > big.descriptor.size / 2) res.socket?.destroy();
          });
          return;
        }
        ur.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const port = (proxy.address() as { port: number }).port;
      const out = join(dir, 'resumed');
      const r = await ok(['pull', '-q', `127.0.0.1:${port}/app/one:v1`, '--output', `oci:${out}:v1`]);
      expect(r.stdout.trim()).toBe(image.manifest.digest);
      expect(cut).toBe(true);
      expect(seen.some((s) => s.includes(big.descriptor.digest) && /bytes=\d+-/.test(s))).toBe(true);
      expect(sha(await readFile(join(out, 'blobs', 'sha256', big.descriptor.digest.slice(7))))).toBe(big.descriptor.digest);
    } finally {
      proxy.close();
    }
  });

  it('Ctrl-C in the middle of a pull leaves no partial blob behind', async () => {
    // A proxy that sends half of the big layer and then stalls (fault injection).
    const big = image.layers.reduce((a, b) => (a.descriptor.size > b.descriptor.size ? a : b));
    const proxy: Server = createServer((req, res) => {
      const up = httpRequest(new URL(req.url!, server.url), { method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode!, ur.headers);
        if (req.method === 'GET' && req.url!.endsWith(big.descriptor.digest)) {
          let sent = 0;
          ur.on('data', (c: Buffer) => {
            if (sent < big.descriptor.size / 2) res.write(c);
            sent += c.length;
          });
          return; // never ends
        }
        ur.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const out = join(dir, 'interrupted');
    try {
      const port = (proxy.address() as { port: number }).port;
      const child = spawn(process.execPath, [CLI, 'pull', `127.0.0.1:${port}/app/one:v1`, '--output', `oci:${out}:v1`], {
        env: { ...process.env, DOCKER_CONFIG: dockerConfig },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      // Wait until the partial blob is on disk, then interrupt.
      const partial = async () => (await readdir(join(out, 'blobs', 'sha256')).catch(() => [] as string[])).filter((f) => f.includes('.part-'));
      for (let i = 0; (await partial()).length === 0; i++) {
        if (i > 1200) throw new Error(`no partial blob appeared: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr).toMatch(/interrupted \(SIGINT\)/);
      expect(await partial()).toEqual([]);
      await expect(readFile(join(out, 'index.json'))).rejects.toThrow(); // no image was recorded
    } finally {
      proxy.closeAllConnections();
      proxy.close();
    }
  });

  it('rejects a blob whose content does not match its digest, storing nothing', async () => {
    // Corrupt the stored layer on the registry's disk (what a broken mirror or disk would serve).
    const big = image.layers.reduce((a, b) => (a.descriptor.size > b.descriptor.size ? a : b));
    const hex = big.descriptor.digest.slice(7);
    const blobFile = join(dir, 'registry', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    const original = await readFile(blobFile);
    const corrupt = Buffer.from(original);
    const mid = corrupt.length >> 1;
    corrupt[mid] = corrupt[mid]! ^ 0xff;
    await writeFile(blobFile, corrupt);
    try {
      const out = join(dir, 'corrupt');
      const r = await stevedore(['pull', `${host}/app/one:v1`, '--output', `oci:${out}:v1`]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n').pop()).toMatch(/^stevedore: .*digest sha256:[0-9a-f]{64}, expected sha256:/);
      const stored = await readdir(join(out, 'blobs', 'sha256')).catch(() => []);
      expect(stored).not.toContain(hex);
      expect(stored.filter((f) => f.includes('.part-'))).toEqual([]);
    } finally {
      await writeFile(blobFile, original);
    }
  });

  it('a push refused while its layer is still being sent ends at once with the refusal, and a layout blob cut short fails to push', async () => {
    // A registry whose quota a 20 MiB layer exceeds: it answers the layer's PUT (Content-Length
    // over the quota) before taking the body, and the client stops sending.
    const { loadConfig } = await import('../../server/config.js');
    const quota = await startServer({
      config: loadConfig({
        overrides: {
          http: { addr: '127.0.0.1:0' },
          log: { level: 'silent' },
          storage: { filesystem: { rootDirectory: join(dir, 'quota-registry') } },
          policy: { quotas: [{ name: 'small', repositories: ['quota/**'], limit: '1MiB' }], quotaUsageMaxAge: 0 },
        },
      }),
    });
    try {
      const big = multiLayerImage({ tag: 'big', randomBytes: 20 * 1024 * 1024 });
      const layout = join(dir, 'big');
      await writeLayout(layout, big);
      const refused = await stevedore(['push', '-q', `oci:${layout}:big`, `${new URL(quota.url).host}/quota/big:v1`]);
      expect(refused.code).toBe(1);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toMatch(/^stevedore: .*quota "small" \(quota\/\*\*\) exceeded/);

      // The same layout with its largest layer's file cut short: a clear error, nothing pushed.
      const layer = big.layers.reduce((a, b) => (a.descriptor.size > b.descriptor.size ? a : b));
      const file = join(layout, 'blobs', 'sha256', layer.descriptor.digest.slice(7));
      await writeFile(file, (await readFile(file)).subarray(0, layer.descriptor.size - 1000));
      const cut = await stevedore(['push', '-q', `oci:${layout}:big`, `${host}/app/cut:v1`]);
      expect(cut.code).not.toBe(0);
      expect(cut.stderr.trim().split('\n')).toHaveLength(1);
      expect(cut.stderr).toMatch(/^stevedore: .*ends at \d+ bytes, before the \d+ its descriptor says/);
      const head = await fetch(`${server.url}/v2/app/cut/blobs/${layer.descriptor.digest}`, { method: 'HEAD' });
      expect(head.status).toBe(404);
    } finally {
      await quota.close();
    }
  });
});
