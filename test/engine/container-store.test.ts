// The container records on disk: unique names under concurrency, lookups by name and id prefix,
// locked read-modify-write (the locks themselves: file-lock.test.ts).
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContainerNotFoundError, ContainerStore, type ContainerRecord } from '../../engine/containers/container-store.js';
import type { Digest } from '../../oci/index.js';

let dir: string;
let store: ContainerStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'container-store-'));
  store = new ContainerStore(dir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const init = (): Omit<ContainerRecord, 'id' | 'name' | 'created'> => ({
  image: { manifestDigest: `sha256:${'a'.repeat(64)}` as Digest, configDigest: `sha256:${'b'.repeat(64)}` as Digest },
  path: 'true',
  args: [],
  state: 'created',
  runtime: 'runc',
  bundle: '/x',
  rootfs: '/x/rootfs',
  upperDir: '/x/upper',
  workDir: '/x/work',
  detached: false,
  autoRemove: false,
  hostConfig: {},
});

describe('container store', () => {
  it('creates records with unique names, found by name, id and unambiguous id prefix', async () => {
    const made = await Promise.all(Array.from({ length: 12 }, () => store.create(init)));
    expect(new Set(made.map((r) => r.name)).size).toBe(12);
    const named = await store.create(init, 'web');
    await expect(store.create(init, 'web')).rejects.toThrow(/already in use/);
    await expect(store.create(init, '-bad')).rejects.toThrow(/invalid container name/);
    expect((await store.resolve('web')).id).toBe(named.id);
    expect((await store.resolve(named.id.slice(0, 12))).name).toBe('web');
    await expect(store.resolve('nope')).rejects.toBeInstanceOf(ContainerNotFoundError);
    // Among 13 random ids some one-hex-digit prefix is shared by two or more.
    const counts = new Map<string, number>();
    for (const r of await store.list()) counts.set(r.id[0]!, (counts.get(r.id[0]!) ?? 0) + 1);
    const shared = [...counts].find(([, n]) => n > 1);
    if (shared) await expect(store.resolve(shared[0])).rejects.toThrow(/ambiguous/);
  });

  it('updates under a lock: concurrent read-modify-writes lose nothing', async () => {
    const r = await store.create(init);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.update(r.id, (cur) => void (cur.args = [...cur.args, String(i)]))));
    expect((await store.read(r.id))!.args).toHaveLength(20);
    // No temporary files are left next to the record.
    expect((await readdir(store.containerDir(r.id))).sort()).toEqual(['container.json']);
  });

  it('remove takes the record and its directory; updating a removed container is a no-op', async () => {
    const r = await store.create(init);
    await store.remove(r.id);
    expect(await store.read(r.id)).toBeUndefined();
    expect(await store.update(r.id, (cur) => void (cur.state = 'exited'))).toBeUndefined();
    expect(await store.list()).toEqual([]);
  });
});
