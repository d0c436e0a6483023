// The storage driver interface: the seam between the registry's repository layout and a backend
// (local filesystem, S3). Modelled on distribution's storagedriver.StorageDriver: paths
// are `/`-separated keys; directories are implicit.
import type { Readable } from 'node:stream';
import { KindedError, UnsupportedError } from '../util/errors.js';

export interface FileInfo {
  path: string;
  size: number;
  modTime: Date;
  isDir: boolean;
}

/**
 * A resumable writer for upload data. Bytes written are only guaranteed durable after
 * `commit()`; `size` is the number of bytes written so far including earlier sessions.
 */
export interface FileWriter {
  readonly size: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Makes everything written so far durable (fsync, or the backend's equivalent). */
  commit(): Promise<void>;
  /** Releases resources; bytes written but not committed may or may not survive. */
  close(): Promise<void>;
  /** Discards the file. */
  cancel(): Promise<void>;
}

/**
 * A writer whose bytes can be read back while it is open (StorageDriver.readableWriter), so a
 * file being written can serve readers without a second copy.
 */
export interface ReadableFileWriter extends FileWriter {
  /**
   * Reads up to `length` bytes at `position` of what has been written (below `size`), until
   * close() or cancel(); also after the file was moved or deleted meanwhile. Returns how many.
   */
  read(buffer: Uint8Array, position: number, length: number): Promise<number>;
}

/**
 * What a driver can do beyond the basics, declared once by the driver: callers and wrappers read
 * these instead of probing for methods. A method whose capability is false throws
 * UnsupportedError (distribution's ErrUnsupportedMethod).
 */
export interface MoveOptions {
  /** Default true. */
  sourceDurable?: boolean;
}

export interface PutOptions {
  /**
   * Default true. false: atomic while the system runs (readers see the old or the new content),
   * but a crash may undo it or leave the object empty; syncContent() makes it durable later.
   */
  durable?: boolean;
}

export interface DeleteOptions {
  /** Default true. */
  durable?: boolean;
}

export interface DriverCapabilities {
  /** readableWriter(): a file readable while it is written (local files; not S3). */
  readableWriter: boolean;
  /** redirectURL(): URLs clients can fetch objects from directly (S3 with presigned URLs). */
  redirect: boolean;
  /** openRandomAccess(): cheap positional reads (local files). */
  randomAccess: boolean;
  /** purgeStale(): backend-level leftovers to clean up (S3 multipart uploads, the filesystem's .tmp-* files). */
  purgeStale: boolean;
  /** walk(): a cheap listing of a whole tree (S3 flat listings, a local directory walk). */
  walk: boolean;
  /**
   * openBulk(): the driver's own BulkSession (local files: on a worker thread). Absent means
   * false: storage/bulk.ts then builds one from the single-object methods.
   */
  bulk?: boolean;
  /**
   * readWhole(): one request both finds an object's size and starts its bytes (S3: a GET's
   * Content-Length), where a stat and then a read would be two round trips to the store. Absent
   * means false.
   */
  readWhole?: boolean;
  /**
   * linkFile(): a second name for a file, made durably without copying (local files: a hard
   * link). Absent means false.
   */
  link?: boolean;
  /**
   * touch(): an object's modification time set to now without rewriting it (local files: utimes).
   * Absent means false.
   */
  touch?: boolean;
}

/** An object being read whole (StorageDriver.readWhole): its size and its bytes, not yet flowing. */
export interface WholeRead {
  readonly size: number;
  /** Destroy it when it will not be read (the driver then drops its connection). */
  readonly body: Readable;
}

/** One item of BulkSession.deleteMany / moveMany: what happened to it. */
export type BulkOutcome = 'done' | 'young' | 'missing';

export interface FindOptions {
  /**
   * false: the caller needs no sizes or times. A backend may then name a file by its directory's
   * entry alone (a link's `<hex>` directory without a stat of `<hex>/link`, a third of the calls of
   * a walk of links), so a file found may turn out to be absent, and has size 0 and the epoch as its
   * time: whoever acts on one checks it first (as deleteMany's `check` does). Default true.
   */
  stat?: boolean;
}

/**
 * Many small operations at once, for maintenance over a whole store (garbage collection): one call
 * per batch instead of one per object. Open with openBulk() in storage/bulk.ts; close when done.
 */
export interface BulkSession {
  /**
   * Every object matching one of the patterns (storage/path-pattern.ts: `*`, `**`), with size and
   * modification time (see FindOptions); a backend may skip whatever no pattern can match.
   */
  find(patterns: readonly string[], opts?: FindOptions): Promise<FileInfo[]>;
  /** Each object's content, undefined where there is none. */
  getContents(paths: readonly string[]): Promise<(Buffer | undefined)[]>;
  /**
   * Deletes each `path` (an object or a whole tree) unless its `check` object is absent
   * ('missing') or was modified at or after `olderThan` ms ('young'). An absent `path` is
   * 'missing'. Durable when it resolves.
   */
  deleteMany(items: readonly { path: string; check?: string }[], olderThan?: number): Promise<BulkOutcome[]>;
  /**
   * Moves each `from` to `to` under the same condition. With `durable: false` the moves are atomic
   * but may be undone by a power cut (for moves that are safe either way).
   */
  moveMany(items: readonly { from: string; to: string; check?: string }[], opts: { olderThan?: number; durable: boolean }): Promise<BulkOutcome[]>;
  close(): Promise<void>;
}

export interface StorageDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /** Reads a small object whole (links, manifests, upload state). */
  getContent(path: string): Promise<Buffer>;
  /** Atomically and durably (unless `opts.durable` is false) replaces `path` with `content`. */
  putContent(path: string, content: Uint8Array, opts?: PutOptions): Promise<void>;
  /**
   * Makes durable an object written with putContent(…, { durable: false }): its content and its
   * name, with the names of the directories above it. Nothing to do where every write is
   * durable (S3). An object already durable costs little (nothing left to write).
   */
  syncContent(path: string): Promise<void>;
  /** Streams an object from `offset` (inclusive) to `end` (inclusive) or its end. */
  reader(path: string, offset?: number, end?: number): Promise<Readable>;
  /** Opens a writer; with `append` it continues an existing file. */
  writer(path: string, append: boolean): Promise<FileWriter>;
  /**
   * Creates a file (replacing any) whose bytes can be read back while it is written, for backends
   * where that is cheap (local files; not S3, whose parts are not readable before the object is
   * complete). Its name is not made durable: such a file is moved into place once committed, and
   * the move is what makes it durable there (with commit()'s fsync of the data).
   */
  readableWriter(path: string): Promise<ReadableFileWriter>;
  stat(path: string): Promise<FileInfo>;
  /** Full paths of the direct children of a directory. */
  list(path: string): Promise<string[]>;
  /**
   * Atomically and durably moves an object, replacing any object at `dest`. `opts.sourceDurable:
   * false`: the object's absence at `source` need not survive a crash (the caller deletes what
   * holds it next), only its presence at `dest`.
   */
  move(source: string, dest: string, opts?: MoveOptions): Promise<void>;
  /**
   * Deletes an object or a whole directory tree. `opts.durable: false`: the deletion may be undone
   * by a crash (the caller can live with finding the object again).
   */
  delete(path: string, opts?: DeleteOptions): Promise<void>;
  /** A URL the client can fetch the object from directly (capabilities.redirect). */
  redirectURL(path: string): Promise<string>;
  /**
   * Positional reads into the caller's buffers, for backends where that is cheap (local files):
   * lets the server send a blob through a few reused buffers instead of allocating per chunk.
   */
  openRandomAccess(path: string): Promise<RandomAccessFile>;
  /**
   * Removes backend-level leftovers older than `olderThan` that no path refers to (S3: multipart
   * uploads abandoned by a crash). Returns how many. Called by the upload purger.
   */
  purgeStale(olderThan: Date): Promise<number>;
  /**
   * Every object under `path` (recursively) with its size and modification time, in no particular
   * order; an absent `path` gives an empty list. Drivers that can list a whole tree cheaply
   * implement it (S3: one ListObjectsV2 per 1,000 keys, no HEAD per object); `walkFiles()` in
   * storage/walk.ts falls back to list() and stat() for the others.
   */
  walk(path: string): Promise<FileInfo[]>;
  /** A BulkSession of the driver's own (capabilities.bulk). */
  openBulk?(): BulkSession;
  /** The whole object and its size from one request (capabilities.readWhole); PathNotFoundError when absent. */
  readWhole?(path: string): Promise<WholeRead>;
  /**
   * Gives the file at `source` the name `dest` too (capabilities.link), durably: `dest` survives a
   * crash once this resolves, `source` stays. For content-addressed names: a `dest` already there
   * holds the same bytes and is kept. A writer never writes through one of its names into the
   * other (writer() refuses a file with two names, readableWriter() replaces it).
   */
  linkFile?(source: string, dest: string): Promise<void>;
  /**
   * Sets the object's modification time to now (capabilities.touch); PathNotFoundError when it is
   * absent. The time is not made durable: it matters to a garbage collection running now, which a
   * crash ends (storage/garbage-collector.ts), not to one after it.
   */
  touch?(path: string): Promise<void>;
}

export interface RandomAccessFile {
  readonly size: number;
  /** Reads up to `length` bytes at `position` into `buffer`; returns how many were read. */
  read(buffer: Uint8Array, position: number, length: number): Promise<number>;
  close(): Promise<void>;
}

/** Throws the typed error for a method a driver does not support. */
export function unsupportedMethod(driver: string, method: string): never {
  throw new UnsupportedError(`${driver}: ${method} is not supported by this storage driver`);
}

export class PathNotFoundError extends KindedError {
  readonly code = 'PATH_NOT_FOUND';
  constructor(
    readonly path: string,
    readonly driver: string,
  ) {
    super('not-found', `${driver}: path not found: ${path}`);
    this.name = 'PathNotFoundError';
  }
}

/** writer() to append to a file that has another name too (StorageDriver.linkFile): refused. */
export class FileLinkedError extends KindedError {
  constructor(
    readonly path: string,
    readonly driver: string,
  ) {
    super('conflict', `${driver}: ${path} has another name (committed): not appended to`);
    this.name = 'FileLinkedError';
  }
}

export class InvalidPathError extends KindedError {
  constructor(readonly path: string) {
    super('invalid', `invalid storage path: ${path}`);
    this.name = 'InvalidPathError';
  }
}

export function isNotFound(err: unknown): err is PathNotFoundError {
  return err instanceof PathNotFoundError;
}

// Paths are absolute, `/`-separated, with components of safe characters only, so a path can
// never escape the driver's root whatever a caller builds it from.
const PATH_GRAMMAR = /^(\/[A-Za-z0-9._+-]+)+$/;

export function checkPath(path: string): void {
  if (!PATH_GRAMMAR.test(path) || path.split('/').some((c) => c === '.' || c === '..')) throw new InvalidPathError(path);
}
