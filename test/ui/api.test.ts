// The web UI's read-only JSON endpoints over real HTTP: the figures the page shows (compressed
// sizes, platforms, times, kinds), their paging, filtering, and summaries that follow pushes and deletes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/index.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { pushTestImages, SBOM_TYPE, startRegistry, writeTestImages, type TestImages } from './ui-env.js';

let dir: string;
let server: RunningServer;
let images: TestImages;
let host: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-ui-api-'));
  server = await startRegistry(dir);
  host = new URL(server.url).host;
  images = await writeTestImages(dir);
  await pushTestImages(dir, host, { index: 'apps/web', image: 'apps/api' });
});

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function get<T>(path: string, status = 200): Promise<T> {
  const res = await fetch(new URL(path, server.url));
  expect(res.status, path).toBe(status);
  return (await res.json()) as T;
}

interface Row {
  tag: string;
  digest: string;
  kind: string;
  artifactType?: string;
  size: number;
  created?: string;
  pushed?: string;
  platforms: { os: string; architecture: string; variant?: string; attestation: boolean }[];
}
interface TagsPage {
  total: number;
  tags: Row[];
  next?: string;
  actions: string[];
}

describe('web UI endpoints', () => {
  it('describes tags: kind, compressed size, platforms, created and pushed times', async () => {
    const page = await get<TagsPage>('/v2/apps/api/_ui/tags');
    expect(page.total).toBe(3);
    expect(page.actions).toEqual(['pull', 'delete']);
    const byTag = Object.fromEntries(page.tags.map((t) => [t.tag, t]));
    const img = images.image;
    expect(byTag.v1).toMatchObject({ digest: img.manifest.digest, kind: 'image', created: '2024-01-01T00:00:00Z', platforms: [] });
    expect(byTag.v1!.size).toBe(img.manifest.bytes.length + img.blobs.reduce((s, b) => s + b.bytes.length, 0));
    expect(Date.now() - Date.parse(byTag.v1!.pushed!)).toBeLessThan(10 * 60_000);
    expect(byTag.sbom).toMatchObject({ kind: 'artifact', artifactType: SBOM_TYPE });
    const web = (await get<TagsPage>('/v2/apps/web/_ui/tags')).tags[0]!;
    expect(web.kind).toBe('index');
    expect(web.platforms.map((p) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`)).toEqual(['linux/amd64', 'linux/arm64/v8']);
    const idx = images.index;
    expect(web.size).toBe(idx.index.bytes.length + idx.images.reduce((s, i) => s + i.manifest.bytes.length + i.blobs.reduce((t, b) => t + b.bytes.length, 0), 0));
  });

  it('pages tags by name and filters repositories by substring', async () => {
    const first = await get<TagsPage>('/v2/apps/api/_ui/tags?n=2');
    expect(first.tags.map((t) => t.tag)).toEqual(['sbom', 'sig']);
    expect(first.next).toBe('sig');
    const second = await get<TagsPage>(`/v2/apps/api/_ui/tags?n=2&last=${first.next}`);
    expect(second.tags.map((t) => t.tag)).toEqual(['v1']);
    expect(second.next).toBeUndefined();
    expect(await get('/v2/_ui/repositories?q=WEB')).toEqual({ repositories: ['apps/web'], total: 1 });
    expect(await get('/v2/_ui/repositories?n=1')).toEqual({ repositories: ['apps/api'], total: 2, next: 'apps/api' });
    const bad = await get<{ errors: { code: string }[] }>('/v2/apps/api/_ui/tags?n=-1', 400);
    expect(bad.errors[0]!.code).toBe('PAGINATION_NUMBER_INVALID');
    const unknown = await get<{ errors: { code: string }[] }>('/v2/no/such/_ui/tags', 404);
    expect(unknown.errors[0]!.code).toBe('NAME_UNKNOWN');
  });

  it('keeps summaries in step with pushes and deletes on this server', async () => {
    type Summary = { tags: number; size: number; lastPush: string };
    const before = await get<Summary>('/v2/apps/api/_ui/summary');
    expect(before.tags).toBe(3);
    const img = images.image;
    // Each blob once: the two artifacts share the empty config.
    const distinct = new Map<string, number>();
    for (const b of [img.manifest, ...img.blobs, images.signature.manifest, ...images.signature.blobs, images.sbom.manifest, ...images.sbom.blobs]) distinct.set(b.descriptor.digest, b.bytes.length);
    expect(before.size).toBe([...distinct.values()].reduce((a, b) => a + b, 0));
    await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/apps/api:v2`);
    expect((await get<Summary>('/v2/apps/api/_ui/summary')).tags).toBe(4);
    expect((await fetch(new URL('/v2/apps/api/manifests/v2', server.url), { method: 'DELETE' })).status).toBe(202);
    expect((await get<Summary>('/v2/apps/api/_ui/summary')).tags).toBe(3);
  });
});
