// `commit` (a container's changes as a new layer on its image, whiteouts included) and `import`
// (a rootfs tar as a one-layer image), then `run` of the new image shows what was changed, as a
// docker user checks it. Real runc and overlayfs, as root.
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';
import { CLI } from '../helpers/stevedore-process.js';

let e: EngineEnv;

beforeAll(async () => {
  e = await engineEnv();
});

afterEach(async () => {
  await e?.reset();
});

afterAll(async () => {
  await e?.close();
});

describe('commit', () => {
  it('a stopped container\'s added, changed and deleted files, with --change and -m, show in a run of the new image', async () => {
    await e.ok(['run', '--name', 'work', 'busybox:test', 'sh', '-c', 'echo hello > /greeting && mkdir -p /data/sub && echo changed > /data/hello.txt && rm /etc/layer-marker && chmod 600 /greeting']);
    const id = (await e.ok(['commit', '-m', 'add a greeting', '--change', 'ENV WHO=world', '--change', 'CMD ["sh", "-c", "echo $WHO; cat /greeting /data/hello.txt; ls /etc/layer-marker || echo gone"]', 'work', 'mine:1'])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const out = await e.stevedore(['run', '--rm', 'mine:1']);
    expect(out).toMatchObject({ code: 0, stdout: 'world\nhello\nchanged\ngone\n' });
    expect(out.stderr).toMatch(/layer-marker/);
    expect(await e.ok(['run', '--rm', 'mine:1', 'stat', '-c', '%a', '/greeting'])).toBe('600\n');

    // A directory removed and made again hides what the image had in it (an opaque directory).
    await e.ok(['run', '--name', 'opaque', 'mine:1', 'sh', '-c', 'rm -rf /data && mkdir /data && echo new > /data/only']);
    await e.ok(['commit', 'opaque', 'mine:2']);
    expect(await e.ok(['run', '--rm', 'mine:2', 'ls', '/data'])).toBe('only\n');
    // The image it was made from is untouched.
    expect(await e.ok(['run', '--rm', 'busybox:test', 'cat', '/data/hello.txt'])).toBe('hello from the image\n');
    const history = await e.ok(['history', '--no-trunc', 'mine:1']);
    expect(history).toMatch(/add a greeting/);
  });

  it('a running container is committed as it is (paused meanwhile, running after)', async () => {
    await e.ok(['run', '-d', '--name', 'live', 'busybox:test', 'sh', '-c', 'echo live > /state; while true; do sleep 0.1; done']);
    await e.waitRunning('live');
    await e.waitFor('the file to be written', async () => (await e.stevedore(['exec', 'live', 'cat', '/state'])).stdout === 'live\n');
    await e.ok(['commit', 'live', 'snap:1']);
    expect((await e.ok(['ps', '--filter', 'name=live', '--format', '{{.State}}'])).trim()).toBe('running');
    expect(await e.ok(['run', '--rm', 'snap:1', 'cat', '/state'])).toBe('live\n');
  });

  it('names what is wrong in one line', async () => {
    const missing = await e.stevedore(['commit', 'nosuch', 'x:1']);
    expect(missing).toMatchObject({ code: 1, stderr: 'stevedore: no such container: nosuch\n' });
    await e.ok(['create', '--name', 'c', 'busybox:test', 'true']);
    const bad = await e.stevedore(['commit', '--change', 'RUN echo', 'c', 'x:1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^stevedore: --change "RUN echo": RUN cannot be changed .*\n$/);
  });
});

describe('import', () => {
  it('a rootfs tar (file, or gzip on stdin) with --change CMD and ENV runs as an image', async () => {
    await e.ok(['create', '--name', 'src', 'busybox:test', 'true']);
    const tar = join(e.dir, 'rootfs.tar');
    await e.ok(['export', '-o', tar, 'src']);
    const id = (await e.ok(['import', '--change', 'ENV GREETING=imported', '--change', `ENV PATH=/bin`, '--change', 'CMD ["sh", "-c", "echo $GREETING; cat /data/hello.txt"]', '-m', 'from a tar', tar, 'imp:1'])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await e.ok(['run', '--rm', 'imp:1'])).toBe('imported\nhello from the image\n');
    const inspect = JSON.parse(await e.ok(['inspect', 'imp:1']))[0];
    expect(inspect).toMatchObject({ Config: { Env: ['GREETING=imported', 'PATH=/bin'] }, RootFS: { Layers: [expect.any(String)] } });
    expect(await e.ok(['history', '--no-trunc', 'imp:1'])).toMatch(/from a tar/);

    const viaStdin = spawnSync(process.execPath, [CLI, 'import', '--change', 'CMD ["/bin/cat", "/data/hello.txt"]', '-', 'imp:gz'], { env: e.env, input: gzipSync(await readFile(tar)), encoding: 'utf8' });
    expect(viaStdin.status, viaStdin.stderr).toBe(0);
    expect(await e.ok(['run', '--rm', 'imp:gz'])).toBe('hello from the image\n');

    const empty = spawnSync(process.execPath, [CLI, 'import', '-', 'nothing:1'], { env: e.env, input: '', encoding: 'utf8' });
    expect(empty.status).toBe(1);
    expect(empty.stderr).toBe('stevedore: stdin is empty: import needs a tar of a root filesystem\n');
    const nofile = await e.stevedore(['import', join(e.dir, 'missing.tar')]);
    expect(nofile).toMatchObject({ code: 1, stderr: `stevedore: ${join(e.dir, 'missing.tar')}: no such file\n` });
  });
});
