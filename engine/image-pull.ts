// Pulling (or loading) an image into the local store from any ImageSource of the client — a
// registry (mirrors, insecure registries and credentials apply), an OCI layout, a docker archive.
// The manifest (and the index, kept for multi-platform images) and the config come first; then
// layers download concurrently and each is unpacked as soon as it has arrived, while the others
// are still downloading. The name is recorded last, when every layer is unpacked.
import { availableParallelism } from 'node:os';
import {
  ClientError,
  formatPlatform,
  hostPlatform,
  openSource,
  parseLocation,
  parsePlatform,
  selectPlatform,
  type Client,
  type ImageSource,
  type ManifestBytes,
} from '../client/index.js';
import { digestOf, formatReference, isDigest, isImageConfigMediaType, MediaType, parseManifest, type Descriptor, type Digest, type Platform } from '../oci/index.js';
import type { ImageRecord, ImageStore } from './store/image-store.js';
import { chainIds } from './store/snapshots.js';
import { kindOf } from '../util/errors.js';
import { limiter } from '../util/limit.js';

const MAX_CONFIG = 32 << 20;

export type PullEvent =
  | { type: 'source'; servedBy: string }
  | { type: 'platform'; platform: string; digest: Digest }
  | { type: 'layer'; desc: Descriptor; state: 'present' | 'downloading' | 'resuming' | 'downloaded' | 'waiting' | 'unpacked' | 'already unpacked'; from?: number }
  | { type: 'progress'; desc: Descriptor; bytes: number };

export interface ImportOptions {
  /** Normalised names to point at the image once it is complete. */
  names?: string[];
  platform?: Platform;
  /** Blobs downloaded at once (default 4). */
  concurrency?: number;
  onEvent?: (e: PullEvent) => void;
}

function checkDigest(m: ManifestBytes, want: Digest, what: string): void {
  const actual = digestOf(m.bytes);
  if (actual !== want) throw new ClientError(`${what}: manifest content has digest ${actual}, expected ${want}`);
}

export async function importImage(store: ImageStore, source: ImageSource, opts: ImportOptions = {}): Promise<ImageRecord> {
  const emit = opts.onEvent ?? (() => undefined);
  const lease = await store.lease();
  try {
    const top = await source.topManifest();
    if (source.servedBy) emit({ type: 'source', servedBy: source.servedBy.description });
    let parsed;
    try {
      parsed = parseManifest(top.bytes, top.mediaType);
    } catch (err) {
      throw new ClientError(`${source.description}: manifest ${top.digest} is invalid: ${(err as Error).message}`);
    }
    let manifest = top;
    let index: Digest | undefined;
    const want = opts.platform ?? hostPlatform();
    if (parsed.kind === 'index') {
      const entry = selectPlatform(parsed.document.manifests, want);
      if (!entry) {
        const have = parsed.document.manifests.filter((d) => d.platform).map((d) => formatPlatform(d.platform!));
        throw new ClientError(`${source.description}: no image for platform ${formatPlatform(want)} (available: ${have.join(', ') || 'none'})`);
      }
      emit({ type: 'platform', platform: formatPlatform(entry.platform!), digest: entry.digest });
      index = top.digest;
      manifest = await source.manifest(entry.digest);
      checkDigest(manifest, entry.digest, source.description);
      try {
        parsed = parseManifest(manifest.bytes, manifest.mediaType);
      } catch (err) {
        throw new ClientError(`${source.description}: manifest ${manifest.digest} is invalid: ${(err as Error).message}`);
      }
      if (parsed.kind !== 'image') throw new ClientError(`${source.description}: index entry ${entry.digest} is not an image manifest`);
    }
    if (parsed.kind !== 'image') throw new ClientError(`${source.description}: not an image`);
    const m = parsed.document;
    if (!isImageConfigMediaType(m.config.mediaType)) {
      throw new ClientError(`${source.description}: ${manifest.digest} is not a container image (config ${m.config.mediaType})`);
    }
    if (m.config.size > MAX_CONFIG) throw new ClientError(`${source.description}: config ${m.config.digest} is too large (${m.config.size} bytes)`);

    // The config first: its diff_ids say how to check and where to put each layer.
    await store.content.ingest(m.config, (offset) => source.openBlob(m.config, offset));
    const configBytes = await store.content.readBytes(m.config.digest);
    let config: { architecture?: string; os?: string; variant?: string; rootfs?: { diff_ids?: unknown } };
    try {
      config = JSON.parse(configBytes.toString('utf8')) as typeof config;
    } catch {
      throw new ClientError(`${source.description}: config ${m.config.digest} is not JSON`);
    }
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || !diffIds.every((d): d is Digest => typeof d === 'string' && isDigest(d))) {
      throw new ClientError(`${source.description}: config ${m.config.digest} has no valid rootfs.diff_ids`);
    }
    if (diffIds.length !== m.layers.length) {
      throw new ClientError(`${source.description}: the manifest has ${m.layers.length} layers but the config ${diffIds.length} diff_ids`);
    }
    const chains = chainIds(diffIds);

    const download = limiter(opts.concurrency ?? 4);
    const unpack = limiter(Math.max(2, Math.min(availableParallelism(), 4)));
    const done = new Map<string, Promise<void>>();
    const layerTask = (desc: Descriptor, i: number): Promise<void> => {
      const fetched =
        done.get(desc.digest) ??
        download(async () => {
          let started = false;
          const r = await store.content.ingest(
            desc,
            (offset) => {
              // Told on the first request only: a blob already present (or committed meanwhile
              // by another process) is never "downloading".
              if (!started) {
                started = true;
                emit({ type: 'layer', desc, state: 'downloading' });
                if (offset > 0) emit({ type: 'layer', desc, state: 'resuming', from: offset });
              }
              return source.openBlob(desc, offset);
            },
            (bytes) => {
              if (started) emit({ type: 'progress', desc, bytes });
            },
            () => emit({ type: 'layer', desc, state: 'waiting' }),
          );
          emit({ type: 'layer', desc, state: r.status === 'present' ? 'present' : 'downloaded' });
        });
      done.set(desc.digest, fetched);
      const unpackError = (err: unknown): never => {
        // Say which image and layer could not be unpacked, in one line.
        const kind = kindOf(err);
        if (kind) throw new ClientError(`${source.description}: layer ${desc.digest}: ${(err as Error).message}`, { kind, cause: err });
        throw err;
      };
      return fetched.then(async () => {
        const r = await store.snapshots
          .ensure(chains[i]!, diffIds[i]!, store.content.path(desc.digest), {
            slot: unpack,
            lowers: async () => {
              await Promise.all(tasks.slice(0, i));
              return chains.slice(0, i).map((c) => store.snapshots.fsDir(c));
            },
            onWait: () => emit({ type: 'layer', desc, state: 'waiting' }),
          })
          .catch(unpackError);
        emit({ type: 'layer', desc, state: r === 'unpacked' ? 'unpacked' : 'already unpacked' });
      });
    };
    const tasks: Promise<void>[] = [];
    for (const [i, l] of m.layers.entries()) tasks.push(layerTask(l, i));
    const results = await Promise.allSettled(tasks);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;

    await store.content.putBytes(manifest.digest, manifest.bytes);
    if (index) await store.content.putBytes(top.digest, top.bytes);
    const record: ImageRecord = {
      manifest: manifest.digest,
      mediaType: parsed.mediaType,
      config: m.config.digest,
      layers: m.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      diffIds,
      chainIds: chains,
      platform: formatPlatform({ os: config.os ?? want.os, architecture: config.architecture ?? want.architecture, variant: config.variant }),
      added: new Date().toISOString(),
    };
    if (index) record.index = index;
    await store.update((s) => {
      const previous = s.images[record.manifest];
      s.images[record.manifest] = previous ? { ...record, added: previous.added } : record;
      for (const name of opts.names ?? []) s.refs[name] = { target: top.digest, manifest: record.manifest };
    });
    return record;
  } finally {
    await lease.release();
  }
}

/** Pulls a registry image into the store under its normalised name. */
export async function pullImage(
  store: ImageStore,
  client: Client,
  refText: string,
  opts: { platform?: string | Platform; onEvent?: (e: PullEvent) => void; concurrency?: number } = {},
): Promise<{ record: ImageRecord; name: string }> {
  const loc = parseLocation(refText);
  if (loc.kind !== 'registry') throw new ClientError(`${refText}: pull into the local store takes a registry reference (use -o for oci: and docker-archive: destinations)`);
  let platform: Platform | undefined;
  try {
    platform = typeof opts.platform === 'string' ? parsePlatform(opts.platform) : opts.platform;
  } catch (err) {
    throw new ClientError((err as Error).message);
  }
  const source = openSource(loc, { registryClient: (r) => client.registryClient(r), mirrorsFor: (r) => client.mirrorsFor(r), onMirrorFallback: client.onMirrorFallback });
  const name = formatReference(loc.ref);
  try {
    const record = await importImage(store, source, { names: [name], platform, onEvent: opts.onEvent, concurrency: opts.concurrency });
    return { record, name };
  } finally {
    await source.close?.();
  }
}

const short = (d: Digest | string) => d.replace(/^sha256:/, '').slice(0, 12);

/** Plain progress lines for a pull (one per layer state change). */
export function pullEventLines(say: (line: string) => void): (e: PullEvent) => void {
  return (e) => {
    if (e.type === 'source') say(`Pulling from ${e.servedBy}`);
    else if (e.type === 'platform') say(`platform ${e.platform}: ${e.digest}`);
    else if (e.type === 'layer') {
      if (e.state === 'resuming') say(`${short(e.desc.digest)}: resuming download at byte ${e.from}`);
      else if (e.state === 'waiting') say(`${short(e.desc.digest)}: waiting for another stevedore process`);
      else say(`${short(e.desc.digest)}: ${e.state === 'present' ? 'already downloaded' : e.state}`);
    }
  };
}
