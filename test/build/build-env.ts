// Shared by the build tests: an engine root with the busybox test images loaded (engine-cli.ts),
// a context directory to write Dockerfiles and files into, and readers for what a build left in
// the store — the image's config and each layer's tar entries — so tests check the image itself.
import { createReadStream, readSync, openSync, closeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { sniffCompression } from '../../oci/compression.js';
import { formatReference, parseReference } from '../../oci/index.js';
import { readTar } from '../../engine/unpack/tar-reader.js';
import { engineEnv, type EngineEnv, type Run } from '../helpers/engine-cli.js';

export interface LayerEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  linkname?: string;
  content?: string;
}

/** A layer's entries by path. */
export const byName = (entries: LayerEntry[]) => new Map(entries.map((e) => [e.name, e]));

export interface BuiltImage {
  manifest: string;
  config: {
    architecture: string;
    os: string;
    created: string;
    author?: string;
    config: Record<string, unknown>;
    rootfs: { diff_ids: string[] };
    history: { created_by?: string; empty_layer?: boolean; comment?: string }[];
  };
  layers: { digest: string; mediaType: string }[];
}

export interface BuildEnv extends EngineEnv {
  /** Writes files (relative path → content) into a fresh context directory; returns it. */
  context(files: Record<string, string>): Promise<string>;
  build(args: string[], opts?: { env?: NodeJS.ProcessEnv; input?: string }): Promise<Run>;
  /** The image a name points at, read from the store. */
  image(name: string): Promise<BuiltImage>;
  /** The entries of one layer blob (file contents as text up to 4 KiB). */
  layer(digest: string): Promise<LayerEntry[]>;
  /** Every entry of every layer of an image, layer by layer. */
  allEntries(name: string): Promise<LayerEntry[][]>;
  /** Leftovers a build must never leave: mounts under the root, runc containers, temporary dirs. */
  leftovers(): Promise<string[]>;
}

const normal = (n: string) => formatReference(parseReference(n));

export async function buildEnv(): Promise<BuildEnv> {
  const env = await engineEnv();
  let n = 0;
  const self: BuildEnv = Object.assign(env, {
    async context(files: Record<string, string>) {
      const dir = join(env.dir, `ctx-${n++}`);
      await mkdir(dir, { recursive: true });
      for (const [rel, content] of Object.entries(files)) {
        await mkdir(join(dir, rel, '..'), { recursive: true });
        await writeFile(join(dir, rel), content);
      }
      return dir;
    },
    build(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}) {
      return env.stevedore(['build', ...args], { ...opts, timeoutMs: 180_000 });
    },
    async image(name: string) {
      const state = JSON.parse(await readFile(join(env.root, 'images.json'), 'utf8')) as { refs: Record<string, { manifest: string }>; images: Record<string, { config: string; layers: { digest: string; mediaType: string }[] }> };
      const ref = state.refs[normal(name)];
      if (!ref) throw new Error(`no image ${name} in the store (${Object.keys(state.refs).join(', ')})`);
      const rec = state.images[ref.manifest]!;
      const config = JSON.parse(await readFile(join(env.root, 'content', 'blobs', 'sha256', rec.config.slice(7)), 'utf8')) as BuiltImage['config'];
      return { manifest: ref.manifest, config, layers: rec.layers };
    },
    async layer(digest: string) {
      const out: LayerEntry[] = [];
      const file = join(env.root, 'content', 'blobs', 'sha256', digest.slice(7));
      const head = Buffer.alloc(8);
      const fd = openSync(file, 'r');
      readSync(fd, head, 0, head.length, 0);
      closeSync(fd);
      const input = createReadStream(file).pipe(sniffCompression(head) === 'zstd' ? createZstdDecompress() : createGunzip());
      await readTar(input, async (h, body) => {
        const chunks: Buffer[] = [];
        for await (const c of body as AsyncIterable<Buffer>) chunks.push(c);
        const e: LayerEntry = { name: h.name, type: h.type, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid };
        if (h.linkname) e.linkname = h.linkname;
        if (h.type === 'file') e.content = Buffer.concat(chunks).toString('utf8').slice(0, 4096);
        out.push(e);
      });
      return out;
    },
    async allEntries(name: string) {
      const img = await self.image(name);
      return Promise.all(img.layers.map((l) => self.layer(l.digest)));
    },
    async leftovers() {
      const out = [...(await env.mountsUnderRoot())];
      const runcDir = join(env.root, 'runc');
      for (const n of await readdir(runcDir).catch(() => [] as string[])) out.push(`runc/${n}`);
      for (const n of await readdir(join(env.root, 'builder', 'tmp')).catch(() => [] as string[])) out.push(`builder/tmp/${n}`);
      for (const n of await readdir(join(env.root, 'snapshots', 'tmp')).catch(() => [] as string[])) out.push(`snapshots/tmp/${n}`);
      return out;
    },
  });
  return self;
}

export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join('/tmp', prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
