// When each proxied manifest and blob was last pulled, for evicting the least recently pulled
// content first. Kept in memory and saved to storage (one small JSON object) before eviction
// runs and when the server stops; lost updates only make content look older.
import type { Digest } from '../../oci/index.js';
import { isNotFound, type StorageDriver } from '../../storage/index.js';
import { layout } from '../../storage/layout.js';

const PATH = layout.mirrorLastPulled;

export class LastPulled {
  private readonly times = new Map<string, number>();
  private loaded = false;
  private dirty = false;
  /** Pulls since the last takeRecent() (a cluster's worker passes them to the leader). */
  private recent: Map<string, number> | undefined;

  /** `saves`: false in a cluster's workers other than the leader, which keeps the record. */
  constructor(
    private readonly driver: StorageDriver,
    private readonly saves = true,
  ) {}

  touch(repo: string, digest: Digest, at = Date.now()): void {
    this.times.set(`${repo}@${digest}`, at);
    this.recent?.set(`${repo}@${digest}`, at);
    this.dirty = true;
  }

  /** Starts noting pulls for takeRecent(). */
  trackRecent(): void {
    this.recent ??= new Map();
  }

  /** The pulls noted since the last call, as `repo@digest` → ms. */
  takeRecent(): [string, number][] {
    const out = [...(this.recent ?? [])];
    this.recent?.clear();
    return out;
  }

  /** Pulls another process saw (the later time wins). */
  merge(entries: readonly [string, number][]): void {
    for (const [k, at] of entries) {
      if (typeof k !== 'string' || typeof at !== 'number') continue;
      if ((this.times.get(k) ?? 0) < at) {
        this.times.set(k, at);
        this.dirty = true;
      }
    }
  }

  /** Last pull of a manifest or blob in a repository, if recorded. */
  async get(repo: string, digest: Digest): Promise<number | undefined> {
    await this.load();
    return this.times.get(`${repo}@${digest}`);
  }

  forget(repo: string, digest: Digest): void {
    this.dirty = this.times.delete(`${repo}@${digest}`) || this.dirty;
  }

  async load(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    try {
      const saved = JSON.parse((await this.driver.getContent(PATH)).toString('utf8')) as Record<string, number>;
      // Pulls recorded since the start win over the saved times.
      for (const [k, v] of Object.entries(saved)) if (!this.times.has(k) && typeof v === 'number') this.times.set(k, v);
    } catch (err) {
      if (!isNotFound(err) && !(err instanceof SyntaxError)) throw err;
    }
  }

  async save(): Promise<void> {
    if (!this.dirty || !this.saves) return;
    await this.load();
    this.dirty = false;
    await this.driver.putContent(PATH, Buffer.from(JSON.stringify(Object.fromEntries(this.times))));
  }
}
