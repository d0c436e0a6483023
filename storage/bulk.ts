// Bulk sessions (StorageDriver's BulkSession): the driver's own when it has one (local files), else
// one built here from the single-object methods, a few requests in flight at a time.
import { mapLimit } from '../util/limit.js';
import { isNotFound, type BulkOutcome, type BulkSession, type StorageDriver } from './driver.js';
import { matchesPattern, patternRoot } from './path-pattern.js';
import { walkFiles } from './walk.js';

export function openBulk(driver: StorageDriver, concurrency = 8): BulkSession {
  if (driver.capabilities.bulk && driver.openBulk) return driver.openBulk();
  return new GenericBulk(driver, concurrency);
}

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

class GenericBulk implements BulkSession {
  constructor(
    private readonly driver: StorageDriver,
    private readonly concurrency: number,
  ) {}

  /** Walks below the patterns' common directory (S3: flat listings, times included) and keeps what matches. */
  async find(patterns: readonly string[]) {
    const all = await walkFiles(this.driver, patternRoot(patterns), this.concurrency);
    return all.filter((f) => matchesPattern(patterns, f.path));
  }

  getContents(paths: readonly string[]) {
    return mapLimit(paths, this.concurrency, (p) => orUndefined(this.driver.getContent(p)));
  }

  /** Stats `check` right before the operation, as close to it as one more request allows. */
  private async checked(check: string | undefined, olderThan: number | undefined, op: () => Promise<void>): Promise<BulkOutcome> {
    if (check !== undefined) {
      const st = await orUndefined(this.driver.stat(check));
      if (!st) return 'missing';
      if (olderThan !== undefined && st.modTime.getTime() >= olderThan) return 'young';
    }
    try {
      await op();
      return 'done';
    } catch (err) {
      if (isNotFound(err)) return 'missing';
      throw err;
    }
  }

  deleteMany(items: readonly { path: string; check?: string }[], olderThan?: number) {
    return mapLimit(items, this.concurrency, ({ path, check }) => this.checked(check, olderThan, () => this.driver.delete(path)));
  }

  moveMany(items: readonly { from: string; to: string; check?: string }[], opts: { olderThan?: number; durable: boolean }) {
    return mapLimit(items, this.concurrency, ({ from, to, check }) => this.checked(check, opts.olderThan, () => this.driver.move(from, to)));
  }

  async close(): Promise<void> {}
}
