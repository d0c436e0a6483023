import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FilesystemDriver } from './filesystem-driver.js';
import { readGcRunRecord, writeGcRunRecord, type GcRunRecord } from './gc-run-record.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function store(): Promise<{ root: string; driver: FilesystemDriver }> {
  const root = await mkdtemp(join(tmpdir(), 'stevedore-gc-record-'));
  dirs.push(root);
  return { root, driver: new FilesystemDriver({ rootDirectory: root }) };
}

const run: GcRunRecord = {
  startedAt: '2026-12-03T10:00:00.000Z',
  finishedAt: '2026-12-03T10:00:02.000Z',
  ok: true,
  result: { bytesFreed: 1234, blobsFreed: 2 },
  by: { runner: 'command', host: 'ops-1', pid: 42 },
};

describe('the GC run record', () => {
  it('is read back as written, and the last write wins', async () => {
    const { driver } = await store();
    expect(await readGcRunRecord(driver)).toBeUndefined();
    await writeGcRunRecord(driver, run);
    expect(await readGcRunRecord(driver)).toEqual(run);
    const failed = { startedAt: run.startedAt, finishedAt: '2026-12-03T11:00:00.000Z', ok: false, error: 'disk full' };
    await writeGcRunRecord(driver, failed);
    expect(await readGcRunRecord(driver)).toEqual(failed);
  });

  it('lives at one path of the storage layout', async () => {
    const { root, driver } = await store();
    await writeGcRunRecord(driver, run);
    const { readFile } = await import('node:fs/promises');
    expect(JSON.parse(await readFile(join(root, '_gc', 'last-run.json'), 'utf8'))).toEqual(run);
  });

  it('reads a damaged or foreign record as none (the page still shows)', async () => {
    const { root, driver } = await store();
    await mkdir(join(root, '_gc'), { recursive: true });
    for (const text of ['{"startedAt": "x"', 'null', '[]', '{"ok": true}', '"text"']) {
      await writeFile(join(root, '_gc', 'last-run.json'), text);
      expect(await readGcRunRecord(driver), text).toBeUndefined();
    }
  });
});
