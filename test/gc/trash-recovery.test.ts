// A garbage collection interrupted between its sweep and its final check (a crash) leaves blob
// data in the trash; a server starting up puts it back, so such a blob is not unavailable until
// the next collection.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, type Digest } from '../../oci/index.js';
import { startServer } from '../../server/index.js';
import { FilesystemDriver, openRegistryStorage } from '../../storage/index.js';
import { layout } from '../../storage/layout.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gc-trash-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const TRASH = {
  // One file per blob, as this version's collection moves data.
  current: (digest: Digest) => layout.gcTrash(digest),
  // A directory per blob, as versions before 2026-12 left it.
  older: (digest: Digest) => `/_gc/trash/sha256/${digest.slice(7)}/data`,
};

describe('garbage collection trash after a crash', () => {
  it.each(Object.keys(TRASH) as (keyof typeof TRASH)[])('is restored when a server starts, whether or not it collects garbage itself (%s layout)', async (form) => {
    const content = Buffer.from(`a layer a crashed collection had moved to the trash (${form})`);
    const digest = digestOf(content);
    const data = join(dir, form);
    const driver = new FilesystemDriver({ rootDirectory: data });
    const storage = openRegistryStorage(driver);
    await storage.blobs.putContent(digest, content);
    await storage.blobs.link('app/web', digest);
    // What a run that died mid-sweep leaves: the data under /_gc/trash, the link still there.
    await driver.move(`/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`, TRASH[form](digest));

    const srv = await startServer({ dataDir: data, addr: '127.0.0.1:0', logLevel: 'silent' });
    try {
      let status = 0;
      for (let i = 0; i < 400 && status !== 200; i++) {
        status = (await fetch(`${srv.url}/v2/app/web/blobs/${digest}`, { method: 'HEAD' })).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 25));
      }
      expect(status).toBe(200);
      const res = await fetch(`${srv.url}/v2/app/web/blobs/${digest}`);
      expect(Buffer.from(await res.arrayBuffer()).equals(content)).toBe(true);
    } finally {
      await srv.close();
    }
  });
});
