// `docker-archive:FILE[:REF]` locations (what `docker save` writes and `docker load` reads), with
// skopeo's docker-archive transport as the reference: push from archives skopeo wrote and from one
// with uncompressed layers, pull into archives skopeo reads, and bad archives refused in one line.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/index.js';
import { multiArchIndex, multiLayerImage, tar, writeLayout, type BuiltImage, type TarEntry } from '../helpers/oci-image-builder.js';
import { skopeoCopy, skopeoInspectRaw } from '../helpers/skopeo.js';
import { CLI } from '../helpers/stevedore-process.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface Manifest {
  mediaType: string;
  config: { digest: string; size: number; mediaType: string };
  layers: { digest: string; size: number; mediaType: string }[];
}

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

let dir: string;
/** TMPDIR of every stevedore run: compressed layers go there, and must be gone afterwards. */
let tmp: string;
let server: RunningServer;
let host: string;
let image: BuiltImage;

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (digest: string) => digest.slice('sha256:'.length);

function stevedore(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, DOCKER_CONFIG: join(dir, 'docker-config'), TMPDIR: tmp }, timeout: 120_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function ok(args: string[]): Promise<Run> {
  const r = await stevedore(args);
  if (r.code !== 0) throw new Error(`stevedore ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r;
}

/** The registry's manifest for REF (host/repo:tag), or undefined when there is none. */
async function registryManifest(repo: string, tag: string): Promise<Manifest | undefined> {
  const res = await fetch(`${server.url}/v2/${repo}/manifests/${tag}`, { headers: { accept: DOCKER_MANIFEST } });
  if (res.status === 404) return undefined;
  expect(res.status).toBe(200);
  return (await res.json()) as Manifest;
}

async function registryBlob(repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${server.url}/v2/${repo}/blobs/${digest}`);
  expect(res.status, `${repo} ${digest}`).toBe(200);
  const bytes = Buffer.from(await res.arrayBuffer());
  expect(sha(bytes)).toBe(digest);
  return bytes;
}

/** What a user checks of a pushed image: its config, and each layer's uncompressed content against the config's diff_ids. */
async function expectImageContent(repo: string, m: Manifest, expected: BuiltImage): Promise<void> {
  expect(m.config.digest).toBe(expected.config.descriptor.digest);
  const config = JSON.parse((await registryBlob(repo, m.config.digest)).toString('utf8')) as { rootfs: { diff_ids: string[] } };
  expect(config.rootfs.diff_ids).toEqual(expected.layers.map((l) => l.diffId));
  expect(m.layers).toHaveLength(expected.layers.length);
  for (const [i, layer] of m.layers.entries()) {
    const blob = await registryBlob(repo, layer.digest);
    expect(blob.length).toBe(layer.size);
    expect(blob.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // gzip
    expect(sha(gunzipSync(blob))).toBe(config.rootfs.diff_ids[i]);
  }
}

/** The members of a tar file: regular files' contents and symbolic links' targets. */
async function readTar(file: string): Promise<{ files: Map<string, Buffer>; links: Map<string, string> }> {
  const files = new Map<string, Buffer>();
  const links = new Map<string, string>();
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (entry.header.type === 'symlink') links.set(entry.header.name, entry.header.linkname);
      else if (entry.header.type === 'file') files.set(entry.header.name, Buffer.concat(chunks));
    }
  })();
  ex.end(await readFile(file));
  await done;
  return { files, links };
}

const tmpLeft = async () => readdir(tmp);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'docker-archive-'));
  tmp = join(dir, 'tmp');
  await mkdir(tmp);
  server = await startServer({ dataDir: join(dir, 'registry'), addr: '127.0.0.1:0', logLevel: 'silent' });
  host = new URL(server.url).host;
  image = multiLayerImage({ tag: 'v1' });
  await writeLayout(join(dir, 'image'), image);
  await ok(['push', '-q', `oci:${join(dir, 'image')}:v1`, `${host}/archive/source:v1`]);
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  expect(await tmpLeft()).toEqual([]);
});

describe('push docker-archive:FILE REF', () => {
  it('pushes an archive skopeo wrote; the layers hold what the config says', async () => {
    const file = join(dir, 'skopeo.tar');
    // skopeo stores layers uncompressed in an archive, so their digests change: not preserved.
    await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker-archive:${file}:example.com/team/app:v1`, { preserveDigests: false });
    const r = await ok(['push', `docker-archive:${file}`, `${host}/archive/from-skopeo:v1`]);
    expect(r.stdout).toMatch(/^Pushed .*from-skopeo:v1@sha256:[0-9a-f]{64} \(4 blobs copied/);
    const m = (await registryManifest('archive/from-skopeo', 'v1'))!;
    expect(m.mediaType).toBe(DOCKER_MANIFEST);
    expect(m.layers.every((l) => l.mediaType === DOCKER_LAYER)).toBe(true);
    await expectImageContent('archive/from-skopeo', m, image);
    expect(await tmpLeft()).toEqual([]); // the compressed copies are gone

    // Choosing the image by the name it has in the archive, as skopeo does.
    const byName = await ok(['push', '-q', `docker-archive:${file}:example.com/team/app:v1`, `${host}/archive/by-name:v1`]);
    expect(byName.stdout.trim()).toBe(sha(await skopeoInspectRaw(`docker://${host}/archive/from-skopeo:v1`)));
    const byPosition = await ok(['push', '-q', `docker-archive:${file}:@0`, `${host}/archive/by-position:v1`]);
    expect(byPosition.stdout).toBe(byName.stdout);
  });

  it('compresses uncompressed layers, recording their gzip digests in the manifest', async () => {
    // The legacy `docker save` layout: <id>/layer.tar uncompressed, one layer a symlink to another's file.
    const [l0, l1, l2] = image.layers;
    const entries: TarEntry[] = [
      { type: 'file', name: 'aaaa/layer.tar', content: l0!.uncompressed },
      { type: 'file', name: 'bbbb/layer.tar', content: l1!.uncompressed },
      { type: 'file', name: 'dddd/layer.tar', content: l2!.uncompressed },
      { type: 'symlink', name: 'cccc/layer.tar', target: '../dddd/layer.tar' },
      { type: 'file', name: `${hex(image.config.descriptor.digest)}.json`, content: image.config.bytes },
      {
        type: 'file',
        name: 'manifest.json',
        content: JSON.stringify([
          { Config: `${hex(image.config.descriptor.digest)}.json`, RepoTags: ['test/uncompressed:v1'], Layers: ['aaaa/layer.tar', 'bbbb/layer.tar', 'cccc/layer.tar'] },
        ]),
      },
    ];
    const file = join(dir, 'uncompressed.tar');
    await writeFile(file, tar(entries));
    await ok(['push', `docker-archive:${file}:test/uncompressed:v1`, `${host}/archive/uncompressed:v1`]);
    const m = (await registryManifest('archive/uncompressed', 'v1'))!;
    expect(m.layers.every((l) => l.mediaType === DOCKER_LAYER)).toBe(true);
    await expectImageContent('archive/uncompressed', m, image);
    expect(await tmpLeft()).toEqual([]);

    // Docker 25+ writes an archive that is also an OCI layout: the layers under blobs/sha256/.
    const blobPath = (d: string) => `blobs/sha256/${hex(d)}`;
    const oci = join(dir, 'docker25.tar');
    await writeFile(
      oci,
      tar([
        { type: 'file', name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
        ...image.layers.map((l): TarEntry => ({ type: 'file', name: blobPath(l.diffId), content: l.uncompressed })),
        { type: 'file', name: blobPath(image.config.descriptor.digest), content: image.config.bytes },
        {
          type: 'file',
          name: 'manifest.json',
          content: JSON.stringify([
            { Config: blobPath(image.config.descriptor.digest), RepoTags: ['test/docker25:v1'], Layers: image.layers.map((l) => blobPath(l.diffId)) },
          ]),
        },
      ]),
    );
    await ok(['push', `docker-archive:${oci}`, `${host}/archive/docker25:v1`]);
    await expectImageContent('archive/docker25', (await registryManifest('archive/docker25', 'v1'))!, image);
    expect(await tmpLeft()).toEqual([]);

    // `docker save | gzip` archives are read too.
    const gz = join(dir, 'uncompressed.tar.gz');
    await writeFile(gz, gzipSync(await readFile(file)));
    const again = await ok(['push', '--json', `docker-archive:${gz}`, `${host}/archive/uncompressed:gz`]);
    expect(JSON.parse(again.stdout).blobs).toMatchObject({ copied: 0, skipped: 4 }); // same gzip bytes as before
    expect(await tmpLeft()).toEqual([]);
  });
});

describe('pull REF --output docker-archive:FILE:NAME:TAG', () => {
  it('writes an archive that skopeo reads and pushes with the same config and layer contents', async () => {
    const out = join(dir, 'pulled');
    await mkdir(out);
    const file = join(out, 'app.tar');
    const r = await ok(['pull', `${host}/archive/source:v1`, '--output', `docker-archive:${file}:registry.example/team/app:1.0`]);
    expect(r.stdout).toContain(image.manifest.digest);
    expect(await readdir(out)).toEqual(['app.tar']); // no temporary files beside it

    // What docker load reads: manifest.json, the config, layers as stored (gzip), repositories.
    const { files, links } = await readTar(file);
    const items = JSON.parse(files.get('manifest.json')!.toString('utf8'));
    expect(items).toEqual([
      {
        Config: `${hex(image.config.descriptor.digest)}.json`,
        RepoTags: ['registry.example/team/app:1.0'],
        Layers: image.layers.map((l) => `${hex(l.descriptor.digest)}.tar`),
      },
    ]);
    expect(sha(files.get(items[0].Config)!)).toBe(image.config.descriptor.digest);
    for (const l of image.layers) expect(sha(files.get(`${hex(l.descriptor.digest)}.tar`)!)).toBe(l.descriptor.digest);
    const repositories = JSON.parse(files.get('repositories')!.toString('utf8'));
    const topId = repositories['registry.example/team/app']['1.0'] as string;
    expect(links.get(`${topId}/layer.tar`)).toBe(`../${hex(image.layers.at(-1)!.descriptor.digest)}.tar`);

    await skopeoCopy(`docker-archive:${file}`, `docker://${host}/archive/by-skopeo:v1`, { preserveDigests: false });
    await expectImageContent('archive/by-skopeo', (await registryManifest('archive/by-skopeo', 'v1'))!, image);

    // Back through stevedore: gzip layers are pushed as they are, digests unchanged.
    const back = await ok(['push', '--json', `docker-archive:${file}:registry.example/team/app:1.0`, `${host}/archive/back:v1`]);
    expect(JSON.parse(back.stdout).blobs).toMatchObject({ copied: 4 });
    const m = (await registryManifest('archive/back', 'v1'))!;
    expect(m.layers.map((l) => l.digest)).toEqual(image.layers.map((l) => l.descriptor.digest));
  });

  it('tags the archive with the pulled name when FILE has no NAME:TAG, as docker save does', async () => {
    const file = join(dir, 'default-name.tar');
    await ok(['pull', '-q', `${host}/archive/source:v1`, '--output', `docker-archive:${file}`]);
    const items = JSON.parse((await readTar(file)).files.get('manifest.json')!.toString('utf8'));
    expect(items[0].RepoTags).toEqual([`${host}/archive/source:v1`]);
  });

  it('picks one platform of a multi-platform image, and refuses --all-platforms', async () => {
    const index = multiArchIndex({ tag: 'multi' });
    await writeLayout(join(dir, 'index'), index);
    await ok(['push', '--all-platforms', `oci:${join(dir, 'index')}:multi`, `${host}/archive/multi:1`]);
    const out = join(dir, 'multi');
    await mkdir(out);
    const all = await stevedore(['pull', '--all-platforms', `${host}/archive/multi:1`, '--output', `docker-archive:${join(out, 'all.tar')}`]);
    expect(all.code).toBe(1);
    expect(all.stderr).toMatch(/^stevedore: .*one single-platform image; choose it with --platform instead of --all-platforms\n$/);
    const arm = index.images.find((i) => i.manifest.json.config && i.tag.endsWith('arm64'))!;
    await ok(['pull', '--platform', 'linux/arm64', `${host}/archive/multi:1`, '--output', `docker-archive:${join(out, 'arm.tar')}:multi:arm`]);
    expect(await readdir(out)).toEqual(['arm.tar']);
    const items = JSON.parse((await readTar(join(out, 'arm.tar'))).files.get('manifest.json')!.toString('utf8'));
    expect(items[0].Config).toBe(`${hex(arm.config.descriptor.digest)}.json`);
  });
});

describe('bad archives and destinations', () => {
  /** One line on stderr, a non-zero exit, no image at the destination, no temporary file left. */
  async function expectRefused(src: string, message: RegExp): Promise<void> {
    const r = await stevedore(['push', src, `${host}/archive/bad:1`]);
    expect(r.code, src).not.toBe(0);
    // Progress lines may come first; the error is the last line, one line, no stack trace.
    const lines = r.stderr.trim().split('\n');
    expect(lines.pop(), src).toMatch(new RegExp(`^stevedore: .*${message.source}`));
    for (const l of lines) expect(l, src).toMatch(/^(Checking|Compressing) layer \S+ \(\d/);
    expect(await registryManifest('archive/bad', '1')).toBeUndefined();
    expect(await tmpLeft()).toEqual([]);
  }

  let good: Buffer;
  beforeAll(async () => {
    const file = join(dir, 'good.tar');
    await ok(['pull', '-q', `${host}/archive/source:v1`, '--output', `docker-archive:${file}:app:v1`]);
    good = await readFile(file);
  });

  it('refuses a file that is not a tar archive', async () => {
    const file = join(dir, 'not-a-tar.tar');
    await writeFile(file, Buffer.alloc(4096, 'this is not a tar archive\n'));
    await expectRefused(`docker-archive:${file}`, /not a tar archive/);
    await expectRefused(`docker-archive:${join(dir, 'missing.tar')}`, /missing\.tar: no such file/);
  });

  it('refuses a tar without manifest.json', async () => {
    const file = join(dir, 'no-manifest.tar');
    await writeFile(file, tar([{ type: 'file', name: 'hello.txt', content: 'hello\n' }]));
    await expectRefused(`docker-archive:${file}`, /no manifest\.json in it: not a docker save archive/);
  });

  it('refuses a NAME:TAG the archive does not have, saying what it has', async () => {
    await writeFile(join(dir, 'good.tar'), good);
    await expectRefused(`docker-archive:${join(dir, 'good.tar')}:other:v2`, /no image tagged other:v2 in it \(it has app:v1\)/);
  });

  it('refuses a truncated archive', async () => {
    // Cut in the middle of the biggest layer.
    const big = image.layers.reduce((a, b) => (a.descriptor.size > b.descriptor.size ? a : b));
    const at = good.indexOf(big.descriptor.size > 0 ? big.bytes.subarray(0, 64) : Buffer.alloc(0));
    expect(at).toBeGreaterThan(0);
    const file = join(dir, 'truncated.tar');
    await writeFile(file, good.subarray(0, at + (big.descriptor.size >> 1)));
    await expectRefused(`docker-archive:${file}`, /the archive is truncated/);
  });

  it('refuses a layer whose content does not match the config', async () => {
    const big = image.layers.reduce((a, b) => (a.descriptor.size > b.descriptor.size ? a : b));
    const at = good.indexOf(big.bytes.subarray(0, 64));
    const corrupt = Buffer.from(good);
    const mid = at + (big.descriptor.size >> 1);
    corrupt[mid] = corrupt[mid]! ^ 0xff;
    const file = join(dir, 'corrupt.tar');
    await writeFile(file, corrupt);
    await expectRefused(`docker-archive:${file}`, new RegExp(`layer ${hex(big.descriptor.digest)}\\.tar (is not valid gzip|does not match the config's diff_id)`));
  });

  it('writes nothing when a pull fails, and says why in one line', async () => {
    const out = join(dir, 'failed');
    await mkdir(out);
    for (const [args, message] of [
      [['pull', `${host}/archive/source:nope`, '--output', `docker-archive:${join(out, 'x.tar')}`], /MANIFEST_UNKNOWN/],
      [['pull', `${host}/archive/source:v1`, '--output', `docker-archive:${join(out, 'no-such-dir', 'x.tar')}`], /directory .*no-such-dir does not exist/],
      [['pull', `${host}/archive/source:v1`, '--output', `docker-archive:${join(out, 'x.tar')}:app@sha256:${'0'.repeat(64)}`], /not by digest/],
      [['pull', `${host}/archive/source:v1`, '--output', `docker-archive:${out}`], /is a directory/],
    ] as const) {
      const r = await stevedore([...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n').pop(), args.join(' ')).toMatch(message);
      expect(r.stderr.trim().split('\n').pop()).toMatch(/^stevedore: /);
      expect(await readdir(out)).toEqual([]);
    }
  });

  it('still refuses the transports it does not support, in one line', async () => {
    for (const loc of ['oci-archive:/tmp/x.tar', 'dir:/tmp/x', 'docker-daemon:busybox:latest']) {
      const r = await stevedore(['push', loc, `${host}/archive/bad:1`]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/^stevedore: [a-z-]+: locations are not supported \(use a registry reference, oci:DIR\[:TAG\] or docker-archive:FILE\[:REF\]\)\n$/);
    }
  });
});

describe('Ctrl-C', () => {
  /** Starts stevedore, waits until `ready()` holds (polling the disk), interrupts it, and returns its exit code. */
  async function interruptWhen(args: string[], ready: () => Promise<boolean>): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, DOCKER_CONFIG: join(dir, 'docker-config'), TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    for (let i = 0; !(await ready()); i++) {
      if (i > 1500 || child.exitCode !== null) throw new Error(`never got there: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGINT');
    return { code: await exited, stderr };
  }

  it('while a layer is being compressed, removes the temporary files', async () => {
    const layer = tar([{ type: 'file', name: 'big.bin', content: randomBytes(48 << 20) }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
    const file = join(dir, 'big-uncompressed.tar');
    await writeFile(
      file,
      tar([
        { type: 'file', name: 'layer.tar', content: layer },
        { type: 'file', name: 'config.json', content: config },
        { type: 'file', name: 'manifest.json', content: JSON.stringify([{ Config: 'config.json', RepoTags: null, Layers: ['layer.tar'] }]) },
      ]),
    );
    const compressing = async () => {
      for (const d of await readdir(tmp)) if ((await readdir(join(tmp, d)).catch(() => [])).some((f) => f.endsWith('.tar.gz'))) return true;
      return false;
    };
    const r = await interruptWhen(['push', `docker-archive:${file}`, `${host}/archive/interrupted:1`], compressing);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted \(SIGINT\); nothing partial was kept/);
    expect(await tmpLeft()).toEqual([]);
    expect(await registryManifest('archive/interrupted', '1')).toBeUndefined();
  });

  it('in the middle of a pull into an archive, leaves no archive and no temporary file', async () => {
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
    const out = join(dir, 'interrupted-pull');
    await mkdir(out);
    try {
      const port = (proxy.address() as { port: number }).port;
      // The big layer is half-way in: the partial archive (or a spooled blob beside it) has more than the small blobs.
      const partial = async () => {
        let bytes = 0;
        for (const f of await readdir(out, { recursive: true })) bytes += (await readFile(join(out, f)).catch(() => Buffer.alloc(0))).length;
        return bytes > big.descriptor.size / 4;
      };
      const r = await interruptWhen(['pull', `127.0.0.1:${port}/archive/source:v1`, '--output', `docker-archive:${join(out, 'app.tar')}`], partial);
      expect(r.code).toBe(130);
      expect(await readdir(out)).toEqual([]);
    } finally {
      proxy.closeAllConnections();
      proxy.close();
    }
  });
});
