// The engine's file locks (image store and containers): one holder at a time within a process and
// across processes; a lock whose owner died is taken over, one whose owner lives is waited for.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock, withLock } from '../../engine/file-lock.js';
import { tempDir, removeTempDirs } from './engine-fixtures.js';

afterAll(removeTempDirs);

async function startTime(pid: number): Promise<string> {
  const t = await readFile(`/proc/${pid}/stat`, 'utf8');
  return t.slice(t.lastIndexOf(')') + 2).split(' ')[19]!;
}

describe('file locks', () => {
  it('let one holder in at a time within a process', async () => {
    const path = join(await tempDir('stevedore-lock-'), 'x.lock');
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const firstIn = new Promise<void>((r) => (entered = r));
    const first = withLock(path, async () => {
      order.push('first in');
      entered();
      await gate;
      order.push('first out');
    });
    const second = withLock(path, async () => {
      order.push('second in');
    });
    await firstIn;
    expect(order).toEqual(['first in']);
    expect((await readFile(path, 'utf8')).split(' ')[0]).toBe(String(process.pid));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first in', 'first out', 'second in']);
  });

  it('take over a lock whose owner is dead, and wait for one whose owner lives', async () => {
    const dir = await tempDir('stevedore-lock-');
    const dead = spawn('sleep', ['60']);
    const deadToken = `${dead.pid} ${await startTime(dead.pid!)}\n`;
    dead.kill('SIGKILL');
    await once(dead, 'exit');
    await writeFile(join(dir, 'dead.lock'), deadToken);
    const l1 = await acquireLock(join(dir, 'dead.lock'));
    expect((await readFile(join(dir, 'dead.lock'), 'utf8')).split(' ')[0]).toBe(String(process.pid));
    await l1.release();

    const live = spawn('sleep', ['60']);
    await writeFile(join(dir, 'live.lock'), `${live.pid} ${await startTime(live.pid!)}\n`);
    let waited = false;
    const taking = acquireLock(join(dir, 'live.lock'), () => {
      waited = true;
      // The owner ends (without removing its lock, as a crash would): the waiter takes it over.
      live.kill('SIGKILL');
    });
    const l2 = await taking;
    expect(waited).toBe(true);
    expect((await readFile(join(dir, 'live.lock'), 'utf8')).split(' ')[0]).toBe(String(process.pid));
    await l2.release();
  });

  it('does not mistake a reused pid for the owner (start time differs)', async () => {
    const dir = await tempDir('stevedore-lock-');
    await writeFile(join(dir, 'reused.lock'), `${process.ppid} 1\n`); // a live pid, but not started at tick 1
    const l = await acquireLock(join(dir, 'reused.lock'));
    await l.release();
  });

  it('take over an empty lock file older than 10 s (a crash between creating and writing it), not a fresh one', async () => {
    const dir = await tempDir('stevedore-lock-');
    const lock = join(dir, 'empty.lock');
    await writeFile(lock, '');
    const past = new Date(Date.now() - 60_000);
    await utimes(lock, past, past);
    expect(await withLock(lock, async () => 'got it')).toBe('got it');

    // A fresh empty one is being written by its owner: waited for until it is released.
    await writeFile(lock, '');
    let waited = false;
    const taking = withLock(lock, async () => 'got it', () => {
      waited = true;
      void import('node:fs/promises').then((fs) => fs.rm(lock));
    });
    expect(await taking).toBe('got it');
    expect(waited).toBe(true);
  });

  it('fail with ENOENT when the lock\'s directory is gone (a container removed meanwhile), and free the queue', async () => {
    const dir = await tempDir('stevedore-lock-');
    const path = join(dir, 'no-such-dir', 'x.lock');
    await expect(withLock(path, async () => 'never')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(withLock(path, async () => 'never')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
