import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FilesystemDriver, readGcRunRecord, type StorageDriver } from '../storage/index.js';
import { layout } from '../storage/layout.js';
import { loadConfig } from './config.js';
import { runGc } from './gc-scheduler.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function driver(): Promise<FilesystemDriver> {
  const root = await mkdtemp(join(tmpdir(), 'stevedore-rungc-'));
  dirs.push(root);
  return new FilesystemDriver({ rootDirectory: root });
}

const gc = loadConfig({ overrides: {} });

describe('runGc records its run in the storage', () => {
  it('records a real run with its summary and who ran it; a dry run leaves no record', async () => {
    const d = await driver();
    await runGc(d, gc, { dryRun: true });
    expect(await readGcRunRecord(d)).toBeUndefined();
    const before = Date.now();
    const result = await runGc(d, gc, { runner: 'scheduler' });
    expect(result.recordError).toBeUndefined();
    const record = await readGcRunRecord(d);
    expect(record).toMatchObject({ ok: true, result: { dryRun: false, bytesFreed: 0, blobsFreed: 0 }, by: { runner: 'scheduler', host: hostname(), pid: process.pid } });
    expect(Date.parse(record!.finishedAt)).toBeGreaterThanOrEqual(before);
    await runGc(d, gc);
    expect((await readGcRunRecord(d))?.by?.runner).toBe('command');
  });

  it('records a failed run with its error, and rethrows it', async () => {
    const d = await driver();
    // A store that cannot be listed (a fault only a broken backend produces).
    const broken: StorageDriver = Object.assign(Object.create(d) as StorageDriver, {
      walk: () => Promise.reject(new Error('listing failed')),
      list: () => Promise.reject(new Error('listing failed')),
    });
    await expect(runGc(broken, gc)).rejects.toThrow('listing failed');
    expect(await readGcRunRecord(d)).toMatchObject({ ok: false, error: 'listing failed' });
  });

  it('still succeeds when the record cannot be written, and says so', async () => {
    const d = await driver();
    const readOnlyRecord: StorageDriver = Object.assign(Object.create(d) as StorageDriver, {
      putContent: (path: string, content: Uint8Array) => (path === layout.gcLastRun ? Promise.reject(new Error('quota exceeded')) : d.putContent(path, content)),
    });
    const result = await runGc(readOnlyRecord, gc);
    expect(result.gc.dryRun).toBe(false);
    expect(result.recordError?.message).toBe('quota exceeded');
    expect(await readGcRunRecord(d)).toBeUndefined();
  });
});
