// Builds test images as OCI image layouts on disk (image-spec image-layout.md: oci-layout,
// index.json, blobs/<alg>/<hex>), readable by skopeo as `oci:DIR:TAG`. Layers are real tar
// archives written here (a minimal ustar writer), gzip-compressed, with image configs whose
// rootfs.diff_ids are the digests of the uncompressed tars. Also reads layouts and skopeo `dir:`
// copies back, so tests can compare what came out of a registry with what went in.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  digestOf,
  MediaType,
  parseDigest,
  type Descriptor,
  type Digest,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from '../../oci/index.js';

// ---------------------------------------------------------------------------------------------
// tar (POSIX ustar)

export type TarEntry =
  | { type: 'file'; name: string; content: Uint8Array | string; mode?: number }
  | { type: 'dir'; name: string; mode?: number }
  | { type: 'symlink'; name: string; target: string };

/** Fixed timestamp so a layer's bytes depend only on its entries. */
const TAR_MTIME = 1_700_000_000;

function octal(value: number, width: number): string {
  // width includes the terminating NUL
  const s = value.toString(8);
  if (s.length > width - 1) throw new Error(`tar: ${value} does not fit in ${width - 1} octal digits`);
  return s.padStart(width - 1, '0') + '\0';
}

function splitUstarName(name: string): { name: string; prefix: string } {
  if (Buffer.byteLength(name) <= 100) return { name, prefix: '' };
  // Split at a '/' so that prefix ≤ 155 bytes and name ≤ 100 bytes.
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) return { name: rest, prefix };
  }
  throw new Error(`tar: path too long for ustar: ${name}`);
}

function tarHeader(entry: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  const rawName = entry.type === 'dir' && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
  const { name, prefix } = splitUstarName(rawName);
  const mode = entry.type === 'symlink' ? 0o777 : (entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644));
  const typeflag = entry.type === 'file' ? '0' : entry.type === 'dir' ? '5' : '2';
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii'); // uid
  h.write(octal(0, 8), 116, 8, 'ascii'); // gid
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(TAR_MTIME, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii'); // checksum placeholder: eight spaces
  h.write(typeflag, 156, 1, 'ascii');
  if (entry.type === 'symlink') h.write(entry.target, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  h.write(octal(0, 8), 329, 8, 'ascii'); // devmajor
  h.write(octal(0, 8), 337, 8, 'ascii'); // devminor
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 8, 'ascii'); // six digits, NUL, space
  return h;
}

/** An uncompressed tar archive of the entries, in order, ending with two zero blocks. */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const body = entry.type === 'file' ? Buffer.from(entry.content) : Buffer.alloc(0);
    parts.push(tarHeader(entry, body.length), body);
    const pad = (512 - (body.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Built content

export interface Blob {
  descriptor: Descriptor;
  bytes: Buffer;
}

export interface Layer extends Blob {
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: Digest;
  uncompressed: Buffer;
}

/** A manifest or index document: exact bytes, their digest, and the descriptor pointing at it. */
export interface Document<T> extends Blob {
  digest: Digest;
  mediaType: string;
  json: T;
}

export interface BuiltImage {
  tag: string;
  manifest: Document<ImageManifest>;
  config: Blob;
  layers: Layer[];
  /** Config and layers: every blob the manifest references. */
  blobs: Blob[];
}

export interface BuiltIndex {
  tag: string;
  index: Document<ImageIndex>;
  images: BuiltImage[];
}

export interface BuiltArtifact {
  tag: string;
  artifactType: string;
  manifest: Document<ImageManifest>;
  config: Blob;
  layers: Blob[];
  blobs: Blob[];
  subject: Descriptor;
}

function blob(mediaType: string, bytes: Buffer, extra: Partial<Descriptor> = {}): Blob {
  return { descriptor: { mediaType, digest: digestOf(bytes), size: bytes.length, ...extra }, bytes };
}

function jsonBytes(value: unknown): Buffer {
  // Compact, stable (insertion-ordered) JSON: the digest of exactly these bytes is the manifest digest.
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function document<T>(mediaType: string, json: T, extra: Partial<Descriptor> = {}): Document<T> {
  const bytes = jsonBytes(json);
  const b = blob(mediaType, bytes, extra);
  return { ...b, digest: b.descriptor.digest, mediaType, json };
}

/** The empty JSON blob `{}` (image-spec manifest.md "Guidance for an Empty Descriptor"). */
export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_DESCRIPTOR: Descriptor = {
  mediaType: MediaType.OciEmpty,
  digest: digestOf(EMPTY_JSON),
  size: EMPTY_JSON.length,
};

function gzipLayer(mediaType: string, entries: TarEntry[]): Layer {
  const uncompressed = tar(entries);
  const bytes = gzipSync(uncompressed, { level: 6 });
  return { ...blob(mediaType, bytes), diffId: digestOf(uncompressed), uncompressed };
}

interface ImageSpec {
  tag: string;
  platform: Platform;
  layers: TarEntry[][];
  docker?: boolean;
  labels?: Record<string, string>;
}

function buildImage(spec: ImageSpec): BuiltImage {
  const layerType = spec.docker ? MediaType.DockerLayer : MediaType.OciLayerGzip;
  const layers = spec.layers.map((entries) => gzipLayer(layerType, entries));
  const created = '2024-01-01T00:00:00Z';
  const config = blob(
    spec.docker ? MediaType.DockerConfig : MediaType.OciConfig,
    jsonBytes({
      created,
      architecture: spec.platform.architecture,
      ...(spec.platform.variant ? { variant: spec.platform.variant } : {}),
      os: spec.platform.os,
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cmd: ['/bin/sh'],
        WorkingDir: '/',
        Labels: { 'org.opencontainers.image.title': spec.tag, ...spec.labels },
      },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created, created_by: `stevedore test layer ${i}` })),
    }),
  );
  const manifestType = spec.docker ? MediaType.DockerManifest : MediaType.OciManifest;
  const manifestJson: ImageManifest = {
    schemaVersion: 2,
    mediaType: manifestType,
    config: config.descriptor,
    layers: layers.map((l) => l.descriptor),
  };
  if (!spec.docker) manifestJson.annotations = { 'org.opencontainers.image.created': created };
  const manifest = document(manifestType, manifestJson);
  return { tag: spec.tag, manifest, config, layers, blobs: [config, ...layers] };
}

function baseLayer(os: string, arch: string): TarEntry[] {
  return [
    { type: 'dir', name: 'bin' },
    { type: 'dir', name: 'etc' },
    { type: 'file', name: 'etc/os-release', content: `NAME="Stevedore test"\nID=stevedore-test\nARCH=${arch}\nOS=${os}\n` },
    { type: 'file', name: 'bin/busybox', content: `#!/bin/sh\necho busybox stand-in for ${arch}\n`, mode: 0o755 },
    { type: 'symlink', name: 'bin/sh', target: 'busybox' },
  ];
}

// ---------------------------------------------------------------------------------------------
// The test images

export interface MultiLayerOptions {
  tag?: string;
  /** Size of the random-data layer (default 3 MiB: several chunks for any upload path). */
  randomBytes?: number;
}

/** (a) An OCI image, linux/amd64, with 3 gzip layers: a small base, a few MB of random data, an app. */
export function multiLayerImage(opts: MultiLayerOptions = {}): BuiltImage {
  const tag = opts.tag ?? 'multi-layer';
  return buildImage({
    tag,
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [
      baseLayer('linux', 'amd64'),
      [
        { type: 'dir', name: 'data' },
        { type: 'file', name: 'data/random.bin', content: randomBytes(opts.randomBytes ?? 3 * 1024 * 1024) },
      ],
      [
        { type: 'dir', name: 'app' },
        { type: 'file', name: 'app/hello.txt', content: `hello from ${tag} ${randomBytes(8).toString('hex')}\n` },
        { type: 'file', name: `app/${'deep/'.repeat(25)}long-path.txt`, content: 'a path longer than 100 bytes\n' },
        { type: 'file', name: 'etc/.wh.os-release', content: '' }, // a whiteout, as real layers have
      ],
    ],
  });
}

export interface MultiArchOptions {
  tag?: string;
}

/** (b) An OCI index for linux/amd64 and linux/arm64/v8, each platform its own 2-layer image manifest. */
export function multiArchIndex(opts: MultiArchOptions = {}): BuiltIndex {
  const tag = opts.tag ?? 'multi-arch';
  const nonce = randomBytes(8).toString('hex');
  const platforms: Platform[] = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ];
  const images = platforms.map((platform) =>
    buildImage({
      tag: `${tag}-${platform.architecture}`,
      platform,
      layers: [
        baseLayer(platform.os, platform.architecture),
        [{ type: 'file', name: 'etc/platform', content: `${platform.os}/${platform.architecture} ${nonce}\n` }],
      ],
    }),
  );
  const index = document<ImageIndex>(MediaType.OciIndex, {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: images.map((img, i) => ({ ...img.manifest.descriptor, platform: platforms[i]! })),
    annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
  });
  return { tag, index, images };
}

export interface DockerImageOptions {
  tag?: string;
}

/** (c) A Docker schema 2 image (docker manifest, config and layer media types), 2 layers. */
export function dockerImage(opts: DockerImageOptions = {}): BuiltImage {
  const tag = opts.tag ?? 'docker-v2s2';
  return buildImage({
    tag,
    docker: true,
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [
      baseLayer('linux', 'amd64'),
      [{ type: 'file', name: 'srv/docker.txt', content: `docker schema 2 ${randomBytes(8).toString('hex')}\n` }],
    ],
  });
}

export interface ArtifactOptions {
  tag?: string;
  artifactType?: string;
  /** Media type of the single content layer (default application/json). */
  layerMediaType?: string;
  content?: string;
}

export const TEST_ARTIFACT_TYPE = 'application/vnd.stevedore.test.sbom.v1+json';

/** (d) An OCI artifact: artifactType, empty config, one JSON layer, `subject` → the given manifest. */
export function artifactFor(subject: Descriptor, opts: ArtifactOptions = {}): BuiltArtifact {
  const tag = opts.tag ?? 'artifact';
  const artifactType = opts.artifactType ?? TEST_ARTIFACT_TYPE;
  const config: Blob = { descriptor: { ...EMPTY_DESCRIPTOR }, bytes: EMPTY_JSON };
  const content = Buffer.from(
    opts.content ?? JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'stevedore-test', subject: subject.digest }),
  );
  const layer = blob(opts.layerMediaType ?? 'application/json', content, {
    annotations: { 'org.opencontainers.image.title': 'sbom.json' },
  });
  const manifest = document<ImageManifest>(MediaType.OciManifest, {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType,
    config: config.descriptor,
    layers: [layer.descriptor],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', 'com.example.kind': 'sbom' },
  });
  return { tag, artifactType, manifest, config, layers: [layer], blobs: [config, layer], subject: manifest.json.subject! };
}

// ---------------------------------------------------------------------------------------------
// OCI image layout on disk

function blobPath(dir: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return join(dir, 'blobs', algorithm.name, hex);
}

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** Writes an OCI image layout: put blobs, tag manifests (index.json entries with a ref name). */
export class OciLayoutWriter {
  private readonly entries: Descriptor[] = [];

  private constructor(readonly dir: string) {}

  static async create(dir: string): Promise<OciLayoutWriter> {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const w = new OciLayoutWriter(dir);
    await w.save();
    return w;
  }

  async putBlob(b: Blob): Promise<void> {
    await writeFile(blobPath(this.dir, b.descriptor.digest), b.bytes);
  }

  /** Adds an index.json entry for the document, named `tag`, and saves index.json. */
  async tag(doc: Blob, tag: string): Promise<void> {
    const d = doc.descriptor;
    const entry: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    if (d.platform) entry.platform = d.platform;
    entry.annotations = { [REF_NAME_ANNOTATION]: tag };
    const i = this.entries.findIndex((e) => e.annotations?.[REF_NAME_ANNOTATION] === tag);
    if (i >= 0) this.entries.splice(i, 1);
    this.entries.push(entry);
    await this.save();
  }

  async addImage(img: BuiltImage, tag = img.tag): Promise<void> {
    for (const b of img.blobs) await this.putBlob(b);
    await this.putBlob(img.manifest);
    await this.tag(img.manifest, tag);
  }

  async addIndex(idx: BuiltIndex, tag = idx.tag): Promise<void> {
    for (const img of idx.images) {
      for (const b of img.blobs) await this.putBlob(b);
      await this.putBlob(img.manifest);
    }
    await this.putBlob(idx.index);
    await this.tag(idx.index, tag);
  }

  async addArtifact(a: BuiltArtifact, tag = a.tag): Promise<void> {
    for (const b of a.blobs) await this.putBlob(b);
    await this.putBlob(a.manifest);
    await this.tag(a.manifest, tag);
  }

  private async save(): Promise<void> {
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: this.entries };
    const tmp = join(this.dir, 'index.json.tmp');
    await writeFile(tmp, JSON.stringify(index, null, 2));
    await rename(tmp, join(this.dir, 'index.json'));
  }
}

/** Writes a layout containing just this image/index/artifact, tagged with its tag. */
export async function writeLayout(dir: string, content: BuiltImage | BuiltIndex | BuiltArtifact): Promise<OciLayoutWriter> {
  const w = await OciLayoutWriter.create(dir);
  if ('index' in content) await w.addIndex(content);
  else if ('artifactType' in content) await w.addArtifact(content);
  else await w.addImage(content);
  return w;
}

/**
 * Writes a single image in skopeo's `dir:` format (manifest.json, a `version` file, one file per
 * blob named by its hex digest). skopeo 1.9 ignores index.json entries with Docker media types, so
 * a Docker schema 2 image cannot be read from an OCI layout; `dir:DIR` reads it with its exact bytes.
 */
export async function writeDirImage(dir: string, img: BuiltImage): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  for (const b of img.blobs) await writeFile(join(dir, parseDigest(b.descriptor.digest).hex), b.bytes);
  await writeFile(join(dir, 'manifest.json'), img.manifest.bytes);
}

/** Reads an OCI image layout (e.g. one skopeo wrote). */
export class OciLayoutReader {
  private constructor(
    readonly dir: string,
    readonly index: ImageIndex,
  ) {}

  static async open(dir: string): Promise<OciLayoutReader> {
    const layout = JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8')) as { imageLayoutVersion?: string };
    if (!layout.imageLayoutVersion) throw new Error(`${dir}: oci-layout has no imageLayoutVersion`);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
    return new OciLayoutReader(dir, index);
  }

  /** The index.json entry named `tag`. */
  resolve(tag: string): Descriptor {
    const d = this.index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
    if (!d) throw new Error(`${this.dir}: no index.json entry for ${tag}`);
    return d;
  }

  /** A blob's bytes, verified against its digest. */
  async blob(digest: string): Promise<Buffer> {
    const bytes = await readFile(blobPath(this.dir, digest));
    const actual = digestOf(bytes, parseDigest(digest).algorithm.name);
    if (actual !== digest) throw new Error(`${this.dir}: blob ${digest} has digest ${actual}`);
    return bytes;
  }
}

/** Reads a skopeo `dir:` copy: manifest.json plus one file per blob named by its hex digest. */
export class DirImageReader {
  private constructor(
    readonly dir: string,
    readonly manifestBytes: Buffer,
  ) {}

  static async open(dir: string): Promise<DirImageReader> {
    return new DirImageReader(dir, await readFile(join(dir, 'manifest.json')));
  }

  get manifestDigest(): Digest {
    return digestOf(this.manifestBytes);
  }

  get manifest(): ImageManifest {
    return JSON.parse(this.manifestBytes.toString('utf8')) as ImageManifest;
  }

  async blob(digest: string): Promise<Buffer> {
    const { hex } = parseDigest(digest);
    const bytes = await readFile(join(this.dir, hex));
    const actual = digestOf(bytes);
    if (actual !== digest) throw new Error(`${this.dir}: blob ${digest} has digest ${actual}`);
    return bytes;
  }
}
