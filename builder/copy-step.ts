// COPY and ADD: sources from the build context (.dockerignore applied), another stage or an image,
// planned as the entries of the step's layer (layer/planned-layer.ts), without a container. Docker's rules: a directory source copies
// its contents; several sources (or a wildcard) need a directory destination ending in `/`; a
// file onto an existing directory or a `/`-terminated destination keeps its name; wildcards use
// Go's filepath.Match per path component. Sources are resolved inside their root (symlinks
// followed as if the root were `/`, `..` stopping at the top), so a hostile context cannot reach
// outside itself; symlinks inside copied directories are copied as symlinks, never followed.
// ADD also unpacks local tar archives (plain, gzip, bzip2, xz) and downloads http(s) URLs
// (`--checksum` checked).
import { KindedError } from '../util/errors.js';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  type Stats,
} from 'node:fs';
import { lstat, mkdir, open, readdir } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { resolveInRootfs } from '../engine/bundle/rootfs-path.js';
import { mapLimit } from '../util/limit.js';
import { ContextDigestCache } from './context-cache.js';
import { goMatch, hasWildcards, pathMatcher, type DockerIgnore } from './dockerfile/patterns.js';
import { childOf, type PlannedEntry, type PlannedLayer } from './layer/planned-layer.js';

/** A COPY/ADD source that is missing or leaves the context: kind `invalid` (util/errors.ts). */
export class CopyStepError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'CopyStepError';
  }
}

export interface SourceRoot {
  /** `context`: the build context (owners become 0:0); `rootfs`: a stage or image (owners kept). */
  kind: 'context' | 'rootfs';
  dir: string;
  ignore?: DockerIgnore;
}

export interface Source {
  /** Path inside the root, cleaned, relative (`''` for the root itself). */
  rel: string;
  /** Host path, resolved inside the root. */
  host: string;
  isDir: boolean;
}

/** A source as written, cleaned to a relative path inside its root (`..` cannot climb above it). */
export function cleanSource(src: string): string {
  return posix.normalize(`/${src}`).replace(/^\/+/, '').replace(/\/+$/, '');
}

function ignored(root: SourceRoot, rel: string): boolean {
  return rel !== '' && !!root.ignore && root.ignore.ignores(rel);
}

/** The sources one COPY argument names: a path, or every path its wildcards match. */
export async function resolveSources(root: SourceRoot, pattern: string): Promise<Source[]> {
  const rel = cleanSource(pattern);
  if (!hasWildcards(rel)) {
    if (ignored(root, rel)) throw new CopyStepError(`"/${rel}": not found (excluded by .dockerignore)`);
    const host = await resolveInRootfs(root.dir, rel);
    const st = await lstat(host).catch(() => undefined);
    if (!st) throw new CopyStepError(`"/${rel}": not found`);
    return [{ rel, host, isDir: st.isDirectory() }];
  }
  const comps = rel.split('/');
  let found: { rel: string; host: string }[] = [{ rel: '', host: root.dir }];
  for (const comp of comps) {
    const next: { rel: string; host: string }[] = [];
    for (const f of found) {
      const names = hasWildcards(comp) ? (await readdir(f.host).catch(() => [] as string[])).filter((n) => goMatch(comp, n)).sort() : [comp.replace(/\\(.)/g, '$1')];
      for (const n of names) {
        const r = f.rel ? `${f.rel}/${n}` : n;
        if (ignored(root, r) && !root.ignore?.hasExceptions) continue;
        const host = await resolveInRootfs(root.dir, r);
        if (await lstat(host).catch(() => undefined)) next.push({ rel: r, host });
      }
    }
    found = next;
  }
  const out: Source[] = [];
  for (const f of found) {
    if (ignored(root, f.rel)) continue;
    const st = await lstat(f.host);
    out.push({ rel: f.rel, host: f.host, isDir: st.isDirectory() });
  }
  return out;
}

type Stat = Stats;

/** COPY --exclude patterns, matched against `prefix` + a path inside a copied directory. */
interface Exclude {
  patterns: DockerIgnore;
  prefix: string;
}

/**
 * Where --exclude patterns are matched from inside a copied directory: the directory itself (as
 * BuildKit's copy does), or for --parents the directory the kept paths start from.
 */
function excludePrefix(s: Source | ParentsSource): string {
  return 'keep' in s && s.keep ? `${s.keep}/` : '';
}

/** A COPY --parents source: `keep` is the part of its path that is kept under the destination. */
export interface ParentsSource extends Source {
  keep: string;
}

/**
 * COPY --parents: the sources one argument names, each with the part of its path kept under the
 * destination — all of it, or what follows a `/./` pivot (as rsync --relative). Wildcards match
 * the whole path after the pivot, `**` any number of directories; a matched directory is copied
 * whole.
 */
export async function resolveParents(root: SourceRoot, pattern: string): Promise<ParentsSource[]> {
  const pivot = pattern.indexOf('/./');
  const base = cleanSource(pivot >= 0 ? pattern.slice(0, pivot) : '');
  const rest = cleanSource(pivot >= 0 ? pattern.slice(pivot + 3) : pattern);
  const full = (keep: string) => (base && keep ? `${base}/${keep}` : base || keep);
  if (!hasWildcards(rest)) return (await resolveSources(root, full(rest))).map((s) => ({ ...s, keep: rest }));
  const baseHost = await resolveInRootfs(root.dir, base);
  if (!(await lstat(baseHost).catch(() => undefined))?.isDirectory()) return [];
  const matches = pathMatcher(rest);
  const out: ParentsSource[] = [];
  const visit = (keep: string, host: string) => {
    for (const name of readdirSync(host).sort()) {
      const k = keep ? `${keep}/${name}` : name;
      const hidden = ignored(root, full(k));
      if (hidden && !root.ignore?.hasExceptions) continue;
      const child = `${host}/${name}`;
      const st = lstatSync(child);
      if (!hidden && matches(k)) {
        out.push({ rel: full(k), host: child, isDir: st.isDirectory(), keep: k });
        continue; // a directory is copied with everything in it
      }
      if (st.isDirectory()) visit(k, child);
    }
  };
  visit('', baseHost);
  return out;
}

/** Whether COPY --exclude leaves out a resolved source itself. */
export function excludedSource(s: Source | ParentsSource, exclude: DockerIgnore | undefined): boolean {
  return !!exclude && exclude.ignores('keep' in s ? s.keep : s.rel);
}

/**
 * Walks a source: itself, then (for a directory) everything under it not ignored (.dockerignore,
 * relative to the root) or excluded (COPY --exclude, relative to the source), parents first.
 * Synchronous on purpose: a context of many small files costs a readdir per directory and an
 * lstat per entry, each a few microseconds as a direct system call but far more as a promise
 * round trip through the thread pool (the cost that dominated COPY of 10,000 files).
 */
function walk(root: SourceRoot, src: Source, visit: (rel: string, host: string, st: Stat) => void, exclude?: Exclude): void {
  const go = (rel: string, host: string) => {
    const st = lstatSync(host);
    visit(rel, host, st);
    if (!st.isDirectory()) return;
    for (const name of readdirSync(host).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const full = src.rel ? `${src.rel}/${r}` : r;
      const child = `${host}/${name}`;
      const hiddenBy = ignored(root, full) ? root.ignore : exclude?.patterns.ignores(exclude.prefix + r) ? exclude.patterns : undefined;
      if (hiddenBy) {
        // An exception (`!`) may keep something below a hidden directory: look inside it.
        if (!hiddenBy.hasExceptions || !lstatSync(child).isDirectory()) continue;
      }
      go(r, child);
    }
  };
  go('', src.host);
}

/** Files up to this size are read whole, synchronously; larger ones are streamed. */
const SMALL_FILE = 1 << 20;

function sha256File(host: string): string {
  return createHash('sha256').update(readFileSync(host)).digest('hex');
}

async function sha256Stream(host: string): Promise<string> {
  const fh = createHash('sha256');
  for await (const chunk of createReadStream(host, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) fh.update(chunk);
  return fh.digest('hex');
}

/**
 * A digest of everything the sources would copy (paths, types, modes, sizes, contents, link
 * targets; owners for non-context roots): the COPY step's cache key part. With a `cache`, a file
 * whose stat is unchanged since it was last hashed is not read again.
 */
export async function hashSources(root: SourceRoot, sources: (Source | ParentsSource)[], cache: ContextDigestCache = ContextDigestCache.memory(), exclude?: DockerIgnore): Promise<string> {
  const h = createHash('sha256');
  const owners = root.kind === 'rootfs';
  for (const s of sources) {
    h.update(`source ${s.rel}\n`);
    // One pass, one line per node: nothing of a node is kept once its line is made (a rebuild of
    // a large context allocates a Stats per file; kept in a list, every one of them survived the
    // young-generation collections, which then cost more than the lstat calls).
    const lines: string[] = [];
    const large: { i: number; host: string; st: Stat; head: string }[] = [];
    const now = Date.now();
    walk(
      root,
      s,
      (rel, host, st) => {
        const head = `${rel}\0${st.mode}\0${owners ? `${st.uid}:${st.gid}` : ''}\0${st.mtimeMs}\0`;
        let digest = '';
        if (st.isFile()) {
          const known = cache.lookup(host, st);
          if (known !== undefined) digest = known;
          else if (st.size > SMALL_FILE) {
            large.push({ i: lines.length, host, st, head: `${head}${st.size}\0` });
          } else cache.record(host, st, (digest = sha256File(host)), now);
          lines.push(`${head}${st.size}\0${digest}\n`);
        } else {
          if (st.isSymbolicLink()) digest = readlinkSync(host);
          lines.push(`${head}\0${digest}\n`);
        }
      },
      exclude && { patterns: exclude, prefix: excludePrefix(s) },
    );
    // Large files stream, a few at once (reads overlap with hashing).
    await mapLimit(large, 4, async (l) => {
      const digest = await sha256Stream(l.host);
      cache.record(l.host, l.st, digest, now);
      lines[l.i] = `${l.head}${digest}\n`;
    });
    h.update(lines.join(''));
  }
  return h.digest('hex');
}

export interface CopyOptions {
  /** Owner for everything copied (and directories the copy creates). */
  chown?: { uid: number; gid: number };
  /** Mode for everything copied. */
  chmod?: number;
  /** ADD: unpack local archives. */
  extract?: boolean;
  /** COPY/ADD --exclude: paths inside a copied directory (relative to it) left out. */
  exclude?: DockerIgnore;
}

/** The tar entry of one copied node (a directory itself, not its contents). */
function entryOf(root: SourceRoot, srcHost: string, st: Stat, opts: CopyOptions): PlannedEntry {
  const uid = opts.chown?.uid ?? (root.kind === 'context' ? 0 : Number(st.uid));
  const gid = opts.chown?.gid ?? (root.kind === 'context' ? 0 : Number(st.gid));
  const mtime = Math.floor(st.mtimeMs / 1000);
  if (st.isDirectory()) return { header: { name: '', type: 'dir', mode: opts.chmod ?? Number(st.mode) & 0o7777, uid, gid, mtime } };
  if (st.isSymbolicLink()) return { header: { name: '', type: 'symlink', linkname: readlinkSync(srcHost), mode: Number(st.mode) & 0o7777, uid, gid, mtime } };
  if (st.isFile()) return { header: { name: '', type: 'file', size: st.size, mode: opts.chmod ?? Number(st.mode) & 0o7777, uid, gid, mtime }, file: srcHost };
  throw new CopyStepError(`${srcHost}: cannot copy a special file`);
}

/** Copies one source tree to container path `dest` (its contents, for a directory) into the layer. */
async function copyTree(root: SourceRoot, layer: PlannedLayer, src: Source, dest: string, opts: CopyOptions): Promise<void> {
  // Container directory → its resolved path in the layer, for directories made or resolved by this
  // copy: a tree of many files resolves each directory once, not once per file.
  const dirs = new Map<string, string>();
  const dirOf = async (path: string) => {
    let rel = dirs.get(path);
    if (rel === undefined) {
      rel = await layer.ensureDir(path, opts.chown);
      dirs.set(path, rel);
    }
    return rel;
  };
  const nodes: { path: string; host: string; st: Stat; top: boolean }[] = [];
  walk(root, src, (rel, host, st) => nodes.push({ path: rel ? posix.join(dest, rel) : dest, host, st, top: rel === '' }), opts.exclude && { patterns: opts.exclude, prefix: excludePrefix(src) });
  // In walk order: parents before children.
  for (const { path, host, st, top } of nodes) {
    if (top && st.isDirectory()) {
      // The directory itself is not copied, its contents are: the destination is made (or kept).
      await dirOf(path);
      continue;
    }
    const rel = childOf(await dirOf(posix.dirname(path)), posix.basename(path));
    layer.put(rel, entryOf(root, host, st, opts));
    if (st.isDirectory()) dirs.set(path, rel);
  }
}

const ARCHIVE_MAGIC: [number, number[]][] = [
  [0, [0x1f, 0x8b]], // gzip
  [0, [0x42, 0x5a, 0x68]], // bzip2
  [0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]], // xz
  [257, [0x75, 0x73, 0x74, 0x61, 0x72]], // "ustar"
];

async function isArchive(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(262);
    const { bytesRead } = await fh.read(buf, 0, 262, 0);
    return ARCHIVE_MAGIC.some(([off, magic]) => bytesRead >= off + magic.length && magic.every((b, i) => buf[off + i] === b));
  } finally {
    await fh.close();
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, (err, _o, stderr) => (err ? reject(new CopyStepError(`${cmd}: ${stderr.trim().split('\n')[0] || err.message}`)) : resolve())),
  );
}

/**
 * Copies the resolved sources to `dest` (absolute, in the container) into the step's planned
 * layer. `scratch` is a private temporary directory that lives until the layer is written
 * (archives are unpacked there first, so a hostile archive's symlinks are never followed on the
 * host; the layer reads their files from there).
 */
export async function copySources(root: SourceRoot, sources: Source[], dest: string, layer: PlannedLayer, scratch: string, opts: CopyOptions): Promise<void> {
  const destIsDir = dest.endsWith('/') || sources.length > 1;
  for (const s of sources) {
    if (s.isDir) {
      await copyTree(root, layer, s, dest, opts);
      continue;
    }
    if (opts.extract && (await isArchive(s.host))) {
      const tmp = join(scratch, `extract-${createHash('sha256').update(s.host).digest('hex').slice(0, 12)}`);
      await mkdir(tmp, { recursive: true });
      await run('tar', ['-x', '-f', s.host, '-C', tmp, '--numeric-owner', '--same-owner', '-p', '--no-overwrite-dir']);
      await copyTree({ kind: 'rootfs', dir: tmp }, layer, { rel: '', host: tmp, isDir: true }, dest, { ...opts, exclude: undefined });
      continue;
    }
    let target = dest;
    if (destIsDir) {
      target = posix.join(dest, basename(s.host === root.dir ? s.rel : s.rel.split('/').pop()!));
    } else if (await layer.isDir(dest)) {
      target = posix.join(dest, s.rel.split('/').pop()!);
    }
    await copyTree(root, layer, { ...s, rel: '' }, target, opts);
  }
}

/**
 * COPY --parents: each source lands at its kept path under the directory `dest`; the directories
 * on the way are copied too, with their own owner (root for the context), mode and time.
 */
export async function copyParents(root: SourceRoot, sources: ParentsSource[], dest: string, layer: PlannedLayer, opts: CopyOptions): Promise<void> {
  const destDir = dest.endsWith('/') ? dest : `${dest}/`;
  await layer.ensureDir(destDir, opts.chown);
  const made = new Set<string>();
  for (const s of sources) {
    const parts = s.keep ? s.keep.split('/') : [];
    const relParts = s.rel.split('/');
    for (let i = 1; i <= (s.isDir ? parts.length : parts.length - 1); i++) {
      const keep = parts.slice(0, i).join('/');
      if (made.has(keep)) continue;
      made.add(keep);
      const host = i === parts.length ? s.host : await resolveInRootfs(root.dir, relParts.slice(0, relParts.length - (parts.length - i)).join('/'));
      const parentRel = await layer.ensureDir(posix.join(destDir, posix.dirname(keep)), opts.chown);
      layer.put(childOf(parentRel, posix.basename(keep)), entryOf(root, host, lstatSync(host), opts));
    }
    await copyTree(root, layer, s, posix.join(destDir, s.keep), opts);
  }
}

/** ADD of an http(s) URL: fetches `url` into `file` (checked against `checksum` when given): its sha256 and Last-Modified. */
export async function download(url: string, file: string, checksum?: string): Promise<{ digest: string; mtime?: Date }> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow' });
  } catch (err) {
    throw new CopyStepError(`ADD ${url}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
  }
  if (!res.ok || !res.body) throw new CopyStepError(`ADD ${url}: HTTP ${res.status}`);
  const h = createHash('sha256');
  const out = createWriteStream(file, { mode: 0o600 });
  await pipeline(
    Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
    async function* (src: AsyncIterable<Buffer>) {
      for await (const c of src) {
        h.update(c);
        yield c;
      }
    },
    out,
  );
  const digest = `sha256:${h.digest('hex')}`;
  if (checksum && digest !== checksum) throw new CopyStepError(`ADD ${url}: checksum mismatch: expected ${checksum}, got ${digest}`);
  const lm = res.headers.get('last-modified');
  const mtime = lm ? new Date(lm) : undefined;
  return mtime && !Number.isNaN(mtime.getTime()) ? { digest, mtime } : { digest };
}
