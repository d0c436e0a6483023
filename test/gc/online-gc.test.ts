// Online garbage collection against a running registry (pushes over HTTP while GC runs on the same
// storage, as `stevedore gc` beside `stevedore serve` does), retention dry runs, and scrub.
import { execFile } from 'node:child_process';
import { mkdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { digestOf, MediaType, type Digest } from '../../oci/index.js';
import { collectGarbage, FilesystemDriver, formatGcDeletion, scrub } from '../../storage/index.js';
import { layout } from '../../storage/layout.js';
import { expectStatus, imageParts, ociIndex, ociManifest, repoName } from '../api/client.js';
import { CLI } from '../helpers/stevedore-process.js';
import { pullEverything, startGcServer, storedFiles, type GcServer } from './gc-helpers.js';

const run = promisify(execFile);
let server: GcServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

function driverFor(s: GcServer): FilesystemDriver {
  return new FilesystemDriver({ rootDirectory: s.dataDir, noSync: true });
}

/** The time a run sees: `ahead` ms in the future, so everything stored so far is past the grace period. */
const future = (ahead: number) => () => Date.now() + ahead;

describe('online GC: concurrent pushes', () => {
  // With deleteUntagged the links are walked with their times; without, only named (FindOptions):
  // both must protect what a concurrent push uses.
  for (const deleteUntagged of [true, false]) {
  const mode = deleteUntagged ? 'delete-untagged' : 'default mode';
  it(`keeps a blob pushed just before GC and referenced by a manifest pushed during the sweep (grace period; ${mode})`, async () => {
    server = await startGcServer();
    const { reg } = server;
    const repo = repoName('gc');
    const parts = imageParts(2);
    await reg.pushBlob(repo, parts.config);
    for (const l of parts.layers) await reg.pushBlob(repo, l);
    const manifest = ociManifest(parts.configDesc, parts.layerDescs);
    const report = await collectGarbage(driverFor(server), {
      gracePeriodMs: 60_000,
      deleteUntagged,
      hooks: { afterMark: async () => void (await reg.pushManifest(repo, 'v1', manifest)) },
    });
    expect(report.deleted).toEqual([]);
    const pulled = await pullEverything(reg);
    expect([...pulled.blobs.get(repo)!].sort()).toEqual([parts.configDesc.digest, ...parts.layerDescs.map((d) => d.digest)].sort());
  });

  it(`keeps an old unreferenced blob that a manifest pushed between mark and sweep starts using (the final check; ${mode})`, async () => {
    server = await startGcServer();
    const { reg } = server;
    const repo = repoName('gc');
    const parts = imageParts(1);
    await reg.pushBlob(repo, parts.config);
    await reg.pushBlob(repo, parts.layers[0]!);
    const manifest = ociManifest(parts.configDesc, parts.layerDescs);
    // The run's clock is an hour ahead with a 1-minute grace period: everything is old, so only
    // the final check protects what the manifest pushed during the run references.
    const report = await collectGarbage(driverFor(server), {
      gracePeriodMs: 60_000,
      deleteUntagged,
      now: future(3_600_000),
      hooks: {
        afterMark: async () => {
          // The client saw the blobs exist (HEAD) and pushes only the manifest.
          expect((await reg.head(`/v2/${repo}/blobs/${parts.layerDescs[0]!.digest}`)).status).toBe(200);
          await reg.pushManifest(repo, 'v1', manifest);
        },
      },
    });
    expect(report.restored).toBeGreaterThan(0);
    expect(report.deleted).toEqual([]);
    const pulled = await pullEverything(reg);
    expect(pulled.manifests.get(repo)).toEqual(new Set([manifest.digest]));
    expect(pulled.blobs.get(repo)!.size).toBe(2);
    // A later run (no pushes) keeps them too: they are reachable now.
    const again = await collectGarbage(driverFor(server), { gracePeriodMs: 0, deleteUntagged, now: future(3_600_000) });
    expect(again.deleted).toEqual([]);
  });
  }

  it('a manifest push gives the links and child revisions it references a new time (what the grace period protects)', async () => {
    server = await startGcServer();
    const { reg, dataDir } = server;
    const repo = repoName('gc');
    const parts = imageParts(1);
    await reg.pushBlob(repo, parts.config);
    await reg.pushBlob(repo, parts.layers[0]!);
    const child = ociManifest(parts.configDesc, parts.layerDescs);
    await reg.pushManifest(repo, child.digest, child);
    const paths = [
      ...[parts.configDesc, ...parts.layerDescs].map((d) => layout.layerLink(repo, d.digest as Digest)),
      layout.revisionLink(repo, child.digest as Digest),
    ].map((p) => join(dataDir, p));
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const p of paths) await utimes(p, hourAgo, hourAgo);
    const before = Date.now() - 1000; // file times may round down
    await reg.pushManifest(repo, 'v1', child); // references the config and the layer
    await reg.pushManifest(repo, 'multi', ociIndex([child])); // references the child
    for (const p of paths) expect((await stat(p)).mtimeMs, p).toBeGreaterThanOrEqual(before);
    // So a run with a grace period keeps them even with its clock's cutoff just before the pushes.
    const report = await collectGarbage(driverFor(server), { gracePeriodMs: 0, deleteUntagged: true, now: () => before });
    expect(report.deleted).toEqual([]);
  });

  it('frees an old blob whose only other "link" is a directory left without its link file (a write cut short)', async () => {
    server = await startGcServer();
    const { reg, dataDir } = server;
    const repo = repoName('gc');
    const blob = Buffer.from('orphaned layer');
    const { digest } = await reg.pushBlob(repo, blob);
    // Another repository's link directory with no link in it: what a crash between creating the
    // directory and renaming the link into place leaves. It must not keep the blob.
    const stray = join(dataDir, dirname(layout.layerLink('other/app', digest as Digest)));
    await mkdir(stray, { recursive: true });
    const report = await collectGarbage(driverFor(server), { gracePeriodMs: 60_000, now: future(3_600_000) });
    expect(report.deleted.filter((d) => d.kind === 'blob').map((d) => d.digest)).toEqual([digest]);
    expect((await reg.get(`/v2/${repo}/blobs/${digest}`)).status).toBe(404);
  });

  it('refuses a manifest whose old blob was already swept (never a manifest without its blob); a re-push works', async () => {
    server = await startGcServer();
    const { reg } = server;
    const repo = repoName('gc');
    const parts = imageParts(1);
    await reg.pushBlob(repo, parts.config);
    await reg.pushBlob(repo, parts.layers[0]!);
    const manifest = ociManifest(parts.configDesc, parts.layerDescs);
    let during = 0;
    const report = await collectGarbage(driverFor(server), {
      gracePeriodMs: 60_000,
      now: future(3_600_000),
      hooks: {
        afterSweep: async () => {
          const res = await reg.put(`/v2/${repo}/manifests/v1`, { headers: { 'content-type': manifest.mediaType }, body: manifest.bytes });
          during = res.status;
        },
      },
    });
    expect(during).toBe(400);
    expect(report.blobsFreed).toBe(2);
    await reg.pushBlob(repo, parts.config);
    await reg.pushBlob(repo, parts.layers[0]!);
    await reg.pushManifest(repo, 'v1', manifest);
    expect((await pullEverything(reg)).blobs.get(repo)!.size).toBe(2);
  });

  it('a layer DELETEd while a tagged manifest references it: GC runs, keeps the data, and a re-push of the blob restores the pull', async () => {
    server = await startGcServer();
    const { reg } = server;
    const repo = repoName('gc');
    const parts = imageParts(1);
    await reg.pushBlob(repo, parts.config);
    await reg.pushBlob(repo, parts.layers[0]!);
    const manifest = ociManifest(parts.configDesc, parts.layerDescs);
    await reg.pushManifest(repo, 'v1', manifest);
    const layer = parts.layerDescs[0]!.digest;
    // Allowed, as distribution does (README "Deleting"): the repository's link goes, the manifest stays.
    expect((await reg.delete(`/v2/${repo}/blobs/${layer}`)).status).toBe(202);
    expect((await reg.get(`/v2/${repo}/manifests/v1`, { headers: { accept: manifest.mediaType } })).status).toBe(200);
    expect((await reg.get(`/v2/${repo}/blobs/${layer}`)).status).toBe(404);
    const report = await collectGarbage(driverFor(server), { gracePeriodMs: 60_000, now: future(3_600_000) });
    expect(report.blobsFreed).toBe(0); // the tagged manifest still references the data
    await reg.pushBlob(repo, parts.layers[0]!);
    const res = await reg.get(`/v2/${repo}/blobs/${layer}`);
    expect(res.status).toBe(200);
    expect(res.body.equals(parts.layers[0]!)).toBe(true);
  });

  it('keeps the children of a tagged index and referrers of live manifests; deletes untagged manifests and their blobs', async () => {
    server = await startGcServer();
    const { reg } = server;
    const repo = repoName('gc');
    const children = [];
    for (let i = 0; i < 2; i++) {
      const p = imageParts(1);
      await reg.pushBlob(repo, p.config);
      await reg.pushBlob(repo, p.layers[0]!);
      const m = ociManifest(p.configDesc, p.layerDescs);
      await reg.pushManifest(repo, m.digest, m);
      children.push(m);
    }
    const index = ociIndex(children);
    await reg.pushManifest(repo, 'multi', index);
    // A referrer of the index (an artifact with the empty config).
    const empty = Buffer.from('{}');
    await reg.pushBlob(repo, empty);
    const sbom = Buffer.from('sbom');
    await reg.pushBlob(repo, sbom);
    const artifact = ociManifest(
      { mediaType: MediaType.OciEmpty, digest: digestOf(empty), size: 2 },
      [{ mediaType: 'text/plain', digest: digestOf(sbom), size: sbom.length }],
      { subject: index.descriptor, artifactType: 'application/vnd.test.sbom' },
    );
    await reg.pushManifest(repo, artifact.digest, artifact);
    // Garbage: an untagged image.
    const lone = imageParts(1);
    await reg.pushBlob(repo, lone.config);
    await reg.pushBlob(repo, lone.layers[0]!);
    const loneManifest = ociManifest(lone.configDesc, lone.layerDescs);
    await reg.pushManifest(repo, loneManifest.digest, loneManifest);

    const opts = { gracePeriodMs: 0, deleteUntagged: true, now: future(1000) };
    const dry = await collectGarbage(driverFor(server), { ...opts, dryRun: true });
    const real = await collectGarbage(driverFor(server), opts);
    expect(real.deleted.map(formatGcDeletion)).toEqual(dry.deleted.map(formatGcDeletion));
    expect(real.deleted.map(formatGcDeletion)).toEqual(
      [
        `manifest ${repo}@${loneManifest.digest}`,
        `link ${repo} ${lone.configDesc.digest}`,
        `link ${repo} ${lone.layerDescs[0]!.digest}`,
        `blob ${lone.configDesc.digest} ${lone.configDesc.size}`,
        `blob ${lone.layerDescs[0]!.digest} ${lone.layerDescs[0]!.size}`,
        `blob ${loneManifest.digest} ${loneManifest.size}`,
      ].sort((a, b) => {
        const order = ['manifest', 'referrer', 'link', 'blob'];
        return order.indexOf(a.split(' ')[0]!) - order.indexOf(b.split(' ')[0]!) || (a < b ? -1 : 1);
      }),
    );
    expect((await reg.get(`/v2/${repo}/manifests/${loneManifest.digest}`)).status).toBe(404);
    const pulled = await pullEverything(reg, { referrers: true });
    expect(pulled.manifests.get(repo)).toEqual(new Set([index.digest, ...children.map((c) => c.digest), artifact.digest]));
    const files = await storedFiles(server.dataDir);
    expect(new Set(files.blobs.map((b) => b.digest))).toEqual(pulled.all);
  });
});

describe('stevedore gc: retention', () => {
  it('dry run prints exactly what the real run deletes', async () => {
    server = await startGcServer();
    const { reg, dataDir } = server;
    const apps = ['ret/app', 'ret/web'];
    const hour = 3_600_000;
    for (const repo of apps) {
      for (let i = 0; i < 6; i++) {
        const p = imageParts(1);
        await reg.pushBlob(repo, p.config);
        await reg.pushBlob(repo, p.layers[0]!);
        const m = ociManifest(p.configDesc, p.layerDescs);
        for (const tag of [`v${i}`, ...(i === 0 ? ['release-1'] : [])]) {
          await reg.pushManifest(repo, tag, m);
          // Push times: v0 oldest (six hours ago) … v5 newest.
          const t = new Date(Date.now() - (6 - i) * hour);
          await utimes(join(dataDir, 'repositories', repo, '_manifests', 'tags', tag, 'current', 'link'), t, t);
        }
      }
    }
    const other = imageParts(1);
    await reg.pushBlob('other/keep', other.config);
    await reg.pushBlob('other/keep', other.layers[0]!);
    await reg.pushManifest('other/keep', 'old', ociManifest(other.configDesc, other.layerDescs));
    const config = join(dataDir, '..', `gc-${process.pid}-${Date.now()}.yaml`);
    onTestFinished(() => rm(config, { force: true }));
    await writeFile(
      config,
      [
        'storage:',
        `  filesystem: { rootDirectory: ${JSON.stringify(dataDir)} }`,
        'gc:',
        '  gracePeriod: 0s',
        '  deleteUntagged: true',
        '  retention:',
        '    - repositories: ["ret/web"]',
        '      keepLast: 2',
        '      protect: ["release-*"]',
        '    - repositories: ["ret/*"]',
        '      deleteOlderThan: 3h30m',
        '      keepTags: ["v1"]',
        '',
      ].join('\n'),
    );
    const gc = (...args: string[]) => run(process.execPath, [CLI, 'gc', '--config', config, ...args], { env: { ...process.env, STEVEDORE_LOG_LEVEL: 'silent' } });
    const dry = await gc('--dry-run');
    const real = await gc();
    const body = (out: string) => out.trimEnd().split('\n').slice(0, -1);
    expect(body(dry.stdout)).toEqual(body(real.stdout));
    const lines = body(real.stdout);
    const tags = lines.filter((l) => l.startsWith('tag ')).map((l) => l.split(' ')[1]);
    // web: keep the 2 newest (v4, v5) and release-1; app: older than 3h30m goes (v0..v2, release-1) but v1.
    expect(tags).toEqual(['ret/app:release-1', 'ret/app:v0', 'ret/app:v2', 'ret/web:v0', 'ret/web:v1', 'ret/web:v2', 'ret/web:v3']);
    // v0 and release-1 of ret/web share a manifest: it stays (release-1 is protected).
    expect(lines.filter((l) => l.startsWith('manifest ')).length).toBe(5);
    expect(lines.filter((l) => l.startsWith('blob ')).length).toBe(15);
    expect(dry.stdout.split('\n').at(-2)).toMatch(/^would delete 37 objects/);
    expect(real.stdout.split('\n').at(-2)).toMatch(/^deleted 37 objects/);
    await pullEverything(reg);
    // Nothing left to delete.
    expect((await gc('--dry-run')).stdout.trim()).toMatch(/^would delete 0 objects/);
  });
});

describe('stevedore scrub', () => {
  it('finds a blob corrupted on disk and quarantines it', async () => {
    server = await startGcServer();
    const { reg, dataDir } = server;
    const repo = repoName('scrub');
    const p = imageParts(2);
    await reg.pushBlob(repo, p.config);
    for (const l of p.layers) await reg.pushBlob(repo, l);
    await reg.pushManifest(repo, 'v1', ociManifest(p.configDesc, p.layerDescs));
    const bad = p.layerDescs[1]!.digest;
    const hex = bad.slice('sha256:'.length);
    const dataPath = join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    const corrupted = Buffer.from(p.layers[1]!);
    corrupted[10] = corrupted[10]! ^ 0xff;
    await writeFile(dataPath, corrupted);

    const report = await scrub(driverFor(server));
    expect(report.checked).toBe(4);
    expect(report.problems).toEqual([{ kind: 'mismatch', digest: bad, actual: digestOf(corrupted), size: corrupted.length }]);

    const cli = await run(process.execPath, [CLI, 'scrub', '--data-dir', dataDir, '--quarantine']).then(
      () => {
        throw new Error('scrub should exit 1');
      },
      (err: { code: number; stdout: string }) => err,
    );
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`mismatch ${bad} (content hashes to ${digestOf(corrupted)}) quarantined`);
    expectStatus(await reg.get(`/v2/${repo}/blobs/${bad}`), 404);
    const clean = await scrub(driverFor(server));
    expect(clean.problems).toEqual([]);
    expect(clean.checked).toBe(3);
  });
});
