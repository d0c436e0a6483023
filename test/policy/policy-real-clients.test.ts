// Immutable tags and quotas as real clients meet them, against the real `stevedore serve` (built
// CLI): docker (a private dockerd), podman and skopeo re-pushing an immutable tag (the same image
// is accepted, another one refused with the rule in the message they print); skopeo hitting a
// quota in the middle of a push (a clear error, nothing partial left); usage through
// `stevedore quota ls` after a push, and after a delete and `stevedore gc`.
import { podman } from '../helpers/podman.js';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { cli, startWithConfig, type AuthEnv, type Run } from '../auth/auth-env.js';
import { DockerEngineUnavailable, startDockerEngine, type DockerEngine } from '../helpers/docker-engine.js';
import { multiLayerImage, tar, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeo, skopeoCopy, skopeoInspect, SkopeoError } from '../helpers/skopeo.js';

const CI = process.env.CI === 'true' || process.env.CI === '1';
const QUOTA = 200 * 1024;
const POLICY = {
  immutableTags: [{ name: 'releases', repositories: ['**'], tags: ['release-*'] }],
  quotas: [{ name: 'small', repositories: ['quota/**'], limit: QUOTA }],
  quotaUsageMaxAge: '0s',
};

let env: AuthEnv;
let dir: string;
let engine: DockerEngine | undefined;
let dockerUnavailable: string | undefined;
const images: Record<string, { image: BuiltImage; layout: string }> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-policy-clients-'));
  await writeFile(join(dir, 'podman-auth.json'), '{"auths":{}}\n');
  env = await startWithConfig({ policy: POLICY, gc: { gracePeriod: 0 } }, { dir: await mkdtemp(join(dir, 'server-')) });
  for (const [name, bytes] of [['one', 16 * 1024], ['two', 16 * 1024], ['big', 512 * 1024], ['fits', 8 * 1024]] as const) {
    const image = multiLayerImage({ tag: 'v1', randomBytes: bytes });
    const layout = join(dir, `layout-${name}`);
    await writeLayout(layout, image);
    images[name] = { image, layout };
  }
  try {
    engine = await startDockerEngine();
  } catch (err) {
    if (!(err instanceof DockerEngineUnavailable) || CI) throw err;
    dockerUnavailable = err.message;
  }
}, 240_000);

afterAll(async () => {
  await engine?.stop();
  await env?.server.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

/** What the user saw, printed with the test's output (the documentation quotes these). */
function shown(client: string, text: string): void {
  console.log(`--- ${client} ---\n${text.trim()}`);
}

async function copyFails(src: string, dest: string): Promise<string> {
  try {
    await skopeoCopy(src, dest);
  } catch (err) {
    if (err instanceof SkopeoError) return err.stderr;
    throw err;
  }
  throw new Error(`skopeo copy ${src} ${dest} succeeded`);
}

/** podman with its own state under this test's directory (test/helpers/podman.ts). */
const runPodman = (args: string[]) => podman(dir, args);

async function digestAt(ref: string): Promise<string> {
  return (await skopeoInspect(`docker://${ref}`)).Digest as string;
}

// (skopeo and podman print the message inside a quoted log field: its quotes escaped.)
const IMMUTABLE = /tag release-1 of [a-z/]+ is immutable under rule \\?"releases\\?" \(repositories \*\*; tags release-\*\): it points at sha256:[0-9a-f]{64} and cannot be moved to another manifest; push under a new tag/;

describe('immutable tags with real clients', () => {
  it('skopeo: the same image again is accepted, another one refused naming the rule', async () => {
    const host = env.server.host;
    const dest = `docker://${host}/skopeo/app:release-1`;
    await skopeoCopy(`oci:${images.one!.layout}:v1`, dest);
    await skopeoCopy(`oci:${images.one!.layout}:v1`, dest);
    const stderr = await copyFails(`oci:${images.two!.layout}:v1`, dest);
    shown('skopeo copy', stderr);
    expect(stderr).toMatch(IMMUTABLE);
    expect(await digestAt(`${host}/skopeo/app:release-1`)).toBe(images.one!.image.manifest.digest);
  }, 180_000);

  it('podman: the same image again is accepted, another one refused naming the rule', async () => {
    const host = env.server.host;
    const ref = `${host}/podman/app:release-1`;
    // The two images reach podman's store through the registry (under mutable tags).
    for (const name of ['one', 'two']) {
      await skopeoCopy(`oci:${images[name]!.layout}:v1`, `docker://${host}/src/${name}:v1`);
      const pulled = await runPodman(['pull', '--tls-verify=false', `docker://${host}/src/${name}:v1`]);
      expect(pulled.code, pulled.stderr).toBe(0);
      const tagged = await runPodman(['tag', `${host}/src/${name}:v1`, `localhost/${name}:v1`]);
      expect(tagged.code, tagged.stderr).toBe(0);
    }
    for (let i = 0; i < 2; i++) {
      const pushed = await runPodman(['push', '--tls-verify=false', 'localhost/one:v1', `docker://${ref}`]);
      expect(pushed.code, pushed.stderr).toBe(0);
    }
    const before = await digestAt(ref);
    const refused = await runPodman(['push', '--tls-verify=false', 'localhost/two:v1', `docker://${ref}`]);
    shown('podman push', refused.stderr);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(IMMUTABLE);
    expect(await digestAt(ref)).toBe(before);
  }, 240_000);

  it('docker: the same image again is accepted, another one refused naming the rule', async (ctx: TestContext) => {
    if (!engine) ctx.skip(`dockerd could not start: ${dockerUnavailable}`);
    const d = engine!;
    const host = env.server.host;
    const ref = `${host}/docker/app:release-1`;
    const ok = async (args: string[], input?: string) => {
      const r = await d.docker(args, input === undefined ? undefined : { input });
      expect(r.code, `docker ${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r;
    };
    for (const name of ['one', 'two']) {
      const rootfs = join(dir, `rootfs-${name}.tar`);
      await writeFile(rootfs, tar([{ type: 'file', name: `${name}.txt`, content: `${name} ${Math.random()}\n` }]));
      await ok(['import', rootfs, `local/${name}:v1`]);
    }
    await ok(['tag', 'local/one:v1', ref]);
    await ok(['push', ref]);
    await ok(['push', ref]);
    const before = await digestAt(ref);
    await ok(['tag', 'local/two:v1', ref]);
    const refused = await d.docker(['push', ref]);
    shown('docker push', `${refused.stdout}${refused.stderr}`);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(IMMUTABLE);
    expect(await digestAt(ref)).toBe(before);
    // Deleting it is refused too.
    const del = await skopeo(['delete', '--tls-verify=false', '--creds', 'x:y', `docker://${ref}`]).then(() => '', (err: SkopeoError) => err.stderr);
    shown('skopeo delete', del);
    expect(del).toMatch(/tag release-1 of docker\/app is immutable .* cannot be deleted/);
  }, 300_000);
});

async function quotaLs(): Promise<{ usedBytes: number; blobs: number; limitBytes: number }> {
  const r = await cli(['quota', 'ls', '--json', env.server.host], { dockerConfig: join(dir, 'docker-config') });
  expect(r.code, r.stderr).toBe(0);
  const q = (JSON.parse(r.stdout) as { quotas: { name: string; usedBytes: number; blobs: number; limitBytes: number }[] }).quotas;
  return q.find((x) => x.name === 'small')!;
}

async function filesUnder(path: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  for (const e of await readdir(path, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (e.isFile()) out.push({ path: join(e.parentPath, e.name), size: (await stat(join(e.parentPath, e.name))).size });
  }
  return out;
}

describe('storage quotas with real clients', () => {
  it('skopeo hits the quota mid-push: a clear error, nothing partial left', async () => {
    const host = env.server.host;
    const big = images.big!.image;
    const stderr = await copyFails(`oci:${images.big!.layout}:v1`, `docker://${host}/quota/big:v1`);
    shown('skopeo copy over quota', stderr);
    expect(stderr).toMatch(/denied: storage quota \\?"small\\?" \(quota\/\*\*\) exceeded: [\d.]+ (B|KiB) of 200\.0 KiB used \(\d+ of 204800 bytes\), this upload needs/);
    // The refused layer is nowhere: not stored, no upload holding its bytes; no manifest.
    const layer = big.layers.map((l) => l.descriptor).reduce((a, b) => (a.size > b.size ? a : b));
    const data = env.server.dataDir;
    expect(await filesUnder(join(data, 'blobs', 'sha256', layer.digest.slice(7, 9), layer.digest.slice(7)))).toEqual([]);
    await expect.poll(async () => (await filesUnder(join(data, 'uploads'))).filter((f) => f.size > QUOTA / 2)).toEqual([]);
    await expect(skopeoInspect(`docker://${host}/quota/big:v1`)).rejects.toThrow(/manifest unknown|not found/i);
    expect((await quotaLs()).usedBytes).toBeLessThanOrEqual(QUOTA);
  }, 180_000);

  it('stevedore quota ls shows usage after a push, and after a delete and stevedore gc', async () => {
    const host = env.server.host;
    const before = await quotaLs();
    const fits = images.fits!.image;
    await skopeoCopy(`oci:${images.fits!.layout}:v1`, `docker://${host}/quota/fits:v1`);
    const pushedBytes = fits.config.bytes.length + fits.layers.reduce((n, l) => n + l.bytes.length, 0) + fits.manifest.bytes.length;
    const after = await quotaLs();
    // The small base layer may be counted already (the refused push above committed it).
    expect(after.usedBytes - before.usedBytes).toBeGreaterThan(pushedBytes - fits.layers[0]!.bytes.length - 1);
    expect(after.usedBytes - before.usedBytes).toBeLessThanOrEqual(pushedBytes);
    const table = await cli(['quota', 'ls', host], { dockerConfig: join(dir, 'docker-config') });
    shown('stevedore quota ls', table.stdout);
    expect(table.stdout).toMatch(/^NAME\s+REPOSITORIES\s+USED\s+LIMIT\s+USE%\s+BLOBS\nsmall\s+quota\/\*\*\s+[\d.]+ KiB\s+200\.0 KiB\s+\d+%\s+\d+\n$/);

    await skopeo(['delete', '--tls-verify=false', '--creds', 'x:y', `docker://${host}/quota/fits:v1`]);
    expect((await quotaLs()).usedBytes).toBe(after.usedBytes); // unlinked, not yet collected
    const configPath = join(dir, 'gc.yml');
    await writeFile(configPath, stringify({ policy: POLICY, gc: { gracePeriod: 0, deleteUntagged: true } }));
    const gc = await cli(['gc', '--config', configPath, '--data-dir', env.server.dataDir], { dockerConfig: join(dir, 'docker-config') });
    expect(gc.code, gc.stderr).toBe(0);
    // Nothing tagged is left in quota/**: everything there was collected.
    expect(await quotaLs()).toMatchObject({ usedBytes: 0, blobs: 0 });
  }, 180_000);

  it('docker hits the quota: its message, nothing partial left', async (ctx: TestContext) => {
    if (!engine) ctx.skip(`dockerd could not start: ${dockerUnavailable}`);
    const d = engine!;
    const host = env.server.host;
    const rootfs = join(dir, 'rootfs-big.tar');
    await writeFile(rootfs, tar([{ type: 'file', name: 'big.bin', content: randomBytes(300 * 1024) }]));
    expect((await d.docker(['import', rootfs, `${host}/quota/docker:v1`])).code).toBe(0);
    const refused = await d.docker(['push', `${host}/quota/docker:v1`]);
    shown('docker push over quota', `${refused.stdout}${refused.stderr}`);
    expect(refused.code).not.toBe(0);
    // docker streams the layer without a length: it is stopped once past what the quota has left.
    expect(refused.stderr).toMatch(/denied: storage quota "small" \(quota\/\*\*\) exceeded: .* of 200\.0 KiB used \(\d+ of 204800 bytes\), this upload needs at least [\d.]+ KiB more/);
    await expect.poll(async () => (await filesUnder(join(env.server.dataDir, 'uploads'))).filter((f) => f.size > QUOTA / 2)).toEqual([]);
  }, 180_000);
});
