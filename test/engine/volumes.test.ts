// Volumes as a docker user meets them: named volumes made on first use and filled from the image,
// data that outlives the container, binds read-only, anonymous volumes for an image's VOLUME,
// --mount, --tmpfs, --volumes-from, rm -v, and a volume in use that cannot be removed. Real runc
// and overlayfs, as root.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';
import { buildBusyboxLayers, TEST_PATH, writeDockerArchive } from '../helpers/engine-rootfs.js';

let e: EngineEnv;

beforeAll(async () => {
  e = await engineEnv();
  // An image with a VOLUME at /data (where the busybox layers have hello.txt).
  const dir = join(e.dir, 'vol-image');
  await mkdir(dir);
  const layers = await buildBusyboxLayers(dir);
  await writeDockerArchive(join(dir, 'vol.tar'), layers, [{ tag: 'vol:test', config: { Env: [`PATH=${TEST_PATH}`], Cmd: ['sh'], Volumes: { '/data': {} } } }]);
  await e.ok(['load', '-q', '-i', join(dir, 'vol.tar')]);
});

afterEach(async () => {
  await e?.reset();
});

afterAll(async () => {
  await e?.close();
});

interface Volume {
  name: string;
  anonymous: boolean;
  inUseBy: string[];
  labels: Record<string, string>;
}
const volumes = async () => JSON.parse(await e.ok(['volume', 'ls', '--json'])) as Volume[];

describe('named volumes', () => {
  it('made on first use, filled from the image, data survives rm and is seen by the next container', async () => {
    const first = await e.stevedore(['run', '--name', 'writer', '-v', 'appdata:/data', 'busybox:test', 'sh', '-c', 'cat /data/hello.txt; echo kept > /data/new.txt']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('hello from the image\n');
    expect((await volumes()).map((v) => [v.name, v.anonymous, v.inUseBy])).toEqual([['appdata', false, ['writer']]]);
    // In use (by a stopped container): refused, one line.
    const refused = await e.stevedore(['volume', 'rm', 'appdata']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('stevedore: volume appdata is in use by container writer: remove the container first\n');
    await e.ok(['rm', '-v', 'writer']);
    // rm -v keeps named volumes.
    expect(await e.ok(['run', '--rm', '-v', 'appdata:/data', 'busybox:test', 'sh', '-c', 'cat /data/new.txt /data/hello.txt'])).toBe('kept\nhello from the image\n');
    // Mountpoint under the engine root.
    const [info] = JSON.parse(await e.ok(['volume', 'inspect', 'appdata'])) as { Mountpoint: string }[];
    expect(info!.Mountpoint).toBe(join(e.root, 'volumes', 'appdata', '_data'));
    expect(await readFile(join(info!.Mountpoint, 'new.txt'), 'utf8')).toBe('kept\n');
    expect(await e.ok(['volume', 'rm', 'appdata'])).toBe('appdata\n');
    expect(await volumes()).toEqual([]);
  });

  it('volume create with labels, ls --filter, read-only mount, prune -a', async () => {
    expect(await e.ok(['volume', 'create', '--label', 'team=db', 'dbdata'])).toBe('dbdata\n');
    expect((await volumes()).map((v) => v.labels)).toEqual([{ team: 'db' }]);
    expect(await e.ok(['volume', 'ls', '-q', '--filter', 'label=team=db'])).toBe('dbdata\n');
    expect(await e.ok(['volume', 'ls', '-q', '--filter', 'label=team=web'])).toBe('');
    const ro = await e.stevedore(['run', '--rm', '-v', 'dbdata:/db:ro', 'busybox:test', 'sh', '-c', 'touch /db/x']);
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
    // A volume already holding data is not filled again; an empty one is (docker's rule).
    expect(await e.ok(['run', '--rm', '-v', 'dbdata:/data', 'busybox:test', 'ls', '/data'])).toBe('hello.txt\n');
    expect(await e.ok(['volume', 'prune', '-f'])).toBe('');
    expect(await e.ok(['volume', 'prune', '-a', '-f'])).toBe('dbdata\n');
  });
});

describe('anonymous volumes, binds, --mount, --tmpfs, --volumes-from', () => {
  it('an image VOLUME gets an anonymous volume with the image content; rm -v removes it', async () => {
    await e.ok(['run', '--name', 'anon', 'vol:test', 'sh', '-c', 'cat /data/hello.txt > /data/copy.txt']);
    const [v] = await volumes();
    expect(v).toMatchObject({ anonymous: true, inUseBy: ['anon'] });
    expect(v!.name).toMatch(/^[0-9a-f]{64}$/);
    expect(await readFile(join(e.root, 'volumes', v!.name, '_data', 'copy.txt'), 'utf8')).toBe('hello from the image\n');
    // --volumes-from: the other container's volumes at the same paths.
    expect(await e.ok(['run', '--rm', '--volumes-from', 'anon:ro', 'busybox:test', 'sh', '-c', 'cat /data/copy.txt; touch /data/y 2>&1 | grep -c Read-only'])).toBe('hello from the image\n1\n');
    await e.ok(['rm', '-v', 'anon']);
    expect(await volumes()).toEqual([]);
  });

  it('run --rm removes its anonymous volumes too', async () => {
    await e.ok(['run', '--rm', 'vol:test', 'true']);
    await e.ok(['run', '--rm', '-v', '/scratch', 'busybox:test', 'true']);
    expect(await volumes()).toEqual([]);
  });

  it('bind mounts: -v host:path[:ro] and --mount type=bind; a missing --mount source is one line', async () => {
    const host = join(e.dir, 'bind-src');
    await mkdir(host);
    await writeFile(join(host, 'in.txt'), 'from the host\n');
    expect(await e.ok(['run', '--rm', '-v', `${host}:/in:ro`, 'busybox:test', 'sh', '-c', 'cat /in/in.txt; touch /in/x 2>/dev/null || echo read-only'])).toBe('from the host\nread-only\n');
    await e.ok(['run', '--rm', '--mount', `type=bind,source=${host},target=/out`, 'busybox:test', 'sh', '-c', 'echo back > /out/out.txt']);
    expect(await readFile(join(host, 'out.txt'), 'utf8')).toBe('back\n');
    const missing = await e.stevedore(['run', '--rm', '--mount', `type=bind,source=${host}/nope,target=/x`, 'busybox:test', 'true']);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toBe(`stevedore: --mount: bind source path does not exist: ${host}/nope\n`);
    await expect(stat(join(host, 'nope'))).rejects.toThrow();
  });

  it('--tmpfs and --mount type=tmpfs: a tmpfs with its options', async () => {
    const out = await e.ok(['run', '--rm', '--tmpfs', '/scratch:size=1m,mode=1770', '--mount', 'type=tmpfs,target=/t2', 'busybox:test', 'sh', '-c', 'grep -E " /(scratch|t2) " /proc/mounts; stat -c %a /scratch']);
    expect(out).toMatch(/^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,.*size=1024k,mode=1770.*\ntmpfs \/t2 tmpfs rw,nosuid,nodev,noexec.*\n1770\n$/);
  });

  it('a volume name docker would refuse, and a relative container path: one line, 125', async () => {
    const bad = await e.stevedore(['run', '--rm', '-v', 'data:relative', 'busybox:test', 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toBe('stevedore: -v data:relative: the container path must be absolute\n');
  });
});
