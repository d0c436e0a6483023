// What the local image commands do (their options are in engine-image-commands.ts, which loads this
// module only when one of them runs). All work on the store under `--root DIR` / $STEVEDORE_ROOT /
// /var/lib/stevedore.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
// The client, the pull and archive code and the container commands load inside the functions that
// use them: listing, tagging or removing images reads the store only.
import type { CopyOptions } from '../client/index.js';
import { ClientError } from '../client/errors.js';
import { parsePlatform } from '../client/platform.js';
import type { PullEvent } from '../engine/image-pull.js';
import { inspectLocalImage } from '../engine/image-inspect.js';
import { lookupImage, namesOf, shortId } from '../engine/image-lookup.js';
import { ImageStore, type GcResult } from '../engine/store/image-store.js';
import type { Platform } from '../oci/index.js';
import { familiarReference, formatReference, parseReference } from '../oci/reference.js'; // not the index: `images` loads this only
import type { ClientFlags } from './client-options.js';
import { formatBytes, ttyProgress, type Progress } from './copy-progress.js';
import { rootOf } from './engine-root.js';
import { age, table } from './table.js';

/** The store of the `--root` given to this command (or its defaults). */
export function storeOf(cmd: Command): ImageStore {
  return new ImageStore(rootOf(cmd));
}

function parsePlatformFlag(text?: string): Platform | undefined {
  if (!text) return undefined;
  try {
    return parsePlatform(text);
  } catch (err) {
    throw new ClientError((err as Error).message);
  }
}

/** Pull events as the client's progress bars show copies. */
function barEvents(p: Progress): (e: PullEvent) => void {
  return (e) => {
    if (e.type === 'source') p.onEvent({ type: 'source', servedBy: e.servedBy });
    else if (e.type === 'platform') p.onEvent({ type: 'platform', platform: e.platform, digest: e.digest });
    else if (e.type === 'progress') p.onEvent({ type: 'blob-progress', desc: e.desc, bytes: e.bytes });
    else if (e.state === 'downloading') p.onEvent({ type: 'blob-start', desc: e.desc });
    else if (e.state === 'resuming') p.onEvent({ type: 'blob-progress', desc: e.desc, bytes: e.from ?? 0 });
    else if (e.state === 'downloaded') p.onEvent({ type: 'blob-done', desc: e.desc });
    else if (e.state === 'present') p.onEvent({ type: 'blob-exists', desc: e.desc });
  };
}

function counter(pullEventLines: (say: (line: string) => void) => (e: PullEvent) => void, say?: (line: string) => void, bars?: (e: PullEvent) => void): { onEvent: (e: PullEvent) => void; downloaded: () => number; unpacked: () => number } {
  let downloaded = 0;
  let unpacked = 0;
  const lines = say ? pullEventLines(say) : undefined;
  return {
    onEvent: (e) => {
      if (e.type === 'layer' && e.state === 'downloaded') downloaded++;
      if (e.type === 'layer' && e.state === 'unpacked') unpacked++;
      lines?.(e);
      bars?.(e);
    },
    downloaded: () => downloaded,
    unpacked: () => unpacked,
  };
}

interface PullFlags extends ClientFlags {
  platform?: string;
  concurrency?: string;
}

/** Unpacking needs root: layers hold files of any owner, device nodes and trusted.* attributes. */
function needRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new ClientError(`${what} needs root (layers hold files of any owner and device nodes)`);
}

/** `stevedore pull IMAGE` without -o: into the local store, unpacked. */
export async function pullIntoStore(refText: string, flags: PullFlags, cmd: Command): Promise<void> {
  needRoot('pulling into the local store (without -o)');
  const store = storeOf(cmd);
  const say = flags.quiet || flags.json ? undefined : (l: string) => process.stderr.write(`${l}\n`);
  let concurrency: number | undefined;
  if (flags.concurrency !== undefined) {
    concurrency = Number(flags.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new ClientError('--concurrency must be an integer from 1 to 64');
  }
  const platform = parsePlatformFlag(flags.platform);
  // A terminal gets a bar per layer download (as the client's copies do); anything else plain lines.
  const progress = say && process.stderr.isTTY ? ttyProgress(process.stderr) : undefined;
  const { pullEventLines, pullImage } = await import('../engine/image-pull.js');
  const c = counter(pullEventLines, progress ? undefined : say, progress && barEvents(progress));
  // Ctrl-C: what was downloaded stays in the ingest area, and the next pull continues from it.
  const interrupted = (signal: NodeJS.Signals) => {
    progress?.stop();
    process.stderr.write(`stevedore: interrupted (${signal}); the next pull continues the download\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const client = await (await import('./client-options.js')).clientFrom(flags);
  try {
    const { record, name } = await pullImage(store, client, refText, { platform, onEvent: c.onEvent, concurrency });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ name, id: record.config, digest: record.manifest, index: record.index, platform: record.platform, layers: record.layers.length, downloaded: c.downloaded(), unpacked: c.unpacked() })}\n`);
    } else if (flags.quiet) {
      process.stdout.write(`${record.manifest}\n`);
    } else {
      process.stdout.write(`Pulled ${name} (${record.platform}, id ${shortId(record.config)}; ${record.layers.length} layers: ${c.downloaded()} downloaded, ${c.unpacked()} unpacked)\n`);
    }
  } finally {
    progress?.stop();
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await client.close();
  }
}

/**
 * `push IMAGE [DEST]` (docker push): the local image to the registry its name (or DEST) says,
 * through the client (credentials, mirrors, insecure registries, cross-repository mounts,
 * progress). A multi-platform image keeps its index when its other platforms can be had.
 */
export async function pushFromStore(srcText: string, destText: string | undefined, flags: PullFlags, cmd: Command): Promise<void> {
  const [{ copyImage, openDestination, openSource, parseLocation }, { planPush }, { concurrencyOf, transfer }] = await Promise.all([
    import('../client/index.js'),
    import('../engine/image-push.js'),
    import('./transfer.js'),
  ]);
  const store = storeOf(cmd);
  const state = await store.state();
  const image = lookupImage(state, srcText);
  if (!image) throw new ClientError(`no such local image: ${srcText} (pull it, or tag a local image with that name, first)`);
  if (!destText && !image.name) throw new ClientError(`push ${srcText}: an image id has no registry name; give one: push ${srcText} HOST/REPO:TAG`);
  const dest = destText ?? image.name!;
  const dst = parseLocation(dest);
  if (dst.kind !== 'registry' || dst.ref.digest) throw new ClientError(`${dest}: push needs a registry name with a tag (not a digest)`);
  const destination = formatReference(dst.ref);
  const opts: CopyOptions = { concurrency: concurrencyOf(flags.concurrency) };
  await transfer(flags, opts, familiarReference(dst.ref), 'Pushed', async (opener, say) => {
    const plan = await planPush(store, state, image, destination, (name) => openSource(parseLocation(name), opener));
    if (plan.note) say?.(plan.note);
    try {
      const target = openDestination(dst, opener);
      try {
        return await copyImage(plan.source, target, { ...opts, allPlatforms: plan.index });
      } finally {
        await target.close?.();
      }
    } finally {
      await plan.source.close?.();
    }
  });
}

function normalisedName(text: string): string {
  const ref = parseReference(text);
  if (ref.digest) throw new ClientError(`${text}: a tag cannot be a digest`);
  return formatReference(ref);
}

/** rmi: untags; an image with no name left, and no container using it, is deleted with its unshared layers. */
export async function removeImages(store: ImageStore, images: string[], force: boolean, quiet: boolean): Promise<void> {
  const deleted: string[] = [];
  // Decided while no pull runs and no container is being made (both hold leases): a `run` that has
  // found the image has written the container's record by then, so the image counts as used.
  const say = quiet ? undefined : () => process.stderr.write('waiting for pulls and container starts in progress to finish…\n');
  await store.exclusive(async () => {
    const used = await store.containerImages();
    for (const text of images) {
      const out = await store.update((s) => {
        const lines: string[] = [];
        const found = lookupImage(s, text);
        if (!found) throw new ClientError(`no such image: ${text}`, { kind: 'not-found' });
        const m = found.record.manifest;
        const names = namesOf(s, m);
        let untag: string[];
        if (found.name) {
          untag = [found.name];
        } else {
          if (names.length > 1 && !force) throw new ClientError(`image ${shortId(found.record.config)} has several names (${names.map((n) => familiarReference(parseReference(n))).join(', ')}); remove them by name or use -f`);
          untag = names;
        }
        const left = names.filter((n) => !untag.includes(n));
        if (left.length === 0 && used.has(m) && !force) {
          throw new ClientError(`image ${text} is used by a container; remove the container first or use -f (the image stays until the container is removed)`);
        }
        for (const n of untag) {
          delete s.refs[n];
          lines.push(`Untagged: ${familiarReference(parseReference(n))}`);
        }
        if (left.length === 0 && !used.has(m)) {
          delete s.images[m];
          lines.push(`Deleted: ${found.record.config}`);
          deleted.push(m);
        }
        return lines;
      });
      if (!quiet) process.stdout.write(out.map((l) => `${l}\n`).join(''));
    }
  }, say);
  if (deleted.length > 0) await store.collect();
}

function pruneLine(r: GcResult): string {
  return `Deleted ${r.images.length} image${r.images.length === 1 ? '' : 's'}, ${r.blobs} blob${r.blobs === 1 ? '' : 's'}, ${r.snapshots} layer snapshot${r.snapshots === 1 ? '' : 's'}`;
}

/** Image part of `stevedore prune`: unnamed images no container uses, and blobs and snapshots no image needs. */
export async function pruneImages(store: ImageStore, say?: (line: string) => void): Promise<GcResult> {
  return store.collect({ dangling: true, onWait: () => say?.('waiting for pulls in progress to finish…') });
}

async function saveImage(store: ImageStore, text: string, output: string): Promise<void> {
  const found = lookupImage(await store.state(), text);
  if (!found) throw new ClientError(`no such image: ${text}`);
  const [{ copyImage, DockerArchiveDestination }, { LocalStoreSource }] = await Promise.all([import('../client/index.js'), import('../engine/image-archive.js')]);
  const ref = found.name ? parseReference(found.name) : undefined;
  const dst = new DockerArchiveDestination(output, ref && !ref.digest ? ref : undefined);
  try {
    await copyImage(new LocalStoreSource(store, found.record, found.name), dst);
  } finally {
    await dst.close();
  }
}

async function loadArchive(store: ImageStore, file: string, quiet: boolean, label = file): Promise<void> {
  const [{ DockerArchiveSource }, { archiveImages }, { importImage }] = await Promise.all([import('../client/index.js'), import('../engine/image-archive.js'), import('../engine/image-pull.js')]);
  const items = await archiveImages(file);
  if (items.length === 0) throw new ClientError(`${label}: the archive holds no images`);
  for (const [i, tags] of items.entries()) {
    const names = tags.map((t) => normalisedName(t));
    const source = new DockerArchiveSource(file, { index: i });
    try {
      const record = await importImage(store, source, { names });
      if (quiet) process.stdout.write(`${record.config}\n`);
      else if (tags.length) for (const t of tags) process.stdout.write(`Loaded image: ${t}\n`);
      else process.stdout.write(`Loaded image ID: ${record.config}\n`);
    } finally {
      await source.close();
    }
  }
}

/** Runs fn with a private temporary file path (for archives streamed from stdin or to stdout), removed after. */
async function spooled(what: string, fn: (file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), `stevedore-${what}-`));
  try {
    await fn(join(dir, 'archive.tar'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** `history IMAGE`: the config's history, newest first, each layer-making step with its layer's size. */
async function printHistory(store: ImageStore, text: string, flags: { noTrunc?: boolean; quiet?: boolean; json?: boolean }): Promise<void> {
  const found = lookupImage(await store.state(), text);
  if (!found) throw new ClientError(`no such image: ${text}`);
  const config = JSON.parse((await store.content.readBytes(found.record.config)).toString('utf8')) as { history?: HistoryEntry[] };
  const history = config.history ?? [];
  const sizes: number[] = [];
  for (const c of found.record.chainIds) sizes.push((await store.snapshots.info(c))?.size ?? 0);
  // Without history (some builders write none): one row per layer.
  const steps: HistoryEntry[] = history.length > 0 ? history : sizes.map(() => ({}));
  let layer = 0;
  const rows = steps.map((h, i) => {
    const size = h.empty_layer ? 0 : (sizes[layer++] ?? 0);
    return { id: i === steps.length - 1 ? found.record.config : '<missing>', created: h.created, createdBy: h.created_by ?? '', size, comment: h.comment ?? '' };
  });
  rows.reverse();
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  if (flags.quiet) {
    process.stdout.write(rows.map((r) => `${r.id === '<missing>' ? r.id : shortId(r.id)}\n`).join(''));
    return;
  }
  const by = (t: string) => (flags.noTrunc || t.length <= 45 ? t : `${t.slice(0, 44)}…`);
  process.stdout.write(
    table([
      ['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'],
      ...rows.map((r) => [r.id === '<missing>' ? r.id : flags.noTrunc ? r.id : shortId(r.id), r.created ? `${age(r.created)} ago` : 'N/A', by(r.createdBy), formatBytes(r.size), r.comment]),
    ]),
  );
}

/** `system df`: sizes, and what prune would reclaim (unused images, stopped containers, unused volumes). */
async function systemDf(cmd: Command, json: boolean): Promise<void> {
  const root = rootOf(cmd);
  const store = new ImageStore(root);
  const [{ EngineContext }, { VolumeStore }, { volumeUsers }, { dirSize }] = await Promise.all([
    import('../engine/containers/engine-context.js'),
    import('../engine/volumes/volume-store.js'),
    import('../engine/containers/volume-use.js'),
    import('../engine/dir-size.js'),
  ]);
  const ctx = new EngineContext(root);
  const state = await store.state();
  const containers = await ctx.store.list();
  const usedImages = new Set(containers.map((c) => c.image.manifestDigest as string));
  // A layer shared by several images counts once; reclaimable: layers only unused images hold.
  const layerSize = new Map<string, number>();
  const usedLayers = new Set<string>();
  for (const img of Object.values(state.images)) {
    for (const c of img.chainIds) {
      if (!layerSize.has(c)) layerSize.set(c, (await store.snapshots.info(c))?.size ?? 0);
      if (usedImages.has(img.manifest)) usedLayers.add(c);
    }
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const imagesSize = sum([...layerSize.values()]);
  const imagesReclaimable = sum([...layerSize].filter(([c]) => !usedLayers.has(c)).map(([, s]) => s));
  const containerSizes = await Promise.all(containers.map(async (c) => ({ running: c.state === 'running', size: await dirSize(c.upperDir) })));
  const volumes = new VolumeStore(root);
  const users = await volumeUsers(ctx);
  const vols = await Promise.all((await volumes.list()).map(async (v) => ({ used: users.has(v.name), size: await volumes.size(v.name) })));
  const rows = [
    { type: 'Images', total: Object.keys(state.images).length, active: Object.keys(state.images).filter((m) => usedImages.has(m)).length, size: imagesSize, reclaimable: imagesReclaimable },
    { type: 'Containers', total: containers.length, active: containerSizes.filter((c) => c.running).length, size: sum(containerSizes.map((c) => c.size)), reclaimable: sum(containerSizes.filter((c) => !c.running).map((c) => c.size)) },
    { type: 'Local Volumes', total: vols.length, active: vols.filter((v) => v.used).length, size: sum(vols.map((v) => v.size)), reclaimable: sum(vols.filter((v) => !v.used).map((v) => v.size)) },
    // There is no builder yet: no build cache.
    { type: 'Build Cache', total: 0, active: 0, size: 0, reclaimable: 0 },
  ];
  if (json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  const pct = (r: { size: number; reclaimable: number }) => (r.size > 0 ? ` (${Math.round((r.reclaimable / r.size) * 100)}%)` : '');
  process.stdout.write(table([['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], ...rows.map((r) => [r.type, String(r.total), String(r.active), formatBytes(r.size), `${formatBytes(r.reclaimable)}${pct(r)}`])]));
}

/** `images`. */
/** `rmi`. */
export function removeImagesCommand(cmd: Command, images: string[], flags: { force?: boolean; quiet?: boolean }): Promise<void> {
  return removeImages(storeOf(cmd), images, !!flags.force, !!flags.quiet);
}

/** `tag SOURCE TARGET`. */
export async function tagImage(cmd: Command, src: string, dst: string): Promise<void> {
  const store = storeOf(cmd);
  const name = normalisedName(dst);
  await store.update((s) => {
    const found = lookupImage(s, src);
    if (!found) throw new ClientError(`no such image: ${src}`, { kind: 'not-found' });
    const target = found.name ? s.refs[found.name]!.target : found.record.manifest;
    s.refs[name] = { target, manifest: found.record.manifest };
  });
}

/** `save [-o FILE] IMAGE`. */
export async function saveCommand(cmd: Command, images: string[], flags: { output?: string }): Promise<void> {
  if (images.length > 1) throw new ClientError('save writes one image per archive; run it once per image');
  if (flags.output === undefined) {
    // docker's rule: an archive is never written to a terminal.
    if (process.stdout.isTTY) throw new ClientError('cowardly refusing to write an archive to a terminal: use -o FILE or redirect the output');
    return spooled('save', async (file) => {
      await saveImage(storeOf(cmd), images[0]!, file);
      await pipeline(createReadStream(file), process.stdout);
    });
  }
  return saveImage(storeOf(cmd), images[0]!, flags.output);
}

/** `load [-i FILE]`. */
export async function loadCommand(cmd: Command, flags: { input?: string; quiet?: boolean }): Promise<void> {
  needRoot('load');
  if (flags.input !== undefined) return loadArchive(storeOf(cmd), flags.input, !!flags.quiet);
  if (process.stdin.isTTY) throw new ClientError('load: give the archive with -i FILE or on standard input (not a terminal)');
  // An archive is read in several passes (its manifest.json may come last): spooled to a file.
  return spooled('load', async (file) => {
    await pipeline(process.stdin, createWriteStream(file, { mode: 0o600 }));
    await loadArchive(storeOf(cmd), file, !!flags.quiet, 'standard input');
  });
}

/** `history IMAGE`. */
export function historyCommand(cmd: Command, image: string, flags: { trunc: boolean; quiet?: boolean; json?: boolean }): Promise<void> {
  return printHistory(storeOf(cmd), image, { noTrunc: !flags.trunc, quiet: flags.quiet, json: flags.json });
}

/** `image prune [-a]`. */
export async function imagePrune(cmd: Command, flags: { all?: boolean }): Promise<void> {
  const r = await storeOf(cmd).collect({ dangling: true, all: !!flags.all, onWait: () => process.stderr.write('waiting for pulls in progress to finish…\n') });
  process.stdout.write(r.images.map((m) => `Deleted: ${m}\n`).join(''));
  process.stdout.write(`${pruneLine(r)}\n`);
}

/** `system df`. */
export function systemDfCommand(cmd: Command, flags: { json?: boolean }): Promise<void> {
  return systemDf(cmd, !!flags.json);
}

/** `prune`: containers first, so the images only they used go in the same prune. */
export async function pruneAll(cmd: Command, flags: { quiet?: boolean }): Promise<void> {
  const say = flags.quiet ? undefined : (l: string) => process.stderr.write(`${l}\n`);
  const { pruneStoppedContainers } = await import('./engine-container-actions.js');
  const containers = await pruneStoppedContainers(rootOf(cmd));
  if (!flags.quiet) process.stdout.write(containers.map((id) => `Deleted container ${id}\n`).join(''));
  const r = await pruneImages(storeOf(cmd), say);
  await (await import('../builder/build-cache.js')).removeBuildCache(rootOf(cmd));
  if (!flags.quiet) process.stdout.write(`${pruneLine(r)}\n`);
}

/** For `inspect`: prints a local image like `docker image inspect`; false when there is none. */
export async function printLocalImageInspect(cmd: Command, ref: string, json: boolean): Promise<boolean> {
  const out = await inspectLocalImage(storeOf(cmd), ref);
  if (!out) return false;
  process.stdout.write(`${JSON.stringify([out], null, json ? undefined : 2)}\n`);
  return true;
}

