// Storage quotas over HTTP against an in-process registry (policy.quotas): usage accounted on
// push, mount and manifest push (unique bytes: a blob counts once however many repositories of the
// namespace link it), uploads that would exceed refused with DENIED before their data is written
// when the size is known and at the latest on commit, nothing partial left; usage through
// GET /v2/_quotas and the metrics; corrected by garbage collection after deletes.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../oci/index.js';
import { runGc } from '../../server/gc-scheduler.js';
import { loadConfig, startServer } from '../../server/index.js';
import { FilesystemDriver } from '../../storage/index.js';
import { configBlob, expectError, expectStatus, ociManifest, randomBlob, Registry } from '../api/client.js';
import { startGcServer, type GcServer } from '../gc/gc-helpers.js';

const LIMIT = 10_000;
let s: GcServer;
let reg: Registry;

beforeAll(async () => {
  s = await startGcServer({
    policy: { quotas: [{ name: 'team-a', repositories: ['team-a/**'], limit: LIMIT }], quotaUsageMaxAge: 0 },
    gc: { gracePeriod: 0 },
  });
  reg = s.reg;
}, 60_000);

afterAll(async () => {
  await s?.stop();
});

interface Q {
  name: string;
  usedBytes: number;
  limitBytes: number;
  blobs: number;
}
async function usage(): Promise<Q> {
  const res = await reg.get('/v2/_quotas');
  expectStatus(res, 200);
  return res.json<{ quotas: Q[] }>().quotas.find((q) => q.name === 'team-a')!;
}

async function uploadsLeft(): Promise<string[]> {
  return readdir(join(s.dataDir, 'uploads')).catch(() => []);
}

async function blobStored(data: Buffer): Promise<boolean> {
  const hex = digestOf(data).slice('sha256:'.length);
  return readdir(join(s.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex)).then(() => true, () => false);
}

function monolithic(repo: string, data: Buffer) {
  return reg.post(`/v2/${repo}/blobs/uploads/`, { query: { digest: digestOf(data) }, headers: { 'content-type': 'application/octet-stream' }, body: data });
}

describe('storage quotas', () => {
  const a = randomBlob(4000);

  it('counts unique bytes on push and mount, and answers them through the API', async () => {
    expect(await usage()).toMatchObject({ usedBytes: 0, limitBytes: LIMIT, blobs: 0 });
    expectStatus(await monolithic('team-a/one', a), 201);
    expect((await usage()).usedBytes).toBe(4000);
    // Mounted into a second repository of the namespace, pushed again: still once.
    expectStatus(await reg.post('/v2/team-a/two/blobs/uploads/', { query: { mount: digestOf(a), from: 'team-a/one' } }), 201);
    await reg.pushBlob('team-a/two', a);
    expect(await usage()).toMatchObject({ usedBytes: 4000, blobs: 1 });
    // Other repositories are not in the namespace.
    await reg.pushBlob('other/x', randomBlob(20_000));
    expect((await usage()).usedBytes).toBe(4000);
  });

  it('refuses a monolithic upload that would exceed before writing it, with quota and usage in the message', async () => {
    const big = randomBlob(7000);
    const err = expectError(await monolithic('team-a/one', big), 403, 'DENIED');
    expect(err.errors[0]!.message).toBe(
      'storage quota "team-a" (team-a/**) exceeded: 3.9 KiB of 9.8 KiB used (4000 of 10000 bytes), this upload needs 6.8 KiB more',
    );
    expect(err.errors[0]!.detail).toEqual({ quota: 'team-a', limit: LIMIT, used: 4000, requested: 7000 });
    expect(await blobStored(big)).toBe(false);
    expect(await uploadsLeft()).toEqual([]);
  });

  it('refuses a chunk whose Content-Range passes the quota, and drops the whole upload', async () => {
    const loc = await reg.startUpload('team-a/one');
    const first = randomBlob(3000);
    expectStatus(await reg.patch(loc, { headers: { 'content-range': '0-2999', 'content-type': 'application/octet-stream' }, body: first }), 202);
    const second = randomBlob(3500);
    const res = await reg.patch(loc, { headers: { 'content-range': '3000-6499', 'content-type': 'application/octet-stream' }, body: second });
    expect(expectError(res, 403, 'DENIED').errors[0]!.detail).toMatchObject({ used: 4000, requested: 6500 });
    expectError(await reg.get(loc), 404, 'BLOB_UPLOAD_UNKNOWN');
    expect(await uploadsLeft()).toEqual([]);
  });

  it('stops a streamed chunk (no announced size) once it passes the quota, and drops the upload', async () => {
    const loc = await reg.startUpload('team-a/one');
    const data = randomBlob(64 * 1024);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < data.length; i += 8192) c.enqueue(data.subarray(i, i + 8192));
        c.close();
      },
    });
    const res = await reg.patch(loc, { headers: { 'content-type': 'application/octet-stream' }, body });
    expect(expectError(res, 403, 'DENIED').errors[0]!.message).toMatch(/^storage quota "team-a" .* this upload needs at least [\d.]+ KiB more$/);
    expectError(await reg.get(loc), 404, 'BLOB_UPLOAD_UNKNOWN');
    expect(await uploadsLeft()).toEqual([]);
  });

  it('checks again on commit: of two uploads that fit alone, the second to commit is refused', async () => {
    const x = randomBlob(3000);
    const y = randomBlob(3100);
    const locX = await reg.startUpload('team-a/one');
    const locY = await reg.startUpload('team-a/two');
    const xPatched = await reg.patch(locX, { headers: { 'content-range': '0-2999' }, body: x });
    const yPatched = await reg.patch(locY, { headers: { 'content-range': '0-3099' }, body: y });
    expectStatus(xPatched, 202);
    expectStatus(yPatched, 202);
    expectStatus(await reg.put(xPatched.location(), { query: { digest: digestOf(x) } }), 201);
    expect((await usage()).usedBytes).toBe(7000);
    const refused = expectError(await reg.put(yPatched.location(), { query: { digest: digestOf(y) } }), 403, 'DENIED');
    expect(refused.errors[0]!.detail).toMatchObject({ used: 7000, requested: 3100 });
    expect(await blobStored(y)).toBe(false);
    expect(await uploadsLeft()).toEqual([]);
    // A blob the namespace already counts is accepted even now: it adds nothing.
    expectStatus(await monolithic('team-a/three', a), 201);
  });

  it('refuses a mount that would exceed', async () => {
    const other = randomBlob(5000);
    await reg.pushBlob('other/x', other);
    const res = await reg.post('/v2/team-a/one/blobs/uploads/', { query: { mount: digestOf(other), from: 'other/x' } });
    expectError(res, 403, 'DENIED');
    expectError(await reg.head(`/v2/team-a/one/blobs/${digestOf(other)}`), 404, []);
  });

  it('shows usage in the metrics', async () => {
    const text = await (await fetch(s.srv.metricsUrl!)).text();
    expect(text).toContain('stevedore_quota_used_bytes{quota="team-a"} 7000');
    expect(text).toContain(`stevedore_quota_limit_bytes{quota="team-a"} ${LIMIT}`);
    expect(text).toMatch(/stevedore_quota_denied_total\{quota="team-a"\} [5-9]/);
  });

  it('counts manifests, and garbage collection takes back what deletes freed', async () => {
    const image = async (tag: string) => {
      const config = configBlob();
      const cfg = await reg.pushBlob('team-a/app', config);
      const layer = await reg.pushBlob('team-a/app', randomBlob(500));
      const m = ociManifest(cfg, [layer]);
      await reg.pushManifest('team-a/app', tag, m);
      return { m, bytes: config.length + 500 + m.size };
    };
    const kept = await image('v1');
    const dropped = await image('v2');
    const before = (await usage()).usedBytes;
    expect(before).toBe(7000 + kept.bytes + dropped.bytes);
    expectStatus(await reg.delete(`/v2/team-a/app/manifests/${dropped.m.digest}`), 202);
    // Deleting unlinks only: the bytes are still stored and counted until GC.
    expect((await usage()).usedBytes).toBe(before);
    const result = await runGc(new FilesystemDriver({ rootDirectory: s.dataDir, noSync: true }), s.srv.config);
    // GC (grace period 0) also takes the blobs no manifest references: what is left is image v1.
    expect(result.quotas).toEqual([expect.objectContaining({ bytes: kept.bytes, blobs: 3 })]);
    expect(await usage()).toMatchObject({ usedBytes: kept.bytes, blobs: 3 });
  });
});

describe('a quota added to a registry that already holds data', () => {
  it('is computed from storage at start', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'stevedore-quota-start-'));
    const start = (policy: object) =>
      startServer({
        config: loadConfig({
          overrides: { http: { addr: '127.0.0.1:0' }, log: { level: 'silent' }, storage: { filesystem: { rootDirectory: dataDir }, uploadPurging: { enabled: false } }, policy },
        }),
      });
    try {
      const before = await start({});
      const early = new Registry(before.url.replace(/\/+$/, ''));
      await early.pushBlob('late/app', randomBlob(1234));
      await early.pushBlob('late/other', randomBlob(766));
      await before.close();
      const after = await start({ quotas: [{ name: 'late', repositories: ['late/**'], limit: 1_000_000 }], quotaUsageMaxAge: 0 });
      try {
        const r = new Registry(after.url.replace(/\/+$/, ''));
        await expect.poll(async () => (await r.get('/v2/_quotas')).json<{ quotas: Q[] }>().quotas[0]).toMatchObject({ usedBytes: 2000, blobs: 2 });
      } finally {
        await after.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
