// The local store's commands as a user runs them: images, tag, rmi (and containers' images),
// prune, save and load, concurrent with nothing (each test its own store).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';
import { describeTree, inspectLayers, mountOverlay, pushImage, stevedore, tempDir, removeTempDirs } from './engine-fixtures.js';
import { chainIds } from '../../engine/store/snapshots.js';
import { parseDigest } from '../../oci/index.js';
import { testImage, type TestImage } from './layer-fixtures.js';

afterAll(removeTempDirs);

let registry: StevedoreProcess;
let base: TestImage;
let app: TestImage;
const shared = [{ type: 'dir' as const, name: 'etc' }, { type: 'file' as const, name: 'etc/os-release', content: 'ID=test\n' }];

beforeAll(async () => {
  registry = await startStevedore();
  base = testImage([shared], { label: 'base' });
  app = testImage([shared, [{ type: 'file', name: 'app.txt', content: 'app\n' }]], { label: 'app' });
  await pushImage(registry.host, 'store/base', 'v1', base);
  await pushImage(registry.host, 'store/app', 'v1', app);
});
afterAll(async () => {
  await registry?.stop();
});

async function ok(args: string[]): Promise<string> {
  const r = await stevedore(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

interface Row {
  repository: string;
  tag: string;
  id: string;
  digest: string;
}

async function images(root: string): Promise<Row[]> {
  return JSON.parse(await ok(['--root', root, 'images', '--json'])) as Row[];
}

async function counts(root: string): Promise<{ blobs: number; snapshots: number }> {
  const blobs = await readdir(join(root, 'content/blobs/sha256')).catch(() => []);
  const snapshots = (await readdir(join(root, 'snapshots')).catch(() => [] as string[])).filter((n) => /^[a-f0-9]{64}$/.test(n));
  return { blobs: blobs.length, snapshots: snapshots.length };
}

describe('local image commands', () => {
  it('images, tag and rmi: untag first, delete with the last name, keep shared layers', async () => {
    const root = await tempDir('stevedore-root-');
    await ok(['--root', root, 'pull', `${registry.host}/store/base:v1`]);
    await ok(['--root', root, 'pull', `${registry.host}/store/app:v1`]);
    // Two images, the base layer shared: 3 layers blobs + 2 configs + 2 manifests; 2 snapshots (base; base+app).
    expect(await counts(root)).toEqual({ blobs: 7 - 1, snapshots: 2 });
    await ok(['--root', root, 'tag', `${registry.host}/store/app:v1`, 'myapp']);
    let rows = await images(root);
    expect(rows.map((r) => `${r.repository}:${r.tag}`).sort()).toEqual([`${registry.host}/store/app:v1`, `${registry.host}/store/base:v1`, 'myapp:latest'].sort());
    const table = await ok(['--root', root, 'images']);
    expect(table.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(table).toContain(app.config.descriptor.digest.slice(7, 19));

    // By id, an image with two names needs -f.
    const byId = await stevedore(['--root', root, 'rmi', app.config.descriptor.digest.slice(7, 19)]);
    expect(byId.code).toBe(1);
    expect(byId.stderr.trim()).toMatch(/^stevedore: image \w+ has several names/);

    expect(await ok(['--root', root, 'rmi', 'myapp'])).toBe('Untagged: myapp:latest\n');
    expect(await counts(root)).toEqual({ blobs: 6, snapshots: 2 });
    const out = await ok(['--root', root, 'rmi', `${registry.host}/store/app:v1`]);
    expect(out).toBe(`Untagged: ${registry.host}/store/app:v1\nDeleted: ${app.config.descriptor.digest}\n`);
    rows = await images(root);
    expect(rows.map((r) => r.repository)).toEqual([`${registry.host}/store/base`]);
    // The app's own layer, config and manifest are gone; the shared base layer stays for the base image.
    expect(await counts(root)).toEqual({ blobs: 3, snapshots: 1 });
    const dirs = await inspectLayers(root, `${registry.host}/store/base:v1`);
    expect(await readFile(join(dirs[0]!, 'etc/os-release'), 'utf8')).toBe('ID=test\n');

    const missing = await stevedore(['--root', root, 'rmi', 'nothing-here']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('stevedore: no such image: nothing-here\n');
  });

  it('rmi refuses an image a container uses; -f untags it, and prune keeps it until the container is gone', async () => {
    const root = await tempDir('stevedore-root-');
    const ref = `${registry.host}/store/app:v1`;
    await ok(['--root', root, 'pull', ref]);
    await mkdir(join(root, 'containers', 'c1'), { recursive: true });
    await writeFile(join(root, 'containers', 'c1', 'container.json'), JSON.stringify({ id: 'c1', image: { manifestDigest: app.manifest.digest } }));

    const refused = await stevedore(['--root', root, 'rmi', ref]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^stevedore: image .* is used by a container/);
    expect((await images(root)).map((r) => r.tag)).toEqual(['v1']);

    expect(await ok(['--root', root, 'rmi', '-f', ref])).toBe(`Untagged: ${ref}\n`);
    expect((await images(root)).map((r) => `${r.repository}:${r.tag}`)).toEqual(['<none>:<none>']);
    await ok(['--root', root, 'prune']);
    expect(await counts(root)).toEqual({ blobs: 4, snapshots: 2 });
    // The container still has its layers.
    const { ImageStore } = await import('../../engine/store/image-store.js');
    const { StoreImageProvider } = await import('../../engine/image-provider.js');
    const provider = new StoreImageProvider(new ImageStore(root), () => Promise.reject(new Error('find must not need a client')));
    const img = await provider.find(app.manifest.digest);
    expect(img?.layerDirs).toHaveLength(2);

    await writeFile(join(root, 'containers', 'c1', 'container.json'), '');
    await import('node:fs/promises').then((fs) => fs.rm(join(root, 'containers', 'c1'), { recursive: true }));
    expect(await ok(['--root', root, 'prune'])).toBe('Deleted 1 image, 4 blobs, 2 layer snapshots\n');
    expect(await counts(root)).toEqual({ blobs: 0, snapshots: 0 });
    expect(await images(root)).toEqual([]);
  });

  it('save writes a docker-archive that load reads back into another store: same image, same tree', async () => {
    const root = await tempDir('stevedore-root-');
    const ref = `${registry.host}/store/app:v1`;
    await ok(['--root', root, 'pull', ref]);
    const file = join(await tempDir('stevedore-save-'), 'app.tar');
    await ok(['--root', root, 'save', '-o', file, ref]);
    const other = await tempDir('stevedore-root-');
    expect(await ok(['--root', other, 'load', '-i', file])).toBe(`Loaded image: ${registry.host}/store/app:v1\n`);
    const [a] = await images(root);
    const [b] = await images(other);
    expect(b!.id).toBe(a!.id); // the config, hence the image id, is the same
    expect(`${b!.repository}:${b!.tag}`).toBe(ref);
    const trees = [];
    for (const r of [root, other]) {
      const m = await mountOverlay(await inspectLayers(r, ref));
      try {
        trees.push(await describeTree(m.dir));
      } finally {
        await m.unmount();
      }
    }
    expect(trees[1]).toEqual(trees[0]);
    expect(trees[0]!.some((l) => l.startsWith('app.txt '))).toBe(true);

    const bad = await stevedore(['--root', other, 'load', '-i', join(root, 'images.json')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^stevedore: .*not a docker save archive/);
  });

  it('STEVEDORE_ROOT picks the store when --root is not given', async () => {
    const root = await tempDir('stevedore-root-');
    const r = await stevedore(['pull', '-q', `${registry.host}/store/base:v1`], { env: { STEVEDORE_ROOT: root } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${base.manifest.digest}\n`);
    expect((await images(root)).map((x) => x.digest)).toEqual([base.manifest.digest]);
  });
});

describe('after a crash', () => {
  it('a pull recovers from what a killed process left: stale locks, a corrupt partial download, a half-made snapshot', async () => {
    const root = await tempDir('stevedore-root-');
    const dead = spawn('sleep', ['60']);
    const stat = await readFile(`/proc/${dead.pid}/stat`, 'utf8');
    const token = `${dead.pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}\n`;
    dead.kill('SIGKILL');
    await once(dead, 'exit');

    const layer = app.layers[1]!.descriptor;
    const ingest = join(root, 'content/ingest');
    await mkdir(ingest, { recursive: true });
    const base = join(ingest, `sha256-${parseDigest(layer.digest).hex}`);
    await writeFile(`${base}.partial`, Buffer.alloc(100, 7)); // not the layer's first bytes
    await writeFile(`${base}.lock`, token);
    const chains = chainIds(app.layers.map((l) => l.diffId));
    const snap = join(root, 'snapshots', parseDigest(chains[1]!).hex);
    await mkdir(join(snap, 'fs'), { recursive: true });
    await writeFile(join(snap, 'fs', 'half-written'), 'from the crash');
    await writeFile(`${snap}.lock`, token);
    await mkdir(join(root, 'snapshots', 'tmp', 'leftover-unpack'), { recursive: true });
    await mkdir(join(root, 'leases'), { recursive: true });
    await writeFile(join(root, 'leases', 'crashed-pull'), token);

    const ref = `${registry.host}/store/app:v1`;
    const r = await stevedore(['--root', root, 'pull', ref]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('resuming download at byte 100');
    const dirs = await inspectLayers(root, ref);
    expect(await readdir(dirs[1]!)).toEqual(['app.txt']);
    expect(await readFile(join(dirs[1]!, 'app.txt'), 'utf8')).toBe('app\n');

    expect(await ok(['--root', root, 'prune'])).toBe('Deleted 0 images, 0 blobs, 0 layer snapshots\n');
    expect(await readdir(join(root, 'snapshots', 'tmp'))).toEqual([]);
    expect(await readdir(join(root, 'leases'))).toEqual([]);
    expect(await readdir(ingest)).toEqual([]);
  });
});
