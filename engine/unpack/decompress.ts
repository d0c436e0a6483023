// A layer blob as an uncompressed tar stream: gzip (Node's zlib), zstd (the system `zstd`, as
// Node 20's zlib has none) or plain tar. The compression is read from the blob's first bytes, so a
// layer whose media type lies about it (an uncompressed "tar.gzip") still unpacks.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
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
  if (compression === 'none') return createReadStream(file, { highWaterMark: 1 << 20 });
  if (compression === 'gzip') {
    const src = createReadStream(file, { highWaterMark: 1 << 20 });
    const gunzip = createGunzip({ chunkSize: 1 << 18 });
    src.on('error', (err) => gunzip.destroy(err));
    gunzip.on('close', () => src.destroy());
    return src.pipe(gunzip);
  }
  return zstdDecompress(file);
}

function zstdDecompress(file: string): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const child = spawn('zstd', ['-d', '-c', '-q', '--', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 2000) stderr += d;
  });
  child.on('error', (err: NodeJS.ErrnoException) => {
    out.destroy(err.code === 'ENOENT' ? new UnsupportedCompressionError('zstd layers need the zstd program (Debian: apt-get install zstd)') : err);
  });
  child.stdout.pipe(out, { end: false });
  let stdoutDone = false;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const settle = () => {
    if (!stdoutDone || !exit) return;
    if (exit.code === 0) out.end();
    else out.destroy(new Error(`zstd: ${stderr.trim().split('\n')[0] || `exit ${exit.code ?? exit.signal}`}`));
  };
  child.stdout.on('end', () => {
    stdoutDone = true;
    settle();
  });
  child.on('exit', (code, signal) => {
    exit = { code, signal };
    settle();
  });
  // A consumer that gives up (a bad layer) stops the decompressor.
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return out;
}
