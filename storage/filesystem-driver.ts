// Filesystem storage driver. Every write that becomes visible is atomic and durable: data goes to
// a temporary file that is fsynced, renamed into place, and the directory is fsynced, so neither a
// killed process nor a power cut leaves a half-written object at a final path.
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { syncDir, syncFile, TEMP_MARK, writeFileAtomic } from '../util/atomic-file.js';
import { FsBulkSession } from './fs-bulk.js';
import { checkPath, FileLinkedError, PathNotFoundError, unsupportedMethod, type BulkSession, type DeleteOptions, type MoveOptions, type PutOptions, type FileInfo, type FileWriter, type RandomAccessFile, type ReadableFileWriter, type StorageDriver } from './driver.js';

export interface FilesystemDriverOptions {
  rootDirectory: string;
  /** Turn off fsync (tests of the layout only; never in production). */
  noSync?: boolean;
}

/**
 * A temporary file or directory this old is a leftover of a killed process (one write or delete
 * takes milliseconds): the purger removes it even when uploads are kept longer.
 */
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;
const READ_CHUNK = 1024 * 1024;
/** Incoming network chunks (~32-64 KiB) are gathered into writes of about this size. */
const WRITE_BATCH = 1024 * 1024;

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly capabilities = { readableWriter: true, redirect: false, randomAccess: true, purgeStale: true, walk: true, bulk: true, link: true, touch: true } as const;
  private readonly root: string;
  private readonly sync: boolean;

  constructor(opts: FilesystemDriverOptions) {
    this.root = opts.rootDirectory;
    this.sync = !opts.noSync;
  }

  /**
   * Removes what killed writes and deletes left behind (`.tmp-*` files and directories) last
   * modified before `olderThan`, or over an hour ago, whichever is later. Returns how many.
   */
  async purgeStale(olderThan: Date): Promise<number> {
    const cutoff = Math.max(olderThan.getTime(), Date.now() - TEMP_MAX_AGE_MS);
    let purged = 0;
    const visit = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return; // deleted meanwhile, or unreadable: nothing of ours to purge there
      }
      for (const e of entries) {
        const path = join(dir, e.name);
        if (e.name.startsWith(TEMP_MARK)) {
          const st = await stat(path).catch(() => undefined);
          if (st && st.mtimeMs < cutoff) {
            await rm(path, { recursive: true, force: true });
            purged++;
          }
        } else if (e.isDirectory()) {
          await visit(path);
        }
      }
    };
    await visit(this.root);
    return purged;
  }

  private full(path: string): string {
    checkPath(path);
    return join(this.root, path);
  }

  private notFound(path: string, err: unknown): never {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new PathNotFoundError(path, this.name);
    throw err;
  }

  async getContent(path: string): Promise<Buffer> {
    try {
      return await readFile(this.full(path));
    } catch (err) {
      this.notFound(path, err);
    }
  }

  async putContent(path: string, content: Uint8Array, opts: PutOptions = {}): Promise<void> {
    const target = this.full(path);
    const durable = this.sync && opts.durable !== false;
    // New directories are synced while the content is written and synced (fsyncs at the same
    // time share the journal's commit): all before the rename makes the content visible.
    const created = await this.mkdirsUnsynced(dirname(target));
    // Temporary named apart from the target, so a target name at the 255-byte limit still has room.
    await writeFileAtomic(target, content, { durable, tempName: 'apart', beforeRename: durable && created.length > 0 ? () => this.syncParents(created) : undefined });
  }

  /**
   * fsyncs the file and every directory from its own up to the root, all at once (one journal
   * commit): whichever of them a non-durable putContent created or changed.
   */
  async syncContent(path: string): Promise<void> {
    if (!this.sync) return;
    const full = this.full(path);
    const dirs = [this.root];
    for (let key = dirname(path); key !== '/' && key !== '.'; key = dirname(key)) dirs.push(join(this.root, key));
    try {
      await Promise.all([syncFile(full), ...dirs.map((d) => syncDir(d))]);
    } catch (err) {
      this.notFound(path, err);
    }
  }

  async reader(path: string, offset = 0, end?: number): Promise<Readable> {
    const full = this.full(path);
    // Open first so a missing file is an error here, not an 'error' event on the stream later.
    let fh: FileHandle;
    try {
      fh = await open(full, constants.O_RDONLY);
    } catch (err) {
      this.notFound(path, err);
    }
    // 1 MiB reads: a quarter of the thread-pool round trips and buffer allocations of 256 KiB.
    return fh.createReadStream({ start: offset, end, highWaterMark: READ_CHUNK });
  }

  async openRandomAccess(path: string): Promise<RandomAccessFile> {
    let fh: FileHandle;
    try {
      fh = await open(this.full(path), constants.O_RDONLY);
    } catch (err) {
      this.notFound(path, err);
    }
    const { size } = await fh.stat();
    return {
      size,
      read: async (buffer, position, length) => (await fh.read(buffer, 0, length, position)).bytesRead,
      close: () => fh.close(),
    };
  }

  writer(path: string, append: boolean): Promise<FileWriter> {
    return this.openWriter(path, append, false);
  }

  /** A new file; its directory entries are not synced (see StorageDriver.readableWriter). */
  readableWriter(path: string): Promise<ReadableFileWriter> {
    return this.openWriter(path, false, true);
  }

  private async openWriter(path: string, append: boolean, readable: boolean): Promise<ReadableFileWriter> {
    const full = this.full(path);
    await this.mkdirs(dirname(full), !readable);
    let fh: FileHandle;
    let created = !append;
    if (append) {
      try {
        fh = await open(full, constants.O_WRONLY | constants.O_APPEND);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        fh = await open(full, 'a', 0o644); // appending to nothing yet: a new file, its name made durable by commit()
        created = true;
      }
    } else {
      // A file with a second name (a blob committed from it, storage/upload-store.ts) is never
      // truncated in place: a name of its own replaces it.
      await rm(full, { force: true });
      fh = await open(full, readable ? 'w+' : 'w', 0o644);
    }
    let size = 0;
    if (append) {
      const st = await fh.stat();
      if (st.nlink > 1) {
        await fh.close();
        throw new FileLinkedError(path, this.name);
      }
      size = st.size;
    }
    // A new file's name is made durable with its bytes, by commit(): both fsyncs at once share one
    // journal commit (a PATCH to a new upload waited for two in a row). Nothing is promised before.
    let nameUnsynced = created && !readable;
    const driver = this;
    let closed = false;
    /** Bytes in the file; `inflight` (being written) and then `pending` follow them in memory. */
    let flushed = size;
    let inflight: Uint8Array[] = [];
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      // `batch` stays the bytes not yet in the file, from `flushed` on (read() looks there).
      const batch = pending;
      inflight = batch;
      pending = [];
      pendingBytes = 0;
      while (batch.length > 0) {
        const { bytesWritten } = await fh.writev(batch);
        flushed += bytesWritten;
        let n = bytesWritten;
        // A short write leaves the rest of the batch (possibly part of a chunk) to write again.
        while (batch.length > 0 && n >= batch[0]!.length) n -= batch.shift()!.length;
        if (n > 0) batch[0] = batch[0]!.subarray(n);
      }
    };
    return {
      get size() {
        return size;
      },
      async write(chunk: Uint8Array) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        size += chunk.length;
        if (pendingBytes >= WRITE_BATCH) await flush();
      },
      async commit() {
        await flush();
        if (!driver.sync) return;
        await Promise.all([fh.sync(), nameUnsynced ? syncDir(dirname(full)) : undefined]);
        nameUnsynced = false;
      },
      async close() {
        if (closed) return;
        closed = true;
        // Bytes written but not committed are still written (like a plain file), just not synced.
        try {
          await flush();
        } finally {
          await fh.close();
        }
      },
      async cancel() {
        pending = [];
        if (!closed) {
          closed = true;
          await fh.close();
        }
        await rm(full, { force: true });
      },
      async read(buffer: Uint8Array, position: number, length: number) {
        if (!readable) throw new Error('filesystem: this writer was not opened for reading');
        if (position < flushed) return (await fh.read(buffer, 0, Math.min(length, flushed - position), position)).bytesRead;
        // Not in the file yet: copy from the batches in memory (synchronously, so they cannot move meanwhile).
        let at = flushed;
        let copied = 0;
        for (const part of [...inflight, ...pending]) {
          if (copied === length) break;
          const end = at + part.length;
          if (position + copied < end) {
            const from = position + copied - at;
            const n = Math.min(part.length - from, length - copied);
            buffer.set(part.subarray(from, from + n), copied);
            copied += n;
          }
          at = end;
        }
        return copied;
      },
    };
  }

  async stat(path: string): Promise<FileInfo> {
    try {
      const st = await stat(this.full(path));
      return { path, size: st.size, modTime: st.mtime, isDir: st.isDirectory() };
    } catch (err) {
      this.notFound(path, err);
    }
  }

  async list(path: string): Promise<string[]> {
    try {
      const names = await readdir(this.full(path));
      const prefix = path === '/' ? '' : path;
      return names.filter((n) => !n.includes(TEMP_MARK)).map((n) => `${prefix}/${n}`);
    } catch (err) {
      this.notFound(path, err);
    }
  }

  /** Every file under `path` (readdir with file types; one stat per file, a few at a time). */
  async walk(path: string): Promise<FileInfo[]> {
    const out: FileInfo[] = [];
    const files: string[] = [];
    const visit = async (p: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(this.full(p), { withFileTypes: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        throw err;
      }
      const dirs: string[] = [];
      for (const e of entries) {
        if (e.name.includes(TEMP_MARK)) continue;
        const child = p === '/' ? `/${e.name}` : `${p}/${e.name}`;
        if (e.isDirectory()) dirs.push(child);
        else if (e.isFile()) files.push(child);
      }
      for (let i = 0; i < dirs.length; i += 16) await Promise.all(dirs.slice(i, i + 16).map(visit));
    };
    await visit(path);
    for (let i = 0; i < files.length; i += 64) {
      const batch = await Promise.all(
        files.slice(i, i + 64).map(async (f) => {
          try {
            const st = await stat(this.full(f));
            return { path: f, size: st.size, modTime: st.mtime, isDir: false };
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // deleted meanwhile
            throw err;
          }
        }),
      );
      for (const b of batch) if (b) out.push(b);
    }
    return out;
  }

  /** Batches of synchronous calls on a worker thread (storage/fs-bulk.ts). */
  openBulk(): BulkSession {
    return new FsBulkSession(this.root, this.sync);
  }

  async move(source: string, dest: string, opts: MoveOptions = {}): Promise<void> {
    const src = this.full(source);
    const dst = this.full(dest);
    const created = await this.mkdirsUnsynced(dirname(dst));
    try {
      await rename(src, dst);
    } catch (err) {
      this.notFound(source, err);
    }
    // Every directory that changed, synced at once (one journal commit rather than one each).
    const dirs = new Set([dirname(dst), ...created.map((c) => dirname(c))]);
    if (opts.sourceDurable !== false) dirs.add(dirname(src));
    if (this.sync) await Promise.all([...dirs].map((d) => syncDir(d)));
  }

  async touch(path: string): Promise<void> {
    const now = new Date();
    try {
      await utimes(this.full(path), now, now);
    } catch (err) {
      this.notFound(path, err);
    }
  }

  async linkFile(source: string, dest: string): Promise<void> {
    const src = this.full(source);
    const dst = this.full(dest);
    const created = await this.mkdirsUnsynced(dirname(dst));
    try {
      await link(src, dst);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') this.notFound(source, err);
    }
    // (Also when `dest` was there: whoever made it may not have synced it yet.)
    const dirs = new Set([dirname(dst), ...created.map((c) => dirname(c))]);
    if (this.sync) await Promise.all([...dirs].map((d) => syncDir(d)));
  }

  async delete(path: string, opts: DeleteOptions = {}): Promise<void> {
    const full = this.full(path);
    try {
      await stat(full);
    } catch (err) {
      this.notFound(path, err);
    }
    // Rename first so a half-finished recursive delete is never visible under the old name.
    const doomed = join(dirname(full), `${TEMP_MARK}del-${randomUUID()}`);
    await rename(full, doomed);
    if (opts.durable !== false) await this.syncDir(dirname(full));
    await rm(doomed, { recursive: true, force: true });
  }

  /** mkdir -p; returns the directories it created, top-most first, for syncParents. */
  private async mkdirsUnsynced(dir: string): Promise<string[]> {
    const first = await mkdir(dir, { recursive: true });
    if (!first) return [];
    const created: string[] = [];
    for (let d = dir; d.length >= first.length; d = dirname(d)) created.unshift(d);
    return created;
  }

  /** fsyncs the parents of directories just created, all at once, so the new entries survive a power cut. */
  private async syncParents(created: string[]): Promise<void> {
    if (this.sync) await Promise.all([...new Set(created.map((c) => dirname(c)))].map((d) => syncDir(d)));
  }

  /** mkdir -p that fsyncs the parent of every directory it creates, so new entries survive a power cut. */
  private async mkdirs(dir: string, sync = true): Promise<void> {
    const first = await mkdir(dir, { recursive: true });
    if (!first || !this.sync || !sync) return;
    // `first` is the top-most directory created; sync each created level's parent.
    let d = dir;
    const created: string[] = [];
    while (d.length >= first.length) {
      created.push(d);
      d = dirname(d);
    }
    for (const c of created) await this.syncDir(dirname(c));
  }

  redirectURL(): Promise<string> {
    return unsupportedMethod(this.name, 'redirectURL');
  }

  private async syncDir(dir: string): Promise<void> {
    if (this.sync) await syncDir(dir);
  }
}
