import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../oci/index.js';
import { ContentMismatchError } from '../../util/errors.js';
import { ContentStore } from './content-store.js';

const roots: string[] = [];
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

async function root(): Promise<string> {
  const r = await mkdtemp(join(tmpdir(), 'content-store-'));
  roots.push(r);
  return r;
}

describe('ContentStore', () => {
  it('keeps content/ readable by its owner only (pulled blobs may be private)', async () => {
    const r = await root();
    const bytes = Buffer.from('{"private":true}');
    await new ContentStore(r).putBytes(digestOf(bytes), bytes);
    expect((await stat(join(r, 'content'))).mode & 0o777).toBe(0o700);
  });

  it('tightens a content/ directory an older version left world-readable', async () => {
    const r = await root();
    await mkdir(join(r, 'content'), { mode: 0o755 });
    const bytes = Buffer.from('layer');
    await new ContentStore(r).putBytes(digestOf(bytes), bytes);
    expect((await stat(join(r, 'content'))).mode & 0o777).toBe(0o700);
  });

  it('refuses a small blob (an image config) whose bytes changed on disk, and reads it intact', async () => {
    const r = await root();
    const store = new ContentStore(r);
    const bytes = Buffer.from(JSON.stringify({ config: { Cmd: ['sh'] }, pad: 'x'.repeat(1500) }));
    const digest = digestOf(bytes);
    await store.putBytes(digest, bytes);
    expect((await store.readBytes(digest)).equals(bytes)).toBe(true);
    await writeFile(store.path(digest), Buffer.from(bytes.toString().replace('sh', 'id')));
    await expect(store.readBytes(digest)).rejects.toBeInstanceOf(ContentMismatchError);
  });
});
