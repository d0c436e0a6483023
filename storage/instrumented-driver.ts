// A StorageDriver decorator that reports every operation (count, outcome, latency) to a small
// metrics sink. It wraps any driver, so every backend is measured the same way; the sink is an
// interface so storage/ depends on no metrics library and no server code.
import type { Readable } from 'node:stream';
import { isNotFound, type BulkSession, type DeleteOptions, type MoveOptions, type PutOptions, type DriverCapabilities, type FileInfo, type FileWriter, type RandomAccessFile, type ReadableFileWriter, type StorageDriver, type WholeRead } from './driver.js';

/** The fixed set of operation names (bounded label values). Writer methods are `writer.<method>`. */
export type StorageOperation =
  | 'getContent'
  | 'putContent'
  | 'reader'
  | 'writer'
  | 'writer.write'
  | 'writer.commit'
  | 'writer.close'
  | 'writer.cancel'
  | 'stat'
  | 'list'
  | 'move'
  | 'delete'
  | 'redirectURL'
  | 'purgeStale'
  | 'walk';

/** `not_found` is an expected answer (existence checks), kept apart from real errors. */
export type StorageOutcome = 'ok' | 'not_found' | 'error';

export interface StorageMetricsSink {
  storageOperation(driver: string, operation: StorageOperation, outcome: StorageOutcome, seconds: number): void;
}

export class InstrumentedDriver implements StorageDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;

  constructor(
    readonly inner: StorageDriver,
    private readonly sink: StorageMetricsSink,
  ) {
    this.name = inner.name;
    this.capabilities = inner.capabilities;
  }

  redirectURL(path: string): Promise<string> {
    return this.measure('redirectURL', () => this.inner.redirectURL(path));
  }

  purgeStale(olderThan: Date): Promise<number> {
    return this.measure('purgeStale', () => this.inner.purgeStale(olderThan));
  }

  walk(path: string): Promise<FileInfo[]> {
    return this.measure('walk', () => this.inner.walk(path));
  }

  /** Each batch is measured as one operation of its kind (a walk, a read, a delete, a move). */
  openBulk(): BulkSession {
    const s = this.inner.openBulk!();
    return {
      find: (patterns, opts) => this.measure('walk', () => s.find(patterns, opts)),
      getContents: (paths) => this.measure('getContent', () => s.getContents(paths)),
      deleteMany: (items, olderThan) => this.measure('delete', () => s.deleteMany(items, olderThan)),
      moveMany: (items, opts) => this.measure('move', () => s.moveMany(items, opts)),
      close: () => s.close(),
    };
  }

  async readableWriter(path: string): Promise<ReadableFileWriter> {
    const w = await this.measure('writer', () => this.inner.readableWriter(path));
    const measured = this.measuredWriter(w) as ReadableFileWriter;
    // Reads back are not measured (like positional reads: per chunk, the client's pace).
    return Object.defineProperty(measured, 'read', { value: (buffer: Uint8Array, position: number, length: number) => w.read(buffer, position, length) });
  }

  openRandomAccess(path: string): Promise<RandomAccessFile> {
    return this.measure('reader', () => this.inner.openRandomAccess(path));
  }

  private async measure<T>(operation: StorageOperation, fn: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    let outcome: StorageOutcome = 'error';
    try {
      const result = await fn();
      outcome = 'ok';
      return result;
    } catch (err) {
      outcome = isNotFound(err) ? 'not_found' : 'error';
      throw err;
    } finally {
      this.report(operation, outcome, started);
    }
  }

  private report(operation: StorageOperation, outcome: StorageOutcome, started: bigint): void {
    try {
      this.sink.storageOperation(this.name, operation, outcome, Number(process.hrtime.bigint() - started) / 1e9);
    } catch {
      // Metrics must never break storage.
    }
  }

  getContent(path: string): Promise<Buffer> {
    return this.measure('getContent', () => this.inner.getContent(path));
  }

  putContent(path: string, content: Uint8Array, opts?: PutOptions): Promise<void> {
    return this.measure('putContent', () => this.inner.putContent(path, content, opts));
  }

  /** (Measured as a put, which it completes.) */
  syncContent(path: string): Promise<void> {
    return this.measure('putContent', () => this.inner.syncContent(path));
  }

  /** Measures opening the stream (the time to first byte is the backend's; the transfer is the client's). */
  reader(path: string, offset?: number, end?: number): Promise<Readable> {
    return this.measure('reader', () => this.inner.reader(path, offset, end));
  }

  /** Counted as a read (it is the read, and the stat it saves). */
  readWhole(path: string): Promise<WholeRead> {
    return this.measure('reader', () => this.inner.readWhole!(path));
  }

  async writer(path: string, append: boolean): Promise<FileWriter> {
    return this.measuredWriter(await this.measure('writer', () => this.inner.writer(path, append)));
  }

  private measuredWriter(w: FileWriter): FileWriter {
    const measure = this.measure.bind(this);
    return {
      get size() {
        return w.size;
      },
      write: (chunk) => measure('writer.write', () => w.write(chunk)),
      commit: () => measure('writer.commit', () => w.commit()),
      close: () => measure('writer.close', () => w.close()),
      cancel: () => measure('writer.cancel', () => w.cancel()),
    };
  }

  stat(path: string): Promise<FileInfo> {
    return this.measure('stat', () => this.inner.stat(path));
  }

  list(path: string): Promise<string[]> {
    return this.measure('list', () => this.inner.list(path));
  }

  move(source: string, dest: string, opts?: MoveOptions): Promise<void> {
    return this.measure('move', () => this.inner.move(source, dest, opts));
  }

  /** (capabilities.link; measured as a move, which it replaces.) */
  /** (Measured as a put: it stands for rewriting the object.) */
  touch(path: string): Promise<void> {
    return this.measure('putContent', () => this.inner.touch!(path));
  }

  linkFile(source: string, dest: string): Promise<void> {
    return this.measure('move', () => this.inner.linkFile!(source, dest));
  }

  delete(path: string, opts?: DeleteOptions): Promise<void> {
    return this.measure('delete', () => this.inner.delete(path, opts));
  }
}
