// Listing whole trees for maintenance (garbage collection, scrub), and a bounded-parallelism map.
import { isNotFound, type FileInfo, type StorageDriver } from './driver.js';

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw failed.err;
  return out;
}

/**
 * Every file under `root`. The top-level children are listed first and walked in parallel
 * (`concurrency` at a time), each with the driver's own tree listing when it has one (S3: flat
 * listings, 1,000 keys per request), or list() + stat() otherwise.
 */
export async function walkFiles(driver: StorageDriver, root: string, concurrency = 8): Promise<FileInfo[]> {
  let children: string[];
  try {
    children = await driver.list(root);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
  const parts = await mapLimit(children, concurrency, (child) => walkOne(driver, child));
  return parts.flat();
}

async function walkOne(driver: StorageDriver, path: string): Promise<FileInfo[]> {
  if (driver.walk) {
    const found = await driver.walk(path);
    if (found.length > 0) return found;
    // A plain object at `path` itself (walk lists below it only).
  }
  let info: FileInfo;
  try {
    info = await driver.stat(path);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
  if (!info.isDir) return [info];
  if (driver.walk) return [];
  let children: string[];
  try {
    children = await driver.list(path);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
  const out: FileInfo[] = [];
  for (const child of children) out.push(...(await walkOne(driver, child)));
  return out;
}
