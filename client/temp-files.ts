// Temporary files a command is writing (partial blobs), so an interrupted command (Ctrl-C,
// SIGTERM) can remove them before it exits and leave nothing half-written behind.
import { rmSync } from 'node:fs';

const active = new Set<string>();

export function trackTempFile(path: string): void {
  active.add(path);
}

export function untrackTempFile(path: string): void {
  active.delete(path);
}

/** Removes every tracked file; synchronous, for use in a signal handler right before exiting. */
export function removeTempFilesSync(): number {
  let n = 0;
  for (const p of active) {
    rmSync(p, { force: true });
    n++;
  }
  active.clear();
  return n;
}
