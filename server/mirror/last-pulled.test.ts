import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../oci/index.js';
import { FilesystemDriver } from '../../storage/index.js';
import { LastPulled } from './last-pulled.js';

const D = `sha256:${'a'.repeat(64)}` as Digest;
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function driver(): Promise<FilesystemDriver> {
  const dir = await mkdtemp(join(tmpdir(), 'last-pulled-'));
  dirs.push(dir);
  return new FilesystemDriver({ rootDirectory: dir });
}

describe('LastPulled across processes', () => {
  it("hands a worker's pulls to the leader, the later time winning, each pull once", async () => {
    const leader = new LastPulled(await driver());
    const worker = new LastPulled(await driver(), false);
    worker.trackRecent();
    leader.touch('up/a', D, 5_000);
    worker.touch('up/a', D, 1_000);
    worker.touch('up/b', D, 2_000);
    const sent = worker.takeRecent();
    expect(sent).toEqual([['up/a@' + D, 1_000], ['up/b@' + D, 2_000]]);
    expect(worker.takeRecent()).toEqual([]);
    leader.merge(sent);
    expect(await leader.get('up/a', D)).toBe(5_000);
    expect(await leader.get('up/b', D)).toBe(2_000);
  });

  it('saves only in the process that keeps the record', async () => {
    const d = await driver();
    const worker = new LastPulled(d, false);
    worker.touch('up/a', D, 1_000);
    await worker.save();
    const fresh = new LastPulled(d);
    expect(await fresh.get('up/a', D)).toBeUndefined();
    const leader = new LastPulled(d);
    leader.touch('up/a', D, 3_000);
    await leader.save();
    expect(await new LastPulled(d).get('up/a', D)).toBe(3_000);
  });
});
