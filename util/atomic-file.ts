// Atomic, durable file replacement (temporary file, fsync, rename, fsync of the directory): the
// one copy every part uses. Dependency-free on purpose: `stevedore run` of a local image loads it,
// and that start-up is benchmarked against bare runc.
import { constants } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomHex } from './random-hex.js';

/** fsyncs a directory, so entries just renamed into it survive a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncs a file written earlier without it (see StorageDriver.syncContent). */
export async function syncFile(path: string): Promise<void> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Prefix of the temporary files writeFileAtomic leaves only while it runs (or after a crash). */
export const TEMP_MARK = '.tmp-';

export interface AtomicWriteOptions {
  /** false skips the fsyncs (still atomic: readers see the old or the new content). Default true. */
  durable?: boolean;
  /** Mode of the new file (default 0644). */
  mode?: number;
  /**
   * `beside` (default) names the temporary file `<name>.tmp-<random>`; `apart` names it
   * `.tmp-<random>` in the same directory, so a name already at the 255-byte limit still has room
   * and a listing can skip temporaries by their prefix.
   */
  tempName?: 'beside' | 'apart';
  /**
   * Runs while the temporary file is synced, and must finish before the rename (e.g. syncing the
   * directories just made for it: fsyncs at the same time share one journal commit).
   */
  beforeRename?: () => Promise<void>;
  /**
   * false leaves the directory's fsync after the rename to the caller, who must do it before
   * anything durable names the file (e.g. one fsync for many files renamed into one directory).
   * Default: `durable`.
   */
  syncDirectory?: boolean;
}

/** The temporary name a write to `path` uses (random, so concurrent writers never share one). */
export function tempPathFor(path: string, tempName: 'beside' | 'apart' = 'beside'): string {
  const random = randomHex(8);
  return tempName === 'apart' ? join(dirname(path), `${TEMP_MARK}${random}`) : `${path}${TEMP_MARK}${random}`;
}

/** Replaces `path` with `data`: readers see the old or the new content, never a part; no temporary is left on failure. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const tmp = tempPathFor(path, opts.tempName);
  const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    const before = opts.beforeRename?.();
    try {
      if (durable) await fh.sync();
    } finally {
      await before; // (settled either way: no rejection left unhandled)
    }
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  try {
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (durable && opts.syncDirectory !== false) await syncDir(dirname(path));
}
