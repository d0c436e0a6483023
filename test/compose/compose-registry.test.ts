// `stevedore compose build`, `push` and `pull` against a real Stevedore registry on loopback: the
// built image is pushed under its `image` name with the local digest (checked with skopeo, as
// another client would), removed here, and pulled back by a file that only names it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';
import { skopeoInspect } from '../helpers/skopeo.js';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';

let e: EngineEnv;
let registry: StevedoreProcess;

beforeAll(async () => {
  e = await engineEnv();
  const dataDir = join(e.dir, 'registry-data');
  await mkdir(dataDir);
  registry = await startStevedore({ dataDir });
}, 180_000);

afterAll(async () => {
  try {
    await registry?.stop();
  } finally {
    await e?.close();
  }
});

describe('compose build, push and pull', () => {
  it('pushes what it built under the image name and pulls it back for a file that only names it', async () => {
    const dir = join(e.dir, 'ship');
    await mkdir(join(dir, 'app'), { recursive: true });
    await writeFile(join(dir, 'app', 'Dockerfile'), 'FROM busybox:test\nRUN echo shipped > /etc/shipped\nARG FLAVOUR\nLABEL flavour=$FLAVOUR\n');
    const name = `${registry.host}/ship/app:1`;
    await writeFile(join(dir, 'compose.yaml'), `services:\n  app:\n    image: ${name}\n    build: { context: ./app, args: { FLAVOUR: salty } }\n`);
    await writeFile(join(dir, 'pull.yaml'), `services:\n  app:\n    image: ${name}\n`);
    const compose = (file: string, args: string[]) => e.stevedore(['compose', '-p', 'ship', '-f', join(dir, file), ...args], { timeoutMs: 300_000 });

    const built = await compose('compose.yaml', ['build']);
    expect(built.code, built.stderr).toBe(0);
    const local = await e.imageDigest(name);
    expect(await e.ok(['inspect', name])).toMatch(/"flavour": ?"salty"/);

    const pushed = await compose('compose.yaml', ['push']);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect((await skopeoInspect(`docker://${name}`)).Digest).toBe(local);

    await e.ok(['rmi', name]);
    expect(await e.ok(['images'])).not.toContain('ship/app');
    const pulled = await compose('pull.yaml', ['pull']);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(await e.imageDigest(name)).toBe(local);
    // The pulled image runs: a one-off container prints the file the build wrote.
    const run = await compose('pull.yaml', ['run', '--rm', '-T', 'app', 'cat', '/etc/shipped']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('shipped\n');
    await e.ok(['compose', '-p', 'ship', '-f', join(dir, 'pull.yaml'), 'down']);
    expect(await e.ok(['ps', '-a', '-q'])).toBe('');
  }, 600_000);
});
