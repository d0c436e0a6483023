// The engine end to end, as a user meets it: `stevedore run` of an image that is not here pulls it
// from a registry (a real Stevedore server) and runs it; rmi keeps what a container uses; prune
// removes stopped containers and then the images only they used; inspect finds a container, a
// local image, else asks the registry; rmi and prune wait for a `run` that has found its image
// until the container's record names it. Real runc, real overlayfs, as root.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreImageProvider } from '../../engine/image-provider.js';
import { ImageStore } from '../../engine/store/image-store.js';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';

let e: EngineEnv;
let registry: StevedoreProcess;
let busybox: string;
let app: string;

beforeAll(async () => {
  e = await engineEnv({ empty: true });
  registry = await startStevedore();
  busybox = `${registry.host}/e2e/busybox:1`;
  app = `${registry.host}/e2e/app:2`;
  // The test images, pushed from their docker-archive by the client.
  await e.ok(['copy', `docker-archive:${e.archive}:busybox:test`, busybox]);
  await e.ok(['copy', `docker-archive:${e.archive}:app:test`, app]);
});

afterAll(async () => {
  try {
    await e?.close();
  } finally {
    await registry?.stop();
  }
});

interface ImageRow {
  repository: string;
  tag: string;
  id: string;
  digest: string;
}

async function images(): Promise<ImageRow[]> {
  return JSON.parse(await e.ok(['images', '--json'])) as ImageRow[];
}

describe('run of an image that is not here', () => {
  it('pulls it from the registry, unpacks it and runs it; the next run uses the local copy', async () => {
    expect(await images()).toEqual([]);
    const first = await e.stevedore(['run', '--rm', busybox, 'sh', '-c', 'ls /etc/deleted-by-whiteout 2>&1; cat /etc/layer-marker /data/hello.txt']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^.*deleted-by-whiteout.*No such file.*\nfrom layer 1\nhello from the image\n$/s);
    // Progress of the pull on stderr: three layers downloaded and unpacked.
    expect(first.stderr.match(/: downloaded$/gm)).toHaveLength(3);
    expect(first.stderr.match(/: unpacked$/gm)).toHaveLength(3);
    expect((await images()).map((r) => `${r.repository}:${r.tag}`)).toEqual([`${registry.host}/e2e/busybox:1`]);

    const again = await e.stevedore(['run', '--rm', busybox, 'true']);
    expect(again.code).toBe(0);
    expect(again.stderr).toBe('');
    expect(await e.containerDirs()).toEqual([]);
  });

  it('an image the registry does not have: a one-line error, exit status 125, nothing left behind', async () => {
    const r = await e.stevedore(['run', '--rm', `${registry.host}/e2e/nothing:here`, 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^stevedore: .*(not found|MANIFEST_UNKNOWN|NAME_UNKNOWN)/i);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await e.containerDirs()).toEqual([]);
  });
});

describe('images and containers together', () => {
  it('rmi refuses an image a container uses, and removes it once the container is gone', async () => {
    await e.ok(['run', '--name', 'keeper', busybox, 'true']);
    const refused = await e.stevedore(['rmi', busybox]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/used by a container/);
    expect((await images()).map((r) => r.tag)).toEqual(['1']);
    // The container still runs from it.
    await e.ok(['rm', 'keeper']);
    expect(await e.ok(['rmi', busybox])).toMatch(/^Untagged: .*\nDeleted: sha256:/);
    expect(await images()).toEqual([]);
  });

  it('prune removes a stopped container, then the unnamed image only it used; named images and running containers stay', async () => {
    await e.ok(['run', '--name', 'old', app]); // exits at once (echo)
    await e.ok(['run', '-d', '--name', 'live', busybox, 'sh', '-c', 'while true; do sleep 0.1; done']);
    await e.waitRunning('live');
    const oldId = (JSON.parse(await e.ok(['inspect', 'old'])) as { id: string }[])[0]!.id;
    // -f untags an image a container uses; the image itself stays for the container.
    await e.ok(['rmi', '-f', app]);
    const appRows = (await images()).filter((r) => r.repository === '<none>');
    expect(appRows).toHaveLength(1);

    const out = await e.ok(['prune']);
    expect(out).toContain(`Deleted container ${oldId}\n`);
    expect(out).toMatch(/^Deleted 1 image, [1-9][0-9]* blobs?, [0-9]+ layer snapshots?$/m);
    expect((await images()).map((r) => `${r.repository}:${r.tag}`)).toEqual([`${registry.host}/e2e/busybox:1`]);
    expect((await e.ok(['ps', '-a', '-q'])).split('\n').filter(Boolean)).toHaveLength(1);
    // The running container's image and layers are intact: it can still run commands.
    expect(await e.ok(['exec', 'live', 'cat', '/etc/layer-marker'])).toBe('from layer 1\n');
    await e.ok(['rm', '-f', 'live']);
  });
});

describe('inspect', () => {
  it('shows a container, else a local image, else asks the registry a reference names; a bare unknown name is not found', async () => {
    await e.ok(['run', '--name', 'seen', busybox, 'true']);
    const [container] = JSON.parse(await e.ok(['inspect', 'seen'])) as { name: string; image: { manifestDigest: string; reference?: string } }[];
    expect(container).toMatchObject({ name: 'seen', image: { reference: busybox } });

    const [image] = JSON.parse(await e.ok(['inspect', busybox])) as { RepoTags: string[]; ManifestDigest: string; LayerDirs: string[] }[];
    expect(image!.RepoTags).toEqual([busybox]);
    expect(image!.ManifestDigest).toBe(container!.image.manifestDigest);
    expect(image!.LayerDirs).toHaveLength(3);

    // Not here (pruned above): the registry's manifest and config.
    const remote = JSON.parse(await e.ok(['inspect', app])) as { name: string; digest: string; config: { config: { Entrypoint: string[] } } };
    expect(remote.name).toBe(app);
    expect(remote.config.config.Entrypoint).toEqual(['echo', 'entrypoint']);
    // A bare name that is neither a container nor a local image says so (docker's "no such
    // object"), without asking Docker Hub.
    const missing = await e.stevedore(['inspect', 'nosuchthing']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('stevedore: no such container or image: nosuchthing: to inspect a registry image, name its registry (docker.io/library/nosuchthing) or use --raw\n');
    await e.ok(['rm', 'seen']);
  });
});

/** Output of a spawned stevedore so far, and its exit. */
function watch(child: ReturnType<EngineEnv['spawn']>): { stderr: () => string; exit: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  return { stderr: () => stderr, exit: new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr }))) };
}

describe('concurrent commands', () => {
  // What `run` does between finding its image and writing container.json, done here step by step
  // with the same provider, so other commands can be started in between.
  const provider = () => new StoreImageProvider(new ImageStore(e.root), () => Promise.reject(new Error('the image is local: no pull')));

  it('rmi waits for a run that has found its image, then sees the container and refuses', async () => {
    await e.ok(['pull', app]);
    const p = provider();
    const use = await p.hold();
    const image = await p.find(app);
    expect(image).toBeDefined();
    const rmi = watch(e.spawn(['rmi', app]));
    await e.waitFor(() => `rmi to wait (stderr: ${rmi.stderr()})`, async () => rmi.stderr().includes('waiting for'));
    // The container's record, as createContainer writes it, then the lease goes.
    const fake = join(e.root, 'containers', 'concurrent-test');
    await mkdir(fake, { recursive: true });
    await writeFile(join(fake, 'container.json'), JSON.stringify({ image: { manifestDigest: image!.manifestDigest } }));
    await use.release();
    const r = await rmi.exit;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/used by a container/);
    expect((await images()).map((row) => row.digest)).toContain(image!.manifestDigest);
    await rm(fake, { recursive: true });
    await e.ok(['rmi', app]);
  });

  it('a process holding a lease takes another while a prune waits for the first (no deadlock)', async () => {
    const p = provider();
    const outer = await p.hold();
    const prune = watch(e.spawn(['prune']));
    await e.waitFor(() => `prune to wait (stderr: ${prune.stderr()})`, async () => prune.stderr().includes('waiting for'));
    // As a run that pulls (the pull takes its own lease) or re-unpacks a lost layer does.
    let stuck: NodeJS.Timeout | undefined;
    const inner = await Promise.race([
      p.hold(),
      new Promise<never>((_, reject) => (stuck = setTimeout(() => reject(new Error('the second lease waited for the prune that waits for the first')), 60_000))),
    ]);
    clearTimeout(stuck);
    await inner.release();
    await outer.release();
    const r = await prune.exit;
    expect(r.code, r.stderr).toBe(0);
  });
});
