// A garbage collection interrupted between its sweep and its final check (a crash) leaves blob
// data in the trash; a server starting up puts it back, so such a blob is not unavailable until
// the next collection.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../oci/index.js';
import { startServer } from '../../server/index.js';
import { FilesystemDriver, openRegistryStorage } from '../../storage/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gc-trash-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('garbage collection trash after a crash', () => {
  it('is restored when a server starts, whether or not it collects garbage itself', async () => {
    const content = Buffer.from('a layer a crashed collection had moved to the trash');
    const digest = digestOf(content);
    const driver = new FilesystemDriver({ rootDirectory: join(dir, 'data') });
    const storage = openRegistryStorage(driver);
    await storage.blobs.putContent(digest, content);
    await storage.blobs.link('app/web', digest);
    // What a run that died mid-sweep leaves: the data under /_gc/trash, the link still there.
    await driver.move(`/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`, `/_gc/trash/sha256/${digest.slice(7)}/data`);

    const srv = await startServer({ dataDir: join(dir, 'data'), addr: '127.0.0.1:0', logLevel: 'silent' });
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
