// Volumes as a docker user meets them: named volumes made on first use and filled from the image,
// data that outlives the container, binds read-only, anonymous volumes for an image's VOLUME,
// --mount, --tmpfs, --volumes-from, rm -v, and a volume in use that cannot be removed. Real runc
// and overlayfs, as root.
import { execFileSync } from 'node:child_process';
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

describe('the local driver\'s options (volume create -o, --mount volume-opt)', () => {
  interface Inspected {
    Name: string;
    Options: Record<string, string> | null;
    Mountpoint: string;
  }
  const inspectVolume = async (name: string) => (JSON.parse(await e.ok(['volume', 'inspect', name])) as Inspected[])[0]!;
  const dataMounts = async () => (await e.mountsUnderRoot()).filter((m) => m.endsWith('/_data'));

  it('a tmpfs volume: its size inside, shared by the containers using it, gone with the last of them', async () => {
    expect(await e.ok(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '--opt', 'o=size=64m', 'tv'])).toBe('tv\n');
    expect(await inspectVolume('tv')).toMatchObject({ Name: 'tv', Options: { type: 'tmpfs', device: 'tmpfs', o: 'size=64m' } });
    await e.ok(['run', '-d', '--name', 'holder', '-v', 'tv:/t', 'busybox:test', 'sh', '-c', 'echo shared > /t/f; while true; do sleep 0.1; done']);
    await e.waitRunning('holder');
    expect(await e.ok(['run', '--rm', '-v', 'tv:/t', 'busybox:test', 'sh', '-c', 'grep " /t " /proc/mounts; df -k /t | tail -1; cat /t/f'])).toMatch(
      /^tmpfs \/t tmpfs rw,.*size=65536k.*\ntmpfs\s+65536\s+.*\nshared\n$/,
    );
    expect(await dataMounts()).toEqual([join(e.root, 'volumes', 'tv', '_data')]);
    await e.ok(['rm', '-f', 'holder']);
    // No container uses it: unmounted, its content gone (docker's local driver does the same).
    expect(await dataMounts()).toEqual([]);
    expect(await e.ok(['run', '--rm', '-v', 'tv:/t', 'busybox:test', 'ls', '-A', '/t'])).toBe('');
    // --mount's volume-opt makes a volume with options the same way.
    await e.ok(['run', '--rm', '--mount', 'type=volume,src=tv2,dst=/t,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"volume-opt=o=size=32m,mode=770"', 'busybox:test', 'sh', '-c', 'grep " /t " /proc/mounts']);
    expect(await inspectVolume('tv2')).toMatchObject({ Options: { type: 'tmpfs', device: 'tmpfs', o: 'size=32m,mode=770' } });
    expect(await e.ok(['run', '--rm', '-v', 'tv2:/t', 'busybox:test', 'sh', '-c', 'grep " /t " /proc/mounts; stat -c %a /t'])).toMatch(/^tmpfs \/t tmpfs rw,.*size=32768k,mode=770.*\n770\n$/);
    expect(await e.ok(['volume', 'rm', 'tv', 'tv2'])).toBe('tv\ntv2\n');
    expect(await dataMounts()).toEqual([]);
  });

  it('a host directory under a volume\'s name (type=none,o=bind): written through, never lost by volume rm', async () => {
    const host = join(e.dir, 'bound');
    await mkdir(host);
    await writeFile(join(host, 'before.txt'), 'host file\n');
    await e.ok(['volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${host}`, 'bv']);
    expect((await inspectVolume('bv')).Options).toEqual({ type: 'none', o: 'bind', device: host });
    expect(await e.ok(['run', '--rm', '-v', 'bv:/b', 'busybox:test', 'sh', '-c', 'cat /b/before.txt; echo from-container > /b/after.txt'])).toBe('host file\n');
    expect(await readFile(join(host, 'after.txt'), 'utf8')).toBe('from-container\n');
    expect(await dataMounts()).toEqual([]);
    // What a crash (power cut, a killed monitor) can leave: the host directory still bound at _data.
    execFileSync('mount', ['--bind', host, (await inspectVolume('bv')).Mountpoint]);
    expect(await dataMounts()).toHaveLength(1);
    expect(await e.ok(['volume', 'rm', 'bv'])).toBe('bv\n');
    // Removing the volume removes its record and mount point, never the host's files.
    expect(await dataMounts()).toEqual([]);
    expect(await readFile(join(host, 'before.txt'), 'utf8')).toBe('host file\n');
    expect(await readFile(join(host, 'after.txt'), 'utf8')).toBe('from-container\n');

    // A device that does not exist: the run fails with one line, as docker's does.
    await e.ok(['volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${host}/nope`, 'gone']);
    const r = await e.stevedore(['run', '--rm', '-v', 'gone:/b', 'busybox:test', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^stevedore: error while mounting volume gone: [^\n]*nope[^\n]*\n$/);
    expect(await e.containerDirs()).toEqual([]);
    await e.ok(['volume', 'rm', 'gone']);
  });

  it('options docker refuses are refused with docker\'s words, one line', async () => {
    const bogus = await e.stevedore(['volume', 'create', '-o', 'bogus=1', 'bad']);
    expect(bogus).toMatchObject({ code: 1, stderr: expect.stringMatching(/^stevedore: invalid option: "bogus"[^\n]*\n$/) });
    const partial = await e.stevedore(['volume', 'create', '-o', 'type=tmpfs', 'bad']);
    expect(partial).toMatchObject({ code: 1, stderr: 'stevedore: missing required option: "device"\n' });
    const mount = await e.stevedore(['run', '--rm', '--mount', 'type=volume,src=bad,dst=/x,volume-opt=type=tmpfs', 'busybox:test', 'true']);
    expect(mount.code).toBe(125);
    expect(mount.stderr).toMatch(/^stevedore: invalid --mount [^\n]*missing required option: "device"\n$/);
    expect(await volumes()).toEqual([]);
  });
});
