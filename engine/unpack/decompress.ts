// A layer blob as an uncompressed tar stream: gzip or zstd (both Node's zlib) or plain tar. The
// compression is read from the blob's first bytes, so a layer whose media type lies about it (an
// uncompressed "tar.gzip") still unpacks.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable, Transform } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { COMPRESSION_SNIFF_BYTES, sniffCompression } from '../../oci/compression.js';
import { KindedError } from '../../util/errors.js';

export type Compression = 'gzip' | 'zstd' | 'none';

export class UnsupportedCompressionError extends KindedError {
  constructor(message: string) {
    super('unsupported', message);
    this.name = 'UnsupportedCompressionError';
  }
}

export async function detectCompression(file: string): Promise<Compression> {
  const fh = await open(file, 'r');
  const head = Buffer.alloc(COMPRESSION_SNIFF_BYTES);
  let bytesRead: number;
  try {
    ({ bytesRead } = await fh.read(head, 0, head.length, 0));
  } finally {
    await fh.close();
  }
  const found = sniffCompression(head.subarray(0, bytesRead));
  if (found === 'gzip' || found === 'zstd') return found;
  if (found) throw new UnsupportedCompressionError(`${found}-compressed layers are not supported`);
  return 'none';
}

/** The uncompressed tar bytes of a layer blob stored in `file`. */
export async function openLayerTar(file: string): Promise<Readable> {
  const compression = await detectCompression(file);
  const src = createReadStream(file, { highWaterMark: 1 << 20 });
  if (compression === 'none') return src;
  const decompress = compression === 'gzip' ? createGunzip({ chunkSize: 1 << 18 }) : zstdDecompressor();
  src.on('error', (err) => decompress.destroy(err));
  decompress.on('close', () => src.destroy());
  return src.pipe(decompress);
}

/**
 * Node's own zstd (zlib, Node 22.15 and later): in-process, no `zstd` program to spawn and pipe
 * through. Its errors keep the `zstd: ` prefix the program's had (a corrupt frame reads
 * "zstd: Unknown frame descriptor").
 */
function zstdDecompressor(): Transform {
  const zstd = createZstdDecompress({ chunkSize: 1 << 18 });
  // Registered first, so every later listener (the unpacker's) sees the prefixed message.
  zstd.on('error', (err) => {
    if (!err.message.startsWith('zstd: ')) err.message = `zstd: ${err.message}`;
  });
  return zstd;
}
