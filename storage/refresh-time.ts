// Giving a stored object a new modification time, which garbage collection reads as "used now"
// (storage/garbage-collector.ts): a manifest push does it to the links of everything it references.
import { isNotFound, type StorageDriver } from './driver.js';

/**
 * Touches `path` where the driver can (one call), else checks it is there (unless the caller has
 * just read it: `known`) and calls `rewrite` (S3: the object written again). False when the object
 * is not there, or went meanwhile (a link a running GC deleted is no link).
 */
export async function refreshTime(driver: StorageDriver, path: string, rewrite: () => Promise<void>, opts: { known?: boolean } = {}): Promise<boolean> {
  try {
    if (driver.capabilities.touch) await driver.touch!(path);
    else {
      if (!opts.known) await driver.stat(path);
      await rewrite();
    }
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
