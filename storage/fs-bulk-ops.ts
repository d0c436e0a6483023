// The filesystem's bulk operations (storage/fs-bulk.ts). They run on a worker thread
// (storage/fs-bulk-worker.ts), where blocking is free, so reads and walks are plain synchronous
// system calls: a garbage collection makes tens of thousands of small metadata calls, and made one
// promise at a time through libuv's thread pool each costs 3-4 times the CPU of the call itself
// (a hand-off to a pool thread and a wake-up of the calling thread per call). Deletes and moves
// are asynchronous, many at once (see WRITE_PARALLELISM). Only node: modules and small helpers,
// so the worker starts fast.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncDir, TEMP_MARK } from '../util/atomic-file.js';
import { mapLimit } from '../util/limit.js';
import { completes, descend, fixedNames, startStates, type PatternState } from './path-pattern.js';
import type { BulkOutcome } from './driver.js';

/** Files found by a walk, as parallel arrays (cheap to pass between threads). Paths are storage paths. */
export interface WalkedFiles {
  paths: string[];
  sizes: number[];
  mtimes: number[];
}

export interface BulkDelete {
  /** Storage path of the object or tree to delete. */
  path: string;
  /** Delete only when this object exists and was last modified before the cutoff. */
  check?: string;
}

export interface BulkMove {
  from: string;
  to: string;
  /** Move only when this object exists and was last modified before the cutoff. */
  check?: string;
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Every regular file matching one of the patterns (storage/path-pattern.ts), skipping temporaries.
 * Lists only the directories a pattern needs listed: where the next component of every pattern is
 * a fixed name, that name is looked up instead (for the layout's links and blobs, a stat of
 * `<hex>/link` rather than a listing of `<hex>`: a third of the calls, and the directory's access
 * time is not rewritten). Without `stat` (BulkSession.find's FindOptions) not even that: a fixed
 * name is taken as found, and a listed file's entry is enough; sizes and times are 0.
 */
export function findSync(root: string, patterns: readonly string[], stat = true): WalkedFiles {
  const out: WalkedFiles = { paths: [], sizes: [], mtimes: [] };
  const named = (path: string) => {
    out.paths.push(path);
    out.sizes.push(0);
    out.mtimes.push(0);
  };
  const emit = (path: string) => {
    if (!stat) return named(path);
    const st = statSync(root + path, { throwIfNoEntry: false });
    if (!st?.isFile()) return; // absent, deleted meanwhile, or not a file
    out.paths.push(path);
    out.sizes.push(st.size);
    out.mtimes.push(st.mtimeMs);
  };
  const visit = (p: string, states: PatternState[]): void => {
    const prefix = p === '/' ? '' : p;
    const fixed = fixedNames(states);
    if (fixed) {
      for (const [name, want] of fixed) {
        if (want.file) emit(`${prefix}/${name}`);
        if (want.dir) visit(`${prefix}/${name}`, descend(states, name));
      }
      return;
    }
    let entries;
    try {
      entries = readdirSync(root + p, { withFileTypes: true });
    } catch (err) {
      if (isGone(err)) return; // deleted meanwhile, or a file where a directory was listed
      throw err;
    }
    for (const e of entries) {
      if (e.name.includes(TEMP_MARK)) continue;
      if (e.isDirectory()) {
        const below = descend(states, e.name);
        if (below.length > 0) visit(`${prefix}/${e.name}`, below);
      } else if (e.isFile() && completes(states, e.name)) emit(`${prefix}/${e.name}`);
    }
  };
  visit('/', startStates(patterns));
  return out;
}

/** Each file's content, or null where there is none. */
export function readFilesSync(root: string, paths: readonly string[]): (Uint8Array | null)[] {
  return paths.map((p) => {
    try {
      return readFileSync(root + p);
    } catch (err) {
      if (isGone(err)) return null;
      throw err;
    }
  });
}

/** Whether `check` (a storage path) exists and is older than `olderThan`; else why not. */
async function checkOld(root: string, check: string | undefined, olderThan: number): Promise<BulkOutcome | undefined> {
  if (check === undefined) return undefined;
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(root + check)).mtimeMs;
  } catch (err) {
    if (isGone(err)) return 'missing';
    throw err;
  }
  return mtimeMs < olderThan ? undefined : 'young';
}

/**
 * Deletes and moves run as parallel asynchronous calls, unlike the walk: on a busy disk each waits
 * on the filesystem's journal (an rmdir took ~1 ms of waiting for 0.06 ms of CPU on the project's
 * VM), and calls made together wait together (4 at once: 3 times the deletes per second).
 */
const WRITE_PARALLELISM = 16;

/**
 * Deletes each item (an object or a whole tree) whose check passes: a file is unlinked, the
 * directory of the checked file by unlinking that file and removing the directory, a tree
 * renamed aside first, so a half-finished recursive delete is never visible under its name; then
 * each directory that lost an entry is fsynced once (with `durable`), so the deletes survive a
 * power cut; then the trees renamed aside are removed. Each item's check and its delete are back
 * to back (a concurrent rewrite of the checked object has a moment to slip between them, as with
 * one stat and one delete).
 */
export async function deleteMany(root: string, items: readonly BulkDelete[], olderThan: number, durable: boolean): Promise<BulkOutcome[]> {
  const touched = new Set<string>();
  const doomed: string[] = [];
  const outcomes = await mapLimit(items, WRITE_PARALLELISM, async ({ path, check }): Promise<BulkOutcome> => {
    const skip = await checkOld(root, check, olderThan);
    if (skip) return skip;
    const full = root + path;
    const parent = dirname(full);
    if (check !== undefined && dirname(check) === path) {
      // A directory holding the checked file (a link's directory): unlink the file, then remove
      // the directory, two calls where a rename aside and a recursive delete take a dozen. Once
      // the file is gone the directory means nothing, so a half-finished delete is not visible.
      try {
        await unlink(root + check);
      } catch (err) {
        if (isGone(err)) return 'missing';
        throw err;
      }
      try {
        await rmdir(full);
        touched.add(parent);
        return 'done';
      } catch (err) {
        if (isGone(err)) {
          touched.add(parent); // removed meanwhile
          return 'done';
        }
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        // Something else in it (a write's temporary file, a rewritten link): as below.
      }
    }
    try {
      await unlink(full); // a file goes in one call
      touched.add(parent);
      return 'done';
    } catch (err) {
      if (isGone(err)) return 'missing';
      if ((err as NodeJS.ErrnoException).code !== 'EISDIR') throw err;
    }
    const aside = `${parent}/${TEMP_MARK}del-${randomBytes(8).toString('hex')}`;
    try {
      await rename(full, aside);
    } catch (err) {
      if (isGone(err)) return 'missing';
      throw err;
    }
    touched.add(parent);
    doomed.push(aside);
    return 'done';
  });
  if (durable) await mapLimit([...touched], WRITE_PARALLELISM, syncDir);
  await mapLimit(doomed, WRITE_PARALLELISM, (d) => rm(d, { recursive: true, force: true }));
  return outcomes;
}

/**
 * Moves each item whose check passes, creating the destination's directories. With `durable`,
 * every directory that gained or lost an entry (and the parent of every directory created) is
 * fsynced once at the end.
 */
export async function moveMany(root: string, items: readonly BulkMove[], olderThan: number, durable: boolean): Promise<BulkOutcome[]> {
  const touched = new Set<string>();
  const made = new Set<string>();
  const outcomes = await mapLimit(items, WRITE_PARALLELISM, async ({ from, to, check }): Promise<BulkOutcome> => {
    const skip = await checkOld(root, check, olderThan);
    if (skip) return skip;
    const src = root + from;
    const dst = root + to;
    const dstDir = dirname(dst);
    if (!made.has(dstDir)) {
      const created = await mkdir(dstDir, { recursive: true });
      if (created) for (let d = dstDir; d.length >= created.length; d = dirname(d)) touched.add(dirname(d));
      made.add(dstDir);
    }
    try {
      await rename(src, dst);
    } catch (err) {
      if (isGone(err)) return 'missing';
      throw err;
    }
    touched.add(dstDir);
    touched.add(dirname(src));
    return 'done';
  });
  if (durable) await mapLimit([...touched], WRITE_PARALLELISM, syncDir);
  return outcomes;
}

/** One request to the bulk worker (or to the same operations run in place). */
export type BulkRequest =
  | { op: 'find'; root: string; patterns: readonly string[]; stat: boolean }
  | { op: 'read'; root: string; paths: readonly string[] }
  | { op: 'delete'; root: string; items: readonly BulkDelete[]; olderThan: number; durable: boolean }
  | { op: 'move'; root: string; items: readonly BulkMove[]; olderThan: number; durable: boolean };

export async function runBulkOp(req: BulkRequest): Promise<unknown> {
  switch (req.op) {
    case 'find':
      return findSync(req.root, req.patterns, req.stat);
    case 'read':
      return readFilesSync(req.root, req.paths);
    case 'delete':
      return deleteMany(req.root, req.items, req.olderThan, req.durable);
    case 'move':
      return moveMany(req.root, req.items, req.olderThan, req.durable);
  }
}
