// `stevedore run` in the foreground as a user sees it: the container's output and exit status,
// its environment, working directory, user and groups, entrypoint and command, the overlay root
// filesystem made of the image's layers. Real runc, real overlayfs, as root.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';
import { buildBusyboxLayers, TEST_IMAGES, TEST_PATH, writeDockerArchive } from '../helpers/engine-rootfs.js';
import { CLI } from '../helpers/stevedore-process.js';

let e: EngineEnv;

beforeAll(async () => {
  e = await engineEnv();
});

afterAll(async () => {
  await e?.close();
});

describe('exit status', () => {
  it('is the container\'s exit code, and its output is streamed to stdout and stderr', async () => {
    const r = await e.stevedore(['run', '--rm', 'busybox:test', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 3']);
    expect(r).toMatchObject({ code: 3, stdout: 'to-out\n', stderr: 'to-err\n' });
    expect((await e.stevedore(['run', '--rm', 'busybox:test', 'true'])).code).toBe(0);
  });

  it('is 128+signal when the container is killed by a signal', async () => {
    // The container's init ignores signals sent from inside its own pid namespace: kill it from outside.
    const run = e.spawn(['run', '--rm', '--name', 'victim', 'busybox:test', 'sleep', '1000']);
    const exited = new Promise<number | null>((resolve) => run.once('exit', (code) => resolve(code)));
    await e.waitRunning('victim');
    await e.ok(['kill', 'victim']);
    expect(await exited).toBe(137);
  });

  it('is 127 for a command that does not exist and 126 for one that cannot be executed', async () => {
    const missing = await e.stevedore(['run', '--rm', 'busybox:test', 'no-such-command']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/no-such-command.*not found/);
    expect((await e.stevedore(['run', '--rm', 'busybox:test', '/etc/passwd'])).code).toBe(126);
  });

  it('is 125 with a one-line message for the command\'s own errors', async () => {
    const r = await e.stevedore(['run', '--rm', 'no-such-image:1', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^stevedore: .*no-such-image/);
    const bad = await e.stevedore(['run', '--rm', '--memory', 'lots', 'busybox:test', 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^stevedore: invalid --memory/);
  });

  it('passes stdin with -i', async () => {
    const r = await e.stevedore(['run', '--rm', '-i', 'busybox:test', 'sh', '-c', 'tr a-z A-Z'], { input: 'shout\n' });
    expect(r).toMatchObject({ code: 0, stdout: 'SHOUT\n' });
    // Without -i the container's stdin is empty.
    expect((await e.stevedore(['run', '--rm', 'busybox:test', 'cat'], { input: 'ignored\n' })).stdout).toBe('');
  });
});

describe('terminal', () => {
  it('-t gives the container a terminal of its own (here under script(1), which provides one)', async () => {
    const r = await new Promise<{ code: number | null; out: string }>((resolve) =>
      execFile(
        'script',
        ['-qec', `${process.execPath} ${CLI} run --rm -t busybox:test sh -c 'tty; echo $TERM; exit 4'`, '/dev/null'],
        { env: e.env, timeout: 60_000 },
        (err, stdout) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: stdout }),
      ),
    );
    expect(r.out.replace(/\r/g, '')).toBe('/dev/pts/0\nxterm\n');
    expect(r.code).toBe(4);
  });

  it('-t without a terminal, and -d -i without -t, are refused', async () => {
    expect((await e.stevedore(['run', '--rm', '-t', 'busybox:test', 'true'])).stderr).toMatch(/not a TTY/);
    expect((await e.stevedore(['run', '-d', '-i', 'busybox:test', 'true'])).stderr).toMatch(/-d -i needs -t/);
  });
});

describe('root filesystem', () => {
  it('is the overlay of the image layers: upper layers replace and delete lower files', async () => {
    const out = await e.ok(['run', '--rm', 'busybox:test', 'sh', '-c', 'cat /etc/layer-marker; ls /etc/deleted-by-whiteout 2>&1; cat /data/hello.txt']);
    expect(out).toMatch(/^from layer 1\n.*deleted-by-whiteout.*No such file.*\nhello from the image\n$/s);
  });

  it('is mounted by runc itself once the image\'s files are known: nothing on the host while it runs, and cp and exec -u reach it', async () => {
    await e.ok(['run', '--rm', 'busybox:test', 'true']); // the first container of the image reads its /etc/passwd and /etc/group
    await e.ok(['run', '-d', '--name', 'own-mount', 'busybox:test', 'sleep', '1000']);
    try {
      await e.waitRunning('own-mount');
      // Nothing mounted under the engine root: a crash of stevedore leaves no mount behind.
      expect(await e.mountsUnderRoot()).toEqual([]);
      expect(await e.ok(['exec', '-u', 'alice', 'own-mount', 'id', '-un'])).toBe('alice\n');
      const file = join(e.dir, 'copied-in.txt');
      await writeFile(file, 'copied in\n');
      await e.ok(['cp', file, 'own-mount:/tmp/']);
      expect(await e.ok(['exec', 'own-mount', 'cat', '/tmp/copied-in.txt'])).toBe('copied in\n');
      await e.ok(['exec', 'own-mount', 'sh', '-c', 'echo made inside > /tmp/made-inside.txt']);
      await e.ok(['cp', 'own-mount:/tmp/made-inside.txt', e.dir]);
      expect(await readFile(join(e.dir, 'made-inside.txt'), 'utf8')).toBe('made inside\n');
    } finally {
      await e.ok(['rm', '-f', 'own-mount']);
    }
    expect(await e.mountsUnderRoot()).toEqual([]);
    expect(await e.containerDirs()).toEqual([]);
  });

  it('mounts an image of many layers with long paths (more than one page of mount options)', async () => {
    const extra: string[] = [];
    for (let i = 0; i < 60; i++) {
      const d = join(e.dir, 'many-layers', `layer-${i}`);
      await mkdir(d, { recursive: true });
      await writeFile(join(d, `file-${i}`), `${i}\n`);
      extra.push(d);
    }
    const archive = join(e.dir, 'many-layers.tar');
    const [busybox] = TEST_IMAGES;
    await writeDockerArchive(archive, [...(await buildBusyboxLayers(join(e.dir, 'many-layers-base'))), ...extra], [{ ...busybox!, tag: 'many:test' }]);
    await e.ok(['load', '-i', archive]);
    const [image] = JSON.parse(await e.ok(['inspect', 'many:test'])) as { LayerDirs: string[] }[];
    expect(image!.LayerDirs).toHaveLength(63);
    expect(image!.LayerDirs.join(':').length).toBeGreaterThan(4096);
    const out = await e.ok(['run', '--rm', 'many:test', 'sh', '-c', 'cat /file-0 /file-59 /etc/layer-marker']);
    expect(out).toBe('0\n59\nfrom layer 1\n');
  });

  it('keeps each container\'s writes to itself', async () => {
    await e.ok(['run', '--name', 'writer', 'busybox:test', 'sh', '-c', 'echo changed > /etc/layer-marker']);
    expect(await e.ok(['run', '--rm', 'busybox:test', 'cat', '/etc/layer-marker'])).toBe('from layer 1\n');
    await e.ok(['rm', 'writer']);
  });
});

describe('environment', () => {
  it('merges the image\'s Env, -e NAME=VALUE, -e NAME from the caller and --env-file', async () => {
    const envFile = join(e.dir, 'env.list');
    await writeFile(envFile, '# comment\n\nFROM_FILE=file value\nOVERRIDE=file\nFROM_CALLER_VIA_FILE\n');
    const out = await e.ok(
      ['run', '--rm', '--env-file', envFile, '-e', 'OVERRIDE=flag', '-e', 'FROM_CALLER', '-e', 'UNSET_IN_CALLER', '--entrypoint', 'env', 'app:test'],
      { env: { FROM_CALLER: 'caller value', FROM_CALLER_VIA_FILE: 'caller via file' } },
    );
    const env = Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(env).toMatchObject({
      PATH: TEST_PATH,
      GREETING: 'from-image',
      OVERRIDE: 'flag',
      FROM_FILE: 'file value',
      FROM_CALLER: 'caller value',
      FROM_CALLER_VIA_FILE: 'caller via file',
      HOME: '/home/bob',
    });
    expect(env).not.toHaveProperty('UNSET_IN_CALLER');
  });

  it('has a default PATH when the image sets none', async () => {
    expect(await e.ok(['run', '--rm', 'nopath:test'])).toBe(`${TEST_PATH}\n`);
  });

  it('sets the host name, /etc/hostname and /etc/hosts', async () => {
    const out = await e.ok(['run', '--rm', '--network', 'none', '--hostname', 'box1', 'busybox:test', 'sh', '-c', 'hostname; cat /etc/hostname; echo $HOSTNAME; grep -c box1 /etc/hosts']);
    expect(out).toBe('box1\nbox1\nbox1\n1\n');
  });
});

describe('working directory', () => {
  it('is the image\'s WorkingDir, or -w (created when missing)', async () => {
    expect(await e.ok(['run', '--rm', '--entrypoint', 'pwd', 'app:test'])).toBe('/data\n');
    expect(await e.ok(['run', '--rm', '-w', '/made/for/you', 'busybox:test', 'pwd'])).toBe('/made/for/you\n');
    const r = await e.stevedore(['run', '--rm', '-w', 'relative', 'busybox:test', 'pwd']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/absolute path/);
  });
});

describe('user', () => {
  it('by name: uid, primary group and supplementary groups from the container\'s /etc/passwd and /etc/group', async () => {
    expect(await e.ok(['run', '--rm', '-u', 'alice', 'busybox:test', 'sh', '-c', 'id; echo $HOME'])).toBe('uid=1000(alice) gid=1000(alice) groups=10(wheel),29(audio)\n/home/alice\n');
  });

  it('by user:group: exactly that group, no supplementary groups from /etc/group (docker\'s and runc\'s rule)', async () => {
    expect(await e.ok(['run', '--rm', '-u', '1001:10', 'busybox:test', 'id'])).toBe('uid=1001(bob) gid=10(wheel)\n');
    expect(await e.ok(['run', '--rm', '-u', 'alice:staff', 'busybox:test', 'id'])).toBe('uid=1000(alice) gid=50(staff)\n');
    expect(await e.ok(['run', '--rm', '-u', '1000:1000', 'busybox:test', 'id'])).toBe('uid=1000(alice) gid=1000(alice)\n');
  });

  it('by a uid the image does not know: gid 0, no groups, HOME=/', async () => {
    expect(await e.ok(['run', '--rm', '-u', '4242', 'busybox:test', 'sh', '-c', 'id; echo $HOME'])).toBe('uid=4242 gid=0(root)\n/\n');
  });

  it('from the image\'s User, overridden by -u', async () => {
    expect(await e.ok(['run', '--rm', '--entrypoint', 'id', 'app:test'])).toBe('uid=1001(bob) gid=1001(bob) groups=29(audio),50(staff)\n');
    expect(await e.ok(['run', '--rm', '-u', 'root', '--entrypoint', 'id', 'app:test', '-un'])).toBe('root\n');
  });

  it('an unknown user or group name is an error', async () => {
    const r = await e.stevedore(['run', '--rm', '-u', 'mallory', 'busybox:test', 'id']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/unable to find user mallory/);
    expect((await e.stevedore(['run', '--rm', '-u', 'alice:nosuchgroup', 'busybox:test', 'id'])).stderr).toMatch(/unable to find group nosuchgroup/);
  });
});

describe('entrypoint and command', () => {
  it('runs Entrypoint + Cmd; arguments after the image replace Cmd', async () => {
    expect(await e.ok(['run', '--rm', 'app:test'])).toBe('entrypoint default cmd\n');
    expect(await e.ok(['run', '--rm', 'app:test', 'given', '-n'])).toBe('entrypoint given -n\n');
  });

  it('--entrypoint replaces the Entrypoint and drops the image\'s Cmd', async () => {
    expect(await e.ok(['run', '--rm', '--entrypoint', 'echo', 'app:test'])).toBe('\n');
    expect(await e.ok(['run', '--rm', '--entrypoint', 'echo', 'app:test', 'only', 'these'])).toBe('only these\n');
  });

  it('an image with neither and no command is an error', async () => {
    const r = await e.stevedore(['run', '--rm', '--entrypoint', '', 'app:test']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/no command specified/);
  });
});

describe('cleanup', () => {
  it('--rm leaves no container directory and no mount, also after a failed start', async () => {
    await e.ok(['run', '--rm', 'busybox:test', 'true']);
    await e.stevedore(['run', '--rm', 'busybox:test', 'no-such-command']);
    await e.stevedore(['run', '--rm', '-u', 'mallory', 'busybox:test', 'true']);
    expect(await e.containerDirs()).toEqual([]);
    expect(await e.mountsUnderRoot()).toEqual([]);
    expect(await e.ok(['ps', '-a', '-q'])).toBe('');
  });

  it('without --rm the exited container stays, unmounted, until rm', async () => {
    await e.stevedore(['run', '--name', 'kept', 'busybox:test', 'sh', '-c', 'exit 4']);
    expect(await e.ok(['ps', '-a'])).toMatch(/Exited \(4\).*kept/);
    expect(await e.mountsUnderRoot()).toEqual([]);
    await e.ok(['rm', 'kept']);
    expect(await e.containerDirs()).toEqual([]);
  });
});
