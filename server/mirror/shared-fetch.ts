// One upstream transfer of a blob that any number of readers follow as it arrives. The bytes go
// to a spool file first (the OS page cache, no fsync); every reader (client responses, and the
// storage upload that makes the blob durable) reads the spool from where it is up to what has
// arrived, then waits for more. A reader that joins late reads what is already spooled and then
// the live tail, so the upstream is asked once and nothing is held in memory (but the chunk that
// arrived last, which readers keeping up take without reading the spool).
//
// A reader never gets the last byte of its range before the whole blob has been verified against
// its digest: when verification fails, readers fail instead, and a client response is cut short
// rather than ending with bytes that look complete.
import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { parseDigest, type Digest } from '../../oci/index.js';

const READ_SIZE = 256 * 1024;

export class BlobVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlobVerificationError';
  }
}

export interface UpstreamBlob {
  body: Readable;
  size: number | undefined;
}

export class SharedBlobFetch {
  private fh: FileHandle | undefined;
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
    private readonly spoolPath: string,
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
      this.fh = await open(this.spoolPath, 'w+', 0o600);
      const { body, size } = await openUpstream();
      this.size = size;
      this.state = 'running';
      onStarted();
      const { algorithm, hex } = parseDigest(this.digest);
      const hash = createHash(algorithm.name);
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          if (size !== undefined && this.written + chunk.length > size) {
            throw new BlobVerificationError(`upstream sent more than its Content-Length ${size} for ${this.digest}`);
          }
          await this.fh.write(chunk, 0, chunk.length, this.written);
          hash.update(chunk);
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
      const actual = hash.digest('hex');
      if (actual !== hex) throw new BlobVerificationError(`upstream content has digest ${algorithm.name}:${actual}, not ${this.digest}`);
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
          const { bytesRead } = await this.fh!.read(buf, 0, buf.length, pos);
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
    const fh = this.fh;
    void (async () => {
      await fh?.close().catch(() => undefined);
      await rm(this.spoolPath, { force: true });
    })();
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

export function spoolFile(dir: string, digest: Digest, n: number): string {
  return join(dir, `${parseDigest(digest).hex.slice(0, 16)}-${process.pid}-${n}`);
}
