// `stevedore push` of what the local store holds (docker's `tag` + `push`), against a real
// Stevedore registry, checked with skopeo as another client would: the same digest; `push IMAGE
// DEST` under another name; a multi-platform image keeps its index (its other platform mounted
// from the repository it was pulled from); an unknown image is one line. As root (the store).
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';
import { skopeoInspect, skopeoInspectRaw } from '../helpers/skopeo.js';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';
import { pushImage } from './engine-fixtures.js';
import { testImage, testIndex, type Entry } from './layer-fixtures.js';

let e: EngineEnv;
let registry: StevedoreProcess;

beforeAll(async () => {
  e = await engineEnv();
  // The registry's data inside the engine env's directory: removed with it.
  const dataDir = join(e.dir, 'registry-data');
  await mkdir(dataDir);
  registry = await startStevedore({ dataDir });
});

afterAll(async () => {
  try {
    await registry?.stop();
  } finally {
    await e?.close();
  }
});

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('push of a local image', () => {
  it('tag then push: skopeo sees the image under that name with the local digest', async () => {
    const local = await e.imageDigest('busybox:test');
    const name = `${registry.host}/team/busybox:1`;
    await e.ok(['tag', 'busybox:test', name]);
    const r = await e.stevedore(['push', name]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`Pushed ${name}@${local} (4 blobs copied, ${r.stdout.match(/copied, ([^;]+);/)![1]}; 0 already present; 0 mounted)\n`);
    expect((await skopeoInspect(`docker://${name}`)).Digest).toBe(local);
    expect(sha256(await skopeoInspectRaw(`docker://${name}`))).toBe(local);
    // Progress lines on stderr (not a terminal): one per blob.
    expect(r.stderr).toMatch(/sha256:/);

    // Again: everything is there already.
    const again = await e.stevedore(['push', '-q', name]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(`${local}\n`);
  });

  it('push IMAGE DEST: under another name, blobs mounted from the repository that has them', async () => {
    const local = await e.imageDigest('app:test');
    await e.ok(['tag', 'app:test', `${registry.host}/team/app:src`]);
    await e.ok(['push', `${registry.host}/team/app:src`]);
    // The same image, now known to come from team/app: pushing it to another repository mounts.
    await e.ok(['pull', `${registry.host}/team/app:src`]);
    const r = await e.stevedore(['push', `${registry.host}/team/app:src`, `${registry.host}/other/app:v2`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Pushed .*other\/app:v2@sha256:[0-9a-f]{64} \(0 blobs copied, .*; 0 already present; [1-9][0-9]* mounted\)\n$/);
    expect((await skopeoInspect(`docker://${registry.host}/other/app:v2`)).Digest).toBe(local);
  });

  it('a multi-platform image keeps its index; the platform not here comes from where it was pulled', async () => {
    const layer = (p: string): Entry[] => [{ type: 'file', name: 'etc/platform', content: `${p}\n` }];
    const amd64 = testImage([layer('linux/amd64')], { platform: { os: 'linux', architecture: 'amd64' } });
    const arm64 = testImage([layer('linux/arm64')], { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    const index = testIndex([amd64, arm64]);
    await pushImage(registry.host, 'src/multi', 'v1', amd64, index, [arm64]);
    await e.ok(['pull', '--platform', 'linux/amd64', `${registry.host}/src/multi:v1`]);
    await e.ok(['tag', `${registry.host}/src/multi:v1`, `${registry.host}/dst/multi:v1`]);
    const r = await e.stevedore(['push', `${registry.host}/dst/multi:v1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`@${index.digest} `);
    const raw = await skopeoInspectRaw(`docker://${registry.host}/dst/multi:v1`);
    expect(sha256(raw)).toBe(index.digest);
    // Both platforms are complete in the destination.
    for (const arch of ['amd64', 'arm64']) {
      const info = await skopeoInspect(`docker://${registry.host}/dst/multi:v1`, { globalArgs: ['--override-arch', arch] });
      expect(info.Architecture).toBe(arch);
    }
  });

  it('an image that is not here, or an id without DEST: one line, non-zero', async () => {
    const r = await e.stevedore(['push', `${registry.host}/team/nothing:1`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^stevedore: no such local image: .*nothing:1 \(pull it, or tag/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const id = JSON.parse(await e.ok(['images', '--json']))[0].id as string;
    const byId = await e.stevedore(['push', id.slice(7, 19)]);
    expect(byId.code).not.toBe(0);
    expect(byId.stderr).toMatch(/^stevedore: push [0-9a-f]{12}: an image id has no registry name; give one/);
  });
});
