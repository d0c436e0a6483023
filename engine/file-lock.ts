// Advisory locks between stevedore processes, for the image store and the containers alike (Node
// has no flock(2)): a lock file created with O_EXCL holding the owner's pid and start time. A lock
// whose owner is gone (crash, SIGKILL) is broken by the next taker, so a crashed command never
// blocks the engine. Within one process, takers of the same lock queue up.
import { link, readFile, rename, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, processStartTime } from './process-info.js';

let selfToken: string | undefined;
const ownerTokenSync = (): string => (selfToken ??= `${process.pid} ${processStartTime(process.pid) ?? '?'}\n`);
export const ownerToken = async (): Promise<string> => ownerTokenSync();

/** Whether the owner written in a lock file is still running (the same process, not a reused pid). */
export async function ownerAlive(content: string): Promise<boolean> {
  const [pidText, start] = content.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  return isAlive({ pid, start: start === '?' || start === undefined ? '' : start });
}

const queues = new Map<string, Promise<void>>();

/**
 * Creates the lock file with its owner, synchronously: a lock file is a few bytes, and a command
 * such as `run` takes a handful of locks on its short path, where each asynchronous call is a trip
 * through libuv's thread pool (and the first one starts it).
 */
function tryCreate(path: string): boolean {
  const { closeSync, openSync, writeSync } = process.getBuiltinModule('node:fs');
  try {
    const fd = openSync(path, 'wx', 0o644);
    try {
      writeSync(fd, ownerTokenSync());
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** Removes a lock whose owner is dead; false when it turned out to be live (or changed). */
async function breakStale(path: string): Promise<boolean> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
  if (content === '') {
    // Being written right now, or left empty by a crash between create and write.
    const st = await stat(path).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs < 10_000) return false;
  } else if (await ownerAlive(content)) {
    return false;
  }
  // Move it aside first, then check it is the one we judged: another taker may have replaced it.
  // node:crypto loaded here only: every engine command takes locks, few meet a stale one.
  const aside = `${path}.stale-${(await import('node:crypto')).randomUUID()}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => '');
  if (moved !== content) await link(aside, path).catch(() => undefined); // not ours to break: put it back
  await rm(aside, { force: true });
  return true;
}

export interface Lock {
  release(): Promise<void>;
}

/** Takes the lock at `path` (waiting as long as its owner lives); `onWait` is told once when it has to wait. */
export async function acquireLock(path: string, onWait?: () => void): Promise<Lock> {
  // In-process queue first: the file lock cannot tell two takers of one process apart.
  const prev = queues.get(path) ?? Promise.resolve();
  let releaseQueue!: () => void;
  const mine = new Promise<void>((r) => (releaseQueue = r));
  const tail = prev.then(() => mine);
  queues.set(path, tail);
  await prev;
  try {
    let delay = 20;
    let told = false;
    while (!tryCreate(path)) {
      if (await breakStale(path)) continue;
      if (!told) {
        told = true;
        onWait?.();
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 250);
    }
  } catch (err) {
    releaseQueue();
    if (queues.get(path) === tail) queues.delete(path);
    throw err;
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      process.getBuiltinModule('node:fs').rmSync(path, { force: true });
      releaseQueue();
      if (queues.get(path) === tail) queues.delete(path);
    },
  };
}

export async function withLock<T>(path: string, fn: () => Promise<T>, onWait?: () => void): Promise<T> {
  const lock = await acquireLock(path, onWait);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
