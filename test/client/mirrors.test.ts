// Pulling through mirrors: order, fallback (mirror down, mirror without the image), pull-from-mirror
// modes, and Docker's daemon.json registry-mirrors for docker.io (which these machines cannot reach).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/index.js';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { CLI } from '../helpers/stevedore-process.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;
let origin: RunningServer; // the registry the image is named after
let good: RunningServer; // a mirror that has the image (under a prefix)
let empty: RunningServer; // a mirror without it
let downHost: string; // a mirror nobody listens on
let image: BuiltImage;
const host = (s: RunningServer) => new URL(s.url).host;

function stevedore(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, DOCKER_CONFIG: join(dir, 'docker'), ...env }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function clientConfig(name: string, doc: unknown): Promise<string> {
  const p = join(dir, `${name}.yaml`);
  await writeFile(p, JSON.stringify(doc)); // JSON is YAML
  return p;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mirrors-'));
  const start = (name: string) => startServer({ dataDir: join(dir, name), addr: '127.0.0.1:0', logLevel: 'silent' });
  [origin, good, empty] = await Promise.all([start('origin'), start('good'), start('empty')]);
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  downHost = `127.0.0.1:${(blocker.address() as { port: number }).port}`;
  await new Promise<void>((r) => blocker.close(() => r())); // now nothing listens there
  image = multiLayerImage({ tag: 'v1' });
  await writeLayout(join(dir, 'layout'), image);
  await skopeoCopy(`oci:${join(dir, 'layout')}:v1`, `docker://${host(origin)}/team/app:v1`);
  await skopeoCopy(`oci:${join(dir, 'layout')}:v1`, `docker://${host(good)}/cache/team/app:v1`);
  await skopeoCopy(`oci:${join(dir, 'layout')}:v1`, `docker://${host(good)}/cache/library/busybox:latest`);
});

afterAll(async () => {
  await Promise.all([origin?.close(), good?.close(), empty?.close()]);
  await rm(dir, { recursive: true, force: true });
});

describe('mirrors', () => {
  it('tries mirrors in order, skipping one that is down and one without the image, and says which served', async () => {
    const cfg = await clientConfig('order', {
      registries: { [host(origin)]: { mirrors: [downHost, host(empty), `${host(good)}/cache`] } },
    });
    const r = await stevedore(['pull', '--client-config', cfg, `${host(origin)}/team/app:v1`, '--output', `oci:${join(dir, 'out1')}:v1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`mirror ${downHost} failed`);
    expect(r.stderr).toContain(`mirror ${host(empty)} failed`);
    expect(r.stderr).toContain(`Pulling from mirror ${host(good)}/cache`);
    expect(r.stdout).toContain(`@${image.manifest.digest} from mirror ${host(good)}/cache`);
  });

  it('falls back to the registry itself when no mirror can serve', async () => {
    const cfg = await clientConfig('fallback', { registries: { [host(origin)]: { mirrors: [downHost, host(empty)] } } });
    const r = await stevedore(['pull', '--json', '--client-config', cfg, `${host(origin)}/team/app:v1`, '--output', `oci:${join(dir, 'out2')}:v1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ digest: image.manifest.digest, servedBy: `registry ${host(origin)}` });
  });

  it('uses digest-only mirrors only for pulls by digest', async () => {
    const cfg = await clientConfig('digest-only', {
      registries: { [host(origin)]: { pullFromMirror: 'digest-only', mirrors: [`${host(good)}/cache`] } },
    });
    const byTag = await stevedore(['pull', '--json', '--client-config', cfg, `${host(origin)}/team/app:v1`, '--output', `oci:${join(dir, 'out3')}:v1`]);
    expect(JSON.parse(byTag.stdout).servedBy).toBeUndefined(); // only the registry was a candidate
    const byDigest = await stevedore(['pull', '--json', '--client-config', cfg, `${host(origin)}/team/app@${image.manifest.digest}`, '--output', `oci:${join(dir, 'out4')}:v1`]);
    expect(JSON.parse(byDigest.stdout).servedBy).toBe(`mirror ${host(good)}/cache`);
  });

  it("honours Docker's daemon.json registry-mirrors for docker.io", async () => {
    const daemon = join(dir, 'daemon.json');
    await writeFile(daemon, JSON.stringify({ 'registry-mirrors': [`http://${host(good)}/cache`] }));
    const r = await stevedore(['pull', '--json', 'busybox', '--output', `oci:${join(dir, 'out5')}:latest`], {
      STEVEDORE_DOCKER_DAEMON_JSON: daemon,
      STEVEDORE_CLIENT_CONFIG: join(dir, 'none.yaml'),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ digest: image.manifest.digest, servedBy: `mirror ${host(good)}/cache` });
  });

  it('rejects a client config with an unknown key, naming it', async () => {
    await mkdir(join(dir, 'bad'), { recursive: true });
    const cfg = await clientConfig('bad/cfg', { registries: { 'x.io': { mirors: [] } } });
    const r = await stevedore(['tags', '--client-config', cfg, 'x.io/a']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^stevedore: .*cfg\.yaml: unknown key registries\.x\.io\.mirors$/);
  });
});
