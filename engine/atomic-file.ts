// Atomic, durable file replacement (temporary file, fsync, rename, fsync of the directory), for
// both halves of the engine. The client has the same in client/oci-layout.ts, but importing it
// loads the client, which `stevedore run` of a local image does not need (its start-up time is
// benchmarked against bare runc).
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsyncs a directory, so entries just renamed into it survive a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface AtomicWriteOptions {
  /** false skips the fsyncs (still atomic: readers see the old or the new content). Default true. */
  durable?: boolean;
  /** Mode of the new file (default 0644). */
  mode?: number;
}

export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (durable) await syncDir(dirname(path));
}
