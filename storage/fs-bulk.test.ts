// The filesystem's bulk session, on its worker thread (the compiled one, which the test set-up
// builds) and in place, over the same tree: both give the same answers.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../oci/index.js';
import { FsBulkSession } from './fs-bulk.js';
import { layout } from './layout.js';

const COMPILED_WORKER = new URL('../dist/storage/fs-bulk-worker.js', import.meta.url);
const a = digestOf('a');
const b = digestOf('b');
let root: string;

async function put(path: string, content = 'x', mtime?: Date): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content);
  if (mtime) await utimes(join(root, path), mtime, mtime);
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'fs-bulk-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const old = new Date(Date.now() - 3_600_000);

for (const mode of ['worker', 'in place'] as const) {
  describe(`filesystem bulk session (${mode})`, () => {
    const open = () => new FsBulkSession(root, true, mode === 'in place' ? { inPlace: true } : { worker: COMPILED_WORKER });

    it('finds the files the patterns name, with sizes and times, and nothing else', async () => {
      await put(layout.layerLink('team/app', a), a, old);
      await put(layout.revisionLink('app', b), '{}');
      await put(layout.tagLink('app', 'v1'), b);
      await put(layout.tagIndexLink('app', 'v1', b), b);
      await put(`${dirname(layout.layerLink('app', b))}/.tmp-123`, 'partial');
      await mkdir(dirname(join(root, layout.layerLink('app', digestOf('empty')))), { recursive: true }); // a link directory without its link
      await put(layout.blobData(a), 'hello', old);
      const s = open();
      try {
        const links = await s.find(layout.repositoryLinkPatterns);
        expect(links.map((f) => f.path).sort()).toEqual([layout.layerLink('team/app', a), layout.revisionLink('app', b), layout.tagLink('app', 'v1')].sort());
        const layer = links.find((f) => f.path === layout.layerLink('team/app', a))!;
        expect(layer.size).toBe(a.length);
        expect(layer.modTime.getTime()).toBe(old.getTime());
        expect(await s.find([layout.blobDataPattern])).toEqual([{ path: layout.blobData(a), size: 5, modTime: old, isDir: false }]);
        expect(await s.find(['/nothing/*/here'])).toEqual([]);
      } finally {
        await s.close();
      }
    });

    it('without stat, names links by their directories: no sizes or times, and a directory without its link too', async () => {
      await put(layout.layerLink('app', a), a, old);
      await mkdir(join(root, dirname(layout.layerLink('app', b))), { recursive: true }); // no link in it
      const s = open();
      try {
        const named = await s.find(layout.repositoryLinkPatterns, { stat: false });
        expect(named.sort((x, y) => (x.path < y.path ? -1 : 1))).toEqual(
          [layout.layerLink('app', a), layout.layerLink('app', b)].sort().map((path) => ({ path, size: 0, modTime: new Date(0), isDir: false })),
        );
        // With stat (the default), only the link that is there, with its size and time.
        expect(await s.find(layout.repositoryLinkPatterns)).toEqual([{ path: layout.layerLink('app', a), size: a.length, modTime: old, isDir: false }]);
      } finally {
        await s.close();
      }
    });

    it('reads many files, undefined where absent', async () => {
      await put('/x/one', 'first');
      await put('/x/two', 'second');
      const s = open();
      try {
        const got = await s.getContents(['/x/one', '/x/absent', '/x/two']);
        expect(got.map((b) => b?.toString())).toEqual(['first', undefined, 'second']);
      } finally {
        await s.close();
      }
    });

    it('deletes files and trees only where the check is older than the cutoff', async () => {
      const cutoff = Date.now() - 60_000;
      await put(layout.layerLink('app', a), a, old);
      await put(layout.layerLink('app', b), b); // young: kept
      await put('/_gc/trash/sha256/f1', 'data', old);
      const s = open();
      try {
        const outcomes = await s.deleteMany(
          [
            { path: dirname(layout.layerLink('app', a)), check: layout.layerLink('app', a) },
            { path: dirname(layout.layerLink('app', b)), check: layout.layerLink('app', b) },
            { path: dirname(layout.layerLink('app', digestOf('c'))), check: layout.layerLink('app', digestOf('c')) },
            { path: '/_gc/trash/sha256/f1' },
            { path: '/_gc/trash/sha256/absent' },
          ],
          cutoff,
        );
        expect(outcomes).toEqual(['done', 'young', 'missing', 'done', 'missing']);
        // Gone without a trace (no renamed-aside leftovers); the young link is still there.
        expect(await readdir(join(root, '/repositories/app/_layers/sha256'))).toEqual([b.slice(7)]);
        expect(await readdir(join(root, '/_gc/trash/sha256'))).toEqual([]);
      } finally {
        await s.close();
      }
    });

    it('deletes a link directory that holds more than its link, and a tree without a check, whole', async () => {
      const cutoff = Date.now() - 60_000;
      await put(layout.layerLink('app', a), a, old);
      await put(`${dirname(layout.layerLink('app', a))}/.tmp-left-behind`, 'partial');
      await put('/tree/x/one', '1');
      await put('/tree/two', '2');
      const s = open();
      try {
        const outcomes = await s.deleteMany([{ path: dirname(layout.layerLink('app', a)), check: layout.layerLink('app', a) }, { path: '/tree' }], cutoff);
        expect(outcomes).toEqual(['done', 'done']);
        expect(await readdir(join(root, '/repositories/app/_layers/sha256'))).toEqual([]);
        expect(await readdir(root)).toEqual(['repositories']);
      } finally {
        await s.close();
      }
    });

    it('moves files where the check passes, creating directories', async () => {
      const cutoff = Date.now() - 60_000;
      await put(layout.blobData(a), 'A', old);
      await put(layout.blobData(b), 'B');
      const s = open();
      try {
        const outcomes = await s.moveMany(
          [
            { from: layout.blobData(a), to: layout.gcTrash(a), check: layout.blobData(a) },
            { from: layout.blobData(b), to: layout.gcTrash(b), check: layout.blobData(b) },
          ],
          { olderThan: cutoff, durable: true },
        );
        expect(outcomes).toEqual(['done', 'young']);
        expect((await stat(join(root, layout.gcTrash(a)))).size).toBe(1);
        await expect(stat(join(root, layout.blobData(a)))).rejects.toThrow();
        expect((await stat(join(root, layout.blobData(b)))).size).toBe(1);
      } finally {
        await s.close();
      }
    });

    it('refuses paths that could leave the root', async () => {
      const s = open();
      try {
        await expect(s.getContents(['/../etc/passwd'])).rejects.toThrow(/invalid storage path/);
        await expect(s.deleteMany([{ path: '/a/../../b' }])).rejects.toThrow(/invalid storage path/);
      } finally {
        await s.close();
      }
    });
  });
}

// The compiled module (the sources have no worker to start ahead), in a process of its own.
describe('a bulk thread started ahead (prestartBulkThread)', () => {
  const COMPILED = new URL('../dist/storage/fs-bulk.js', import.meta.url).href;
  const node = async (script: string) => {
    const file = join(root, 'script.mjs');
    await writeFile(file, script);
    return (await promisify(execFile)(process.execPath, [file], { timeout: 30_000 })).stdout.trim();
  };

  it('is taken by the next session, which it answers (held referenced while it works)', async () => {
    await put(layout.layerLink('app', a), a);
    const out = await node(`
      const { prestartBulkThread, FsBulkSession } = await import(${JSON.stringify(COMPILED)});
      prestartBulkThread();
      const s = new FsBulkSession(${JSON.stringify(root)}, true);
      console.log((await s.find(['/repositories/*/_layers/*/*/link'])).map((f) => f.path).join());
      await s.close();`);
    expect(out).toBe(layout.layerLink('app', a));
  });

  it('does not keep a process alive when no session takes it (storage that is not local)', async () => {
    const started = Date.now();
    const out = await node(`
      const { prestartBulkThread } = await import(${JSON.stringify(COMPILED)});
      prestartBulkThread();
      console.log('done');`);
    expect(out).toBe('done');
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
