// Images built here and pushed to a real Stevedore registry, pulled with the real `stevedore pull`
// into a fresh store, then mounted with overlayfs as a container would see them.
import { lstat, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';
import { describeTree, getXattr, inspectLayers, mountOverlay, pushImage, stevedore, tempDir, removeTempDirs } from './engine-fixtures.js';
import { testImage, type Compression, type Entry } from './layer-fixtures.js';

afterAll(removeTempDirs);

const CAP = Buffer.from('0100000220000000000000000000000000000000', 'hex'); // cap_net_bind_service, effective
const BINARY = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x0a, 0x3d]); // not UTF-8, with NUL, newline and '='
const LONG = `deep/${'directory-level/'.repeat(12)}${'a-very-long-file-name-'.repeat(5)}end.txt`;
const UNICODE = 'ünïcødé/日本語の名前 😀.txt';

const lower: Entry[] = [
  { type: 'dir', name: 'etc' },
  { type: 'file', name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
  { type: 'file', name: 'etc/gone.txt', content: 'deleted by the upper layer\n' },
  { type: 'dir', name: 'opq' },
  { type: 'file', name: 'opq/lower.txt', content: 'hidden by the opaque upper directory\n' },
  { type: 'dir', name: 'opq/sub' },
  { type: 'file', name: 'opq/sub/deeper.txt', content: 'also hidden\n' },
  { type: 'dir', name: 'bin' },
  { type: 'file', name: 'bin/su', content: '#!/bin/sh\necho su\n', mode: 0o4755 },
  { type: 'file', name: 'bin/wall', content: 'wall', mode: 0o2755, gid: 5 },
  { type: 'dir', name: 'home' },
  { type: 'dir', name: 'home/user', mode: 0o750, uid: 1000, gid: 1000 },
  { type: 'file', name: 'home/user/secret', content: 'mine', mode: 0o600, uid: 1000, gid: 1000, mtime: 1_600_000_000 },
  { type: 'dir', name: 'tmp', mode: 0o1777 },
];
const upper: Entry[] = [
  { type: 'dir', name: 'etc' },
  { type: 'file', name: 'etc/.wh.gone.txt' },
  { type: 'dir', name: 'opq' },
  { type: 'file', name: 'opq/.wh..wh..opq' },
  { type: 'file', name: 'opq/upper.txt', content: 'only me\n' },
  { type: 'dir', name: 'app' },
  { type: 'file', name: 'app/a', content: 'linked content\n', mode: 0o640 },
  { type: 'hardlink', name: 'app/b', target: 'app/a' },
  { type: 'symlink', name: 'app/passwd', target: '/etc/passwd' },
  { type: 'symlink', name: 'app/rel', target: '../etc/passwd' },
  { type: 'dir', name: 'dev' },
  { type: 'char', name: 'dev/null', major: 1, minor: 3, mode: 0o666 },
  { type: 'block', name: 'dev/loop9', major: 7, minor: 9, mode: 0o660 },
  { type: 'fifo', name: 'app/fifo', mode: 0o620 },
  { type: 'file', name: 'app/ping', content: 'ping', mode: 0o755, xattrs: { 'security.capability': CAP, 'user.binary': BINARY } },
  { type: 'dir', name: 'app/tagged', xattrs: { 'user.dir': 'directory attribute' } },
  { type: 'file', name: LONG, content: 'long name\n' },
  { type: 'file', name: UNICODE, content: 'unicode\n' },
];

let registry: StevedoreProcess;

beforeAll(async () => {
  registry = await startStevedore();
});
afterAll(async () => {
  await registry?.stop();
});

async function pullAndMount(image: ReturnType<typeof testImage>, repo: string) {
  await pushImage(registry.host, repo, 'v1', image);
  const root = await tempDir('stevedore-root-');
  const ref = `${registry.host}/${repo}:v1`;
  const r = await stevedore(['--root', root, 'pull', ref]);
  expect(r.stderr + r.stdout).toContain(`Pulled ${ref}`);
  expect(r.code).toBe(0);
  return { root, mounted: await mountOverlay(await inspectLayers(root, ref)) };
}

describe('unpacked layers seen through overlayfs', () => {
  it('apply whiteouts, opaque directories, links, devices, ownership, modes, times, xattrs and long and unicode names', async () => {
    const { mounted } = await pullAndMount(testImage([lower, upper]), 'rules/all');
    const m = mounted.dir;
    try {
      await expect(stat(join(m, 'etc/gone.txt'))).rejects.toThrow(/ENOENT/);
      expect(await readFile(join(m, 'etc/passwd'), 'utf8')).toContain('root:x:0:0');

      await expect(stat(join(m, 'opq/lower.txt'))).rejects.toThrow(/ENOENT/);
      await expect(stat(join(m, 'opq/sub'))).rejects.toThrow(/ENOENT/);
      expect(await readFile(join(m, 'opq/upper.txt'), 'utf8')).toBe('only me\n');

      const [a, b] = await Promise.all([stat(join(m, 'app/a')), stat(join(m, 'app/b'))]);
      expect(b.ino).toBe(a.ino);
      expect(a.nlink).toBe(2);
      expect(await readFile(join(m, 'app/b'), 'utf8')).toBe('linked content\n');

      expect(await readlink(join(m, 'app/passwd'))).toBe('/etc/passwd');
      expect(await readlink(join(m, 'app/rel'))).toBe('../etc/passwd');

      const su = await stat(join(m, 'bin/su'));
      expect(su.mode & 0o7777).toBe(0o4755);
      const wall = await stat(join(m, 'bin/wall'));
      expect(wall.mode & 0o7777).toBe(0o2755);
      expect(wall.gid).toBe(5);
      expect((await stat(join(m, 'tmp'))).mode & 0o7777).toBe(0o1777);

      const home = await stat(join(m, 'home/user'));
      expect([home.uid, home.gid, home.mode & 0o7777]).toEqual([1000, 1000, 0o750]);
      const secret = await stat(join(m, 'home/user/secret'));
      expect([secret.uid, secret.gid, secret.mode & 0o7777]).toEqual([1000, 1000, 0o600]);
      expect(Math.floor(secret.mtimeMs / 1000)).toBe(1_600_000_000);
      expect(Math.floor((await stat(join(m, 'etc/passwd'))).mtimeMs / 1000)).toBe(1_700_000_000);

      const dnull = await lstat(join(m, 'dev/null'));
      expect(dnull.isCharacterDevice()).toBe(true);
      expect([dnull.rdev >> 8, dnull.rdev & 0xff, dnull.mode & 0o7777]).toEqual([1, 3, 0o666]);
      const loop = await lstat(join(m, 'dev/loop9'));
      expect(loop.isBlockDevice()).toBe(true);
      expect([loop.rdev >> 8, loop.rdev & 0xff]).toEqual([7, 9]);
      const fifo = await lstat(join(m, 'app/fifo'));
      expect(fifo.isFIFO()).toBe(true);
      expect(fifo.mode & 0o7777).toBe(0o620);

      expect((await getXattr(join(m, 'app/ping'), 'security.capability'))?.toString('hex')).toBe(CAP.toString('hex'));
      expect((await getXattr(join(m, 'app/ping'), 'user.binary'))?.toString('hex')).toBe(BINARY.toString('hex'));
      expect((await getXattr(join(m, 'app/tagged'), 'user.dir'))?.toString()).toBe('directory attribute');

      expect(await readFile(join(m, LONG), 'utf8')).toBe('long name\n');
      expect(await readFile(join(m, UNICODE), 'utf8')).toBe('unicode\n');
    } finally {
      await mounted.unmount();
    }
  });

  it('keep the owner and mode of a lower directory an upper layer writes into without listing it', async () => {
    const image = testImage([
      [
        { type: 'dir', name: 'opt', mode: 0o750, uid: 1000, gid: 1001 },
        { type: 'dir', name: 'opt/app', mode: 0o700, uid: 1000, gid: 1001 },
      ],
      [{ type: 'file', name: 'opt/app/new.txt', content: 'added\n' }],
    ]);
    const { mounted } = await pullAndMount(image, 'rules/implicit');
    try {
      for (const [dir, mode] of [
        ['opt', 0o750],
        ['opt/app', 0o700],
      ] as const) {
        const st = await stat(join(mounted.dir, dir));
        expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 1001, mode]);
      }
      expect(await readFile(join(mounted.dir, 'opt/app/new.txt'), 'utf8')).toBe('added\n');
    } finally {
      await mounted.unmount();
    }
  });

  it('give the same tree from gzip, zstd and uncompressed layers', async () => {
    const trees: Record<string, string[]> = {};
    for (const compression of ['gzip', 'zstd', 'none'] as Compression[]) {
      const image = testImage([lower, upper], { compression });
      expect(image.layers[0]!.descriptor.mediaType).toMatch(compression === 'none' ? /tar$/ : new RegExp(`tar\\+${compression}$`));
      const { mounted } = await pullAndMount(image, `rules/${compression}`);
      try {
        trees[compression] = await describeTree(mounted.dir);
      } finally {
        await mounted.unmount();
      }
    }
    expect(trees.gzip!.length).toBeGreaterThan(20);
    expect(trees.gzip!.some((l) => l.startsWith('app/ping ') && l.includes('security.capability'))).toBe(true);
    expect(trees.zstd).toEqual(trees.gzip);
    expect(trees.none).toEqual(trees.gzip);
  });
});
