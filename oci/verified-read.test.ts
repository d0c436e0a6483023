import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ContentMismatchError, kindOf } from '../util/errors.js';
import { Digester, digestOf } from './digest.js';
import { RESUME_ATTEMPTS, verifiedRead, WRITE_BATCH_BYTES } from './verified-read.js';

const content = Buffer.from('0123456789abcdefghij'.repeat(50));
const desc = { digest: digestOf(content), size: content.length };

/** A sink that keeps what is written where it is written. */
function sink() {
  const out = Buffer.alloc(content.length + 64);
  let high = 0;
  return {
    write: async (chunk: Uint8Array, at: number) => {
      Buffer.from(chunk).copy(out, at);
      high = Math.max(high, at + chunk.length);
    },
    bytes: () => out.subarray(0, high),
  };
}

/** A source whose first opens break after `breakAfter` bytes (an interrupted download). */
function flakySource(data: Buffer, breaks: number, breakAfter: number) {
  const offsets: number[] = [];
  let destroyed = 0;
  const open = async (offset: number) => {
    offsets.push(offset);
    const part = data.subarray(offset);
    const broken = offsets.length <= breaks;
    const stream = Readable.from(
      (async function* () {
        if (!broken) {
          yield part;
          return;
        }
        yield part.subarray(0, breakAfter);
        throw new Error('ECONNRESET');
      })(),
    );
    const destroy = stream.destroy.bind(stream);
    stream.destroy = (err?: Error) => {
      destroyed++;
      return destroy(err);
    };
    return stream;
  };
  return { open, offsets, destroyed: () => destroyed };
}

describe('verifiedRead', () => {
  it('reads, verifies and reports progress', async () => {
    const s = sink();
    let progress = 0;
    await verifiedRead({ desc, open: async (o) => Readable.from([content.subarray(o)]), write: s.write, onProgress: (n) => (progress += n) });
    expect(s.bytes().equals(content)).toBe(true);
    expect(progress).toBe(content.length);
  });

  it('resumes an interrupted read where it stopped, with a ranged open', async () => {
    const s = sink();
    const src = flakySource(content, 2, 100);
    await verifiedRead({ desc, open: src.open, write: s.write });
    expect(src.offsets).toEqual([0, 100, 200]);
    expect(s.bytes().equals(content)).toBe(true);
  });

  it('gives up after a bounded number of opens', async () => {
    const src = flakySource(content, 100, 10);
    await expect(verifiedRead({ desc, open: src.open, write: sink().write })).rejects.toThrow('ECONNRESET');
    expect(src.offsets.length).toBe(RESUME_ATTEMPTS);
  });

  it('does not resume a read that made no progress', async () => {
    const src = flakySource(content, 100, 0);
    await expect(verifiedRead({ desc, open: src.open, write: sink().write })).rejects.toThrow('ECONNRESET');
    expect(src.offsets).toEqual([0]);
  });

  it('destroys the stream as soon as it runs past the size, and does not retry', async () => {
    const longer = Buffer.concat([content, Buffer.from('extra')]);
    const src = flakySource(longer, 0, 0);
    const err = await verifiedRead({ desc, open: src.open, write: sink().write }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContentMismatchError);
    expect(kindOf(err)).toBe('corrupt');
    expect((err as Error).message).toMatch(/larger than its descriptor's 1000 bytes/);
    expect(src.destroyed()).toBeGreaterThan(0);
    expect(src.offsets).toEqual([0]);
  });

  it('fails a short read and a digest mismatch as corrupt content', async () => {
    const short = verifiedRead({ desc, open: async () => Readable.from([content.subarray(0, 10)]), write: sink().write });
    await expect(short).rejects.toThrow(/has 10 bytes, expected 1000/);
    const other = Buffer.from(content);
    other[5] = 0x21;
    const wrong = verifiedRead({ desc, what: 'oci:/x', open: async () => Readable.from([other]), write: sink().write });
    await expect(wrong).rejects.toThrow(new RegExp(`^oci:/x: blob content has digest sha256:[0-9a-f]{64}, expected ${desc.digest}$`));
  });

  it('continues from bytes already present, hashed by the caller', async () => {
    const digester = new Digester();
    digester.update(content.subarray(0, 300));
    const offsets: number[] = [];
    const s = sink();
    await verifiedRead({
      desc,
      from: 300,
      digester,
      open: async (o) => {
        offsets.push(o);
        return Readable.from([content.subarray(o)]);
      },
      write: s.write,
    });
    expect(offsets).toEqual([300]);
  });

  it('hands chunks back to a source that takes them only after their write resolved, each once', async () => {
    const pieces = Array.from({ length: 5 }, (_, i) => content.subarray(i * 200, (i + 1) * 200));
    const written = new Set<Uint8Array>();
    const recycled: Uint8Array[] = [];
    let early = 0;
    const open = async () =>
      Object.assign(Readable.from(pieces), {
        recycle: (chunks: Uint8Array[]) => {
          for (const c of chunks) if (!written.has(c)) early++;
          recycled.push(...chunks);
        },
      });
    const s = sink();
    await verifiedRead({
      desc,
      open,
      recycleChunks: true,
      write: s.write, // not used: writev is
      writev: async (chunks, at) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        for (const c of chunks) {
          s.write(c, at);
          at += c.length;
          written.add(c);
        }
      },
    });
    expect(s.bytes().equals(content)).toBe(true);
    expect(early).toBe(0);
    expect(recycled).toHaveLength(pieces.length);
    expect(new Set(recycled).size).toBe(pieces.length);
    // Without the option, nothing is handed back.
    recycled.length = 0;
    await verifiedRead({ desc, open, write: async () => undefined, writev: async () => undefined });
    expect(recycled).toHaveLength(0);
  });

  it('does not re-read when the sink fails', async () => {
    const src = flakySource(content, 0, 0);
    const write = async () => {
      throw new Error('ENOSPC');
    };
    await expect(verifiedRead({ desc, open: src.open, write })).rejects.toThrow('ENOSPC');
    expect(src.offsets).toEqual([0]);
  });

  it('writes small chunks in batches, one write at a time, in order, hashing while a write runs', async () => {
    const big = Buffer.alloc(WRITE_BATCH_BYTES * 3 + 12345);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const bigDesc = { digest: digestOf(big), size: big.length };
    const chunks = Array.from({ length: Math.ceil(big.length / 65536) }, (_, i) => big.subarray(i * 65536, (i + 1) * 65536));
    const writes: { at: number; length: number }[] = [];
    const out = Buffer.alloc(big.length);
    let inFlight = 0;
    let most = 0;
    let hashedDuringWrite = 0;
    let received = 0;
    await verifiedRead({
      desc: bigDesc,
      open: async () => Readable.from(chunks),
      onProgress: (n) => {
        received += n;
        if (inFlight > 0) hashedDuringWrite++;
      },
      write: async (chunk, at) => {
        inFlight++;
        most = Math.max(most, inFlight);
        writes.push({ at, length: chunk.length });
        Buffer.from(chunk).copy(out, at);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
      },
    });
    expect(out.equals(big)).toBe(true);
    expect(received).toBe(big.length);
    // 52 socket-sized chunks become 4 writes, each starting where the one before ended.
    expect(writes.length).toBe(4);
    let at = 0;
    for (const w of writes) {
      expect(w.at).toBe(at);
      at += w.length;
    }
    expect(most).toBe(1);
    expect(hashedDuringWrite).toBeGreaterThan(0);
  });

  it('hands a batch to writev as the chunks that arrived, not copied into one buffer', async () => {
    const big = Buffer.alloc(WRITE_BATCH_BYTES * 2 + 100);
    for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;
    const chunks = Array.from({ length: Math.ceil(big.length / 65536) }, (_, i) => big.subarray(i * 65536, (i + 1) * 65536));
    const out = Buffer.alloc(big.length);
    const batches: number[] = [];
    let inFlight = 0;
    let most = 0;
    await verifiedRead({
      desc: { digest: digestOf(big), size: big.length },
      open: async () => Readable.from(chunks),
      write: () => Promise.reject(new Error('write is not used when writev is given')),
      writev: async (parts, at) => {
        inFlight++;
        most = Math.max(most, inFlight);
        batches.push(parts.length);
        for (const p of parts) {
          expect(chunks.some((c) => c.buffer === p.buffer && c.byteOffset === p.byteOffset)).toBe(true); // the same memory, no copy
          Buffer.from(p.buffer, p.byteOffset, p.length).copy(out, at);
          at += p.length;
        }
        await new Promise((r) => setTimeout(r, 2));
        inFlight--;
      },
    });
    expect(out.equals(big)).toBe(true);
    expect(batches).toEqual([16, 16, 1]);
    expect(most).toBe(1);
  });

  it('writes what arrived before the source stalls, while it stalls', async () => {
    const written: number[] = [];
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    const done = verifiedRead({
      desc,
      open: async () =>
        Readable.from(
          (async function* () {
            yield content.subarray(0, 300);
            await stalled;
            yield content.subarray(300);
          })(),
        ),
      write: async (chunk, at) => {
        written.push(at + chunk.length);
      },
    });
    await expect.poll(() => written.at(-1)).toBe(300);
    release();
    await done;
    expect(written.at(-1)).toBe(content.length);
  });
});

