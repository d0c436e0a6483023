// A cross-process lock on a file, for concurrent `stevedore` processes updating the same state.
// Node has no flock(2): the lock is a file created with O_EXCL holding its owner's pid and start
// time; a lock whose owner is gone (crash, SIGKILL) is stale and taken over.
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, selfId } from './process-info.js';

export class LockTimeoutError extends Error {}

async function tryTake(path: string, stamp: string): Promise<boolean> {
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(stamp);
    } finally {
      await fh.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function removeIfStale(path: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return; // released meanwhile
  }
  const [pid, start] = text.split(' ');
  if (!pid) {
    // Empty: being written right now, or left so by a crash between create and write.
    const st = await stat(path).catch(() => undefined);
    if (!st || Date.now() - st.mtimeMs < 10_000) return;
  } else if (isAlive({ pid: Number(pid), start: start ?? '' })) {
    return;
  }
  // Check again just before unlinking, so a lock another process just took over is left alone.
  const again = await readFile(path, 'utf8').catch(() => '');
  if (again === text) await unlink(path).catch(() => {});
}

/** Runs fn while holding the lock file at path (its directory must exist). */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const me = selfId();
  const stamp = `${me.pid} ${me.start}`;
  const deadline = Date.now() + timeoutMs;
  let wait = 2;
  while (!(await tryTake(path, stamp))) {
    await removeIfStale(path);
    if (Date.now() > deadline) throw new LockTimeoutError(`timed out waiting for the lock ${path}`);
    await sleep(wait);
    wait = Math.min(wait * 2, 100);
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => {});
  }
}
