import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../oci/index.js';
import { FilesystemDriver } from './filesystem-driver.js';
import { openRegistryStorage } from './index.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'catalog-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('RepositoryCatalog', () => {
  it('lists every repository written to, nested names included, in lexical order, from one listing', async () => {
    const driver = new FilesystemDriver({ rootDirectory: root });
    const s = openRegistryStorage(driver);
    const d = digestOf('x');
    await s.blobs.putContent(d, Buffer.from('x'));
    for (const repo of ['b', 'a/b/c', 'a', 'a-b', 'a.b', 'a_b']) await s.blobs.link(repo, d);
    await s.manifests.put('m/only', { digest: d, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1 }, Buffer.from('x'));
    const expected = ['a', 'a-b', 'a.b', 'a/b/c', 'a_b', 'b', 'm/only'];
    expect(await s.catalog.list()).toEqual(expected);
    // The catalog is one directory listing, not a walk of /repositories.
    let lists = 0;
    const list = driver.list.bind(driver);
    driver.list = (p) => {
      lists++;
      return list(p);
    };
    expect(await openRegistryStorage(driver).catalog.list()).toEqual(expected);
    expect(lists).toBe(1);
  });

  it('walks /repositories in a store written before the catalog index existed', async () => {
    const driver = new FilesystemDriver({ rootDirectory: root });
    const d = digestOf('y');
    await driver.putContent(`/repositories/old/repo/_layers/sha256/${d.slice(7)}/link`, Buffer.from(d));
    expect(await openRegistryStorage(driver).catalog.list()).toEqual(['old/repo']);
  });
});
