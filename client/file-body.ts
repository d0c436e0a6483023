// A request body read from a local file (a blob of an OCI layout or of the engine's content store)
// into a few reused 1 MiB buffers. A stream of the file (fs.createReadStream) reads into a fresh
// buffer each time: a page fault per 4 KiB as the kernel fills it, and garbage the size of the
// blob, which V8 collects with full collections. Here a buffer is read into again once the socket
// has taken what was written from it.
import type { Writable } from 'node:stream';
import { drained } from '../util/drained.js';
import { ContentMismatchError } from '../util/errors.js';

const BUFFER_BYTES = 1024 * 1024;
/** Buffers per body: one being read into while the others are on their way to the socket. */
const BUFFERS = 3;

const fsp = () => process.getBuiltinModule('node:fs/promises');

export class FileBody {
  /** Every byte has been handed to the request (ended); a response before that cut the upload short. */
  sent = false;

  constructor(
    readonly path: string,
    readonly start: number,
    readonly length: number,
    private readonly onProgress?: (bytes: number) => void,
  ) {}

  /**
   * Writes the bytes to `out` and ends it. Stops early, without ending it, once `stop()` says so
   * (the server answered before taking everything) or when `out` fails.
   */
  async writeTo(out: Writable, stop: () => boolean): Promise<void> {
    const fh = await fsp().open(this.path, 'r');
    // Each buffer's last write, settled once the socket has it, or once the request is over
    // (a write that fails with its connection is settled by its callback or by the close).
    const closed = new Promise<void>((resolve) => out.once('close', resolve));
    const writes: Promise<void>[] = [];
    try {
      const buffers = Array.from({ length: Math.min(BUFFERS, Math.ceil(this.length / BUFFER_BYTES)) }, () => Buffer.allocUnsafeSlow(Math.min(BUFFER_BYTES, this.length)));
      let done = 0;
      for (let i = 0; done < this.length; i = (i + 1) % buffers.length) {
        await writes[i];
        if (stop() || out.destroyed) return;
        const buf = buffers[i]!;
        const want = Math.min(buf.length, this.length - done);
        const { bytesRead } = await fh.read(buf, 0, want, this.start + done);
        if (bytesRead === 0) throw new ContentMismatchError(`${this.path} ends at ${this.start + done} bytes, before the ${this.start + this.length} its descriptor says`);
        done += bytesRead;
        let ok = true;
        writes[i] = Promise.race([
          new Promise<void>((resolve) => {
            ok = out.write(buf.subarray(0, bytesRead), () => resolve());
          }),
          closed,
        ]);
        this.onProgress?.(bytesRead);
        if (!ok) await drained(out);
      }
      if (stop() || out.destroyed) return;
      this.sent = true;
      out.end();
    } finally {
      // The file stays open until the socket is done with what was read from it.
      await Promise.all(writes);
      await fh.close();
    }
  }
}
