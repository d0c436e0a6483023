// Temporary files and directories a command is writing (partial blobs, compressed layers,
// archives being written), so an interrupted command (Ctrl-C, SIGTERM) can remove them before it
// exits and leave nothing half-written behind.
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const active = new Set<string>();

export function trackTempFile(path: string): void {
  active.add(path);
}

export function untrackTempFile(path: string): void {
  active.delete(path);
}

/** Removes every tracked file or directory; synchronous, for use in a signal handler right before exiting. */
export function removeTempFilesSync(): number {
  let n = 0;
  for (const p of active) {
    rmSync(p, { force: true, recursive: true });
    n++;
  }
  active.clear();
  return n;
}

/**
 * Where to put temporary files that may be as large as an image layer: `$TMPDIR`, else
 * `/var/tmp` (as containers/image does: `/tmp` is often a RAM-backed tmpfs), else the OS default.
 */
export function bigFileTempDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TMPDIR) return env.TMPDIR;
  return existsSync('/var/tmp') ? '/var/tmp' : tmpdir();
}
