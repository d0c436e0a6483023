// One upstream transfer of a blob that any number of readers follow as it arrives. The bytes go
// to a spool, written and hashed once: on storage that can read back a file it is writing (the
// filesystem), the storage upload itself (see UploadSpool in mirror.ts), committed once verified;
// elsewhere a temporary file (the OS page cache, no fsync) that the storage upload reads like a
// client. Every reader reads the spool from where it is up to what has arrived, then waits for
// more. A reader that joins late reads what is already spooled and then the live tail, so the
// upstream is asked once and nothing is held in memory (but the chunk that arrived last, which
// readers keeping up take without reading the spool).
//
// A reader never gets the last byte of its range before the whole blob has been verified against
// its digest: when verification fails, readers fail instead, and a client response is cut short
// rather than ending with bytes that look complete.
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { parseDigest, type Digest } from '../../oci/index.js';
import { ContentMismatchError } from '../../util/errors.js';

const READ_SIZE = 256 * 1024;

export class BlobVerificationError extends ContentMismatchError {
  constructor(message: string) {
    super(message);
    this.name = 'BlobVerificationError';
  }
}

/** Where a transfer's bytes go and its readers read them back. */
export interface Spool {
  /** Appends a chunk. */
  write(chunk: Buffer): Promise<void>;
  /** Reads up to `length` bytes at `position` of what was written. */
  read(buffer: Buffer, position: number, length: number): Promise<number>;
  /** Throws BlobVerificationError unless everything written matches the digest. */
  verify(): void;
  /** Releases it once nobody reads (a temporary file is removed, an upload not committed discarded). */
  close(): Promise<void>;
}

/**
 * A spool in a temporary file under `baseDir` (for storage that cannot read back a file it is
 * writing). The file has no name once it is open: it is made in a private directory of its own
 * (mkdtemp, 0700: no other user can plant a link at its name in a shared temp directory) that is
 * removed at once, so a server that is killed leaves no spooled bytes behind.
 */
export async function tempFileSpool(baseDir: string, digest: Digest): Promise<Spool> {
  const dir = await mkdtemp(join(baseDir, 'stevedore-mirror-'));
  let fh: FileHandle;
  try {
    fh = await open(join(dir, 'blob'), 'w+', 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const { algorithm, hex } = parseDigest(digest);
  const hash = createHash(algorithm.name);
  let written = 0;
  return {
    async write(chunk) {
      await fh.write(chunk, 0, chunk.length, written);
      hash.update(chunk);
      written += chunk.length;
    },
    read: async (buffer, position, length) => (await fh.read(buffer, 0, length, position)).bytesRead,
    verify() {
      const actual = hash.copy().digest('hex');
      if (actual !== hex) throw new BlobVerificationError(`upstream content has digest ${algorithm.name}:${actual}, not ${digest}`);
    },
    async close() {
      await fh.close().catch(() => undefined);
    },
  };
}

export interface UpstreamBlob {
  body: Readable;
  size: number | undefined;
}

export class SharedBlobFetch {
  /** Set when the upstream answered with the blob. */
  spool: Spool | undefined;
  private written = 0;
  private state: 'starting' | 'running' | 'verified' | 'failed' = 'starting';
  private error: Error | undefined;
  private waiters: (() => void)[] = [];
  private readers = 0;
  /** The chunk that arrived last: readers at the live edge take it from here instead of the spool. */
  private tail: { offset: number; buf: Buffer } | undefined;
  private released = false;
  private closing = false;
  /** The upstream's Content-Length, once it answered. */
  size: number | undefined;
  /** Resolves when the upstream answered with the blob (rejects with its error otherwise). */
  readonly started: Promise<void>;
  /** Resolves when every byte has arrived and matches the digest. */
  readonly verified: Promise<void>;

  constructor(
    readonly digest: Digest,
    private readonly openSpool: () => Promise<Spool>,
    open: () => Promise<UpstreamBlob>,
    private readonly onBytes: (n: number) => void = () => undefined,
  ) {
    let startedResolve!: () => void;
    this.started = new Promise<void>((resolve) => (startedResolve = resolve));
    this.verified = this.run(open, startedResolve);
    this.started = Promise.race([this.started, this.verified.then(() => undefined)]);
    // Callers handle failures through started/verified/readers; never an unhandled rejection.
    this.verified.catch(() => undefined);
    this.started.catch(() => undefined);
  }

  get failed(): boolean {
    return this.state === 'failed';
  }

  private async run(openUpstream: () => Promise<UpstreamBlob>, onStarted: () => void): Promise<void> {
    try {
      // The spool (maybe a storage upload) is made while the upstream is asked.
      const [spool, upstream] = await Promise.allSettled([this.openSpool(), openUpstream()]);
      if (spool.status === 'rejected' || upstream.status === 'rejected') {
        if (spool.status === 'fulfilled') await spool.value.close().catch(() => undefined);
        if (upstream.status === 'fulfilled') upstream.value.body.destroy();
        throw upstream.status === 'rejected' ? upstream.reason : (spool as PromiseRejectedResult).reason;
      }
      this.spool = spool.value;
      const { body, size } = upstream.value;
      this.size = size;
      this.state = 'running';
      onStarted();
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          if (size !== undefined && this.written + chunk.length > size) {
            throw new BlobVerificationError(`upstream sent more than its Content-Length ${size} for ${this.digest}`);
          }
          await this.spool.write(chunk);
          this.tail = { offset: this.written, buf: chunk };
          this.written += chunk.length;
          this.onBytes(chunk.length);
          this.wake();
        }
      } finally {
        body.destroy();
      }
      if (size !== undefined && this.written !== size) {
        throw new BlobVerificationError(`upstream sent ${this.written} of ${size} bytes for ${this.digest}`);
      }
      this.spool.verify();
      this.size = this.written;
      this.state = 'verified';
      this.wake();
    } catch (err) {
      this.state = 'failed';
      this.error = err as Error;
      this.wake();
      this.maybeRelease();
      throw err;
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Bytes [start, end] (end inclusive; default: to the end of the blob) as they arrive. Throws
   * the transfer's error if it fails; the last byte is given only after verification.
   */
  async *read(start = 0, end?: number): AsyncGenerator<Buffer> {
    this.readers++;
    try {
      let pos = start;
      for (;;) {
        if (this.state === 'failed') throw this.error!;
        const limit = end === undefined ? this.written : Math.min(this.written, end + 1);
        const done = this.state === 'verified';
        const upto = done ? limit : limit - 1;
        const tail = this.tail;
        if (pos < upto && tail && pos >= tail.offset && pos < tail.offset + tail.buf.length) {
          const slice = tail.buf.subarray(pos - tail.offset, Math.min(upto, tail.offset + tail.buf.length) - tail.offset);
          pos += slice.length;
          yield slice;
          continue;
        }
        if (pos < upto) {
          const buf = Buffer.allocUnsafe(Math.min(READ_SIZE, upto - pos));
          const bytesRead = await this.spool!.read(buf, pos, buf.length);
          if (bytesRead === 0) throw new Error(`spool of ${this.digest} ended at ${pos}`);
          pos += bytesRead;
          yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
          continue;
        }
        if (done && pos >= limit) return;
        await this.changed();
      }
    } finally {
      this.readers--;
      this.maybeRelease();
    }
  }

  /** Removes the spool once the transfer is over and nobody reads it. */
  private maybeRelease(): void {
    if (this.released || this.readers > 0 || !(this.closing || this.state === 'failed')) return;
    this.released = true;
    void this.spool?.close().catch(() => undefined);
  }

  /**
   * Keeps the spool while a reader is about to start (reads begin on the generator's first next(),
   * which may come after close()); pair with unretain().
   */
  retain(): void {
    this.readers++;
  }

  unretain(): void {
    this.readers--;
    this.maybeRelease();
  }

  /** Call when no new readers will join (the blob is stored, or the transfer failed). */
  close(): void {
    this.closing = true;
    this.maybeRelease();
  }
}
