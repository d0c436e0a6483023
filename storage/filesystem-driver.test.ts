import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidPathError, PathNotFoundError } from './driver.js';
import { FilesystemDriver } from './filesystem-driver.js';

let root: string;
let driver: FilesystemDriver;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'fsdriver-'));
  driver = new FilesystemDriver({ rootDirectory: root });
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('FilesystemDriver', () => {
  it('writes and reads small objects, replacing atomically without leaving temporary files', async () => {
    await driver.putContent('/a/b/c', Buffer.from('one'));
    await driver.putContent('/a/b/c', Buffer.from('two'));
    expect((await driver.getContent('/a/b/c')).toString()).toBe('two');
    expect(await readdir(join(root, 'a/b'))).toEqual(['c']);
  });

  it('a put without fsyncs is there at once, and syncContent makes it durable later; a missing object cannot be synced', async () => {
    await driver.putContent('/uploads/u1/info', Buffer.from('{}'), { durable: false });
    expect((await driver.getContent('/uploads/u1/info')).toString()).toBe('{}');
    expect(await readdir(join(root, 'uploads/u1'))).toEqual(['info']);
    await driver.syncContent('/uploads/u1/info');
    await expect(driver.syncContent('/uploads/u2/info')).rejects.toBeInstanceOf(PathNotFoundError);
  });

  it('purges what killed writes left (.tmp-* files and directories) once old, never recent ones or data', async () => {
    await driver.putContent('/repo/_manifests/tags/v1/current/link', Buffer.from('sha256:x'));
    const dir = join(root, 'repo/_manifests/tags/v1/current');
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await writeFile(join(dir, '.tmp-killed'), 'half');
    await mkdir(join(root, 'repo/.tmp-del-killed/sub'), { recursive: true });
    for (const p of [join(dir, '.tmp-killed'), join(root, 'repo/.tmp-del-killed')]) await utimes(p, old, old);
    await writeFile(join(dir, '.tmp-in-progress'), 'now');
    // Uploads are kept a week, but a temporary file an hour old is dead.
    expect(await driver.purgeStale(new Date(Date.now() - 7 * 86_400_000))).toBe(2);
    expect((await readdir(dir)).sort()).toEqual(['.tmp-in-progress', 'link']);
    expect(await readdir(join(root, 'repo'))).toEqual(['_manifests']);
  });

  it('streams ranges', async () => {
    await driver.putContent('/f', Buffer.from('0123456789'));
    expect(await text(await driver.reader('/f', 2, 4))).toBe('234');
    expect(await text(await driver.reader('/f', 7))).toBe('789');
  });

  it('reports missing paths as PathNotFoundError', async () => {
    await expect(driver.getContent('/missing')).rejects.toBeInstanceOf(PathNotFoundError);
    await expect(driver.reader('/missing')).rejects.toBeInstanceOf(PathNotFoundError);
    await expect(driver.stat('/missing')).rejects.toBeInstanceOf(PathNotFoundError);
    await expect(driver.list('/missing')).rejects.toBeInstanceOf(PathNotFoundError);
    await expect(driver.delete('/missing')).rejects.toBeInstanceOf(PathNotFoundError);
    await expect(driver.move('/missing', '/x')).rejects.toBeInstanceOf(PathNotFoundError);
  });

  it('refuses paths that could leave the root', async () => {
    for (const p of ['/../etc/passwd', 'relative', '/a/../../b', '/a//b', '/a/./b', '/a b', '/']) {
      await expect(driver.getContent(p)).rejects.toBeInstanceOf(InvalidPathError);
    }
  });

  it('appends to resumable writers across sessions', async () => {
    const w1 = await driver.writer('/up/data', false);
    await w1.write(Buffer.from('abc'));
    await w1.commit();
    await w1.close();
    const w2 = await driver.writer('/up/data', true);
    expect(w2.size).toBe(3);
    await w2.write(Buffer.from('def'));
    await w2.commit();
    await w2.close();
    expect((await driver.getContent('/up/data')).toString()).toBe('abcdef');
  });

  it('writes chunks of any size in order, across its write batches', async () => {
    // Sizes around the 1 MiB write batch: small ones gathered, one that fills a batch and spills
    // over, one of a whole batch and more, then small ones again.
    const sizes = [3, 65_536, 700_000, 500_000, 2 * 1024 * 1024 + 5, 65_536, 1, 1024 * 1024 - 7, 40_000];
    const chunks = sizes.map((n, i) => Buffer.alloc(n, i + 1));
    const w = await driver.writer('/up/chunks', false);
    for (const chunk of chunks) await w.write(chunk);
    expect(w.size).toBe(sizes.reduce((a, b) => a + b, 0));
    await w.commit();
    await w.close();
    expect((await driver.getContent('/up/chunks')).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('never writes through a second name of a file: appending refuses it, creating replaces it', async () => {
    await driver.putContent('/up/data', Buffer.from('committed'));
    await driver.linkFile('/up/data', '/blobs/x/data');
    await expect(driver.writer('/up/data', true)).rejects.toMatchObject({ name: 'FileLinkedError', kind: 'conflict' });
    const w = await driver.readableWriter('/up/data');
    await w.write(Buffer.from('new'));
    await w.commit();
    await w.close();
    expect((await driver.getContent('/blobs/x/data')).toString()).toBe('committed');
    expect((await driver.getContent('/up/data')).toString()).toBe('new');
  });

  it('lists children, moves and deletes trees', async () => {
    await driver.putContent('/d/x/1', Buffer.from('1'));
    await driver.putContent('/d/y', Buffer.from('2'));
    expect((await driver.list('/d')).sort()).toEqual(['/d/x', '/d/y']);
    await driver.move('/d/y', '/e/z');
    expect((await driver.getContent('/e/z')).toString()).toBe('2');
    await driver.delete('/d');
    await expect(driver.stat('/d/x/1')).rejects.toBeInstanceOf(PathNotFoundError);
    expect(await readdir(root)).toEqual(['e']);
  });
});
