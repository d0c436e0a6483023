// Images made without a Dockerfile: `commit` (a container's overlay upper directory as one more
// layer on its image, through the builder's layer writer: whiteouts and opaque directories as a
// build step's) and `import` (a rootfs tar as a one-layer image). `--change` takes Dockerfile
// metadata instructions (CMD, ENV, …) applied as a build would.
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { hostPlatform } from '../client/index.js';
import { Digester, formatReference, MediaType, parseReference, type Descriptor, type Digest } from '../oci/index.js';
import type { ImageRecord, ImageStore } from '../engine/store/image-store.js';
import { expand } from './dockerfile/expand.js';
import { parseDockerfile } from './dockerfile/parser.js';
import { applyMetadata, envMap, InstructionError, type ContainerConfig, type HistoryEntry, type ImageConfigJson } from './image-config.js';
import { chainOf } from './layer/commit.js';
import { storeImage } from './store-image.js';
import { diffEntries, writeLayer } from './layer/upper-diff.js';

/** What --change may set (docker's list for commit and import). */
const CHANGEABLE = new Set(['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR', 'HEALTHCHECK']);

/** Applies `--change "CMD [...]"`-style instructions to a copy of the config. */
export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const state = { config: structuredClone(config), cmdSet: false };
  for (const change of changes) {
    const { instructions, escape } = parseDockerfile(change, '--change');
    if (instructions.length !== 1) throw new InstructionError(`--change ${JSON.stringify(change)}: one instruction per --change`);
    const ins = instructions[0]!;
    if (!CHANGEABLE.has(ins.cmd)) throw new InstructionError(`--change ${JSON.stringify(change)}: ${ins.cmd} cannot be changed (${[...CHANGEABLE].join(', ')})`);
    if (ins.cmd === 'WORKDIR') {
      // A build's WORKDIR also makes the directory (a layer step); a change only records it.
      state.config.WorkingDir = posix.resolve(state.config.WorkingDir || '/', expand(ins.args, envMap(state.config.Env), escape));
      continue;
    }
    applyMetadata(state, ins, envMap(state.config.Env), escape);
    if (ins.cmd === 'CMD') state.cmdSet = true;
  }
  return state.config;
}

export interface NewImageOptions {
  /** Names given to it, as users write them (`app:1`). */
  tags: string[];
  changes: string[];
  /** The history entry's comment (`commit -m`, `import -m`). */
  message?: string;
  author?: string;
}

function normaliseTags(tags: string[]): string[] {
  return tags.map((t) => {
    const ref = parseReference(t);
    if (ref.digest) throw new InstructionError(`${t}: a name for a new image cannot be a digest`);
    return formatReference(ref);
  });
}

/**
 * `commit`: the container's upper directory on top of its image. The caller keeps the upper
 * directory still meanwhile (a running container is paused, as docker does).
 */
export async function commitUpperDir(store: ImageStore, parentManifest: Digest, upperDir: string, opts: NewImageOptions & { containerCommand: string }): Promise<{ manifest: Digest; config: Digest }> {
  const tags = normaliseTags(opts.tags);
  const lease = await store.lease();
  try {
    const parent = (await store.state()).images[parentManifest];
    if (!parent) throw new InstructionError(`the container's image ${parentManifest} is no longer in the store`);
    const parentDoc = JSON.parse((await store.content.readBytes(parent.config)).toString('utf8')) as ImageConfigJson;
    const entries = await diffEntries(upperDir);
    await mkdir(store.content.ingestDir, { recursive: true });
    const file = join(store.content.ingestDir, `commit-${randomUUID()}`);
    let layer;
    try {
      layer = await writeLayer(entries, file);
      await store.content.commitFile(file, layer.digest);
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
    const desc: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: layer.digest, size: layer.size };
    const history: HistoryEntry = { created: new Date().toISOString(), created_by: opts.containerCommand, ...(opts.author ? { author: opts.author } : {}), ...(opts.message ? { comment: opts.message } : {}) };
    return await writeImage(store, {
      base: parent,
      platform: { os: parentDoc.os, architecture: parentDoc.architecture, ...(parentDoc.variant ? { variant: parentDoc.variant } : {}) },
      config: applyChanges(parentDoc.config ?? {}, opts.changes),
      history: [...(parentDoc.history ?? []), history],
      layer: { desc, diffId: layer.diffId },
      author: opts.author ?? parentDoc.author,
      tags,
    });
  } finally {
    await lease.release();
  }
}

/** `import`: a rootfs tar (plain or gzip) as a one-layer image for this host's platform. */
export async function importTar(store: ImageStore, input: Readable, opts: NewImageOptions & { source: string }): Promise<{ manifest: Digest; config: Digest }> {
  const tags = normaliseTags(opts.tags);
  const lease = await store.lease();
  try {
    await mkdir(store.content.ingestDir, { recursive: true });
    const file = join(store.content.ingestDir, `import-${randomUUID()}`);
    // Digests while the bytes flow: of the blob as stored, and (for gzip) of the tar inside it.
    const blob = new Digester();
    const tar = new Digester();
    let gzip: boolean | undefined;
    let gunzip: ReturnType<typeof createGunzip> | undefined;
    let inner: Promise<void> = Promise.resolve();
    const tee = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (gzip === undefined) {
          gzip = chunk[0] === 0x1f && chunk[1] === 0x8b;
          if (gzip) {
            gunzip = createGunzip();
            gunzip.on('data', (d: Buffer) => tar.update(d));
            inner = new Promise((res, rej) => gunzip!.once('end', res).once('error', (e) => rej(new InstructionError(`the gzip stream is corrupt: ${e.message}`))));
          }
        }
        blob.update(chunk);
        if (gunzip) gunzip.write(chunk);
        else tar.update(chunk);
        cb(null, chunk);
      },
      flush(cb) {
        gunzip?.end();
        cb();
      },
    });
    let desc: Descriptor;
    try {
      await pipeline(input, tee, createWriteStream(file, { mode: 0o600 }));
      await inner;
      if (blob.size === 0) throw new InstructionError(`${opts.source} is empty: import needs a tar of a root filesystem`);
      const digest = blob.digest(); // once: the hash is final after it
      await store.content.commitFile(file, digest);
      desc = { mediaType: gzip ? MediaType.OciLayerGzip : MediaType.OciLayer, digest, size: blob.size };
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
    const history: HistoryEntry = { created: new Date().toISOString(), created_by: `import ${opts.source}`, ...(opts.message ? { comment: opts.message } : {}) };
    return await writeImage(store, { platform: hostPlatform(), config: applyChanges({}, opts.changes), history: [history], layer: { desc, diffId: tar.digest() }, author: opts.author, tags });
  } finally {
    await lease.release();
  }
}

async function writeImage(
  store: ImageStore,
  c: { base?: ImageRecord; platform: { os: string; architecture: string; variant?: string }; config: ContainerConfig; history: HistoryEntry[]; layer: { desc: Descriptor; diffId: Digest }; author?: string; tags: string[] },
): Promise<{ manifest: Digest; config: Digest }> {
  const base = c.base ? c.base.layers.map((desc, i) => ({ desc, diffId: c.base!.diffIds[i]!, chainId: c.base!.chainIds[i]! })) : [];
  const layers = [...base, { ...c.layer, chainId: chainOf(c.base?.chainIds.at(-1), c.layer.diffId) }];
  const img = await storeImage(store, { platform: c.platform, ...(c.author ? { author: c.author } : {}), created: new Date().toISOString(), config: c.config, layers, history: c.history, tags: c.tags });
  return { manifest: img.manifest, config: img.configDesc.digest };
}
