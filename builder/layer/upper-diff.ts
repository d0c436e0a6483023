// An overlayfs upper directory as an OCI layer (image-spec layer.md): what a step added or
// changed, with overlayfs's own markers turned into their tar form — a 0/0 character device
// (a deleted file) becomes `.wh.NAME`, a directory with trusted.overlay.opaque=y (replaced, the
// lower contents hidden) gets `.wh..wh..opq`. Hardlinks inside the layer stay hardlinks; fifos and
// device nodes are kept; user.*, trusted.* (but never trusted.overlay.*) and security.capability
// attributes go into PAX records. The tar is hashed (the diff_id) and compressed — gzip, or zstd
// with Node's own zlib — (hashed again: the blob digest) while it is written, in one pass.
import { KindedError } from '../../util/errors.js';
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zc, createGzip, createZstdCompress } from 'node:zlib';
import { MediaType } from '../../oci/media-types.js';
import { Digester, type Digest } from '../../oci/digest.js';
import { entryHeader, padding, TAR_END, type TarEntryHeader } from './tar-writer.js';

/** A change in a RUN step that a layer cannot hold: kind `unsupported` (util/errors.ts). */
export class LayerDiffError extends KindedError {
  constructor(message: string) {
    super('unsupported', message);
    this.name = 'LayerDiffError';
  }
}

const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** getfattr escapes odd bytes of names as \NNN octal (and \\ for a backslash). */
function unescapeName(s: string): string {
  return Buffer.from(s.replace(/\\(\\|[0-7]{3})/g, (_m, g: string) => (g === '\\' ? '\\' : String.fromCharCode(parseInt(g, 8)))), 'latin1').toString('utf8');
}

/** Every extended attribute under dir (one getfattr for the whole tree), by absolute path. */
export function readXattrs(dir: string): Promise<Map<string, Map<string, Buffer>>> {
  return getfattr(['-R', dir]);
}

/** The extended attributes of each of `paths` (absolute; one getfattr for all), by path. */
export function readXattrsOf(paths: string[]): Promise<Map<string, Map<string, Buffer>>> {
  return getfattr(['--', ...paths]);
}

async function getfattr(args: string[]): Promise<Map<string, Map<string, Buffer>>> {
  const out = new Map<string, Map<string, Buffer>>();
  const text = await new Promise<string>((resolve, reject) => {
    const child = spawn('getfattr', ['-P', '-d', '-m', '-', '-e', 'hex', '--absolute-names', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let s = '';
    child.stdout.setEncoding('latin1').on('data', (d: string) => (s += d));
    child.on('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new LayerDiffError('getfattr is needed to read layer attributes (Debian: apt-get install attr)') : err));
    child.on('close', () => resolve(s));
  });
  let cur: Map<string, Buffer> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      cur = new Map();
      out.set(unescapeName(line.slice(8)), cur);
      continue;
    }
    const m = /^([^=]+)=0x([0-9a-f]*)$/.exec(line);
    if (m && cur) cur.set(m[1]!, Buffer.from(m[2]!, 'hex'));
  }
  return out;
}

/** The attributes a layer keeps: user.*, trusted.* and security.capability, never overlayfs's own. */
export function layerXattrs(all: Map<string, Buffer> | undefined): Map<string, Buffer> | undefined {
  if (!all) return undefined;
  const kept = new Map<string, Buffer>();
  for (const [k, v] of all) {
    if (k.startsWith('trusted.overlay.') || k.startsWith('user.overlay.')) continue;
    if (k.startsWith('user.') || k.startsWith('trusted.') || k === 'security.capability') kept.set(k, v);
  }
  return kept.size ? kept : undefined;
}

export interface DiffOptions {
  /** SOURCE_DATE_EPOCH: newer modification times are clamped to it. */
  epoch?: number;
}

interface Walked {
  header: TarEntryHeader;
  /** Host file to copy the content from. */
  file?: string;
}

/** The entries of the layer, in tar order (lexical, parents first). */
export async function diffEntries(upper: string, opts: DiffOptions = {}): Promise<Walked[]> {
  const xattrs = await readXattrs(upper);
  const out: Walked[] = [];
  const inodes = new Map<string, string>();
  const time = (ms: number) => {
    const s = Math.floor(ms / 1000);
    return opts.epoch !== undefined && s > opts.epoch ? opts.epoch : s;
  };
  // Synchronous system calls: an upper directory of many small files costs an lstat each, which
  // as promises through the thread pool cost far more than the calls themselves.
  const walk = (dir: string, rel: string) => {
    const names = readdirSync(dir).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1));
    for (const name of names) {
      const host = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(host);
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: time(st.mtimeMs), xattrs: layerXattrs(xattrs.get(host)) };
      if (st.isCharacterDevice() && st.rdev === 0) {
        out.push({ header: { name: rel ? `${rel}/.wh.${name}` : `.wh.${name}`, type: 'file', mode: 0, uid: 0, gid: 0, mtime: base.mtime, size: 0 } });
      } else if (st.isDirectory()) {
        out.push({ header: { name: `${r}/`, type: 'dir', ...base } });
        if (xattrs.get(host)?.get(OPAQUE_XATTR)?.toString() === 'y') {
          out.push({ header: { name: `${r}/.wh..wh..opq`, type: 'file', mode: 0, uid: 0, gid: 0, mtime: base.mtime, size: 0 } });
        }
        walk(host, r);
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? inodes.get(key) : undefined;
        if (first) {
          out.push({ header: { name: r, type: 'link', linkname: first, ...base } });
        } else {
          if (st.nlink > 1) inodes.set(key, r);
          out.push({ header: { name: r, type: 'file', size: st.size, ...base }, file: host });
        }
      } else if (st.isSymbolicLink()) {
        out.push({ header: { name: r, type: 'symlink', linkname: readlinkSync(host), ...base } });
      } else if (st.isFIFO()) {
        out.push({ header: { name: r, type: 'fifo', ...base } });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const rdev = st.rdev;
        // Linux dev_t: major in bits 8-19 (and 32+), minor in bits 0-7 and 20-31.
        const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
        const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
        out.push({ header: { name: r, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major, devminor: minor, ...base } });
      }
      // Sockets are not part of a layer (Docker drops them too).
    }
  };
  walk(upper, '');
  return out;
}

/** Output is gathered into chunks of about this size: each chunk is one trip through the hash and gzip streams. */
const CHUNK = 256 << 10;
/** Files up to this size are read whole, synchronously; larger ones are streamed. */
const SMALL_FILE = 1 << 20;

async function* tarStream(entries: Walked[]): AsyncGenerator<Buffer> {
  // A layer of many small files is many tiny pieces (a 512-byte header, a few bytes of content,
  // padding): passed one by one, each would be a separate write into gzip (a thread-pool job).
  let parts: Buffer[] = [];
  let pending = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    pending += b.length;
  };
  const flush = () => {
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts, pending);
    parts = [];
    pending = 0;
    return out;
  };
  for (const e of entries) {
    push(entryHeader(e.header));
    const size = e.header.size ?? 0;
    if (e.file && size > 0) {
      let n = 0;
      if (size <= SMALL_FILE) {
        const data = readFileSync(e.file);
        n = Math.min(data.length, size);
        push(n === data.length ? data : data.subarray(0, n));
      } else {
        if (pending) yield flush();
        for await (const chunk of createReadStream(e.file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
          const take = Math.min(chunk.length, size - n);
          if (take > 0) yield take === chunk.length ? chunk : chunk.subarray(0, take);
          n += take;
        }
      }
      if (n !== size) throw new LayerDiffError(`${e.header.name} changed size while the layer was written`);
      const pad = padding(size);
      if (pad) push(Buffer.alloc(pad));
    }
    if (pending >= CHUNK) yield flush();
  }
  push(TAR_END);
  yield flush();
}

function hashing(d: Digester, count?: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      d.update(chunk);
      count?.(chunk.length);
      cb(null, chunk);
    },
  });
}

/** How a layer blob is compressed: gzip (Docker's default, every client reads it) or zstd. */
export type LayerCompression = 'gzip' | 'zstd';

export const LAYER_MEDIA_TYPE: Record<LayerCompression, string> = { gzip: MediaType.OciLayerGzip, zstd: MediaType.OciLayerZstd };

function compressor(c: LayerCompression): Transform {
  // gzip's fastest level: layers are written on every cache miss, and level 1 is within a few
  // percent of the default's size for typical layers. zstd's default level (3) is both faster and
  // smaller than that.
  return c === 'zstd' ? createZstdCompress() : createGzip({ level: zc.Z_BEST_SPEED });
}

export interface WrittenLayer {
  diffId: Digest;
  digest: Digest;
  /** Compressed size. */
  size: number;
  /** Uncompressed size. */
  tarSize: number;
}

/** Writes the layer of these entries compressed (gzip unless told) to `file`. */
export async function writeLayer(entries: Walked[], file: string, compression: LayerCompression = 'gzip'): Promise<WrittenLayer> {
  const tarDigest = new Digester('sha256');
  const blobDigest = new Digester('sha256');
  let tarSize = 0;
  let size = 0;
  await pipeline(
    Readable.from(tarStream(entries)),
    hashing(tarDigest, (n) => (tarSize += n)),
    compressor(compression),
    hashing(blobDigest, (n) => (size += n)),
    createWriteStream(file, { mode: 0o644, flush: true }),
  );
  return { diffId: tarDigest.digest(), digest: blobDigest.digest(), size, tarSize };
}
