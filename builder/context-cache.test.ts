import { lstatSync } from 'node:fs';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContextDigestCache } from './context-cache.js';

describe('ContextDigestCache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ctx-cache-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A file whose times are well in the past (not racy). */
  async function oldFile(name: string, content: string): Promise<string> {
    const f = join(dir, name);
    await writeFile(f, content);
    await utimes(f, 1_000_000, 1_000_000);
    return f;
  }

  it('remembers a digest across opens while the stat is unchanged', async () => {
    const f = await oldFile('a', 'hello');
    const root = join(dir, 'root');
    const c1 = await ContextDigestCache.open(root, dir);
    c1.record(f, lstatSync(f), 'd1', Date.now() + 5000);
    await c1.save();
    const c2 = await ContextDigestCache.open(root, dir);
    expect(c2.lookup(f, lstatSync(f))).toBe('d1');
    // Another context directory has a cache of its own.
    expect((await ContextDigestCache.open(root, join(dir, 'other'))).lookup(f, lstatSync(f))).toBeUndefined();
  });

  it('misses once the content (size, times) changes', async () => {
    const f = await oldFile('a', 'hello');
    const c = ContextDigestCache.memory();
    c.record(f, lstatSync(f), 'd1', Date.now() + 5000);
    expect(c.lookup(f, lstatSync(f))).toBe('d1');
    await writeFile(f, 'hello, world');
    await utimes(f, 1_000_000, 1_000_000);
    expect(c.lookup(f, lstatSync(f))).toBeUndefined();
  });

  it('misses when only the change time moved (same size, mtime put back)', async () => {
    const f = await oldFile('a', 'hello');
    const c = ContextDigestCache.memory();
    const before = lstatSync(f);
    c.record(f, before, 'd1', before.ctimeMs + 5000);
    expect(c.lookup(f, lstatSync(f))).toBe('d1');
    // Rewritten until the clock (coarse: one tick) shows a new change time.
    for (let i = 0; i < 10_000 && lstatSync(f).ctimeMs === before.ctimeMs; i++) {
      await writeFile(f, 'HELLO');
      await utimes(f, 1_000_000, 1_000_000);
    }
    expect(lstatSync(f).size).toBe(before.size);
    expect(lstatSync(f).mtimeMs).toBe(before.mtimeMs);
    expect(c.lookup(f, lstatSync(f))).toBeUndefined();
  });

  it('does not remember a file changed just before it was read (racy)', async () => {
    const f = join(dir, 'fresh');
    await writeFile(f, 'x');
    const c = ContextDigestCache.memory();
    c.record(f, lstatSync(f), 'd1');
    expect(c.lookup(f, lstatSync(f))).toBeUndefined();
  });

  it('starts empty from a damaged cache file', async () => {
    const root = join(dir, 'root');
    const f = await oldFile('a', 'hello');
    const c1 = await ContextDigestCache.open(root, dir);
    c1.record(f, lstatSync(f), 'd1', Date.now() + 5000);
    await c1.save();
    const { readdir } = await import('node:fs/promises');
    const cacheDir = join(root, 'builder', 'context-cache');
    const [name] = await readdir(cacheDir);
    await writeFile(join(cacheDir, name!), '{not json');
    expect((await ContextDigestCache.open(root, dir)).lookup(f, lstatSync(f))).toBeUndefined();
  });
});
