// Atomic, durable file replacement (temporary file, fsync, rename, fsync of the directory). The
// client has the same in client/oci-layout.ts, but importing it loads the OCI model and the client,
// which `stevedore run` does not need (its start-up time is benchmarked against bare runc).
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomHex } from './random-id.js';

/** durable: false skips the fsyncs (still atomic: readers see the old or the new content). */
export async function writeFileAtomic(path: string, data: string, durable = true): Promise<void> {
  const tmp = `${path}.tmp-${randomHex(6)}`;
  const fh = await open(tmp, 'wx', 0o600);
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
  if (!durable) return;
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
