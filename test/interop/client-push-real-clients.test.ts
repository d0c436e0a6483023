// What `stevedore push` uploads, pulled by the clients a user would pull it with: docker (a
// private dockerd), podman and containerd's ctr. Both push paths: an OCI layout (its blob files
// sent through reused buffers, client/file-body.ts) and an image of the engine's local store
// pushed to another registry (the content store's files, engine/image-push.ts), so every blob is
// uploaded, not mounted.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startContainerd, type PrivateContainerd } from '../helpers/containerd.js';
import { DockerEngineUnavailable, startDockerEngine, type DockerEngine } from '../helpers/docker-engine.js';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { podman } from '../helpers/podman.js';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';
import { stevedore } from '../engine/engine-fixtures.js';

const CI = process.env.CI === 'true';
let dir: string;
let a: StevedoreProcess;
let b: StevedoreProcess;
let image: BuiltImage;
let engine: DockerEngine | undefined;
let unavailable: string | undefined;
let containerd: PrivateContainerd | undefined;

async function ok(args: string[]): Promise<string> {
  const r = await stevedore(args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'push-clients-'));
  [a, b] = await Promise.all([startStevedore(), startStevedore()]);
  image = multiLayerImage({ tag: 'v1', randomBytes: 12 * 1024 * 1024 });
  await writeLayout(join(dir, 'layout'), image);
  // From the layout to registry A; into a local store from A, and from there to registry B.
  await ok(['push', '-q', `oci:${join(dir, 'layout')}:v1`, `${a.host}/pushed/layout:v1`]);
  const root = join(dir, 'engine');
  await ok(['--root', root, 'pull', '-q', `${a.host}/pushed/layout:v1`]);
  await ok(['--root', root, 'push', '-q', `${a.host}/pushed/layout:v1`, `${b.host}/pushed/store:v1`]);
  try {
    engine = await startDockerEngine();
  } catch (err) {
    if (!(err instanceof DockerEngineUnavailable) || CI) throw err;
    unavailable = err.message;
  }
}, 240_000);

afterAll(async () => {
  await containerd?.stop();
  await engine?.stop();
  await a?.stop();
  await b?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const refs = () => [`${a.host}/pushed/layout:v1`, `${b.host}/pushed/store:v1`];

describe('what stevedore push uploaded, pulled by other clients', () => {
  it('docker pulls both with the pushed digest and reads the layers', async ({ skip }) => {
    if (!engine) return skip(`dockerd could not start here: ${unavailable}`);
    for (const ref of refs()) {
      const pull = await engine.docker(['pull', ref]);
      expect(pull.code, pull.stderr).toBe(0);
      expect(pull.stdout).toContain(`Digest: ${image.manifest.digest}`);
      const layers = await engine.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', ref]);
      expect(JSON.parse(layers.stdout)).toHaveLength(image.layers.length);
    }
  });

  it('podman pulls both', async () => {
    for (const ref of refs()) {
      const pull = await podman(join(dir, 'podman'), ['pull', '--tls-verify=false', ref]);
      expect(pull.code, pull.stderr).toBe(0);
      const digest = await podman(join(dir, 'podman'), ['image', 'inspect', '--format', '{{.Digest}}', ref]);
      expect(digest.stdout.trim()).toBe(image.manifest.digest);
    }
  });

  it('ctr pulls and unpacks both', async () => {
    containerd = await startContainerd(dir);
    const { ctr } = containerd;
    for (const ref of refs()) {
      const pull = await ctr(['images', 'pull', '--plain-http', ref]);
      expect(pull.code, pull.out).toBe(0);
      const list = await ctr(['images', 'ls']);
      expect(list.out).toContain(image.manifest.digest);
    }
  });
});
