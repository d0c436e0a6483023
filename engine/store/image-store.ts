// The local image store under one root directory:
//   content/blobs/<alg>/<hex>, content/ingest/   blobs (content-store.ts)
//   snapshots/<chainid-hex>/fs                    unpacked layers (snapshots.ts)
//   images.json                                   images by manifest digest, and names → images
//   leases/                                       pulls in progress (prune waits for them)
//   containers/<id>/container.json                the container side's; read here only to keep
//                                                 the images containers use
// images.json is replaced atomically under images.lock; garbage collection runs under gc.lock,
// and waits until no pull holds a lease, so it never removes what a pull is about to reference.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { Digest } from '../../oci/index.js';
import { ContentStore } from './content-store.js';
import { acquireLock, ownerAlive, ownerToken, withLock } from '../file-lock.js';
import { Snapshots } from './snapshots.js';
import { readStoreState, statePath, type StoreState } from './store-state.js';
import { randomHex } from '../../util/random-hex.js';

export type { ImageRecord, RefRecord, StoreState } from './store-state.js';
export { StoreError } from './store-state.js';

export interface Lease {
  release(): Promise<void>;
}

export interface GcResult {
  images: Digest[];
  blobs: number;
  snapshots: number;
  bytes: number;
}

export class ImageStore {
  readonly content: ContentStore;
  readonly snapshots: Snapshots;
  private readonly statePath: string;

  constructor(readonly root: string) {
    this.content = new ContentStore(root);
    this.snapshots = new Snapshots(root);
    this.statePath = statePath(root);
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o711 });
  }

  state(): Promise<StoreState> {
    return readStoreState(this.root);
  }

  /** Changes images.json: read, change, replaced atomically, all under its lock. */
  async update<T>(fn: (s: StoreState) => T | Promise<T>): Promise<T> {
    await this.init();
    return withLock(join(this.root, 'images.lock'), async () => {
      const s = await this.state();
      const result = await fn(s);
      await writeFileAtomic(this.statePath, JSON.stringify(s, null, 1));
      return result;
    });
  }

  /**
   * Marks a pull (or a container being made from an image) in progress: garbage collection, and
   * rmi's decision, wait until it is released. Re-entrant within a process: while this store holds
   * a lease, another is only counted — taking gc.lock again could wait for a collection that is
   * itself waiting for the first lease.
   */
  async lease(): Promise<Lease> {
    let held = this.held;
    if (held) {
      held.count++;
    } else {
      held = this.held = { count: 1, file: this.leaseFile() };
      held.file.catch(() => {
        if (this.held === held) this.held = undefined;
      });
    }
    const h = held;
    await h.file;
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        if (--h.count > 0) return;
        if (this.held === h) this.held = undefined;
        process.getBuiltinModule('node:fs').rmSync(await h.file, { force: true });
      },
    };
  }

  private held?: { count: number; file: Promise<string> };

  /**
   * The lease file, made with synchronous calls: `run` takes a lease on its short path, where each
   * asynchronous fs call is a trip through libuv's thread pool (and the first one starts it).
   */
  private async leaseFile(): Promise<string> {
    const { closeSync, mkdirSync, openSync, writeSync } = process.getBuiltinModule('node:fs');
    mkdirSync(this.root, { recursive: true, mode: 0o711 });
    const dir = join(this.root, 'leases');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${process.pid}-${randomHex(16)}`);
    const token = await ownerToken();
    // Under gc.lock: a collection running now finishes before this pull starts.
    await withLock(join(this.root, 'gc.lock'), async () => {
      const fd = openSync(path, 'wx', 0o644);
      try {
        writeSync(fd, token);
      } finally {
        closeSync(fd);
      }
    });
    return path;
  }

  /**
   * Runs fn under gc.lock once no lease is held (leases of dead processes are dropped): no pull
   * runs and no container is being made from an image meanwhile, and none can start.
   */
  async exclusive<T>(fn: () => Promise<T>, onWait?: () => void): Promise<T> {
    await this.init();
    const lock = await acquireLock(join(this.root, 'gc.lock'), onWait);
    try {
      const leasesDir = join(this.root, 'leases');
      let told = false;
      for (;;) {
        let live = 0;
        for (const n of await readdir(leasesDir).catch(() => [] as string[])) {
          const content = await readFile(join(leasesDir, n), 'utf8').catch(() => '');
          if (content && (await ownerAlive(content))) live++;
          else if (content) await rm(join(leasesDir, n), { force: true });
        }
        if (live === 0) break;
        if (!told) onWait?.();
        told = true;
        await sleep(200);
      }
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /** Manifest digests of images that containers (any state) were created from. */
  async containerImages(): Promise<Set<string>> {
    const dir = join(this.root, 'containers');
    const used = new Set<string>();
    for (const id of await readdir(dir).catch(() => [] as string[])) {
      try {
        const c = JSON.parse(await readFile(join(dir, id, 'container.json'), 'utf8')) as { image?: { manifestDigest?: string } };
        if (typeof c.image?.manifestDigest === 'string') used.add(c.image.manifestDigest);
      } catch {
        /* being created or removed: no image to keep */
      }
    }
    return used;
  }

  /**
   * Removes blobs and snapshots no image needs; with `dangling`, also images without a name that
   * no container uses. Waits for pulls in progress (leases) to finish first.
   */
  /**
   * Garbage collection; `dangling`: also images without a name that no container uses; `all`:
   * every image no container uses, with its names (`image prune -a`).
   */
  async collect(opts: { dangling?: boolean; all?: boolean; onWait?: () => void } = {}): Promise<GcResult> {
    return this.exclusive(async () => {
      const used = await this.containerImages();
      const removedImages: Digest[] = [];
      const state = await this.update((s) => {
        if (opts.all) {
          for (const m of Object.keys(s.images)) {
            if (used.has(m)) continue;
            delete s.images[m];
            removedImages.push(m as Digest);
            for (const [n, r] of Object.entries(s.refs)) if (r.manifest === m) delete s.refs[n];
          }
        } else if (opts.dangling) {
          const named = new Set<string>(Object.values(s.refs).map((r) => r.manifest));
          for (const m of Object.keys(s.images)) {
            if (!named.has(m) && !used.has(m)) {
              delete s.images[m];
              removedImages.push(m as Digest);
            }
          }
        }
        return structuredClone(s);
      });
      const keepBlobs = new Set<string>();
      const keepSnapshots = new Set<string>();
      for (const r of Object.values(state.refs)) keepBlobs.add(r.target);
      for (const img of Object.values(state.images)) {
        keepBlobs.add(img.manifest);
        keepBlobs.add(img.config);
        if (img.index) keepBlobs.add(img.index);
        for (const l of img.layers) keepBlobs.add(l.digest);
        for (const c of img.chainIds) keepSnapshots.add(c);
      }
      const result: GcResult = { images: removedImages, blobs: 0, snapshots: 0, bytes: 0 };
      for (const d of await this.content.list()) {
        if (keepBlobs.has(d)) continue;
        await this.content.remove(d);
        result.blobs++;
      }
      for (const c of await this.snapshots.list()) {
        if (keepSnapshots.has(c)) continue;
        await this.snapshots.remove(c);
        result.snapshots++;
      }
      // No pull runs now (none can start without gc.lock): partial unpacks, and the lock files of
      // crashed processes, are leftovers. Partial downloads are kept by rmi (a pull of the same
      // image resumes them) and removed by prune.
      await this.snapshots.removeLeftovers();
      if (opts.dangling || opts.all) await this.content.removeIngests();
      await this.snapshots.removeStaleLocks();
      return result;
    }, opts.onWait);
  }
}
