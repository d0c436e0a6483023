import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLayerTar } from './decompress.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'decompress-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readAll(file: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await openLayerTar(file)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('openLayerTar', () => {
  // Not a real tar: the decompressor does not look inside; 3 MiB so the stream spans many chunks.
  const data = Buffer.alloc(3 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;

  it('gives the same bytes from zstd, gzip and uncompressed blobs, told apart by their first bytes', async () => {
    for (const [name, blob] of [['zstd', zstdCompressSync(data)], ['gzip', gzipSync(data)], ['none', data]] as const) {
      const file = join(dir, `layer-${name}`);
      await writeFile(file, blob);
      expect((await readAll(file)).equals(data), name).toBe(true);
    }
  });

  it('a corrupt zstd blob fails with a zstd: message, not a hang', async () => {
    const good = zstdCompressSync(data);
    const bad = Buffer.concat([good.subarray(0, 4), Buffer.alloc(64, 0xff)]); // the magic number, then garbage
    const file = join(dir, 'bad.zst');
    await writeFile(file, bad);
    await expect(readAll(file)).rejects.toThrow(/^zstd: /);
    // Cut short: the frame ends early.
    const short = join(dir, 'short.zst');
    await writeFile(short, good.subarray(0, good.length >> 1));
    await expect(readAll(short)).rejects.toThrow(/^zstd: /);
  });
});
