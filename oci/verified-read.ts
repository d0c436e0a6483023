// A verified read: a blob's bytes streamed from a source to a sink while its size and digest are
// checked, an interrupted read resumed with a ranged re-open a bounded number of times, and the
// stream destroyed as soon as it runs past the descriptor's size. The one copy used by OCI layouts,
// docker archives and the engine's content store. Imports only the digest module, so the engine's
// `run` path may load it.
import { ContentMismatchError } from '../util/errors.js';
import { Digester, parseDigest, type Digest } from './digest.js';

/** How many times one read is opened in all (the first open and its resumes) before giving up. */
export const RESUME_ATTEMPTS = 5;

/** A readable source of a blob's bytes starting at `offset` (a ranged request, a file stream). */
export type OpenAt = (offset: number) => Promise<AsyncIterable<Uint8Array> & { destroy?: (err?: Error) => void }>;

export interface VerifiedReadOptions {
  /** What is read: the digest and size it must have. */
  desc: { digest: Digest; size: number };
  open: OpenAt;
  /** Receives each chunk and where it goes; a write that fails ends the read (it is not re-read). */
  write: (chunk: Uint8Array, offset: number) => Promise<unknown>;
  /**
   * Receives a batch of chunks as they arrived (writev), all of them written before it resolves;
   * used instead of `write` when given, so a batch is not first copied into one buffer.
   */
  writev?: (chunks: Uint8Array[], offset: number) => Promise<unknown>;
  /** Bytes already present from an earlier read (already fed to `digester`). Default 0. */
  from?: number;
  /** A digester already fed the first `from` bytes; a fresh one when omitted. */
  digester?: Digester;
  /** Opens in all, the first included (default RESUME_ATTEMPTS). A resume happens only after a read made progress. */
  attempts?: number;
  onProgress?: (bytes: number) => void;
  /**
   * The sink keeps no chunk once its write resolved: chunks are then handed back to a source
   * that takes them (a `recycle(chunks)` method on the opened stream: a bulk HTTP body reads into
   * their memory again).
   */
  recycleChunks?: boolean;
  /** Prefix for messages, e.g. the source's description. */
  what?: string;
}

/** Marks a sink failure so it is not mistaken for a broken read and retried. */
class SinkError extends Error {}

/**
 * Chunks are handed to the sink in batches of about this many bytes: a socket delivers 16–64 KiB
 * at a time, and a write per chunk made a 48 MB pull wait on ~750 thread-pool round trips.
 */
export const WRITE_BATCH_BYTES = 1024 * 1024;

/** A batch is written early when the source sends nothing for this long. */
const IDLE_FLUSH_MS = 20;


/**
 * Reads and verifies; resolves when all `desc.size` bytes were written and match `desc.digest`, else
 * throws (ContentMismatchError for wrong content). Bytes are hashed as they arrive, while the
 * previous batch is being written: one write is in flight at a time, so a sink sees its writes in
 * order, each started after the one before it finished.
 */
export async function verifiedRead(opts: VerifiedReadOptions): Promise<void> {
  const { desc } = opts;
  const prefix = opts.what ? `${opts.what}: ` : '';
  const digester = opts.digester ?? new Digester(parseDigest(desc.digest).algorithm.name);
  const attempts = opts.attempts ?? RESUME_ATTEMPTS;
  /** Bytes received and hashed (those in `batch` or being written included). */
  let received = opts.from ?? 0;
  if (received > desc.size) throw new ContentMismatchError(`${prefix}blob ${desc.digest} has more than its descriptor's ${desc.size} bytes`);
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let writing: Promise<void> | undefined;
  let sinkFailure: { err: unknown } | undefined;
  /** Where written chunks go back to (the latest stream's `recycle`, which takes any of its kind). */
  let recycle: ((chunks: Uint8Array[]) => void) | undefined;

  /** Waits for the write in flight; a failed one ends the read. */
  const settle = async (): Promise<void> => {
    if (writing) await writing;
    writing = undefined;
    if (sinkFailure) throw new SinkError('write failed', { cause: sinkFailure.err });
  };
  /** Starts writing the batch once the previous write is done. */
  const startWrite = async (): Promise<void> => {
    await settle();
    if (batchBytes === 0) return;
    const chunks = batch;
    const at = received - batchBytes;
    const bytes = batchBytes;
    batch = [];
    batchBytes = 0;
    const written = opts.writev ? opts.writev(chunks, at) : opts.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes), at);
    writing = written.then(
      () => recycle?.(chunks),
      (err: unknown) => {
        sinkFailure ??= { err };
      },
    );
  };

  // Flushes run one after another (the loop's and the idle timer's), so one write is in flight at a time.
  let flushes: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => (flushes = flushes.then(startWrite));
  // Bytes held back for a batch go to the sink when the source goes quiet, so what arrived before
  // a stall is on disk (a killed download resumes from there). One timer per quiet spell, not one
  // per chunk (a timer per 64 KiB chunk was ~4% of a pull's CPU).
  let lastChunkAt = 0;
  let idle: ReturnType<typeof setTimeout> | undefined;
  const onIdle = (): void => {
    idle = undefined;
    if (batchBytes === 0) return;
    const quiet = performance.now() - lastChunkAt;
    if (quiet < IDLE_FLUSH_MS) idle = setTimeout(onIdle, IDLE_FLUSH_MS - quiet);
    else flush().catch(() => undefined); // a failed write is reported to the loop by settle()
  };

  try {
    for (let attempt = 1; received < desc.size || attempt === 1; attempt++) {
      const before = received;
      try {
        if (received === desc.size) break; // all there already (or an empty blob)
        const stream = await opts.open(received);
        if (opts.recycleChunks) recycle = (stream as { recycle?: (chunks: Uint8Array[]) => void }).recycle ?? recycle;
        const chunks = stream[Symbol.asyncIterator]();
        try {
          for (;;) {
            const r = await chunks.next();
            if (r.done) break;
            const chunk = r.value;
            if (received + chunk.length > desc.size) {
              const err = new ContentMismatchError(`${prefix}blob ${desc.digest} is larger than its descriptor's ${desc.size} bytes`);
              stream.destroy?.(err);
              throw err;
            }
            digester.update(chunk);
            received += chunk.length;
            batch.push(chunk);
            batchBytes += chunk.length;
            opts.onProgress?.(chunk.length);
            if (batchBytes >= WRITE_BATCH_BYTES) await flush();
            else {
              lastChunkAt = performance.now();
              idle ??= setTimeout(onIdle, IDLE_FLUSH_MS);
            }
          }
        } catch (err) {
          stream.destroy?.();
          throw err;
        }
        break;
      } catch (err) {
        if (err instanceof SinkError) throw err.cause;
        // Content that is wrong stays wrong; a read that made no progress will not make any now.
        if (err instanceof ContentMismatchError || attempt >= attempts || received === before) throw err;
      }
    }
    await flush();
    await settle();
  } catch (err) {
    if (err instanceof SinkError) throw err.cause;
    throw err;
  } finally {
    clearTimeout(idle);
    // Never return with a write still running into a file the caller is about to close or remove.
    await flushes.catch(() => undefined);
    await writing;
  }
  if (received !== desc.size) throw new ContentMismatchError(`${prefix}blob ${desc.digest} has ${received} bytes, expected ${desc.size}`);
  const actual = digester.digest();
  if (actual !== desc.digest) throw new ContentMismatchError(`${prefix}blob content has digest ${actual}, expected ${desc.digest}`);
}
