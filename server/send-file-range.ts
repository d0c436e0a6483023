// Sends a byte range of a stored blob through a few reused buffers. Reading with a stream
// allocates a fresh buffer per chunk, and at hundreds of MB/s the garbage collector then takes
// about a third of the server's CPU; here a buffer is reused once the socket has written it
// (the write callback). The buffers are shared by all responses (a few kept between them) and
// taken as needed: allocating a response's 8 up front cost 4 MiB per GET, as much as half an
// 8 MB layer and 4,000 times a config blob, and made garbage collection a third of the server's
// CPU in `skopeo copy` pulls.
import type { Context } from 'koa';
import type { RandomAccessFile } from '../storage/index.js';
import { drained } from '../util/drained.js';

const BUFFER_SIZE = 512 * 1024;
/** At most this many buffers in flight per response (reading ahead of the socket). */
const BUFFERS = 8;
/** Buffers kept for the next responses (4 MiB). */
const POOL_MAX = 8;
const pool: Buffer[] = [];

function allocate(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(BUFFER_SIZE);
}

function release(buf: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(buf);
}

/** Writes the status and headers set on `ctx`, then bytes [start, end] of `file`; closes the file. */
export async function sendFileRange(ctx: Context, file: RandomAccessFile, start: number, end: number): Promise<void> {
  const res = ctx.res;
  ctx.respond = false; // this function writes the response itself
  res.writeHead(ctx.status, ctx.response.headers as Record<string, string>);
  const free: Buffer[] = [];
  let taken = 0; // buffers this response holds: free, being read into, or being written
  const waiting: ((b: Buffer) => void)[] = [];
  const take = (): Promise<Buffer> => {
    if (free.length > 0) return Promise.resolve(free.pop()!);
    if (taken < BUFFERS) {
      taken++;
      return Promise.resolve(allocate());
    }
    return new Promise<Buffer>((r) => waiting.push(r));
  };
  let finished = false;
  /** A buffer the socket has written: to a reader waiting for one, else kept (or, once done, pooled). */
  const give = (b: Buffer) => {
    const w = waiting.shift();
    if (w) w(b);
    else if (finished) release(b);
    else free.push(b);
  };
  let closed = false;
  const onClose = () => {
    closed = true;
    // Wake a reader waiting for a buffer whose write will never complete.
    for (const w of waiting.splice(0)) w(Buffer.allocUnsafeSlow(BUFFER_SIZE));
  };
  res.once('close', onClose);
  try {
    let pos = start;
    while (pos <= end && !closed) {
      const buf = await take();
      if (closed) {
        release(buf);
        break;
      }
      const n = await file.read(buf, pos, Math.min(BUFFER_SIZE, end - pos + 1));
      if (n === 0) throw new Error(`blob ended at byte ${pos}, before ${end + 1}`);
      pos += n;
      if (!res.write(n === BUFFER_SIZE ? buf : buf.subarray(0, n), () => give(buf))) {
        await drained(res);
      }
    }
    if (!closed) res.end();
  } catch (err) {
    // Headers are gone: all we can do is cut the connection so the client sees a short body.
    res.destroy(err as Error);
  } finally {
    res.off('close', onClose);
    // This response's buffers go to the pool: those back now, and the others once written.
    finished = true;
    for (const b of free.splice(0)) release(b);
    await file.close();
  }
}
