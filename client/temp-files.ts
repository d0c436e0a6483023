// Temporary files and directories a command is writing (partial blobs, compressed layers,
// archives being written), so an interrupted command (Ctrl-C, SIGTERM) can remove them before it
// exits and leave nothing half-written behind.
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const active = new Set<string>();

export function trackTempFile(path: string): void {
  active.add(path);
}

export function untrackTempFile(path: string): void {
  active.delete(path);
}

// Temporary files and directories are CREATED synchronously, on the main thread: an asynchronous
// create runs on libuv's thread pool and can land after a signal handler removed the tracked paths
// and before the process exits, leaving a partial file behind. Writing to them stays asynchronous.

/** Creates an empty temporary file (exclusive) and tracks it; open it afterwards without creating. */
export function createTempFileSync(path: string, mode = 0o644): void {
  trackTempFile(path);
  try {
    closeSync(openSync(path, 'wx', mode));
  } catch (err) {
    untrackTempFile(path);
    throw err;
  }
}

/** Creates a temporary directory (`unique`: mkdtemp with `path` as the prefix; else exactly `path`) and tracks it. */
export function createTempDirSync(path: string, opts: { unique?: boolean } = {}): string {
  const dir = opts.unique ? mkdtempSync(path) : (mkdirSync(path), path);
  trackTempFile(dir);
  return dir;
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
