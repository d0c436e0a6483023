// `docker save` / `docker load` archives (`docker-archive:FILE[:REF]`, as in skopeo) as image
// source and destination.
//
// Reading: the tar is indexed once (member names, sizes and data offsets; a gzip-compressed
// archive is first decompressed to a temporary file), then manifest.json picks the image, its
// config is read and every layer is checked against the config's diff_ids. Docker schema 2 layers
// are gzip: a layer stored uncompressed is compressed to a temporary file (digest and size
// computed while writing), so its digest is known before the manifest is made; gzip layers are
// served as they are, straight from the archive. Nothing is held in memory but the JSON files.
//
// Writing: a docker-save tarball (manifest.json, `<hex>.json` config, `<hex>.tar` layers as
// stored, and the legacy `repositories` file and `<id>/{VERSION,json,layer.tar}` entries) that
// `docker load` and skopeo read. It is written to a temporary file beside FILE and renamed into
// place at commit, so a failed copy leaves no archive. Tar entries are sequential: one blob
// streams into the archive while others are downloaded beside it and appended when it is free.
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
// node:crypto likewise (an ESM import's facade reads every export and so loads WebCrypto).
const randomUUID = () => process.getBuiltinModule('node:crypto').randomUUID();
// node:zlib is taken when a layer is (de)compressed: registry commands (`pull -o`) load this module
// through the client's index, and loading it costs ~3 ms of their start-up.
const zlib = () => process.getBuiltinModule('node:zlib');
// tar-stream (and its streamx stack) loads only when an archive is read or written: registry
// commands load this module through the client's index and never need it.
import type { Pack } from 'tar-stream';
import {
  Digester,
  digestOf,
  familiarReference,
  formatReference,
  isDigest,
  isImageConfigMediaType,
  MediaType,
  parseDigest,
  parseManifest,
  parseReference,
  type Descriptor,
  type Digest,
  type ImageManifest,
  type ImageReference,
} from '../oci/index.js';
import { COMPRESSION_SNIFF_BYTES, sniffCompression } from '../oci/compression.js';
import { verifiedRead } from '../oci/verified-read.js';
import { syncDir } from '../util/atomic-file.js';
import { mapLimit } from '../util/limit.js';
import { ClientError, ContentMismatchError } from './errors.js';
import type { ImageDestination, ImageSource, ManifestBytes } from './image-location.js';
import { bigFileTempDir, createTempDirSync, createTempFileSync, untrackTempFile } from './temp-files.js';

/** Which image of an archive: by one of its RepoTags, or by position in manifest.json (`@N`). */
export interface ArchiveSelector {
  ref?: ImageReference;
  index?: number;
}

export function describeDockerArchive(file: string, sel: ArchiveSelector = {}): string {
  const suffix = sel.ref ? `:${familiarReference(sel.ref)}` : sel.index !== undefined ? `:@${sel.index}` : '';
  return `docker-archive:${file}${suffix}`;
}

/** An entry of manifest.json (Docker's image/tarexport format). */
interface ManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

const MANIFEST_JSON = 'manifest.json';
const MAX_MANIFEST_JSON = 16 << 20;
const MAX_CONFIG = 32 << 20;
/** Entries are written with this time, so an archive's bytes depend only on its content (as skopeo does). */
const EPOCH = new Date(0);

async function readHead(file: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function hashing(d: Digester): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      d.update(chunk);
      cb(null, chunk);
    },
  });
}

const discard = () =>
  new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });

const isZlibError = (err: unknown) => typeof (err as { code?: unknown })?.code === 'string' && (err as { code: string }).code.startsWith('Z_');


// ---------------------------------------------------------------------------------------------
// Reading: an index of the tar's members

interface TarMember {
  name: string;
  type: string;
  size: number;
  /** Offset of the member's data in the archive file. */
  offset: number;
  linkname?: string;
}

const normalizeName = (name: string) => posix.normalize(name).replace(/^(\.\/)+/, '').replace(/^\/+/, '').replace(/\/+$/, '');

class TarIndex {
  private constructor(
    readonly file: string,
    private readonly members: Map<string, TarMember>,
  ) {}

  /** Reads the tar once, recording where each member's data is; fails on anything that is not a complete tar. */
  static async scan(file: string, description: string): Promise<TarIndex> {
    const members = new Map<string, TarMember>();
    const ex = (await import('tar-stream')).extract();
    const input = createReadStream(file, { highWaterMark: 1 << 20 });
    input.on('error', (err) => ex.destroy(err));
    input.pipe(ex as unknown as NodeJS.WritableStream);
    try {
      for await (const entry of ex) {
        const h = entry.header;
        const name = normalizeName(h.name);
        // tar-stream reports where the member's header starts; its data follows that 512-byte block.
        members.set(name, { name, type: h.type, size: h.size, offset: entry.offset + 512, linkname: h.linkname || undefined });
        entry.resume();
      }
    } catch (err) {
      input.destroy();
      const msg = (err as Error).message;
      if (/Unexpected end of data/.test(msg)) {
        throw new ClientError(members.size > 0 ? `${description}: the archive is truncated` : `${description}: not a tar archive`);
      }
      if (/Invalid tar header/.test(msg)) throw new ClientError(`${description}: not a tar archive`);
      throw err;
    }
    return new TarIndex(file, members);
  }

  get size(): number {
    return this.members.size;
  }

  /** The regular file a name refers to, following symbolic and hard links inside the archive. */
  resolve(name: string): TarMember | undefined {
    let current = normalizeName(name);
    for (let hops = 0; hops < 16; hops++) {
      const m = this.members.get(current);
      if (!m) return undefined;
      if (m.type === 'file' || m.type === 'contiguous-file') return m;
      if (m.type === 'symlink' && m.linkname) current = normalizeName(posix.join(posix.dirname(current), m.linkname));
      else if (m.type === 'link' && m.linkname) current = normalizeName(m.linkname);
      else return undefined;
      if (current.startsWith('../')) return undefined;
    }
    return undefined;
  }

  open(m: TarMember, from = 0): Readable {
    if (from >= m.size) return Readable.from([]);
    return createReadStream(this.file, { start: m.offset + from, end: m.offset + m.size - 1, highWaterMark: 1 << 20 });
  }

  async read(m: TarMember, max: number, what: string, description: string): Promise<Buffer> {
    if (m.size > max) throw new ClientError(`${description}: ${what} ${m.name} is too large (${m.size} bytes)`);
    const chunks: Buffer[] = [];
    for await (const c of this.open(m) as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks);
  }
}

// ---------------------------------------------------------------------------------------------
// Source

type BlobOrigin = { bytes: Buffer } | { file: string; offset: number; size: number };

interface Prepared {
  manifest: ManifestBytes;
  blobs: Map<Digest, BlobOrigin>;
}

export interface DockerArchiveSourceOptions {
  /** Layers checked or compressed at once (default 2). */
  concurrency?: number;
  /** Where compressed layers are written (default $TMPDIR, else /var/tmp). */
  tempDir?: string;
  /** Told as each layer is checked (gzip) or compressed (uncompressed), the slow steps before the image can be read. */
  onLayer?: (e: ArchiveLayerEvent) => void;
}

export interface ArchiveLayerEvent {
  action: 'check' | 'compress';
  /** The layer's name in the archive. */
  layer: string;
  size: number;
}

export class DockerArchiveSource implements ImageSource {
  readonly description: string;
  private prepared?: Promise<Prepared>;
  private tempDirMade?: Promise<string>;

  constructor(
    readonly file: string,
    readonly selector: ArchiveSelector = {},
    private readonly opts: DockerArchiveSourceOptions = {},
  ) {
    this.description = describeDockerArchive(file, selector);
  }

  async topManifest(): Promise<ManifestBytes> {
    return (await (this.prepared ??= this.prepare())).manifest;
  }

  async manifest(digest: Digest): Promise<ManifestBytes> {
    const top = await this.topManifest();
    if (digest !== top.digest) throw new ClientError(`${this.description}: no manifest ${digest}`);
    return top;
  }

  async openBlob(desc: Descriptor, offset = 0): Promise<Readable> {
    const { blobs } = await (this.prepared ??= this.prepare());
    const origin = blobs.get(desc.digest);
    if (!origin) throw new ClientError(`${this.description}: no blob ${desc.digest}`);
    if ('bytes' in origin) return Readable.from([origin.bytes.subarray(offset)]);
    if (offset >= origin.size) return Readable.from([]);
    return createReadStream(origin.file, { start: origin.offset + offset, end: origin.offset + origin.size - 1, highWaterMark: 1 << 20 });
  }

  /** Removes the temporary files (compressed layers, a decompressed archive). */
  async close(): Promise<void> {
    const dir = await this.tempDirMade?.catch(() => undefined);
    this.tempDirMade = undefined;
    if (!dir) return;
    await rm(dir, { recursive: true, force: true });
    untrackTempFile(dir);
  }

  private temp(): Promise<string> {
    return (this.tempDirMade ??= (async () => createTempDirSync(join(this.opts.tempDir ?? bigFileTempDir(), 'stevedore-archive-'), { unique: true }))());
  }

  private fail(message: string): never {
    throw new ClientError(`${this.description}: ${message}`);
  }

  private async prepare(): Promise<Prepared> {
    const st = await stat(this.file).catch((err: NodeJS.ErrnoException) => {
      this.fail(err.code === 'ENOENT' ? 'no such file' : `cannot read it (${err.code ?? err.message})`);
    });
    if (st.isDirectory()) this.fail('is a directory, not a docker save archive');
    if (st.size === 0) this.fail('is empty, not a docker save archive');

    // `docker save | gzip` archives are accepted as docker load accepts them.
    let archive = this.file;
    const compression = sniffCompression(await readHead(this.file, 0, COMPRESSION_SNIFF_BYTES));
    if (compression === 'gzip') {
      archive = join(await this.temp(), 'archive.tar');
      try {
        await pipeline(createReadStream(this.file), zlib().createGunzip(), createWriteStream(archive, { flags: 'wx' }));
      } catch (err) {
        if (isZlibError(err)) this.fail(`is gzip-compressed but does not decompress (${(err as Error).message})`);
        throw err;
      }
    } else if (compression) {
      this.fail(`is ${compression}-compressed; decompress it first`);
    }

    const index = await TarIndex.scan(archive, this.description);
    const manifestMember = index.resolve(MANIFEST_JSON);
    if (!manifestMember) this.fail(`no ${MANIFEST_JSON} in it: not a docker save archive`);
    const item = this.select(this.parseItems(await index.read(manifestMember, MAX_MANIFEST_JSON, 'file', this.description)));

    const configMember = index.resolve(item.Config);
    if (!configMember) this.fail(`${MANIFEST_JSON} names config ${item.Config}, which is not in the archive`);
    const configBytes = await index.read(configMember, MAX_CONFIG, 'config', this.description);
    let config: { rootfs?: { diff_ids?: unknown } };
    try {
      config = JSON.parse(configBytes.toString('utf8')) as typeof config;
    } catch {
      this.fail(`config ${item.Config} is not JSON`);
    }
    const diffIds = config?.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || !diffIds.every((d): d is Digest => typeof d === 'string' && isDigest(d))) {
      this.fail(`config ${item.Config} has no valid rootfs.diff_ids`);
    }
    if (diffIds.length !== item.Layers.length) {
      this.fail(`${MANIFEST_JSON} lists ${item.Layers.length} layers but the config has ${diffIds.length} diff_ids`);
    }

    const blobs = new Map<Digest, BlobOrigin>();
    const configDigest = digestOf(configBytes);
    blobs.set(configDigest, { bytes: configBytes });

    // A layer listed twice (the same content twice in the history) is read once.
    const byMember = new Map<string, Promise<{ desc: Descriptor; origin: BlobOrigin; diffId: Digest }>>();
    const layers: Descriptor[] = new Array<Descriptor>(item.Layers.length);
    await mapLimit(
      item.Layers.map((path, i) => ({ path, i })),
      this.opts.concurrency ?? 2,
      async ({ path, i }) => {
        const member = index.resolve(path);
        if (!member) this.fail(`${MANIFEST_JSON} names layer ${path}, which is not in the archive`);
        const want = diffIds[i]!;
        let p = byMember.get(member.name);
        if (!p) {
          p = this.layer(index, member, path, parseDigest(want).algorithm.name);
          byMember.set(member.name, p);
        }
        const { desc, origin, diffId } = await p;
        if (diffId !== want) {
          throw new ContentMismatchError(`${this.description}: layer ${path} does not match the config's diff_id ${want} (its content is ${diffId})`);
        }
        layers[i] = desc;
        blobs.set(desc.digest, origin);
      },
    );

    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, size: configBytes.length, digest: configDigest },
      layers,
    };
    const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
    return { manifest: { digest: digestOf(bytes), mediaType: MediaType.DockerManifest, bytes }, blobs };
  }

  private parseItems(bytes: Buffer): ManifestItem[] {
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch {
      this.fail(`${MANIFEST_JSON} is not JSON`);
    }
    const valid =
      Array.isArray(doc) &&
      doc.every(
        (e: Record<string, unknown>) =>
          e !== null &&
          typeof e === 'object' &&
          typeof e.Config === 'string' &&
          Array.isArray(e.Layers) &&
          e.Layers.every((l) => typeof l === 'string') &&
          (e.RepoTags === undefined || e.RepoTags === null || (Array.isArray(e.RepoTags) && e.RepoTags.every((t) => typeof t === 'string'))),
      );
    if (!valid) this.fail(`${MANIFEST_JSON} is not a list of {Config, RepoTags, Layers}`);
    return (doc as ManifestItem[]).map((e) => ({ Config: e.Config, Layers: e.Layers, RepoTags: e.RepoTags ?? [] }));
  }

  private select(items: ManifestItem[]): ManifestItem {
    const { ref, index } = this.selector;
    if (index !== undefined) {
      const item = items[index];
      if (!item) this.fail(`no image @${index}: the archive holds ${items.length}`);
      return item;
    }
    if (ref) {
      const want = formatReference(ref);
      const tagsOf = (e: ManifestItem) => e.RepoTags.flatMap((t) => {
        try {
          return [parseReference(t)];
        } catch {
          return [];
        }
      });
      const item = items.find((e) => tagsOf(e).some((t) => formatReference(t) === want));
      if (!item) {
        const have = items.flatMap((e) => e.RepoTags);
        this.fail(`no image tagged ${familiarReference(ref)} in it (it has ${have.length ? have.join(', ') : 'no tagged images'})`);
      }
      return item;
    }
    if (items.length === 1) return items[0]!;
    if (items.length === 0) this.fail(`${MANIFEST_JSON} lists no images`);
    this.fail(`the archive holds ${items.length} images; name one with docker-archive:FILE:NAME:TAG or docker-archive:FILE:@N`);
  }

  /**
   * A layer's uncompressed digest (its diff_id) and its gzip blob: the member itself when it is
   * gzip, else a gzip-compressed temporary copy whose digest and size are computed while it is written.
   */
  private async layer(index: TarIndex, member: TarMember, path: string, algorithm: string): Promise<{ desc: Descriptor; origin: BlobOrigin; diffId: Digest }> {
    const compression = sniffCompression(await readHead(index.file, member.offset, Math.min(COMPRESSION_SNIFF_BYTES, member.size)));
    if (!compression || compression === 'gzip') this.opts.onLayer?.({ action: compression ? 'check' : 'compress', layer: path, size: member.size });
    const uncompressed = new Digester(algorithm);
    const compressed = new Digester();
    let origin: BlobOrigin;
    if (compression === 'gzip') {
      try {
        await pipeline(index.open(member), hashing(compressed), zlib().createGunzip(), hashing(uncompressed), discard());
      } catch (err) {
        if (isZlibError(err)) this.fail(`layer ${path} is not valid gzip (${(err as Error).message})`);
        throw err;
      }
      origin = { file: index.file, offset: member.offset, size: member.size };
    } else if (compression) {
      this.fail(`layer ${path} is ${compression}-compressed; Docker schema 2 layers are gzip (or uncompressed in an archive)`);
    } else {
      const tmp = join(await this.temp(), `layer-${randomUUID()}.tar.gz`);
      await pipeline(index.open(member), hashing(uncompressed), zlib().createGzip(), hashing(compressed), createWriteStream(tmp, { flags: 'wx' }));
      origin = { file: tmp, offset: 0, size: compressed.size };
    }
    return { desc: { mediaType: MediaType.DockerLayer, size: compressed.size, digest: compressed.digest() }, origin, diffId: uncompressed.digest() };
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** A blob's bytes from `source`, verified against `desc`, resuming an interrupted read a few times. */
function readVerified(desc: Descriptor, source: ImageSource, write: (chunk: Buffer) => Promise<unknown>, onProgress?: (bytes: number) => void): Promise<void> {
  return verifiedRead({ desc, what: source.description, open: (offset) => source.openBlob(desc, offset), write: (chunk) => write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length)), onProgress });
}

/** A tar being written to a file, one entry at a time. */
class TarFileWriter {
  private readonly done: Promise<void>;
  /** Never resolves; rejects when writing the file fails, so waits on the pack end then too. */
  private readonly failure: Promise<never>;

  constructor(
    private readonly fh: FileHandle,
    private readonly pack: Pack,
  ) {
    this.done = (async () => {
      for await (const chunk of this.pack as AsyncIterable<Buffer>) await fh.write(chunk);
    })();
    this.failure = this.done.then(() => new Promise<never>(() => undefined));
    this.failure.catch(() => undefined);
  }

  /** Adds a file of `size` bytes whose content `produce` writes with `put`. */
  async entry(name: string, size: number, produce: (put: (chunk: Buffer) => Promise<void>) => Promise<void>): Promise<void> {
    let sink!: ReturnType<Pack['entry']>;
    const finished = new Promise<void>((resolve, reject) => {
      sink = this.pack.entry({ name, size, mode: 0o644, mtime: EPOCH, uid: 0, gid: 0, type: 'file' }, (err) => (err ? reject(err) : resolve()));
    });
    finished.catch(() => undefined);
    const put = async (chunk: Buffer) => {
      if (!sink.write(chunk)) await Promise.race([once(sink as unknown as NodeJS.EventEmitter, 'drain'), this.failure]);
    };
    try {
      await produce(put);
    } catch (err) {
      sink.destroy(err as Error);
      throw err;
    }
    sink.end(undefined);
    await Promise.race([finished, this.failure]);
  }

  async file(name: string, content: Buffer | string): Promise<void> {
    const bytes = Buffer.from(content);
    await this.entry(name, bytes.length, (put) => put(bytes));
  }

  async symlink(name: string, target: string): Promise<void> {
    const finished = new Promise<void>((resolve, reject) => {
      this.pack.entry({ name, type: 'symlink', linkname: target, mode: 0o777, mtime: EPOCH, uid: 0, gid: 0 }, (err) => (err ? reject(err) : resolve()));
    });
    await Promise.race([finished, this.failure]);
  }

  /** Ends the archive and makes it durable. */
  async finish(): Promise<void> {
    this.pack.finalize();
    await this.done;
    await this.fh.sync();
    await this.fh.close();
  }

  async abort(): Promise<void> {
    this.pack.destroy();
    await this.done.catch(() => undefined);
    await this.fh.close().catch(() => undefined);
  }
}


export class DockerArchiveDestination implements ImageDestination {
  readonly description: string;
  private readonly tmpPath: string;
  private readonly spoolDir: string;
  private writer?: Promise<TarFileWriter>;
  private spoolMade?: Promise<void>;
  /** Blobs in the archive: digest → member name. */
  private readonly written = new Map<Digest, string>();
  private config?: { digest: Digest; bytes: Buffer };
  private top?: ImageManifest;
  /** The archive is written by one blob at a time: the tail of the queue, and how many are in it. */
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private broken?: unknown;
  private committed = false;

  constructor(
    readonly file: string,
    readonly ref?: ImageReference,
  ) {
    this.description = describeDockerArchive(file, { ref });
    const id = randomUUID();
    this.tmpPath = `${file}.tmp-${id}`;
    this.spoolDir = `${file}.tmp-${id}.blobs`;
  }

  private fail(message: string): never {
    throw new ClientError(`${this.description}: ${message}`);
  }

  private tarWriter(): Promise<TarFileWriter> {
    return (this.writer ??= (async () => {
      const st = await stat(this.file).catch(() => undefined);
      if (st?.isDirectory()) this.fail('is a directory');
      let fh: FileHandle;
      try {
        createTempFileSync(this.tmpPath);
        fh = await open(this.tmpPath, 'r+');
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code !== 'EEXIST') await rm(this.tmpPath, { force: true });
        untrackTempFile(this.tmpPath);
        this.fail(err.code === 'ENOENT' ? `directory ${dirname(this.file)} does not exist` : `cannot write it (${err.code ?? err.message})`);
      }
      return new TarFileWriter(fh, (await import('tar-stream')).pack());
    })());
  }

  /** Runs `fn` when the archive is free; a failure part-way through an entry breaks the archive for good. */
  private async exclusive<T>(fn: (w: TarFileWriter) => Promise<T>): Promise<T> {
    this.queued++;
    const run = this.queue.then(async () => {
      if (this.broken !== undefined) throw this.broken;
      const w = await this.tarWriter();
      try {
        return await fn(w);
      } catch (err) {
        this.broken ??= err;
        throw err;
      }
    });
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    try {
      return await run;
    } finally {
      this.queued--;
    }
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return this.written.has(desc.digest);
  }

  async putBlob(desc: Descriptor, source: ImageSource, onProgress?: (bytes: number) => void): Promise<void> {
    if (this.broken !== undefined) throw this.broken;
    if (this.written.has(desc.digest)) return;
    const { hex } = parseDigest(desc.digest);
    const isConfig = isImageConfigMediaType(desc.mediaType);
    if (isConfig && desc.size > MAX_CONFIG) this.fail(`config ${desc.digest} is too large (${desc.size} bytes)`);
    const name = `${hex}${isConfig ? '.json' : '.tar'}`;
    // The config is small and needed for manifest.json's neighbours (the legacy metadata): keep it.
    const configChunks: Buffer[] = [];
    const keep = (c: Buffer) => {
      if (isConfig) configChunks.push(c);
    };

    // (No await between this test and exclusive(), which counts itself in at once.)
    if (this.queued === 0) {
      // Nothing else is being written: stream the blob straight into the archive.
      await this.exclusive((w) =>
        w.entry(name, desc.size, (put) =>
          readVerified(
            desc,
            source,
            (c) => {
              keep(c);
              return put(c);
            },
            onProgress,
          ),
        ),
      );
    } else {
      // Another blob is being written: download this one beside the archive meanwhile, then append it.
      await this.tarWriter(); // a destination that cannot be written fails here, before any download
      await (this.spoolMade ??= (async () => {
        createTempDirSync(this.spoolDir);
      })());
      const spool = join(this.spoolDir, hex);
      const fh = await open(spool, 'wx', 0o600);
      try {
        await readVerified(
          desc,
          source,
          (c) => {
            keep(c);
            return fh.write(c);
          },
          onProgress,
        );
      } catch (err) {
        await fh.close();
        await rm(spool, { force: true });
        throw err;
      }
      await fh.close();
      try {
        await this.exclusive((w) =>
          w.entry(name, desc.size, async (put) => {
            for await (const c of createReadStream(spool, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) await put(c);
          }),
        );
      } finally {
        await rm(spool, { force: true });
      }
    }
    if (isConfig) this.config = { digest: desc.digest, bytes: Buffer.concat(configChunks) };
    this.written.set(desc.digest, name);
  }

  async hasManifest(): Promise<boolean> {
    return false;
  }

  async putManifest(manifest: ManifestBytes, top: boolean): Promise<void> {
    const parsed = parseManifest(manifest.bytes, manifest.mediaType);
    if (parsed.kind === 'index' || !top) {
      this.fail('a docker archive holds one single-platform image; choose it with --platform instead of --all-platforms');
    }
    const m = parsed.document;
    if (!isImageConfigMediaType(m.config.mediaType) || this.config?.digest !== m.config.digest) {
      this.fail(`${manifest.digest} is not a container image (config ${m.config.mediaType}); only images can be saved`);
    }
    for (const l of m.layers) {
      if (!this.written.has(l.digest)) this.fail(`layer ${l.digest} is not in the archive${l.urls?.length ? ' (foreign layers are not supported)' : ''}`);
    }
    this.top = m;
  }

  async commit(): Promise<void> {
    const top = this.top;
    const config = this.config;
    if (!top || !config) this.fail('no image was written');
    let configDoc: Record<string, unknown> & { rootfs?: { diff_ids?: unknown } };
    try {
      configDoc = JSON.parse(config.bytes.toString('utf8')) as typeof configDoc;
    } catch {
      this.fail(`config ${config.digest} is not JSON`);
    }
    const layerNames = top.layers.map((l) => this.written.get(l.digest)!);
    const repoTag = this.ref ? familiarReference({ registry: this.ref.registry, repository: this.ref.repository, tag: this.ref.tag ?? 'latest' }) : undefined;
    const items = [{ Config: this.written.get(config.digest)!, RepoTags: repoTag ? [repoTag] : [], Layers: layerNames }];

    await this.exclusive(async (w) => {
      // Legacy (pre-manifest.json) metadata, as docker save and skopeo write it: one directory per
      // layer named by its chain ID, and `repositories` mapping the name and tag to the top one.
      const diffIds = configDoc.rootfs?.diff_ids;
      let topId: string | undefined;
      if (Array.isArray(diffIds) && diffIds.length === layerNames.length && diffIds.every((d) => typeof d === 'string' && isDigest(d))) {
        let chain: string | undefined;
        let parent: string | undefined;
        for (const [i, diffId] of (diffIds as string[]).entries()) {
          chain = chain === undefined ? diffId : digestOf(`${chain} ${diffId}`);
          const id = parseDigest(chain).hex;
          const json: Record<string, unknown> = { id };
          if (parent) json.parent = parent;
          if (i === diffIds.length - 1) {
            for (const k of ['architecture', 'config', 'container', 'container_config', 'created', 'docker_version', 'os']) {
              if (configDoc[k] !== undefined) json[k] = configDoc[k];
            }
          }
          await w.file(`${id}/VERSION`, '1.0');
          await w.file(`${id}/json`, JSON.stringify(json));
          await w.symlink(`${id}/layer.tar`, `../${layerNames[i]}`);
          parent = id;
        }
        topId = parent;
      }
      await w.file(MANIFEST_JSON, JSON.stringify(items));
      const repositories: Record<string, Record<string, string>> = {};
      if (this.ref && topId) {
        repositories[familiarReference({ registry: this.ref.registry, repository: this.ref.repository })] = { [this.ref.tag ?? 'latest']: topId };
      }
      await w.file('repositories', JSON.stringify(repositories));
      await w.finish();
    });
    await rename(this.tmpPath, this.file);
    untrackTempFile(this.tmpPath);
    this.committed = true;
    await syncDir(dirname(this.file));
    await this.removeSpool();
  }

  /** Discards an archive that was not committed. */
  async close(): Promise<void> {
    if (!this.committed && this.writer) {
      const w = await this.writer.catch(() => undefined);
      await w?.abort();
      await rm(this.tmpPath, { force: true });
      untrackTempFile(this.tmpPath);
    }
    await this.removeSpool();
  }

  private async removeSpool(): Promise<void> {
    if (!this.spoolMade) return;
    await rm(this.spoolDir, { recursive: true, force: true });
    untrackTempFile(this.spoolDir);
  }
}
