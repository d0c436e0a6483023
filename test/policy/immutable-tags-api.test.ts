// Immutable tags over HTTP against an in-process registry (policy.immutableTags): moving or
// deleting an immutable tag is the spec's DENIED naming the rule; the same manifest again is
// accepted; other tags stay mutable; retention never deletes an immutable tag.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGc } from '../../server/gc-scheduler.js';
import { FilesystemDriver } from '../../storage/index.js';
import { ACCEPT_ALL_MANIFESTS, expectError, expectStatus, pushImage, type Registry } from '../api/client.js';
import { startGcServer, type GcServer } from '../gc/gc-helpers.js';

let s: GcServer;
let reg: Registry;

beforeAll(async () => {
  s = await startGcServer({
    policy: {
      immutableTags: [
        { name: 'releases', repositories: ['team/**'], tags: ['release-*'] },
        { repositories: ['**'], semver: true },
      ],
    },
    gc: { gracePeriod: 0, retention: [{ repositories: ['**'], keepLast: 1 }] },
  });
  reg = s.reg;
}, 60_000);

afterAll(async () => {
  await s?.stop();
});

async function tagged(repo: string, tag: string): Promise<string | null> {
  const res = await reg.head(`/v2/${repo}/manifests/${tag}`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
  return res.status === 200 ? res.header('docker-content-digest') : null;
}

describe('immutable tags', () => {
  it('refuses moving an immutable tag to another manifest, naming the rule; the same manifest again is accepted', async () => {
    const repo = 'team/web';
    const a = await pushImage(reg, repo, 'release-1');
    // A CI job retried: the same manifest under the same tag.
    const again = await reg.put(`/v2/${repo}/manifests/release-1`, { headers: { 'content-type': a.manifest.mediaType }, body: a.manifest.bytes });
    expectStatus(again, 201);
    const b = await pushImage(reg, repo, scratchTag());
    const moved = await reg.put(`/v2/${repo}/manifests/release-1`, { headers: { 'content-type': b.manifest.mediaType }, body: b.manifest.bytes });
    const err = expectError(moved, 403, 'DENIED');
    expect(err.errors[0]!.message).toContain('tag release-1 of team/web is immutable under rule "releases"');
    expect(err.errors[0]!.message).toContain(a.manifest.digest);
    expect(err.errors[0]!.detail).toMatchObject({ rule: 'releases', tag: 'release-1', digest: a.manifest.digest });
    expect(await tagged(repo, 'release-1')).toBe(a.manifest.digest);
  });

  it('refuses deleting an immutable tag, or the manifest it points at', async () => {
    const repo = 'team/api';
    const a = await pushImage(reg, repo, 'release-7');
    expectError(await reg.delete(`/v2/${repo}/manifests/release-7`), 403, 'DENIED');
    const byDigest = expectError(await reg.delete(`/v2/${repo}/manifests/${a.manifest.digest}`), 403, 'DENIED');
    expect(byDigest.errors[0]!.message).toMatch(/tag release-7 of team\/api is immutable .*its manifest cannot be deleted/);
    expect(await tagged(repo, 'release-7')).toBe(a.manifest.digest);
    // An unknown tag under the rule is unknown, not denied.
    expectError(await reg.delete(`/v2/${repo}/manifests/release-8`), 404, 'MANIFEST_UNKNOWN');
  });

  it('leaves other tags and repositories mutable; semantic versions are immutable everywhere', async () => {
    const a = await pushImage(reg, 'team/web2', 'latest');
    const b = await pushImage(reg, 'team/web2', 'latest');
    expect(await tagged('team/web2', 'latest')).toBe(b.manifest.digest);
    expectStatus(await reg.delete(`/v2/team/web2/manifests/latest`), 202);
    expectStatus(await reg.delete(`/v2/team/web2/manifests/${a.manifest.digest}`), 202);
    // release-* is immutable in team/** only.
    await pushImage(reg, 'other/app', 'release-1');
    await pushImage(reg, 'other/app', 'release-1');
    // semver: true in every repository.
    const v = await pushImage(reg, 'other/app', 'v1.2.3');
    const w = await pushImage(reg, 'other/app', scratchTag());
    const moved = await reg.put(`/v2/other/app/manifests/v1.2.3`, { headers: { 'content-type': w.manifest.mediaType }, body: w.manifest.bytes });
    expect(expectError(moved, 403, 'DENIED').errors[0]!.message).toContain('"immutableTags[1]" (repositories **; semantic versions)');
    expect(await tagged('other/app', 'v1.2.3')).toBe(v.manifest.digest);
  });

  it('of two different manifests pushed at once to a new immutable tag, one wins and the other is refused', async () => {
    const repo = 'team/race';
    const images = [await pushImage(reg, repo, scratchTag()), await pushImage(reg, repo, scratchTag())];
    const results = await Promise.all(
      images.map((i) => reg.put(`/v2/${repo}/manifests/release-9`, { headers: { 'content-type': i.manifest.mediaType }, body: i.manifest.bytes })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 403]);
    const winner = images[results.findIndex((r) => r.status === 201)]!;
    expect(await tagged(repo, 'release-9')).toBe(winner.manifest.digest);
  });

  it('retention never deletes an immutable tag', async () => {
    const repo = 'team/retained';
    const old = await pushImage(reg, repo, 'release-2025');
    await pushImage(reg, repo, 'nightly-1');
    await pushImage(reg, repo, '2.0.0');
    await pushImage(reg, repo, 'nightly-2'); // the newest: keepLast 1 keeps it
    const driver = new FilesystemDriver({ rootDirectory: s.dataDir, noSync: true });
    const result = await runGc(driver, s.srv.config);
    const deleted = result.tags.filter((t) => t.repository === repo).map((t) => t.tag);
    expect(deleted).toEqual(['nightly-1']);
    expect(await tagged(repo, 'release-2025')).toBe(old.manifest.digest);
    expect(await tagged(repo, '2.0.0')).not.toBeNull();
    expect(await tagged(repo, 'nightly-1')).toBeNull();
  });
});

let n = 0;
/** A throwaway mutable tag. */
function scratchTag(): string {
  return `scratch-${++n}`;
}
