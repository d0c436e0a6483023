// stevedore pull into the local store against a real Stevedore registry: platform choice from an
// index, resuming an interrupted pull, and two concurrent pulls of one image.
import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDigest } from '../../oci/index.js';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';
import { inspectLayers, pushImage, stevedore, tempDir, removeTempDirs } from './engine-fixtures.js';
import { dockerImage, multiLayerImage } from '../helpers/oci-image-builder.js';
import { mountOverlay } from './engine-fixtures.js';
import { testImage, testIndex, type Entry, type TestImage } from './layer-fixtures.js';

afterAll(removeTempDirs);

let registry: StevedoreProcess;

beforeAll(async () => {
  registry = await startStevedore();
});
afterAll(async () => {
  await registry?.stop();
});

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('multi-platform images', () => {
  const platformLayer = (p: string): Entry[] => [
    { type: 'dir', name: 'etc' },
    { type: 'file', name: 'etc/platform', content: `${p}\n` },
  ];
  const amd64 = testImage([platformLayer('linux/amd64')], { platform: { os: 'linux', architecture: 'amd64' } });
  const arm64 = testImage([platformLayer('linux/arm64/v8')], { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  const index = testIndex([amd64, arm64]);

  beforeAll(async () => {
    await pushImage(registry.host, 'multi/arch', 'v1', amd64, index, [arm64]);
  });

  it('pulls the platform asked for, and keeps the index', async () => {
    const ref = `${registry.host}/multi/arch:v1`;
    for (const [platform, image] of [
      ['linux/amd64', amd64],
      ['linux/arm64', arm64],
    ] as const) {
      const root = await tempDir('stevedore-root-');
      const r = await stevedore(['--root', root, 'pull', '--platform', platform, ref]);
      expect(r.code, r.stderr).toBe(0);
      const dirs = await inspectLayers(root, ref);
      expect(await readFile(join(dirs[0]!, 'etc/platform'), 'utf8')).toBe(`${platform === 'linux/arm64' ? 'linux/arm64/v8' : platform}\n`);
      const inspect = await stevedore(['--root', root, 'images', '--json']);
      const rows = JSON.parse(inspect.stdout) as { digest: string; platform: string }[];
      expect(rows.map((x) => x.digest)).toEqual([image.manifest.digest]);
      // The index is in the content store, and the name points at it.
      const { hex } = parseDigest(index.digest);
      expect((await stat(join(root, 'content/blobs/sha256', hex))).size).toBe(index.bytes.length);
      const state = JSON.parse(await readFile(join(root, 'images.json'), 'utf8')) as { refs: Record<string, { target: string; manifest: string }> };
      expect(state.refs[ref]).toEqual({ target: index.digest, manifest: image.manifest.digest });
    }
  });

  it('defaults to this host platform and says which platforms exist when there is none for it', async () => {
    const root = await tempDir('stevedore-root-');
    const ok = await stevedore(['--root', root, 'pull', `${registry.host}/multi/arch:v1`]);
    expect(ok.code, ok.stderr).toBe(0);
    const host = process.arch === 'arm64' ? 'linux/arm64/v8' : 'linux/amd64';
    expect(await readFile(join((await inspectLayers(root, `${registry.host}/multi/arch:v1`))[0]!, 'etc/platform'), 'utf8')).toBe(`${host}\n`);
    const bad = await stevedore(['--root', root, 'pull', '--platform', 'linux/s390x', `${registry.host}/multi/arch:v1`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^stevedore: .*no image for platform linux\/s390x \(available: linux\/amd64, linux\/arm64\/v8\)$/);
  });
});

/** A proxy to the registry that, while `stallAfter` is set, sends only that many bytes of a blob GET and then holds the connection. */
class FaultProxy {
  server!: Server;
  host = '';
  stallAfter?: number;
  blobPath?: string;
  readonly ranges: (string | undefined)[] = [];
  private held: (() => void)[] = [];

  /** Lets stalled responses continue to their end. */
  release(): void {
    this.stallAfter = undefined;
    for (const go of this.held.splice(0)) go();
  }

  async start(upstream: string): Promise<void> {
    const [upHost, upPort] = upstream.split(':') as [string, string];
    this.server = createServer((req, res) => {
      const isBlob = this.blobPath !== undefined && req.method === 'GET' && req.url === this.blobPath;
      if (isBlob) this.ranges.push(req.headers.range);
      const up = request({ host: upHost, port: Number(upPort), path: req.url, method: req.method, headers: { ...req.headers, host: upstream } }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        const limit = isBlob ? this.stallAfter : undefined;
        if (limit === undefined) {
          upRes.pipe(res);
          return;
        }
        let sent = 0;
        const held: Buffer[] = [];
        upRes.on('data', (chunk: Buffer) => {
          if (sent >= limit) {
            held.push(chunk);
            return;
          }
          const part = chunk.subarray(0, limit - sent);
          res.write(part);
          sent += part.length;
          if (sent >= limit) {
            // Hold the rest (the client waits for it) until release().
            if (part.length < chunk.length) held.push(chunk.subarray(part.length));
            upRes.pause();
            this.held.push(() => {
              for (const h of held.splice(0)) res.write(h);
              upRes.on('data', (c: Buffer) => res.write(c));
              upRes.on('end', () => res.end());
              upRes.resume();
            });
          }
        });
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const addr = this.server.address() as { port: number };
    this.host = `127.0.0.1:${addr.port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

describe('an interrupted pull', () => {
  it('continues from the bytes already downloaded (Range) after the process was killed', async () => {
    const big = randomBytes(4 * 1024 * 1024);
    const image = testImage(
      [
        [{ type: 'file', name: 'small.txt', content: 'small' }],
        [{ type: 'file', name: 'big.bin', content: big }],
      ],
      { compression: 'none' },
    );
    await pushImage(registry.host, 'resume/app', 'v1', image);
    const layer = image.layers[1]!.descriptor;
    const proxy = new FaultProxy();
    await proxy.start(registry.host);
    try {
      proxy.blobPath = `/v2/resume/app/blobs/${layer.digest}`;
      const half = 2 * 1024 * 1024 + 12345;
      proxy.stallAfter = half;
      const root = await tempDir('stevedore-root-');
      const ref = `${proxy.host}/resume/app:v1`;
      const first = stevedore(['--root', root, 'pull', ref]);
      const partial = join(root, 'content/ingest', `sha256-${parseDigest(layer.digest).hex}.partial`);
      await waitFor('the first half of the layer in the ingest area', async () => (await stat(partial).catch(() => undefined))?.size === half);
      first.kill('SIGKILL');
      expect((await first).code).toBe(null);

      proxy.stallAfter = undefined;
      const second = await stevedore(['--root', root, 'pull', ref]);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).toContain(`resuming download at byte ${half}`);
      expect(proxy.ranges).toEqual([undefined, `bytes=${half}-`]);
      const dirs = await inspectLayers(root, ref);
      expect((await readFile(join(dirs[1]!, 'big.bin'))).equals(big)).toBe(true);
      await expect(stat(partial)).rejects.toThrow(/ENOENT/);
    } finally {
      await proxy.stop();
    }
  });
});

describe('two stevedore pull processes of one image at once', () => {
  it('both succeed, and each layer is downloaded and unpacked once', async () => {
    const layers: Entry[][] = [0, 1, 2, 3].map((i) => [{ type: 'file', name: `layer${i}.bin`, content: randomBytes(2 * 1024 * 1024) }]);
    const image = testImage(layers);
    await pushImage(registry.host, 'concurrent/app', 'v1', image);
    const root = await tempDir('stevedore-root-');
    const ref = `${registry.host}/concurrent/app:v1`;
    const [a, b] = await Promise.all([stevedore(['--root', root, 'pull', ref]), stevedore(['--root', root, 'pull', ref])]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const count = (re: RegExp) => (a.stderr.match(re)?.length ?? 0) + (b.stderr.match(re)?.length ?? 0);
    expect(count(/: unpacked$/gm)).toBe(4);
    expect(count(/: downloaded$/gm)).toBe(4);
    const dirs = await inspectLayers(root, ref);
    for (const [i, d] of dirs.entries()) {
      expect((await readFile(join(d, `layer${i}.bin`))).equals(layers[i]![0]!.type === 'file' ? (layers[i]![0] as { content: Buffer }).content : Buffer.alloc(0))).toBe(true);
    }
    const images = JSON.parse((await stevedore(['--root', root, 'images', '--json'])).stdout) as unknown[];
    expect(images).toHaveLength(1);
  });
});

describe('prune while a pull is in progress', () => {
  it('waits for the pull, and removes nothing it brought', async () => {
    const big = randomBytes(3 * 1024 * 1024);
    const image = testImage([[{ type: 'file', name: 'first.txt', content: 'first' }], [{ type: 'file', name: 'big.bin', content: big }]], { compression: 'none' });
    await pushImage(registry.host, 'prune/app', 'v1', image);
    const proxy = new FaultProxy();
    await proxy.start(registry.host);
    try {
      const layer = image.layers[1]!.descriptor;
      proxy.blobPath = `/v2/prune/app/blobs/${layer.digest}`;
      proxy.stallAfter = 1024 * 1024;
      const root = await tempDir('stevedore-root-');
      const ref = `${proxy.host}/prune/app:v1`;
      const pull = stevedore(['--root', root, 'pull', ref]);
      const partial = join(root, 'content/ingest', `sha256-${parseDigest(layer.digest).hex}.partial`);
      await waitFor('the pull to be half-way', async () => (await stat(partial).catch(() => undefined))?.size === 1024 * 1024);
      // The first layer is downloaded and unpacked, but no image names it yet.
      let pruneErr = '';
      const prune = stevedore(['--root', root, 'prune'], { onStderr: (d) => (pruneErr += d) });
      await waitFor('prune to wait for the pull', async () => pruneErr.includes('waiting for pulls in progress'));
      proxy.release();
      const [p, q] = await Promise.all([pull, prune]);
      expect(p.code, p.stderr).toBe(0);
      expect(q.code, q.stderr).toBe(0);
      expect(q.stdout).toBe('Deleted 0 images, 0 blobs, 0 layer snapshots\n');
      const dirs = await inspectLayers(root, ref);
      expect(await readFile(join(dirs[0]!, 'first.txt'), 'utf8')).toBe('first');
      expect((await readFile(join(dirs[1]!, 'big.bin'))).equals(big)).toBe(true);
    } finally {
      await proxy.stop();
    }
  });
});

describe('images made by the shared test image builder', () => {
  it('pulls a Docker schema 2 image and an OCI image whose upper layer deletes a lower file', async () => {
    const docker = dockerImage({ tag: 'engine-docker' });
    const multi = multiLayerImage({ tag: 'engine-multi', randomBytes: 512 * 1024 });
    await pushImage(registry.host, 'builder/docker', 'v1', docker as unknown as TestImage);
    await pushImage(registry.host, 'builder/multi', 'v1', multi as unknown as TestImage);
    const root = await tempDir('stevedore-root-');
    for (const repo of ['builder/docker', 'builder/multi']) {
      const r = await stevedore(['--root', root, 'pull', `${registry.host}/${repo}:v1`]);
      expect(r.code, r.stderr).toBe(0);
    }
    const d = await mountOverlay(await inspectLayers(root, `${registry.host}/builder/docker:v1`));
    try {
      expect(await readFile(join(d.dir, 'srv/docker.txt'), 'utf8')).toMatch(/^docker schema 2 /);
      expect(await readFile(join(d.dir, 'etc/os-release'), 'utf8')).toContain('ID=stevedore-test');
    } finally {
      await d.unmount();
    }
    const m = await mountOverlay(await inspectLayers(root, `${registry.host}/builder/multi:v1`));
    try {
      await expect(stat(join(m.dir, 'etc/os-release'))).rejects.toThrow(/ENOENT/);
      expect((await stat(join(m.dir, 'data/random.bin'))).size).toBe(512 * 1024);
      expect(await readFile(join(m.dir, `app/${'deep/'.repeat(25)}long-path.txt`), 'utf8')).toBe('a path longer than 100 bytes\n');
    } finally {
      await m.unmount();
    }
  });
});

describe('pulling through the client configuration', () => {
  it('uses a mirror when the registry itself cannot be reached', async () => {
    const image = testImage([[{ type: 'file', name: 'mirrored.txt', content: 'from the mirror\n' }]]);
    await pushImage(registry.host, 'cache/team/app', 'v1', image);
    // A registry that is down: a loopback port nothing listens on.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const origin = `127.0.0.1:${(closed.address() as { port: number }).port}`;
    await new Promise((r) => closed.close(r));
    const dir = await tempDir('stevedore-mirror-');
    const cfg = join(dir, 'client.yaml');
    await writeFile(cfg, `registries:\n  "${origin}":\n    mirrors: ["${registry.host}/cache"]\n`);
    const root = await tempDir('stevedore-root-');
    const ref = `${origin}/team/app:v1`;
    const r = await stevedore(['--root', root, 'pull', '--client-config', cfg, ref]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Pulling from mirror ${registry.host}/cache`);
    const dirs = await inspectLayers(root, ref);
    expect(await readFile(join(dirs[0]!, 'mirrored.txt'), 'utf8')).toBe('from the mirror\n');
  });
});
