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
import { goMatch, hasWildcards, type DockerIgnore } from './dockerfile/patterns.js';
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

/**
 * Walks a source: itself, then (for a directory) everything under it not ignored, parents first.
 * Synchronous on purpose: a context of many small files costs a readdir per directory and an
 * lstat per entry, each a few microseconds as a direct system call but far more as a promise
 * round trip through the thread pool (the cost that dominated COPY of 10,000 files).
 */
function walk(root: SourceRoot, src: Source, visit: (rel: string, host: string, st: Stat) => void): void {
  const go = (rel: string, host: string) => {
    const st = lstatSync(host);
    visit(rel, host, st);
    if (!st.isDirectory()) return;
    for (const name of readdirSync(host).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const full = src.rel ? `${src.rel}/${r}` : r;
      if (ignored(root, full)) {
        if (!root.ignore?.hasExceptions) continue;
        const child = lstatSync(join(host, name));
        if (!child.isDirectory()) continue;
      }
      go(r, join(host, name));
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
export async function hashSources(root: SourceRoot, sources: Source[], cache: ContextDigestCache = ContextDigestCache.memory()): Promise<string> {
  const h = createHash('sha256');
  for (const s of sources) {
    h.update(`source ${s.rel}\n`);
    const nodes: { rel: string; host: string; st: Stat }[] = [];
    walk(root, s, (rel, host, st) => nodes.push({ rel, host, st }));
    const digests: (string | undefined)[] = new Array(nodes.length);
    const large: number[] = [];
    const now = Date.now();
    for (const [i, { host, st }] of nodes.entries()) {
      if (st.isFile()) {
        const known = cache.lookup(host, st);
        if (known !== undefined) digests[i] = known;
        else if (st.size > SMALL_FILE) large.push(i);
        else cache.record(host, st, (digests[i] = sha256File(host)), now);
      } else if (st.isSymbolicLink()) {
        digests[i] = readlinkSync(host);
      }
    }
    // Large files stream, a few at once (reads overlap with hashing).
    await mapLimit(large, 4, async (i) => {
      const { host, st } = nodes[i]!;
      cache.record(host, st, (digests[i] = await sha256Stream(host)), now);
    });
    for (const [i, { rel, st }] of nodes.entries()) {
      h.update(`${rel}\0${st.mode}\0${root.kind === 'rootfs' ? `${st.uid}:${st.gid}` : ''}\0${st.mtimeMs}\0${st.isFile() ? st.size : ''}\0${digests[i] ?? ''}\n`);
    }
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
  walk(root, src, (rel, host, st) => nodes.push({ path: rel ? posix.join(dest, rel) : dest, host, st, top: rel === '' }));
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
      await copyTree({ kind: 'rootfs', dir: tmp }, layer, { rel: '', host: tmp, isDir: true }, dest, opts);
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
