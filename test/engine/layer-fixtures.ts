// Layer tars for the engine's tests, written byte by byte (POSIX ustar + PAX records), so tests
// can build what real tools produce and what hostile ones could: every entry type, ownership,
// setuid modes, binary xattrs, long and unicode names, `..` paths, hardlinks anywhere.
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { digestOf, MediaType, type Descriptor, type Digest, type ImageManifest, type ImageIndex, type Platform } from '../../oci/index.js';

export type Entry =
  | { type: 'file'; name: string; content?: string | Buffer; mode?: number; uid?: number; gid?: number; mtime?: number; xattrs?: Record<string, Buffer | string> }
  | { type: 'dir'; name: string; mode?: number; uid?: number; gid?: number; mtime?: number; xattrs?: Record<string, Buffer | string> }
  | { type: 'symlink'; name: string; target: string; uid?: number; gid?: number; mtime?: number }
  | { type: 'hardlink'; name: string; target: string }
  | { type: 'char' | 'block'; name: string; major: number; minor: number; mode?: number }
  | { type: 'fifo'; name: string; mode?: number };

const MTIME = 1_700_000_000;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(fields: { name: string; mode: number; uid: number; gid: number; size: number; mtime: number; typeflag: string; linkname?: string; major?: number; minor?: number }): Buffer {
  const h = Buffer.alloc(512);
  h.write(fields.name, 0, 100, 'utf8');
  h.write(octal(fields.mode, 8), 100, 8, 'ascii');
  h.write(octal(fields.uid, 8), 108, 8, 'ascii');
  h.write(octal(fields.gid, 8), 116, 8, 'ascii');
  h.write(octal(fields.size, 12), 124, 12, 'ascii');
  h.write(octal(fields.mtime, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write(fields.typeflag, 156, 1, 'ascii');
  if (fields.linkname) h.write(fields.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write(octal(fields.major ?? 0, 8), 329, 8, 'ascii');
  h.write(octal(fields.minor ?? 0, 8), 337, 8, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 8, 'ascii');
  return h;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function padded(body: Buffer): Buffer[] {
  const pad = (512 - (body.length % 512)) % 512;
  return pad ? [body, Buffer.alloc(pad)] : [body];
}

/** An uncompressed tar. Names and link targets longer than ustar allows, or not ASCII, go in PAX records. */
export function layerTar(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    let name = e.type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
    const linkname = e.type === 'symlink' || e.type === 'hardlink' ? e.target : undefined;
    const pax: Buffer[] = [];
    if (Buffer.byteLength(name) > 99 || /[^\x20-\x7e]/.test(name)) {
      pax.push(paxRecord('path', Buffer.from(name)));
      name = `PaxHeaders/${Buffer.from(name).length}`;
    }
    let link = linkname;
    if (link !== undefined && (Buffer.byteLength(link) > 99 || /[^\x20-\x7e]/.test(link))) {
      pax.push(paxRecord('linkpath', Buffer.from(link)));
      link = 'PaxLinkpath';
    }
    if ((e.type === 'file' || e.type === 'dir') && e.xattrs) {
      for (const [k, v] of Object.entries(e.xattrs)) pax.push(paxRecord(`SCHILY.xattr.${k}`, Buffer.isBuffer(v) ? v : Buffer.from(v)));
    }
    if (pax.length) {
      const body = Buffer.concat(pax);
      parts.push(header({ name: 'PaxHeader', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: MTIME, typeflag: 'x' }), ...padded(body));
    }
    const common = { name, uid: 'uid' in e ? (e.uid ?? 0) : 0, gid: 'gid' in e ? (e.gid ?? 0) : 0, mtime: 'mtime' in e ? (e.mtime ?? MTIME) : MTIME };
    switch (e.type) {
      case 'file': {
        const body = Buffer.from(e.content ?? '');
        parts.push(header({ ...common, mode: e.mode ?? 0o644, size: body.length, typeflag: '0' }), ...padded(body));
        break;
      }
      case 'dir':
        parts.push(header({ ...common, mode: e.mode ?? 0o755, size: 0, typeflag: '5' }));
        break;
      case 'symlink':
        parts.push(header({ ...common, mode: 0o777, size: 0, typeflag: '2', linkname: link }));
        break;
      case 'hardlink':
        parts.push(header({ ...common, mode: 0o644, size: 0, typeflag: '1', linkname: link }));
        break;
      case 'char':
      case 'block':
        parts.push(header({ ...common, mode: e.mode ?? 0o666, size: 0, typeflag: e.type === 'char' ? '3' : '4', major: e.major, minor: e.minor }));
        break;
      case 'fifo':
        parts.push(header({ ...common, mode: e.mode ?? 0o644, size: 0, typeflag: '6' }));
        break;
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export type Compression = 'gzip' | 'zstd' | 'none';

export function compress(tar: Buffer, c: Compression): Buffer {
  if (c === 'gzip') return gzipSync(tar);
  if (c === 'zstd') {
    const r = spawnSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr}`);
    return r.stdout;
  }
  return tar;
}

const LAYER_TYPES: Record<Compression, string> = { gzip: MediaType.OciLayerGzip, zstd: MediaType.OciLayerZstd, none: MediaType.OciLayer };

export interface TestBlob {
  descriptor: Descriptor;
  bytes: Buffer;
}

export interface TestImage {
  manifest: TestBlob & { digest: Digest; mediaType: string };
  config: TestBlob;
  layers: (TestBlob & { diffId: Digest })[];
  blobs: TestBlob[];
  platform: Platform;
}

function blob(mediaType: string, bytes: Buffer): TestBlob {
  return { descriptor: { mediaType, digest: digestOf(bytes), size: bytes.length }, bytes };
}

/** An OCI image of these layers (each a list of entries, or a ready tar), compressed as asked. */
export function testImage(layers: (Entry[] | Buffer)[], opts: { compression?: Compression; platform?: Platform; cmd?: string[]; label?: string } = {}): TestImage {
  const c = opts.compression ?? 'gzip';
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const built = layers.map((l) => {
    const tar = Buffer.isBuffer(l) ? l : layerTar(l);
    return { ...blob(LAYER_TYPES[c], compress(tar, c)), diffId: digestOf(tar) };
  });
  const config = blob(
    MediaType.OciConfig,
    Buffer.from(
      JSON.stringify({
        created: '2024-01-01T00:00:00Z',
        architecture: platform.architecture,
        ...(platform.variant ? { variant: platform.variant } : {}),
        os: platform.os,
        config: { Env: ['PATH=/usr/bin:/bin'], Cmd: opts.cmd ?? ['/bin/sh'], Labels: { test: opts.label ?? 'engine' } },
        rootfs: { type: 'layers', diff_ids: built.map((l) => l.diffId) },
      }),
    ),
  );
  const manifestJson: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: config.descriptor, layers: built.map((l) => l.descriptor) };
  const m = blob(MediaType.OciManifest, Buffer.from(JSON.stringify(manifestJson)));
  return { manifest: { ...m, digest: m.descriptor.digest, mediaType: MediaType.OciManifest }, config, layers: built, blobs: [config, ...built], platform };
}

export function testIndex(images: TestImage[]): TestBlob & { digest: Digest; mediaType: string } {
  const json: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: images.map((i) => ({ ...i.manifest.descriptor, platform: i.platform })),
  };
  const b = blob(MediaType.OciIndex, Buffer.from(JSON.stringify(json)));
  return { ...b, digest: b.descriptor.digest, mediaType: MediaType.OciIndex };
}
