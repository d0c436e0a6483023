// The container records on disk: unique names under concurrency, lookups by name and id prefix,
// locked read-modify-write, and locks left by a process that died (taken over, never waited on).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContainerNotFoundError, ContainerStore, type ContainerRecord } from '../../engine/containers/container-store.js';
import type { Digest } from '../../oci/index.js';
import { withFileLock } from '../../engine/containers/file-lock.js';
import { processStartTime } from '../../engine/containers/process-info.js';

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

describe('file lock', () => {
  it('takes over a lock whose owner died', async () => {
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid!;
    const start = processStartTime(pid) ?? '1';
    await once(child, 'exit');
    const lock = join(dir, 'stale.lock');
    await writeFile(lock, `${pid} ${start}`);
    expect(await withFileLock(lock, async () => 'got it', 5_000)).toBe('got it');
  });

  it('takes over an empty lock file older than 10 s (a crash between creating and writing it)', async () => {
    const lock = join(dir, 'empty.lock');
    await writeFile(lock, '');
    const past = new Date(Date.now() - 60_000);
    await utimes(lock, past, past);
    expect(await withFileLock(lock, async () => 'got it', 5_000)).toBe('got it');
  });

  it('waits for a live owner, and runs holders one at a time', async () => {
    const lock = join(dir, 'live.lock');
    const order: string[] = [];
    let release!: () => void;
    const first = withFileLock(lock, async () => {
      order.push('first in');
      await new Promise<void>((r) => (release = r));
      order.push('first out');
    });
    while (!order.includes('first in')) await new Promise((r) => setTimeout(r, 5));
    const second = withFileLock(lock, async () => void order.push('second'));
    await new Promise((r) => setTimeout(r, 50)); // gives the second a chance to (wrongly) run
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first in', 'first out', 'second']);
  });
});
