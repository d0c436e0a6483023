// S3 storage driver (AWS SDK for JavaScript v3), for AWS S3 and S3-compatible stores (Ceph RGW,
// MinIO, …). A path `/a/b` is the key `<rootDirectory>/a/b`; directories are implicit (key
// prefixes), as in distribution's s3-aws driver.
//
// Small objects are written whole with PutObject, which S3 makes atomic and durable. Resumable
// writers (upload data, written in PATCH-sized pieces by any registry process) cannot keep their
// bytes in an open multipart upload: S3 does not let anyone read the parts of an unfinished
// multipart upload, and the registry must be able to stat, read (re-hash) and move committed upload
// data at any time, from any process. So a writer's file is kept as a run of *segment* objects
// `<key>!<offset, 16 digits>` (the `!` is outside the path grammar, and sorts before every other
// key continuing `<key>`, so one listing finds the object, its segments and its directory):
//
// - every segment but the last is a valid multipart part (>= 5 MiB), so move() can assemble them
//   server-side. A writer that streams cuts its bytes into segments of the part size in force
//   for the segment's index (chunkSize doubling every 1,000 segments, 5 GiB from the 9,000th), so
//   one long stream stays within S3's 10,000 parts up to its 5 TiB limit;
// - a writer that continues a file starts a new segment after the last one when that one is a
//   valid part already: a request's bytes are uploaded once, as distribution's s3-aws writer
//   uploads each PATCH's bytes as one part. Only a last segment shorter than a part (< 5 MiB) is
//   read back and rewritten, longer, at the same key: PutObject replaces it atomically, so a crash
//   leaves either the old or the new tail, never a torn one;
// - commit() persists the last segment; full segments are uploaded while data is written (one
//   upload in flight while the next segment fills), so memory per writer is at most two part sizes;
// - the size of the file is the sum of its segments (one ListObjectsV2 per 1,000 segments); readers
//   stream the segments in order; move() assembles the segments into the destination object
//   server-side (UploadPartCopy, one part per segment; a file of more segments than S3 allows parts
//   is first assembled in groups of up to 5 GiB) and then deletes them.
//
// A plain object at `<key>` takes precedence over segments at the same path (segments left there
// can only be a crash's leftovers: appending to a plain object first copies it to a segment).
// Multipart uploads exist only while move() or a large copy runs; one abandoned by a crash is
// aborted by purgeStale().
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
  type ServerSideEncryption,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { checkPath, PathNotFoundError, unsupportedMethod, type DriverCapabilities, type FileInfo, type FileWriter, type RandomAccessFile, type ReadableFileWriter, type StorageDriver, type WholeRead } from './driver.js';
import { mapLimit } from '../util/limit.js';
import { Presigner, presignTargetOf } from './s3-presign.js';
import { S3Transport } from './s3-transport.js';
import { TOP_LEVEL_DIRS } from './layout.js';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
/** S3's smallest part (all parts of a multipart upload but the last). */
export const MIN_PART_SIZE = 5 * MiB;
/** S3's largest part, and the largest object CopyObject copies in one request. */
export const MAX_PART_SIZE = 5 * GiB;
export const MAX_PARTS = 10_000;
/** Segment-size schedule: chunkSize doubles every this many segments. */
const SEGMENTS_PER_TIER = 1_000;

export interface S3DriverOptions {
  bucket: string;
  /** Default us-east-1. */
  region?: string;
  /** e.g. http://127.0.0.1:7480 for an S3-compatible store; unset: AWS. */
  endpoint?: string;
  /** Path-style URLs (http://host/bucket/key), needed by most S3-compatible stores. */
  forcePathStyle?: boolean;
  /** Static credentials; unset: the SDK's default provider chain (env, shared config, SSO, instance/task role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Key prefix under which everything is stored (no leading or trailing slash needed). */
  rootDirectory?: string;
  serverSideEncryption?: ServerSideEncryption;
  kmsKeyId?: string;
  /** e.g. STANDARD_IA, INTELLIGENT_TIERING; unset: the bucket's default. */
  storageClass?: string;
  /**
   * When the SDK adds CRC checksums to requests and validates them in responses. WHEN_REQUIRED
   * (default) suits S3-compatible stores that reject aws-chunked streaming uploads (Ceph RGW 16
   * answers 411); WHEN_SUPPORTED is the SDK's own default for AWS.
   */
  checksums?: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
  /** Size of the first 1,000 segments of a resumable writer (>= 5 MiB; default 10 MiB). */
  chunkSize?: number;
  /** Blob GETs may redirect to presigned URLs valid this long (seconds); unset: no redirects. */
  redirectExpirySeconds?: number;
  /** Attempts per request including retries (SDK default 3). */
  maxAttempts?: number;
  /** Called once per S3 API call (before retries), with the command's name: request counting. */
  onRequest?: (command: string) => void;
  /** Objects larger than this are copied with a multipart copy (default and maximum 5 GiB; tests lower it). */
  copyObjectMaxSize?: number;
  /** Parts per multipart upload (default and maximum S3's 10,000; tests lower it). */
  maxParts?: number;
  /**
   * Object downloads through presigned URLs over the driver's own sockets (storage/s3-transport.ts)
   * instead of the SDK's response handling: a fraction of the CPU per MB. Default true; false:
   * every GET through the SDK (for comparison).
   */
  directGets?: boolean;
}

interface Segment {
  key: string;
  offset: number;
  size: number;
  modTime: Date;
}

interface KeyState {
  plain?: { size: number; modTime: Date };
  segments: Segment[];
  isDir: boolean;
}

const SEGMENT_SUFFIX = /^!(\d{16})$/;
const NAME = /^[A-Za-z0-9._+-]+$/;

function segmentKey(key: string, offset: number): string {
  return `${key}!${String(offset).padStart(16, '0')}`;
}

/** The size of the segment at `index` for a given chunk size (see the header). */
export function segmentSize(chunkSize: number, index: number): number {
  if (index >= 9 * SEGMENTS_PER_TIER) return MAX_PART_SIZE;
  return Math.min(MAX_PART_SIZE, chunkSize * 2 ** Math.floor(index / SEGMENTS_PER_TIER));
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** A missing key (not a missing bucket, which is a configuration error and must surface). */
function isMissingKey(err: unknown): boolean {
  const name = (err as Error)?.name;
  if (name === 'NoSuchBucket') return false;
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatus(err) === 404;
}

/** x-amz-copy-source: bucket/key, URL-encoded per path segment (the SDK sends the header as given). */
function copySource(bucket: string, key: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${enc(bucket)}/${key.split('/').map(enc).join('/')}`;
}


export class S3Driver implements StorageDriver {
  readonly name = 's3';
  readonly capabilities: DriverCapabilities;
  readonly bucket: string;
  readonly client: S3Client;
  private readonly prefix: string;
  private readonly chunkSize: number;
  private readonly copyObjectMaxSize: number;
  private readonly maxParts: number;
  private readonly redirectExpiry: number | undefined;
  private readonly transport: S3Transport | undefined;
  /** Signs URLs without the SDK's middleware (storage/s3-presign.ts); undefined: the SDK could not tell us how. */
  private presigner: Promise<Presigner | undefined> | undefined;
  private readonly onRequest: ((command: string) => void) | undefined;
  private readonly writeExtras: { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string; StorageClass?: StorageClass };

  constructor(opts: S3DriverOptions) {
    if (!opts.bucket) throw new Error('s3 driver: bucket is required');
    const chunkSize = opts.chunkSize ?? 10 * MiB;
    if (!Number.isInteger(chunkSize) || chunkSize < MIN_PART_SIZE || chunkSize > MAX_PART_SIZE) {
      throw new Error(`s3 driver: chunkSize must be an integer between ${MIN_PART_SIZE} and ${MAX_PART_SIZE}`);
    }
    this.bucket = opts.bucket;
    this.chunkSize = chunkSize;
    // At least 2 minimum parts, so the near-equal ranges of a multipart copy are valid parts.
    this.copyObjectMaxSize = Math.max(Math.min(opts.copyObjectMaxSize ?? MAX_PART_SIZE, MAX_PART_SIZE), 2 * MIN_PART_SIZE);
    this.maxParts = Math.max(2, Math.min(opts.maxParts ?? MAX_PARTS, MAX_PARTS));
    const root = (opts.rootDirectory ?? '').replace(/^\/+|\/+$/g, '');
    this.prefix = root ? `${root}/` : '';
    this.redirectExpiry = opts.redirectExpirySeconds;
    this.transport = opts.directGets === false ? undefined : new S3Transport({ timeoutMs: 30_000 });
    this.capabilities = { readableWriter: false, redirect: this.redirectExpiry !== undefined, randomAccess: false, purgeStale: true, walk: true, readWhole: true };
    this.writeExtras = {};
    if (opts.serverSideEncryption) this.writeExtras.ServerSideEncryption = opts.serverSideEncryption;
    if (opts.kmsKeyId) this.writeExtras.SSEKMSKeyId = opts.kmsKeyId;
    if (opts.storageClass) this.writeExtras.StorageClass = opts.storageClass as StorageClass;
    const checksums = opts.checksums ?? 'WHEN_REQUIRED';
    this.client = new S3Client({
      region: opts.region || 'us-east-1',
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle ?? false,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      requestChecksumCalculation: checksums,
      responseChecksumValidation: checksums,
      ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}),
      // Every blob download in progress holds a connection: allow many (the SDK's default is 50).
      requestHandler: {
        connectionTimeout: 10_000,
        httpAgent: { keepAlive: true, maxSockets: 256 },
        httpsAgent: { keepAlive: true, maxSockets: 256 },
      },
    });
    const onRequest = opts.onRequest;
    this.onRequest = onRequest;
    if (onRequest) {
      this.client.middlewareStack.add(
        (next, context) => (args) => {
          // (The presigner's set-up signs one URL through the SDK: no request.)
          if ((args.input as { Key?: unknown }).Key !== this.probeKey) onRequest(context.commandName ?? 'unknown');
          return next(args);
        },
        { step: 'initialize', name: 'stevedoreRequestCounter' },
      );
    }
  }

  /** Closes the client's connections. */
  destroy(): void {
    this.client.destroy();
    this.transport?.destroy();
  }

  private key(path: string): string {
    checkPath(path);
    return this.prefix + path.slice(1);
  }

  // --- small objects ---------------------------------------------------------------------------

  getContent(path: string): Promise<Buffer> {
    return this.content(path, false);
  }

  private async content(path: string, retried: boolean): Promise<Buffer> {
    const key = this.key(path);
    const direct = await this.directContent(key);
    if (Buffer.isBuffer(direct)) return direct;
    if (direct === undefined) {
      try {
        const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
        const bytes = await res.Body!.transformToByteArray();
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      } catch (err) {
        if (!isMissingKey(err)) throw err;
      }
    }
    const state = await this.inspect(key);
    if (state.plain && !retried) return this.content(path, true); // created meanwhile
    if (state.segments.length === 0) throw new PathNotFoundError(path, this.name);
    const chunks: Buffer[] = [];
    for await (const chunk of this.segmentReader(state.segments, 0, undefined)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** (Every PUT is durable: `opts.durable` changes nothing.) */
  async putContent(path: string, content: Uint8Array): Promise<void> {
    await this.putObject(this.key(path), content);
  }

  /** (Nothing to do: every PUT is durable.) */
  async syncContent(): Promise<void> {}

  private async putObject(key: string, body: Uint8Array): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.byteLength, ...this.writeExtras }),
    );
  }

  // --- reading ---------------------------------------------------------------------------------

  reader(path: string, offset = 0, end?: number): Promise<Readable> {
    return this.read(path, offset, end, false);
  }

  private async read(path: string, offset: number, end: number | undefined, retried: boolean): Promise<Readable> {
    const key = this.key(path);
    if (end !== undefined && end < offset) {
      await this.stat(path);
      return Readable.from([]);
    }
    const range = offset === 0 && end === undefined ? undefined : `bytes=${offset}-${end ?? ''}`;
    const direct = await this.directGet(key, range);
    if (typeof direct === 'object') return direct.body;
    if (direct === undefined) {
      try {
        const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }));
        return res.Body as Readable;
      } catch (err) {
        // 416: the object exists but the range starts at or after its end (like reading past EOF).
        if (httpStatus(err) === 416) return Readable.from([]);
        if (!isMissingKey(err)) throw err;
      }
    } else if (direct === 'unsatisfiable') {
      return Readable.from([]);
    }
    const state = await this.inspect(key);
    if (state.plain && !retried) return this.read(path, offset, end, true); // created meanwhile
    if (state.segments.length === 0) throw new PathNotFoundError(path, this.name);
    return this.segmentReader(state.segments, offset, end);
  }

  /**
   * The object and its size from one GET (its Content-Length): a blob GET needs no HEAD of the
   * data first. Anything but a plain object's body (an object in segments, no direct GETs, an
   * answer the transport leaves to the SDK) takes the long way: a stat, then a read.
   */
  async readWhole(path: string): Promise<WholeRead> {
    const direct = await this.directGet(this.key(path), undefined);
    if (typeof direct === 'object') return direct;
    const { size } = await this.stat(path);
    return { size, body: await this.read(path, 0, undefined, false) };
  }

  /**
   * A presigned URL of `key`, signed locally (no request): by the Presigner, set up from one URL
   * the SDK signed; by the SDK's presigner (GET only) when that could not be set up.
   */
  private async presign(method: 'GET' | 'HEAD', key: string, expiresIn: number): Promise<string | undefined> {
    const presigner = await (this.presigner ??= this.makePresigner());
    if (!presigner) {
      return method === 'GET' ? getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn }) : undefined;
    }
    // The SDK's own credentials provider: memoised, refreshed by the SDK before they expire.
    return presigner.sign(method, key, expiresIn, await this.client.config.credentials());
  }

  private get probeKey(): string {
    return `${this.prefix}docker/presign-probe`;
  }

  private async makePresigner(): Promise<Presigner | undefined> {
    const probe = this.probeKey;
    let url: string;
    try {
      url = await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: probe }), { expiresIn: 60 });
    } catch (err) {
      this.presigner = undefined; // (no credentials yet, say): the next URL tries again
      throw err;
    }
    try {
      return new Presigner(presignTargetOf(url, probe));
    } catch {
      return undefined; // an endpoint whose URLs we cannot take apart: the SDK signs each one
    }
  }

  /**
   * A GET through the driver's own transport: the body, or what S3 answered when that decides
   * the matter (no such key; a range past the end). Undefined: ask the SDK (any other answer, a
   * failed connection, direct GETs off), which retries and gives its errors.
   */
  private async directGet(key: string, range: string | undefined): Promise<{ body: Readable; size: number } | 'missing' | 'unsatisfiable' | undefined> {
    if (!this.transport) return undefined;
    // The Range header is not signed, which S3 allows.
    const url = await this.presign('GET', key, 900);
    if (!url) return undefined;
    this.onRequest?.('GetObjectCommand');
    const out = await this.transport.get(url, range);
    if (out.kind === 'body') return out;
    if (out.kind === 'status' && out.status === 404 && out.code === 'NoSuchKey') return 'missing';
    if (out.kind === 'status' && out.status === 416) return 'unsatisfiable';
    return undefined;
  }

  /**
   * A small object read whole through the driver's own transport (as directGet): its bytes, or
   * 'missing' (no such key). Undefined: ask the SDK (any other answer, a failed connection, direct
   * GETs off).
   */
  private async directContent(key: string): Promise<Buffer | 'missing' | undefined> {
    if (!this.transport) return undefined;
    const url = await this.presign('GET', key, 900);
    if (!url) return undefined;
    this.onRequest?.('GetObjectCommand');
    const out = await this.transport.getContent(url);
    if (out.kind === 'content' && out.status === 200) return out.content;
    if (out.kind === 'status' && out.status === 404 && out.code === 'NoSuchKey') return 'missing';
    return undefined;
  }

  /** A ranged GET of an object known to exist (a segment). */
  private async getRange(key: string, range: string): Promise<Readable> {
    const direct = await this.directGet(key, range);
    if (typeof direct === 'object') return direct.body;
    const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }));
    return res.Body as Readable;
  }

  /** Streams bytes [offset, end] of a segmented file, one ranged GET per segment, in order. */
  private segmentReader(segments: Segment[], offset: number, end: number | undefined): Readable {
    const getRange = (key: string, range: string) => this.getRange(key, range);
    async function* bytes(): AsyncGenerator<Buffer> {
      for (const seg of segments) {
        const segEnd = seg.offset + seg.size - 1;
        if (seg.size === 0 || segEnd < offset) continue;
        if (end !== undefined && seg.offset > end) break;
        const from = Math.max(offset, seg.offset) - seg.offset;
        const to = Math.min(end ?? segEnd, segEnd) - seg.offset;
        for await (const chunk of await getRange(seg.key, `bytes=${from}-${to}`)) yield chunk as Buffer;
      }
    }
    return Readable.from(bytes(), { objectMode: false });
  }

  async stat(path: string): Promise<FileInfo> {
    const key = this.key(path);
    const direct = await this.directHead(key);
    if (direct && direct !== 'missing') return { path, ...direct, isDir: false };
    if (!direct) {
      try {
        const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
        return { path, size: head.ContentLength ?? 0, modTime: head.LastModified ?? new Date(0), isDir: false };
      } catch (err) {
        if (!isMissingKey(err)) throw err;
      }
    }
    const state = await this.inspect(key);
    if (state.plain) return { path, ...state.plain, isDir: false };
    if (state.segments.length) {
      const size = state.segments.reduce((n, s) => n + s.size, 0);
      const modTime = new Date(Math.max(...state.segments.map((s) => s.modTime.getTime())));
      return { path, size, modTime, isDir: false };
    }
    if (state.isDir) {
      // A directory's time: that of the first object in it (S3 has no directories to stamp).
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${key}/`, MaxKeys: 1 }));
      return { path, size: 0, modTime: res.Contents?.[0]?.LastModified ?? new Date(0), isDir: true };
    }
    throw new PathNotFoundError(path, this.name);
  }

  /**
   * A HEAD through the driver's own transport (a blob GET or HEAD stats the repository link, a
   * HEAD the data too: through the SDK that was most of its time to the first byte). Undefined: ask the SDK
   * (any status but 200 and 404, a failed connection, direct requests off).
   */
  private async directHead(key: string): Promise<{ size: number; modTime: Date } | 'missing' | undefined> {
    if (!this.transport) return undefined;
    const url = await this.presign('HEAD', key, 900);
    if (!url) return undefined;
    this.onRequest?.('HeadObjectCommand');
    const out = await this.transport.head(url);
    if (out.kind === 'object') {
      const modTime = out.lastModified ? new Date(out.lastModified) : new Date(0);
      return { size: out.size, modTime: Number.isNaN(modTime.getTime()) ? new Date(0) : modTime };
    }
    return out.kind === 'status' && out.status === 404 ? 'missing' : undefined;
  }

  /**
   * What exists at `key`: a plain object, segments, a directory. One ListObjectsV2 with the key as
   * prefix and `/` as delimiter: the object, then its segments (`!` sorts first), then siblings
   * sharing the prefix, then `key/`. Pages are read only until past `key/`. Unless `strict` is
   * false (deleting), segments that do not follow each other are an error.
   */
  private async inspect(key: string, strict = true): Promise<KeyState> {
    const state: KeyState = { segments: [], isDir: false };
    const dirPrefix = `${key}/`;
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: key, Delimiter: '/', ContinuationToken: token }),
      );
      let last = '';
      for (const obj of res.Contents ?? []) {
        const k = obj.Key ?? '';
        if (k > last) last = k;
        const rest = k.slice(key.length);
        const modTime = obj.LastModified ?? new Date(0);
        if (rest === '') {
          state.plain = { size: obj.Size ?? 0, modTime };
        } else {
          const m = SEGMENT_SUFFIX.exec(rest);
          if (m) state.segments.push({ key: k, offset: Number(m[1]), size: obj.Size ?? 0, modTime });
        }
      }
      for (const p of res.CommonPrefixes ?? []) {
        const k = p.Prefix ?? '';
        if (k > last) last = k;
        if (k === dirPrefix) state.isDir = true;
      }
      token = res.IsTruncated && last <= dirPrefix ? res.NextContinuationToken : undefined;
    } while (token);
    state.segments.sort((a, b) => a.offset - b.offset);
    if (!strict) return state;
    let expected = 0;
    for (const s of state.segments) {
      if (s.offset !== expected) throw new Error(`s3 driver: segments of ${key} are not contiguous at offset ${expected}`);
      expected += s.size;
    }
    return state;
  }

  async list(path: string): Promise<string[]> {
    const prefix = `${this.key(path)}/`;
    const names = new Set<string>();
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
      );
      for (const p of res.CommonPrefixes ?? []) names.add((p.Prefix ?? '').slice(prefix.length, -1));
      for (const obj of res.Contents ?? []) {
        const rest = (obj.Key ?? '').slice(prefix.length);
        const bang = rest.lastIndexOf('!');
        names.add(bang >= 0 && SEGMENT_SUFFIX.test(rest.slice(bang)) ? rest.slice(0, bang) : rest);
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    const children = [...names].filter((n) => NAME.test(n) && n !== '.' && n !== '..').sort();
    if (children.length === 0) throw new PathNotFoundError(path, this.name);
    return children.map((n) => `${path}/${n}`);
  }

  /**
   * Every object under `path`: a flat listing (no delimiter), 1,000 keys per request, sizes and
   * times from the listing itself. Segments (`!<offset>`) are reported as their file.
   */
  async walk(path: string): Promise<FileInfo[]> {
    const prefix = `${this.key(path)}/`;
    const files = new Map<string, FileInfo>();
    let token: string | undefined;
    do {
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const obj of res.Contents ?? []) {
        let rest = (obj.Key ?? '').slice(prefix.length);
        const bang = rest.lastIndexOf('!');
        if (bang >= 0 && SEGMENT_SUFFIX.test(rest.slice(bang))) rest = rest.slice(0, bang);
        if (!rest.split('/').every((c) => NAME.test(c) && c !== '.' && c !== '..')) continue;
        const p = `${path}/${rest}`;
        const modTime = obj.LastModified ?? new Date(0);
        const prev = files.get(p);
        files.set(p, {
          path: p,
          size: (prev?.size ?? 0) + (obj.Size ?? 0),
          modTime: prev && prev.modTime > modTime ? prev.modTime : modTime,
          isDir: false,
        });
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return [...files.values()];
  }

  // --- moving and deleting ---------------------------------------------------------------------

  async move(source: string, dest: string): Promise<void> {
    const src = this.key(source);
    const dst = this.key(dest);
    const state = await this.inspect(src);
    if (state.plain) {
      await this.copy(src, state.plain.size, dst);
      await this.deleteKeys([src, ...state.segments.map((s) => s.key)]);
      return;
    }
    if (state.segments.length === 0) throw new PathNotFoundError(source, this.name);
    if (state.segments.length === 1) {
      await this.copy(state.segments[0]!.key, state.segments[0]!.size, dst);
    } else {
      await this.assemble(state.segments, src, dst);
    }
    await this.deleteKeys(state.segments.map((s) => s.key));
  }

  /**
   * Assembles a file's segments (each a valid part but the last) into the object `destKey`: one
   * UploadPartCopy per segment (ranges of one above the copy limit). When that is more parts than
   * S3 allows (a long upload in many PATCHes of little more than 5 MiB), runs of consecutive
   * segments of up to the copy limit are first assembled into temporary objects
   * `<srcKey>!group-<offset>` beside the segments (deleted afterwards; a crash's leftovers sit in
   * the upload's directory and go with it), which then are the parts.
   */
  private async assemble(segments: Segment[], srcKey: string, destKey: string): Promise<void> {
    const parts = segments.flatMap((seg) => this.copyRanges(seg.key, seg.size, this.copyObjectMaxSize));
    if (parts.length <= this.maxParts) return this.multipartCopy(parts, destKey);
    const groups: Segment[][] = [[]];
    let groupSize = 0;
    for (const seg of segments) {
      const group = groups.at(-1)!;
      if (group.length > 0 && (groupSize + seg.size > this.copyObjectMaxSize || group.length === this.maxParts)) {
        groups.push([seg]);
        groupSize = seg.size;
      } else {
        group.push(seg);
        groupSize += seg.size;
      }
    }
    if (groups.length === segments.length) throw new Error(`s3 driver: ${parts.length} parts exceed S3's limit of ${this.maxParts}`);
    const temporary: string[] = [];
    try {
      const merged = await mapLimit(groups, 2, async (group): Promise<Segment> => {
        const first = group[0]!;
        if (group.length === 1) return first;
        const key = `${srcKey}!group-${String(first.offset).padStart(16, '0')}`;
        temporary.push(key);
        await this.multipartCopy(group.map((seg) => ({ key: seg.key })), key);
        return { key, offset: first.offset, size: group.reduce((n, seg) => n + seg.size, 0), modTime: new Date() };
      });
      await this.assemble(merged, srcKey, destKey);
    } finally {
      if (temporary.length) await this.deleteKeys(temporary).catch(() => undefined);
    }
  }

  /** Server-side copy of a whole object: CopyObject, or a multipart copy above 5 GiB. */
  private async copy(srcKey: string, size: number, destKey: string): Promise<void> {
    if (size <= this.copyObjectMaxSize) {
      await this.client.send(
        new CopyObjectCommand({ Bucket: this.bucket, Key: destKey, CopySource: copySource(this.bucket, srcKey), ...this.writeExtras }),
      );
      return;
    }
    // Parts as large as allowed (fewer requests), never more than 10,000.
    const partSize = Math.max(Math.ceil(size / this.maxParts), Math.min(this.copyObjectMaxSize, MAX_PART_SIZE));
    await this.multipartCopy(this.copyRanges(srcKey, size, partSize), destKey);
  }

  /** Splits an object into copy ranges of at most `maxSize` bytes, of near-equal sizes. */
  private copyRanges(key: string, size: number, maxSize: number): CopyPart[] {
    const n = Math.max(1, Math.ceil(size / maxSize));
    if (n === 1) return [{ key }];
    const base = Math.ceil(size / n);
    const out: CopyPart[] = [];
    for (let start = 0; start < size; start += base) out.push({ key, range: `bytes=${start}-${Math.min(start + base, size) - 1}` });
    return out;
  }

  private async multipartCopy(parts: CopyPart[], destKey: string): Promise<void> {
    if (parts.length > this.maxParts) throw new Error(`s3 driver: ${parts.length} parts exceed S3's limit of ${this.maxParts}`);
    const { UploadId } = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: destKey, ...this.writeExtras }),
    );
    try {
      const etags = await mapLimit(parts, 4, async (part, i) => {
        const res = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: destKey,
            UploadId,
            PartNumber: i + 1,
            CopySource: copySource(this.bucket, part.key),
            CopySourceRange: part.range,
          }),
        );
        const etag = res.CopyPartResult?.ETag;
        if (!etag) throw new Error(`s3 driver: UploadPartCopy of part ${i + 1} returned no ETag`);
        return etag;
      });
      // (Ceph RGW answers an empty ETag here; nothing relies on the response's ETag.)
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: destKey,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
    } catch (err) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: destKey, UploadId })).catch(() => undefined);
      throw err;
    }
  }

  async delete(path: string): Promise<void> {
    const key = this.key(path);
    // The registry deletes directories (upload sessions, links, tags): list the tree first; only
    // when it is empty look for an object or a segmented file at the key itself.
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${key}/`, ContinuationToken: token }));
      for (const obj of res.Contents ?? []) if (obj.Key) keys.push(obj.Key);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    if (keys.length === 0) {
      const state = await this.inspect(key, false);
      keys.push(...state.segments.map((s) => s.key));
      if (state.plain) keys.push(key);
    }
    if (keys.length === 0) throw new PathNotFoundError(path, this.name);
    await this.deleteKeys(keys);
  }

  /** DeleteObjects in batches of 1,000 (S3's maximum); a key already gone is not an error. */
  private async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const res = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      const errors = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (errors.length) {
        const e = errors[0]!;
        throw new Error(`s3 driver: deleting ${e.Key} failed: ${e.Code} ${e.Message ?? ''} (${errors.length} errors)`);
      }
    }
  }

  /** Parts are not readable before the object is complete. */
  readableWriter(): Promise<ReadableFileWriter> {
    return unsupportedMethod(this.name, 'readableWriter');
  }

  openRandomAccess(): Promise<RandomAccessFile> {
    return unsupportedMethod(this.name, 'openRandomAccess');
  }

  async redirectURL(path: string): Promise<string> {
    if (this.redirectExpiry === undefined) return unsupportedMethod(this.name, 'redirectURL (storage.s3.redirect is off)');
    return (await this.presign('GET', this.key(path), this.redirectExpiry))!;
  }

  /** Aborts multipart uploads under the root started before `olderThan` (left by a crash during a move). */
  async purgeStale(olderThan: Date): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const res = await this.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix || undefined, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      );
      for (const u of res.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated >= olderThan) continue;
        // Only keys of the registry's layout: a bucket without rootDirectory may hold other data.
        if (!TOP_LEVEL_DIRS.some((top) => u.Key!.startsWith(`${this.prefix}${top}/`))) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }));
        aborted++;
      }
      const more = res.IsTruncated === true;
      keyMarker = more ? res.NextKeyMarker : undefined;
      uploadIdMarker = more ? res.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return aborted;
  }

  // --- resumable writers -----------------------------------------------------------------------

  async writer(path: string, append: boolean): Promise<FileWriter> {
    const key = this.key(path);
    const state = await this.inspect(key, append);
    if (!append) {
      const stale = state.segments.map((s) => s.key);
      if (state.plain) stale.push(key);
      if (stale.length) await this.deleteKeys(stale);
      return new S3FileWriter(this, key, [], this.chunkSize);
    }
    let segments = state.segments;
    if (state.plain) {
      // Continue a plain object: it becomes the first segment (copied server-side); the plain
      // object is deleted only after the copy exists, so a crash in between loses nothing.
      if (segments.length) await this.deleteKeys(segments.map((s) => s.key));
      const first = segmentKey(key, 0);
      await this.copy(key, state.plain.size, first);
      await this.deleteKeys([key]);
      segments = [{ key: first, offset: 0, size: state.plain.size, modTime: new Date() }];
    }
    return new S3FileWriter(this, key, segments, this.chunkSize);
  }

  /** @internal for the writer */
  async _putSegment(key: string, offset: number, body: Uint8Array): Promise<void> {
    await this.putObject(segmentKey(key, offset), body);
  }

  /** @internal for the writer: reads a segment whole into `into` at 0; returns the byte count. */
  async _readSegment(seg: Segment, into: Buffer): Promise<number> {
    const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: seg.key }));
    let n = 0;
    for await (const chunk of res.Body as Readable) {
      const b = chunk as Buffer;
      if (n + b.length > into.length) throw new Error(`s3 driver: segment ${seg.key} grew while being read`);
      b.copy(into, n);
      n += b.length;
    }
    if (n !== seg.size) throw new Error(`s3 driver: segment ${seg.key} has ${n} bytes, expected ${seg.size}`);
    return n;
  }

  /** @internal for the writer */
  async _deleteFile(key: string): Promise<void> {
    const state = await this.inspect(key, false);
    const keys = state.segments.map((s) => s.key);
    if (state.plain) keys.push(key);
    if (keys.length) await this.deleteKeys(keys);
  }
}

interface CopyPart {
  key: string;
  /** bytes=a-b, or the whole object */
  range?: string;
}

/**
 * Appends to a segmented file (see the header). `segments` are the file's existing segments; the
 * last one, if shorter than S3's minimum part size, is continued (read back lazily on the first write).
 */
class S3FileWriter implements FileWriter {
  private total: number;
  /** Offset and index of the segment being filled. */
  private segOffset: number;
  private segIndex: number;
  /**
   * Bytes of the segment being filled. The first buffer grows by doubling (small uploads stay
   * small); once a segment was full, the writer alternates between two buffers of the segment
   * size: one being uploaded, one being filled (`spare` is the uploaded one, free again).
   */
  private buf: Buffer = Buffer.alloc(0);
  private len = 0;
  private spare: Buffer | undefined;
  private big = false;
  /** The existing tail segment, not yet read back. */
  private tail: Segment | undefined;
  /** The bytes in `buf` are not stored yet (or the file does not exist yet). */
  private dirty: boolean;
  private inflight: Promise<void> | undefined;
  /** A failed segment upload makes the writer unusable (its bytes were never stored). */
  private failed: unknown;
  private closed = false;

  constructor(
    private readonly driver: S3Driver,
    private readonly key: string,
    segments: Segment[],
    private readonly chunkSize: number,
  ) {
    this.total = segments.reduce((n, s) => n + s.size, 0);
    const last = segments.at(-1);
    if (!last) {
      this.segOffset = 0;
      this.segIndex = 0;
      this.dirty = true; // commit() creates the (empty) file
    } else if (last.size < MIN_PART_SIZE) {
      // Not a valid part yet: continue it (read back on the first write, rewritten longer).
      this.segOffset = last.offset;
      this.segIndex = segments.length - 1;
      this.tail = last.size > 0 ? last : undefined;
      this.dirty = false;
    } else {
      // A valid part: new bytes go to a new segment, the stored ones are never uploaded again.
      this.segOffset = this.total;
      this.segIndex = segments.length;
      this.dirty = false;
    }
  }

  get size(): number {
    return this.total;
  }

  private get capacity(): number {
    return segmentSize(this.chunkSize, this.segIndex);
  }

  private ensureRoom(needed: number): void {
    if (this.buf.length >= needed) return;
    let size = this.capacity;
    if (!this.big) {
      size = Math.max(this.buf.length, 256 * 1024);
      while (size < needed) size *= 2;
    }
    const grown = Buffer.allocUnsafe(Math.min(size, this.capacity));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }

  private check(): void {
    if (this.closed) throw new Error('s3 driver: writer is closed');
    if (this.failed) throw this.failed;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.check();
    if (chunk.byteLength === 0) return;
    if (this.tail) {
      const tail = this.tail;
      this.ensureRoom(tail.size);
      this.len = await this.driver._readSegment(tail, this.buf);
      this.tail = undefined;
    }
    const src = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let off = 0;
    while (off < src.length) {
      const n = Math.min(this.capacity - this.len, src.length - off);
      this.ensureRoom(this.len + n);
      src.copy(this.buf, this.len, off, off + n);
      this.len += n;
      off += n;
      this.total += n;
      this.dirty = true;
      if (this.len === this.capacity) await this.flushFull();
    }
  }

  /** Uploads the full segment in the background (one at a time) and starts the next one. */
  private async flushFull(): Promise<void> {
    await this.inflight;
    this.check();
    const full = this.buf;
    this.inflight = this.driver._putSegment(this.key, this.segOffset, full.subarray(0, this.len)).then(
      () => {
        this.spare = full; // the SDK is done with it
      },
      (err: unknown) => {
        this.failed ??= err;
      },
    );
    this.segOffset += this.len;
    this.segIndex++;
    this.big = true;
    const spare = this.spare;
    this.spare = undefined;
    this.buf = spare && spare.length >= this.capacity ? spare : Buffer.alloc(0);
    this.len = 0;
    this.dirty = false;
  }

  async commit(): Promise<void> {
    this.check();
    await this.inflight;
    this.check();
    if (this.dirty) {
      await this.driver._putSegment(this.key, this.segOffset, this.buf.subarray(0, this.len));
      this.dirty = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inflight;
    this.inflight = undefined;
    this.buf = Buffer.alloc(0);
    this.spare = undefined;
  }

  async cancel(): Promise<void> {
    await this.close();
    await this.driver._deleteFile(this.key);
  }
}
