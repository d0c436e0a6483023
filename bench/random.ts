// Deterministic, memory-cheap random blob content for the benchmark.
//
// A blob is the AES-256-CTR keystream of a seed: incompressible, different per seed, and
// seekable (any byte range can be regenerated without producing what comes before it),
// so a 256 MiB blob never has to sit in memory. We can hash it once before the timed
// upload, then stream it again (whole or as chunk ranges) while timing. AES-NI makes
// generation several GB/s, far above what either registry ingests, so the client's CPU
// share on a 2-core box stays small.
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

const GEN_CHUNK = 1 << 20; // 1 MiB pieces handed to the HTTP client
const ZEROS = Buffer.alloc(GEN_CHUNK);

function keyFor(seed: string): Buffer {
  return createHash('sha256').update(`stevedore-bench:${seed}`).digest();
}

/** CTR counter block for a byte offset (must be a multiple of 16). */
function ivFor(offset: number): Buffer {
  if (offset % 16 !== 0) throw new Error(`offset ${offset} not 16-byte aligned`);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(offset / 16), 8);
  return iv;
}

/** Yields bytes [start, end) of the blob named by `seed`, in pieces of at most 1 MiB. */
export function* randomRange(seed: string, start: number, end: number): Generator<Buffer> {
  const cipher = createCipheriv('aes-256-ctr', keyFor(seed), ivFor(start));
  for (let off = start; off < end; off += GEN_CHUNK) {
    const n = Math.min(GEN_CHUNK, end - off);
    yield cipher.update(n === GEN_CHUNK ? ZEROS : ZEROS.subarray(0, n));
  }
}

/** A byte stream (not object mode) of [start, end) of the blob, for an HTTP request body. */
export function randomStream(seed: string, start: number, end: number): Readable {
  return Readable.from(randomRange(seed, start, end), { objectMode: false, highWaterMark: 4 * GEN_CHUNK });
}

/** `sha256:<hex>` of the whole blob (untimed preparation). */
export function randomDigest(seed: string, size: number): string {
  const h = createHash('sha256');
  for (const piece of randomRange(seed, 0, size)) h.update(piece);
  return `sha256:${h.digest('hex')}`;
}
