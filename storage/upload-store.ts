// Resumable blob uploads. All upload state lives in storage (data and an info record), so an
// upload survives a restart and can be continued by another process sharing the storage.
// The running digest is kept in memory as an optimisation only: a process that does not have
// it (restart, another replica or worker) continues from a digest state saved with the upload
// (see UploadDigestState) or re-hashes the stored prefix once, never on every chunk.
import { randomUUID, type Hash } from 'node:crypto';
import { newHash, type Digest, parseDigest } from '../oci/index.js';
import type { BlobInfo, BlobStore } from './blob-store.js';
import { FileLinkedError, isNotFound, type StorageDriver } from './driver.js';
import { KeyedLock } from './keyed-lock.js';
import { layout } from './layout.js';
import { nativeSha256, resumableSha256, type DigestKind, type RunningDigest } from './running-digest.js';
import { ContentMismatchError, KindedError } from '../util/errors.js';

export interface UploadInfo {
  id: string;
  repository: string;
  startedAt: string;
}

export interface UploadStatus extends UploadInfo {
  size: number;
}

export class UploadUnknownError extends KindedError {
  constructor(readonly id: string) {
    super('not-found', `upload ${id} is unknown`);
    this.name = 'UploadUnknownError';
  }
}

/** A chunk that does not start where the upload currently ends. */
export class UploadOffsetError extends KindedError {
  constructor(
    readonly expected: number,
    readonly size: number,
  ) {
    super('invalid', `chunk starts at ${expected} but the upload has ${size} bytes`);
    this.name = 'UploadOffsetError';
  }
}

export class DigestMismatchError extends ContentMismatchError {
  constructor(
    readonly expected: Digest,
    readonly actual: Digest,
  ) {
    super(`content digest ${actual} does not match ${expected}`);
    this.name = 'DigestMismatchError';
  }
}

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isValidUploadId(id: string): boolean {
  return UPLOAD_ID.test(id);
}

/** Running digests kept at most for this many uploads; the oldest are dropped (and re-hashed if resumed). */
const MAX_HASH_STATES = 10_000;

interface HashState {
  hash: RunningDigest;
  offset: number;
}

/** Runs work per key one at a time: KeyedLock within a process, or one shared by processes. */
export interface UploadLock {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * Where an upload's running digest lives between its chunks:
 * - `memory`: Node's native hash in the process that received the chunks; a process without it
 *   (a restart, another replica) re-reads the stored prefix;
 * - `storage`: saved with the upload after every chunk (hash-wasm, about a fifth of the native
 *   speed), so any process continues from it without re-reading;
 * - `hybrid`: native while an upload's chunks reach the process that holds its digest (one
 *   connection, one process: the common case); a chunk that reaches a process without it (another
 *   worker or replica, a restart) makes that process re-read the stored prefix once with a
 *   resumable digest, whose state is saved with the upload from then on, so later chunks on yet
 *   other processes continue from the saved state instead of re-reading again.
 */
export type UploadDigestState = 'memory' | 'storage' | 'hybrid';

export interface UploadStoreOptions {
  /** Default `memory`, or `hybrid` when `shared`. */
  digestState?: UploadDigestState;
  /**
   * Other processes serve this upload store's chunks too (a cluster's workers): the lock must be
   * theirs too, and `memory` means `hybrid` (a worker must find what another worker saved).
   */
  shared?: { lock: UploadLock };
}

/**
 * An upload with one writer that others read while it grows (see UploadStore.createGrowing).
 * Its bytes are in the upload's data file only: they are hashed once, as they are written.
 */
export interface GrowingUpload {
  readonly id: string;
  /** Bytes written so far. */
  readonly size: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Reads up to `length` bytes at `position` (below `size`); works until close(), also after commit(). */
  read(buffer: Uint8Array, position: number, length: number): Promise<number>;
  /** Checks what was written against the digest: DigestMismatchError otherwise. */
  verify(): void;
  /** Verifies, makes the data durable, moves it into the blob store and links it to the repository. */
  commit(): Promise<BlobInfo>;
  /** Releases the file; an upload not committed is discarded. */
  close(): Promise<void>;
}

export class UploadStore {
  private readonly hashes = new Map<string, HashState>();
  private readonly lock: UploadLock;
  /** New uploads' digests: native unless every chunk saves its state (`storage`). */
  private readonly digests: DigestKind;
  /** A process without an upload's digest looks for a saved state, and saves one from then on. */
  private readonly hybrid: boolean;

  constructor(
    private readonly driver: StorageDriver,
    private readonly blobs: BlobStore,
    opts: UploadStoreOptions = {},
  ) {
    const mode = opts.digestState ?? 'memory';
    this.digests = mode === 'storage' ? resumableSha256 : nativeSha256;
    this.hybrid = mode === 'hybrid' || (mode === 'memory' && opts.shared !== undefined);
    this.lock = opts.shared?.lock ?? new KeyedLock();
  }

  async create(repository: string): Promise<UploadStatus> {
    const id = randomUUID();
    const info: UploadInfo = { id, repository, startedAt: new Date().toISOString() };
    // The record alone: an upload without a data file has no bytes yet (the first append creates
    // it), which saves a new upload two fsyncs and a file. Not durable yet either: a session
    // holds nothing acknowledged until its first bytes, and append() makes the record durable
    // with them (their fsyncs at once); a blob that comes whole (appendAndCommit) never needs it.
    // A crash before then loses the session (or leaves its record empty: unknown as well), and
    // the client starts again. Two fsync rounds fewer before the 202 of a POST.
    await this.driver.putContent(layout.uploadInfo(id), Buffer.from(JSON.stringify(info)), { durable: false });
    this.remember(id, { hash: await this.digests.create(), offset: 0 });
    return { ...info, size: 0 };
  }

  /**
   * An upload of the blob `digest` written by the caller while others read it back (the pull-through
   * mirror's transfers: the upload's file doubles as the spool its clients read, so the bytes are
   * written and hashed once). Undefined when the driver cannot read back a file it is writing (S3).
   * `repository` is where commit() links the blob.
   */
  async createGrowing(repository: string, digest: Digest): Promise<GrowingUpload | undefined> {
    if (!this.driver.capabilities.readableWriter) return undefined;
    const hash = newHash(parseDigest(digest).algorithm.name);
    // No info record and no fsyncs before the first byte: the upload is never resumed or looked up
    // by id (a crash leaves a directory the purger removes by its age), and committing moves the
    // fsynced data into place durably.
    const id = randomUUID();
    const dataPath = layout.uploadData(id);
    let writer;
    try {
      writer = await this.driver.readableWriter(dataPath);
    } catch (err) {
      await this.remove(id);
      throw err;
    }
    const w = writer;
    let state: 'open' | 'committed' | 'closed' = 'open';
    const verify = () => {
      const actual = `${parseDigest(digest).algorithm.name}:${hash.copy().digest('hex')}` as Digest;
      if (actual !== digest) throw new DigestMismatchError(digest, actual);
    };
    return {
      id,
      get size() {
        return w.size;
      },
      async write(chunk) {
        if (state !== 'open') throw new Error(`upload ${id} is ${state}`);
        await w.write(chunk);
        hash.update(chunk);
      },
      read: (buffer, position, length) => w.read(buffer, position, length),
      verify,
      commit: () =>
        this.lock.run(id, async () => {
          if (state !== 'open') throw new Error(`upload ${id} is ${state}`);
          verify();
          await w.commit(); // durable before it is visible
          await this.blobs.commitFrom(dataPath, digest);
          await this.blobs.link(repository, digest, w.size);
          await this.remove(id);
          state = 'committed'; // (a failure before this: close() discards what is left)
          return { digest, size: w.size };
        }),
      close: () =>
        this.lock.run(id, async () => {
          if (state === 'closed') return;
          const committed = state === 'committed';
          state = 'closed';
          if (committed) return w.close();
          await w.cancel();
          await this.remove(id);
        }),
    };
  }

  private async info(repository: string, id: string): Promise<UploadInfo> {
    if (!isValidUploadId(id)) throw new UploadUnknownError(id);
    let info: UploadInfo;
    try {
      info = JSON.parse((await this.driver.getContent(layout.uploadInfo(id))).toString('utf8')) as UploadInfo;
    } catch (err) {
      // (Empty or cut short: a record a crash caught before it was durable, see create().)
      if (isNotFound(err) || err instanceof SyntaxError) throw new UploadUnknownError(id);
      throw err;
    }
    if (info.repository !== repository) throw new UploadUnknownError(id);
    return info;
  }

  async status(repository: string, id: string): Promise<UploadStatus> {
    const info = await this.info(repository, id);
    try {
      const st = await this.driver.stat(layout.uploadData(id));
      return { ...info, size: st.size };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    // The data was moved by a commit that did not finish: the upload is there until it does.
    const pending = await this.pendingCommit(id);
    if (!pending) return { ...info, size: 0 }; // no bytes yet
    const blob = await this.blobs.statGlobal(pending);
    if (!blob) throw new UploadUnknownError(id);
    return { ...info, size: blob.size };
  }

  /**
   * Appends a stream to the upload. With `expectedOffset`, the chunk must start exactly where
   * the upload ends (UploadOffsetError otherwise). Returns the new size. Bytes are durable when
   * this resolves.
   */
  append(repository: string, id: string, source: AsyncIterable<Uint8Array>, expectedOffset?: number): Promise<number> {
    return this.lock.run(id, async () => {
      await this.info(repository, id);
      const writer = await this.driver.writer(layout.uploadData(id), true).catch((err: unknown) => {
        // Committed by a PUT that a crash kept from removing the upload: it is finished.
        throw err instanceof FileLinkedError ? new UploadUnknownError(id) : err;
      });
      try {
        if (expectedOffset !== undefined && expectedOffset !== writer.size) {
          throw new UploadOffsetError(expectedOffset, writer.size);
        }
        const state = await this.hashState(id, writer.size, true);
        this.hashes.delete(id); // re-added only if the whole chunk is written
        for await (const chunk of source) {
          await writer.write(chunk);
          state.hash.update(chunk);
          state.offset += chunk.length;
        }
        // The record too (create() left it to the first bytes; already durable, it costs little).
        await Promise.all([writer.commit(), this.driver.syncContent(layout.uploadInfo(id))]);
        this.remember(id, state);
        await this.saveDigestState(id, state);
        return writer.size;
      } finally {
        await writer.close();
      }
    });
  }

  /**
   * The last bytes of an upload and its commit in one step (a PUT with a body, a POST with
   * ?digest=): append() then commit(), except for an upload still empty on a driver that writes
   * local files, the common case of a small blob, which takes a shorter way: the bytes go to the
   * upload's data file, hashed as they flow, are fsynced, checked, moved into the blob store
   * (fsyncing the directories that gain entries) and linked. No commit record: the bytes are in the
   * upload until the move and in the blob store after it, and nothing is acknowledged before both
   * the move and the link, made at once, are durable (a crash before leaves an unlinked blob for
   * garbage collection or a link without data that no one sees, and the client's retried PUT an
   * unknown upload or one whose digest no longer matches, so it starts again). About half the file
   * operations of append() and commit() (one read of the upload's record instead of three, no
   * digest state, no commit record and its two fsyncs). `admit(size)` runs once the size is known
   * and before the blob is linked (quotas). Returns the blob and the upload's size.
   */
  appendAndCommit(
    repository: string,
    id: string,
    source: AsyncIterable<Uint8Array>,
    digest: Digest,
    admit: (size: number) => Promise<void>,
    expectedOffset?: number,
  ): Promise<BlobInfo> {
    if (!this.driver.capabilities.readableWriter || this.digests.resumable || (expectedOffset !== undefined && expectedOffset !== 0)) {
      return this.appendThenCommit(repository, id, source, digest, admit, expectedOffset);
    }
    return this.lock.run(id, async () => {
      await this.info(repository, id);
      const dataPath = layout.uploadData(id);
      // This process's running digest at 0 proves an empty upload only where no other process
      // appends to it (hybrid: workers or replicas may have; the stored size tells).
      if (this.hybrid || this.hashes.get(id)?.offset !== 0) {
        const stored = await this.driver.stat(dataPath).then((st) => st.size, (err: unknown) => (isNotFound(err) ? 0 : Promise.reject(err)));
        // Bytes already there, or a commit under way (data moved, its record kept): the regular path.
        if (stored !== 0 || (await this.pendingCommit(id)) !== undefined) return undefined;
      }
      const algorithm = parseDigest(digest).algorithm.name;
      const hash = newHash(algorithm);
      this.hashes.delete(id);
      // A file of the upload's own that no directory sync makes durable: the move below is what
      // makes the blob's entries durable (with the fsync of its bytes).
      const w = await this.driver.readableWriter(dataPath);
      let size: number;
      try {
        for await (const chunk of source) {
          await w.write(chunk);
          hash.update(chunk);
        }
        size = w.size;
        const actual = `${algorithm}:${hash.digest('hex')}` as Digest;
        if (actual !== digest) {
          await w.close();
          await this.remove(id);
          throw new DigestMismatchError(digest, actual);
        }
        await admit(size);
      } catch (err) {
        // Bytes of a failed body stay in the upload, as with append() (its status tells how many).
        await w.close();
        throw err;
      }
      try {
        // The data is fsynced while the repository's link is written, and is durable before it is
        // visible in the blob store. Neither the file's leaving the upload nor the upload's
        // removal needs an fsync: a crash that undoes them leaves an empty upload (its status says
        // 0 bytes; the purger removes it).
        await this.blobs.placeAndLink(repository, dataPath, digest, size, 'move', { sourceDurable: false, syncData: () => w.commit() });
      } finally {
        await w.close();
        await this.remove(id, false);
      }
      return { digest, size };
    }).then((done) => done ?? this.appendThenCommit(repository, id, source, digest, admit, expectedOffset));
  }

  private async appendThenCommit(
    repository: string,
    id: string,
    source: AsyncIterable<Uint8Array>,
    digest: Digest,
    admit: (size: number) => Promise<void>,
    expectedOffset?: number,
  ): Promise<BlobInfo> {
    const size = await this.append(repository, id, source, expectedOffset);
    await admit(size);
    return this.commit(repository, id, digest);
  }

  /** Verifies the upload against `digest`, moves it into the blob store and links it to the repository. */
  commit(repository: string, id: string, digest: Digest): Promise<BlobInfo> {
    return this.lock.run(id, async () => {
      await this.info(repository, id);
      const dataPath = layout.uploadData(id);
      let size: number;
      try {
        size = (await this.driver.stat(dataPath)).size;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        // A commit cut short (a crash after moving the data): the retried PUT finishes it.
        const pending = await this.pendingCommit(id);
        if (pending !== undefined) {
          if (pending !== digest) throw new DigestMismatchError(digest, pending);
          return this.finishCommit(repository, id, digest);
        }
        // No bytes were ever appended: an empty blob, its data file made here.
        await this.driver.putContent(dataPath, new Uint8Array(0));
        size = 0;
      }
      const algorithm = parseDigest(digest).algorithm.name;
      let actual: Digest;
      if (algorithm === 'sha256') {
        const state = await this.hashState(id, size);
        actual = `sha256:${state.hash.peekHex()}` as Digest;
      } else {
        actual = `${algorithm}:${(await this.rehash(id, size, algorithm)).digest('hex')}` as Digest;
      }
      if (actual !== digest) {
        await this.remove(id);
        throw new DigestMismatchError(digest, actual);
      }
      if (this.driver.capabilities.link) {
        // Local files: no commit record. The blob store gets the data under a second name, at once
        // with the repository's link, and the upload keeps its own until both are durable, so
        // whatever step a crash interrupts, the upload still has its bytes and a retried PUT does
        // it again (the blob is then there already). Two fsync rounds fewer than the record (file,
        // then directory) before a move. The upload can no longer be appended to (writer() refuses a file with
        // two names) and its removal need not be durable: one that comes back is complete.
        await this.blobs.placeAndLink(repository, dataPath, digest, size, 'link');
        await this.remove(id, false);
        return { digest, size };
      }
      // From here the commit is recorded: whatever step a crash interrupts, the next start
      // (recoverCommits) or a retried PUT completes it, and the acknowledged upload is not lost.
      // (With the upload's record, which recovery reads: not yet durable if no bytes came.)
      await Promise.all([this.driver.putContent(layout.uploadCommit(id), Buffer.from(digest)), this.driver.syncContent(layout.uploadInfo(id))]);
      return this.finishCommit(repository, id, digest);
    });
  }

  /** The digest of a commit that was recorded and did not finish. */
  private async pendingCommit(id: string): Promise<Digest | undefined> {
    try {
      return (await this.driver.getContent(layout.uploadCommit(id))).toString('utf8') as Digest;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The steps after the commit record: each can be repeated (data moved once, link rewritten). */
  private async finishCommit(repository: string, id: string, digest: Digest): Promise<BlobInfo> {
    try {
      await this.blobs.commitFrom(layout.uploadData(id), digest);
    } catch (err) {
      if (!isNotFound(err)) throw err; // moved by the interrupted attempt
    }
    const blob = await this.blobs.statGlobal(digest);
    if (!blob) throw new UploadUnknownError(id);
    await this.blobs.link(repository, digest, blob.size);
    // The link is durable: the upload's removal need not be. A crash that brings the upload back
    // brings back its commit record too, and finishing it again (the next start, a retried PUT,
    // the purger) only rewrites the link and removes it again.
    await this.remove(id, false);
    return blob;
  }

  /**
   * Completes the commits a crash interrupted (the blob moved into place but not yet linked to
   * its repository, or not yet moved). Run at start; returns how many were completed.
   */
  async recoverCommits(): Promise<number> {
    let dirs: string[];
    try {
      dirs = await this.driver.list(layout.uploadsRoot);
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
    let recovered = 0;
    for (const dir of dirs) {
      const id = dir.split('/').pop() ?? '';
      if (!isValidUploadId(id)) continue;
      const digest = await this.pendingCommit(id);
      if (!digest) continue;
      let info: UploadInfo;
      try {
        info = JSON.parse((await this.driver.getContent(layout.uploadInfo(id))).toString('utf8')) as UploadInfo;
      } catch (err) {
        if (isNotFound(err)) continue; // finished meanwhile
        throw err;
      }
      await this.lock.run(id, async () => {
        if ((await this.pendingCommit(id)) === digest) await this.finishCommit(info.repository, id, digest);
      });
      recovered++;
    }
    return recovered;
  }

  cancel(repository: string, id: string): Promise<void> {
    return this.lock.run(id, async () => {
      await this.info(repository, id);
      await this.remove(id);
    });
  }

  /** How many upload sessions are stored (started and neither finished nor cancelled). */
  async count(): Promise<number> {
    try {
      return (await this.driver.list(layout.uploadsRoot)).filter((dir) => isValidUploadId(dir.split('/').pop() ?? '')).length;
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
  }

  /**
   * Deletes uploads started before `olderThan`, and the driver's own leftovers of that age (S3:
   * abandoned multipart uploads); returns how many.
   */
  async purge(olderThan: Date): Promise<number> {
    let dirs: string[];
    try {
      dirs = await this.driver.list(layout.uploadsRoot);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      dirs = [];
    }
    let purged = this.driver.capabilities.purgeStale ? await this.driver.purgeStale(olderThan) : 0;
    for (const dir of dirs) {
      const id = dir.split('/').pop() ?? '';
      if (!isValidUploadId(id)) continue;
      let started: Date;
      try {
        const info = JSON.parse((await this.driver.getContent(layout.uploadInfo(id))).toString('utf8')) as UploadInfo;
        started = new Date(info.startedAt);
      } catch (err) {
        // No info record: a create that crashed half-way; judge by the directory's age.
        if (!isNotFound(err) && !(err instanceof SyntaxError)) throw err;
        started = (await this.driver.stat(dir).catch(() => ({ modTime: new Date(0) }))).modTime;
      }
      if (started < olderThan) {
        await this.lock.run(id, async () => {
          // An interrupted commit is completed, never purged: its client was told the blob is there.
          const pending = await this.pendingCommit(id);
          const info = pending ? await this.driver.getContent(layout.uploadInfo(id)).then((b) => JSON.parse(b.toString('utf8')) as UploadInfo, () => undefined) : undefined;
          if (pending && info) await this.finishCommit(info.repository, id, pending);
          else await this.remove(id);
        });
        purged++;
      }
    }
    return purged;
  }

  private remember(id: string, state: HashState): void {
    this.hashes.delete(id);
    this.hashes.set(id, state);
    if (this.hashes.size > MAX_HASH_STATES) this.hashes.delete(this.hashes.keys().next().value!);
  }

  /** Deletes the upload; `durable` false when a crash may bring it back (see appendAndCommit). */
  private async remove(id: string, durable = true): Promise<void> {
    this.hashes.delete(id);
    try {
      await this.driver.delete(layout.uploadDir(id), { durable });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * The running digest of the `size` bytes stored. `appending`: more bytes follow (a chunk), not
   * only the commit.
   */
  private async hashState(id: string, size: number, appending = false): Promise<HashState> {
    const state = this.hashes.get(id);
    if (state && state.offset === size) return state;
    if (this.digests.resumable || this.hybrid) {
      // (A saved state is used only if it covers exactly the stored bytes: one saved before a
      // native chunk appended more is stale and ignored.)
      const saved = await this.loadDigestState(id, size);
      if (saved) return saved;
    }
    // Another process appended (or this one restarted): hash what is stored, once. In hybrid
    // mode an upload whose chunks arrive on several processes goes on with a digest whose state
    // is saved after each chunk (hash-wasm: slower, but a later chunk on yet another process
    // continues from it instead of re-reading everything again): native hashing while an upload
    // stays on one process, at most one re-read of its prefix when it does not.
    const kind = appending && this.hybrid ? resumableSha256 : this.digests;
    const hash = await kind.create();
    if (size > 0) {
      const stream = await this.driver.reader(layout.uploadData(id), 0, size - 1);
      for await (const chunk of stream) hash.update(chunk as Buffer);
    }
    return { hash, offset: size };
  }

  private async saveDigestState(id: string, state: HashState): Promise<void> {
    const saved = state.hash.save();
    if (!saved) return;
    const record = { offset: state.offset, state: Buffer.from(saved).toString('base64') };
    await this.driver.putContent(layout.uploadDigestState(id), Buffer.from(JSON.stringify(record)));
  }

  /** The saved digest state, if it covers exactly the stored data. */
  private async loadDigestState(id: string, size: number): Promise<HashState | undefined> {
    let record: { offset?: unknown; state?: unknown };
    try {
      record = JSON.parse((await this.driver.getContent(layout.uploadDigestState(id))).toString('utf8')) as typeof record;
    } catch (err) {
      if (isNotFound(err) || err instanceof SyntaxError) return undefined;
      throw err;
    }
    if (record.offset !== size || typeof record.state !== 'string') return undefined;
    try {
      return { hash: await resumableSha256.restore(Buffer.from(record.state, 'base64')), offset: size };
    } catch {
      return undefined; // unreadable state: re-hash instead
    }
  }

  private async rehash(id: string, size: number, algorithm: string): Promise<Hash> {
    const hash = newHash(algorithm);
    if (size === 0) return hash;
    const stream = await this.driver.reader(layout.uploadData(id), 0, size - 1);
    for await (const chunk of stream) hash.update(chunk as Buffer);
    return hash;
  }
}
