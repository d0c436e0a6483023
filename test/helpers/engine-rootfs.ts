// Unpacked busybox images for the container tests, built from Debian's busybox-static (one static
// binary, so it runs in any rootfs), split into three layer directories in overlayfs form so the
// overlay mount is exercised: a file of the bottom layer is replaced by the middle one, another is
// deleted by a whiteout (a 0/0 character device) in the top one.
//
// The images are described in a JSON file of LocalImages (STEVEDORE_TEST_IMAGES) for the CLI,
// until the engine's image store provides the real ones.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../../oci/index.js';
import type { ImageConfigFile, LocalImage } from '../../engine/local-image.js';

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

function digestOf(text: string): Digest {
  return `sha256:${createHash('sha256').update(text).digest('hex')}` as Digest;
}

async function file(path: string, content: string, mode = 0o644): Promise<void> {
  await writeFile(path, content);
  await chmod(path, mode);
}

/** Writes the three layer directories under dir; returns them lowest first. */
export async function buildBusyboxLayers(dir: string): Promise<string[]> {
  // Named like the image store's snapshots could be (a ':'), and with a ',': both must be escaped in overlay options.
  const [base, etc, top] = ['sha256:layer0-busybox', 'layer1,etc', 'layer2-top'].map((n) => join(dir, n)) as [string, string, string];
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
  // Top: an overlayfs whiteout deleting a lower file, and a data directory.
  await mkdir(join(top, 'etc'), { recursive: true });
  execFileSync('mknod', [join(top, 'etc', 'deleted-by-whiteout'), 'c', '0', '0']);
  await mkdir(join(top, 'data'), { recursive: true });
  await file(join(top, 'data', 'hello.txt'), 'hello from the image\n');
  return [base, etc, top];
}

export function localImage(reference: string, layerDirs: string[], config: ImageConfigFile['config']): LocalImage {
  const cfg: ImageConfigFile = { architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: layerDirs.map((d) => digestOf(d)) } };
  const configDigest = digestOf(JSON.stringify(cfg));
  return { reference, manifestDigest: digestOf(`manifest ${configDigest}`), configDigest, config: cfg, layerDirs };
}

export const TEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The test images: plain busybox (Cmd sh), and one with an Entrypoint, Cmd, WorkingDir, Env and User. */
export async function writeTestImages(dir: string): Promise<{ file: string; images: Record<string, LocalImage> }> {
  const layers = await buildBusyboxLayers(dir);
  const images: Record<string, LocalImage> = {
    'busybox:test': localImage('localhost/busybox:test', layers, { Env: [`PATH=${TEST_PATH}`], Cmd: ['sh'] }),
    'app:test': localImage('localhost/app:test', layers, {
      Env: [`PATH=${TEST_PATH}`, 'GREETING=from-image', 'OVERRIDE=image'],
      Entrypoint: ['echo', 'entrypoint'],
      Cmd: ['default', 'cmd'],
      WorkingDir: '/data',
      User: 'bob',
      StopSignal: 'SIGUSR1',
    }),
    'nopath:test': localImage('localhost/nopath:test', layers, { Cmd: ['sh', '-c', 'echo $PATH'] }),
  };
  const file = join(dir, 'images.json');
  await writeFile(file, JSON.stringify(images, null, 2));
  return { file, images };
}
