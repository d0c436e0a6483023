// Busybox images for the container tests, built from Debian's busybox-static (one static binary,
// so it runs in any rootfs) as real images: three layer tars in a docker-archive that the tests
// `stevedore load` into their engine root. The layers exercise the overlay mount: a file of the
// bottom layer is replaced by the middle one, another is deleted by a whiteout (`.wh.NAME`, the OCI
// tar form, which unpacking turns into overlayfs's 0/0 character device) in the top one.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ImageConfigFile } from '../../engine/local-image.js';

export const BUSYBOX = '/usr/bin/busybox';

export const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/bin/false',
  'alice:x:1000:1000:Alice:/home/alice:/bin/sh',
  'bob:x:1001:1001:Bob:/home/bob:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');

export const GROUP = [
  'root:x:0:',
  'daemon:x:1:',
  'wheel:x:10:alice',
  'audio:x:29:alice,bob',
  'staff:x:50:bob',
  'alice:x:1000:',
  'bob:x:1001:',
  'nogroup:x:65534:',
  '',
].join('\n');

async function file(path: string, content: string, mode = 0o644): Promise<void> {
  await writeFile(path, content);
  await chmod(path, mode);
}

/** Writes the three layer directories under dir; returns them lowest first. */
export async function buildBusyboxLayers(dir: string): Promise<string[]> {
  const [base, etc, top] = ['layer0-busybox', 'layer1-etc', 'layer2-top'].map((n) => join(dir, n)) as [string, string, string];
  // Bottom: busybox and its applets, the usual directories, a file to replace and one to delete.
  for (const d of ['bin', 'etc', 'root', 'home', 'tmp', 'proc', 'sys', 'dev', 'usr/bin', 'var']) await mkdir(join(base, d), { recursive: true });
  await chmod(join(base, 'tmp'), 0o1777);
  await chmod(join(base, 'root'), 0o700);
  await copyFile(BUSYBOX, join(base, 'bin', 'busybox'));
  await chmod(join(base, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  await Promise.all(applets.map((a) => symlink('busybox', join(base, 'bin', a))));
  await file(join(base, 'etc', 'layer-marker'), 'from layer 0\n');
  await file(join(base, 'etc', 'deleted-by-whiteout'), 'you should not see this\n');
  // Middle: users and groups, their homes, and a replacement for the marker.
  await mkdir(join(etc, 'etc'), { recursive: true });
  await file(join(etc, 'etc', 'passwd'), PASSWD);
  await file(join(etc, 'etc', 'group'), GROUP);
  await file(join(etc, 'etc', 'layer-marker'), 'from layer 1\n');
  for (const [home, id] of [['alice', 1000], ['bob', 1001]] as const) {
    await mkdir(join(etc, 'home', home), { recursive: true });
    execFileSync('chown', [`${id}:${id}`, join(etc, 'home', home)]);
  }
  // Top: a whiteout (the tar form of image-spec layer.md) deleting a lower file, and a data directory.
  await mkdir(join(top, 'etc'), { recursive: true });
  await file(join(top, 'etc', '.wh.deleted-by-whiteout'), '');
  await mkdir(join(top, 'data'), { recursive: true });
  await file(join(top, 'data', 'hello.txt'), 'hello from the image\n');
  return [base, etc, top];
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

export interface ArchiveImage {
  /** The name `docker save` would record (`busybox:test`). */
  tag: string;
  config: ImageConfigFile['config'];
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };

/**
 * Writes a docker-archive (`docker save` layout: manifest.json, `<hex>.json` configs, `<hex>.tar`
 * uncompressed layers made by GNU tar from the directories, numeric owners kept) holding these
 * images, all made of the same layers.
 */
export async function writeDockerArchive(out: string, layerDirs: string[], images: ArchiveImage[]): Promise<void> {
  const staging = await mkdtemp(`${out}.staging-`);
  try {
    const layers: string[] = [];
    const diffIds: string[] = [];
    for (const [i, dir] of layerDirs.entries()) {
      const tmp = join(staging, `layer-${i}.tar`);
      execFileSync('tar', ['--numeric-owner', '--xattrs', '-C', dir, '-cf', tmp, '.']);
      const hex = await sha256File(tmp);
      execFileSync('mv', [tmp, join(staging, `${hex}.tar`)]);
      layers.push(`${hex}.tar`);
      diffIds.push(`sha256:${hex}`);
    }
    const manifest = [];
    for (const img of images) {
      const config = JSON.stringify({
        created: '2024-01-01T00:00:00Z',
        architecture: ARCH[process.arch] ?? process.arch,
        os: 'linux',
        config: img.config,
        rootfs: { type: 'layers', diff_ids: diffIds },
      });
      const hex = createHash('sha256').update(config).digest('hex');
      await writeFile(join(staging, `${hex}.json`), config);
      manifest.push({ Config: `${hex}.json`, RepoTags: [img.tag], Layers: layers });
    }
    await writeFile(join(staging, 'manifest.json'), JSON.stringify(manifest));
    const members = ['manifest.json', ...new Set(manifest.map((m) => m.Config)), ...new Set(layers)];
    execFileSync('tar', ['-C', staging, '-cf', out, ...members]);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

export const TEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The test images: plain busybox (Cmd sh), one with an Entrypoint, Cmd, WorkingDir, Env, User and StopSignal, one without PATH. */
export const TEST_IMAGES: ArchiveImage[] = [
  { tag: 'busybox:test', config: { Env: [`PATH=${TEST_PATH}`], Cmd: ['sh'] } },
  {
    tag: 'app:test',
    config: {
      Env: [`PATH=${TEST_PATH}`, 'GREETING=from-image', 'OVERRIDE=image'],
      Entrypoint: ['echo', 'entrypoint'],
      Cmd: ['default', 'cmd'],
      WorkingDir: '/data',
      User: 'bob',
      StopSignal: 'SIGUSR1',
    },
  },
  { tag: 'nopath:test', config: { Cmd: ['sh', '-c', 'echo $PATH'] } },
];

/** Builds the busybox layers under dir and the test images' docker-archive; returns the archive's path and the layer directories. */
export async function writeTestArchive(dir: string): Promise<{ archive: string; layerDirs: string[] }> {
  await mkdir(dir, { recursive: true });
  const layerDirs = await buildBusyboxLayers(join(dir, 'layers'));
  const archive = join(dir, 'test-images.tar');
  await writeDockerArchive(archive, layerDirs, TEST_IMAGES);
  return { archive, layerDirs };
}
