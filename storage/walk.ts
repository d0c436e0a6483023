// Listing whole trees for maintenance (garbage collection, scrub).
import { mapLimit } from '../util/limit.js';
import { isNotFound, type FileInfo, type StorageDriver } from './driver.js';

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
  if (driver.capabilities.walk) {
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
  if (driver.capabilities.walk) return [];
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
