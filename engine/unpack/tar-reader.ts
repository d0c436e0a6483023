// Reading a layer tar with tar-stream, binary-safe. tar-stream decodes every PAX record value as
// UTF-8, which corrupts binary extended attributes (security.capability, ACLs): its PAX decoder is
// swapped for one that keeps SCHILY.xattr.* values as bytes. tests/engine/unpack-rules.test.ts
// checks a non-UTF-8 xattr value byte for byte, so a tar-stream that stops using the decoder fails it.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { KindedError } from '../../util/errors.js';

const require = createRequire(import.meta.url);
const headers = require(join(dirname(require.resolve('tar-stream')), 'headers.js')) as { decodePax: (buf: Buffer) => Record<string, string | Buffer> };

function decodePaxBinary(buf: Buffer): Record<string, string | Buffer> {
  const result: Record<string, string | Buffer> = {};
  while (buf.length) {
    let i = 0;
    while (i < buf.length && buf[i] !== 32) i++;
    const len = parseInt(buf.subarray(0, i).toString('ascii'), 10);
    if (!len || len > buf.length) return result;
    const record = buf.subarray(i + 1, len - 1); // without the trailing newline
    const eq = record.indexOf(61);
    if (eq === -1) return result;
    const key = record.subarray(0, eq).toString('utf8');
    const value = record.subarray(eq + 1);
    result[key] = key.startsWith('SCHILY.xattr.') ? Buffer.from(value) : value.toString('utf8');
    buf = buf.subarray(len);
  }
  return result;
}
headers.decodePax = decodePaxBinary;

export type TarEntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo' | string;

export interface TarHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** SCHILY.xattr.* (and LIBARCHIVE.xattr.*) records, values as bytes. */
  xattrs: Map<string, Buffer>;
}

interface RawHeader {
  name: string;
  type: string | null;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  linkname: string | null;
  devmajor: number;
  devminor: number;
  pax: Record<string, string | Buffer> | null;
}

function toHeader(raw: RawHeader): TarHeader {
  const xattrs = new Map<string, Buffer>();
  let { uid, gid, mtime } = raw;
  for (const [k, v] of Object.entries(raw.pax ?? {})) {
    if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8'));
    else if (k.startsWith('LIBARCHIVE.xattr.')) xattrs.set(decodeURIComponent(k.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(String(v), 'base64'));
    else if (k === 'uid' && /^\d+$/.test(String(v))) uid = Number(v);
    else if (k === 'gid' && /^\d+$/.test(String(v))) gid = Number(v);
    else if (k === 'mtime' && /^-?\d+(\.\d+)?$/.test(String(v))) mtime = new Date(Number(v) * 1000);
  }
  const type = raw.type === 'contiguous-file' ? 'file' : (raw.type ?? 'unknown');
  return { name: raw.name, type, mode: raw.mode & 0o7777, uid, gid, mtime, linkname: raw.linkname ?? '', devmajor: raw.devmajor, devminor: raw.devminor, xattrs };
}

/** A layer that is not a well-formed tar. */
export class TarFormatError extends KindedError {
  constructor(message: string) {
    super('corrupt', message);
    this.name = 'TarFormatError';
  }
}

/** Reads a tar stream to its end, calling `onEntry` for each member in order (it must consume the body). */
export async function readTar(input: Readable, onEntry: (h: TarHeader, body: Readable) => Promise<void>): Promise<void> {
  const ex = extract();
  let inputError: unknown;
  input.on('error', (err) => {
    inputError = err;
    ex.destroy(err);
  });
  input.pipe(ex as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of ex) {
      await onEntry(toHeader(entry.header as unknown as RawHeader), entry as unknown as Readable);
    }
  } catch (err) {
    input.unpipe();
    input.destroy();
    if (inputError !== undefined) throw inputError;
    const msg = (err as Error).message ?? '';
    if (/Unexpected end of data/.test(msg)) throw new TarFormatError('the layer tar is truncated');
    if (/Invalid tar header/.test(msg)) throw new TarFormatError(`the layer is not a valid tar (${msg})`);
    throw err;
  }
  if (inputError !== undefined) throw inputError;
}
