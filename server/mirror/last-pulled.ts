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

  constructor(private readonly driver: StorageDriver) {}

  touch(repo: string, digest: Digest, at = Date.now()): void {
    this.times.set(`${repo}@${digest}`, at);
    this.dirty = true;
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
    if (!this.dirty) return;
    await this.load();
    this.dirty = false;
    await this.driver.putContent(PATH, Buffer.from(JSON.stringify(Object.fromEntries(this.times))));
  }
}
