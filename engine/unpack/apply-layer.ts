// Unpacks one layer tar into its own directory in overlayfs form (image-spec layer.md):
// `.wh.NAME` becomes a 0/0 character device, `.wh..wh..opq` the directory's
// trusted.overlay.opaque=y; hardlinks, symlinks, directories, fifos, device nodes, ownership
// (chown before chmod, so setuid bits survive), modes, mtimes and SCHILY.xattr.* records.
//
// Containment: every path is resolved one component at a time with lstat inside the directory,
// never following a symlink; `..` components and hardlinks to outside paths refuse the layer; a
// symlink used as a parent directory refuses the layer. Files are created with O_EXCL|O_NOFOLLOW.
// Nothing else writes into the directory while it is unpacked (it is private to this process).
import { randomUUID } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { Digester, type Digest } from '../../oci/index.js';
import { makeNodes, setXattrs, type NodeSpec } from './node-tools.js';
import { readTar, type TarHeader } from './tar-reader.js';
import { KindedError } from '../../util/errors.js';

/** A layer that is malformed or tries to write outside its directory. */
/** A layer entry the unpacker refuses (escapes the root, unsupported type, …). */
export class LayerError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'LayerError';
  }
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';
const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** Extended attributes a layer may carry; overlayfs's own (trusted.overlay.*, user.overlay.* with userxattr) never. */
function xattrAllowed(name: string): boolean {
  if (!/^[A-Za-z0-9._@:+-]+$/.test(name)) return false;
  if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) return false;
  return name.startsWith('user.') || name.startsWith('trusted.') || name === 'security.capability';
}

interface Special {
  rel: string;
  kind: 'char' | 'block' | 'fifo' | 'whiteout';
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

export interface ApplyResult {
  diffId: Digest;
  /** Uncompressed tar size. */
  size: number;
  /** Directories the layer did not contain but its entries needed (made 0755 root). */
  implicitDirs: string[];
}

export interface ApplyOptions {
  /** Skip chown (when not running as root). */
  noChown?: boolean;
}

/** Layer-relative path components: `./a//b/` → [a, b]; `..` refuses the layer; absolute paths are relative to the layer. */
export function splitEntryPath(name: string, what = 'entry'): string[] {
  if (name.includes('\0')) throw new LayerError(`${what} ${JSON.stringify(name)} has a NUL byte`);
  const comps = name.split('/').filter((c) => c !== '' && c !== '.');
  if (comps.includes('..')) throw new LayerError(`${what} ${JSON.stringify(name)} points outside the layer (..)`);
  return comps;
}

class LayerWriter {
  /** Directories (relative) known to be real directories right now. */
  private readonly dirs = new Set<string>(['']);
  private readonly specials = new Map<string, Special>();
  private readonly xattrs = new Map<string, Map<string, Buffer>>();
  private readonly dirTimes = new Map<string, Date>();
  readonly implicitDirs: string[] = [];

  constructor(
    readonly root: string,
    readonly opts: ApplyOptions,
  ) {}

  abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  private async lstatRel(rel: string) {
    return lstatSync(this.abs(rel), { throwIfNoEntry: false });
  }

  /** Makes sure every parent of comps is a real directory inside the root (creating missing ones). */
  private async parents(comps: string[], name: string, create = true): Promise<boolean> {
    let rel = '';
    for (let i = 0; i < comps.length - 1; i++) {
      rel = rel ? `${rel}/${comps[i]}` : comps[i]!;
      if (this.dirs.has(rel)) continue;
      const st = await this.lstatRel(rel);
      if (!st) {
        if (!create) return false;
        mkdirSync(this.abs(rel), 0o755);
        chmodSync(this.abs(rel), 0o755); // whatever the umask
        this.implicitDirs.push(rel);
      } else if (!st.isDirectory()) {
        if (!create) return false;
        throw new LayerError(`${JSON.stringify(name)}: its parent ${rel} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'} in this layer; refusing to write through it`);
      }
      this.dirs.add(rel);
    }
    return true;
  }

  private forget(rel: string): void {
    const under = `${rel}/`;
    for (const d of this.dirs) if (d === rel || d.startsWith(under)) this.dirs.delete(d);
    for (const m of [this.xattrs, this.dirTimes, this.specials] as Map<string, unknown>[]) {
      for (const k of m.keys()) if (k === rel || k.startsWith(under)) m.delete(k);
    }
  }

  /** Removes whatever is at rel (a later entry replaces an earlier one); keeps a directory when `keepDir`. */
  private async clear(rel: string, keepDir: boolean): Promise<boolean> {
    if (rel === '') return true;
    this.specials.delete(rel);
    const st = await this.lstatRel(rel);
    if (!st) return false;
    if (st.isDirectory() && keepDir) return true;
    this.forget(rel);
    rmSync(this.abs(rel), { recursive: true, force: true });
    return false;
  }

  private async owner(path: string, h: TarHeader): Promise<void> {
    if (!this.opts.noChown) lchownSync(path, h.uid, h.gid);
  }

  private setXattrs(rel: string, h: TarHeader): void {
    const values = new Map<string, Buffer>();
    // Linux refuses user.* attributes on symlinks and devices: skip those rather than fail the layer.
    const userOk = h.type === 'file' || h.type === 'directory' || h.type === 'link';
    for (const [name, value] of h.xattrs) if (xattrAllowed(name) && (userOk || !name.startsWith('user.'))) values.set(name, value);
    if (values.size > 0) this.xattrs.set(rel, values);
    else this.xattrs.delete(rel);
  }

  async entry(h: TarHeader, body: Readable): Promise<void> {
    const comps = splitEntryPath(h.name);
    const base = comps[comps.length - 1];
    const rel = comps.join('/');
    if (base !== undefined && base.startsWith(WHITEOUT_PREFIX)) {
      await drain(body);
      await this.parents(comps, h.name);
      const dirRel = comps.slice(0, -1).join('/');
      if (base === OPAQUE) {
        const values = this.xattrs.get(dirRel) ?? new Map<string, Buffer>();
        values.set(OPAQUE_XATTR, Buffer.from('y'));
        this.xattrs.set(dirRel, values);
        return;
      }
      if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return; // aufs bookkeeping (.wh..wh.plnk…)
      const target = base.slice(WHITEOUT_PREFIX.length);
      if (target === '' || target === '.' || target === '..') throw new LayerError(`whiteout ${JSON.stringify(h.name)} names nothing`);
      const targetRel = dirRel ? `${dirRel}/${target}` : target;
      // A whiteout hides lower layers only: a file of this same layer at that path stays.
      if (!(await this.lstatRel(targetRel)) && !this.specials.has(targetRel)) {
        this.specials.set(targetRel, { rel: targetRel, kind: 'whiteout', major: 0, minor: 0, mode: 0, uid: h.uid, gid: h.gid, mtime: h.mtime });
      }
      return;
    }

    if (h.type === 'directory') {
      await drain(body);
      if (rel !== '') await this.parents(comps, h.name);
      const path = this.abs(rel);
      if (!(await this.clear(rel, true))) mkdirSync(path, 0o700);
      this.dirs.add(rel);
      const implicit = this.implicitDirs.indexOf(rel);
      if (implicit >= 0) this.implicitDirs.splice(implicit, 1); // it came after all
      await this.owner(path, h);
      chmodSync(path, h.mode);
      this.dirTimes.set(rel, h.mtime);
      this.setXattrs(rel, h);
      return;
    }

    if (rel === '') throw new LayerError(`entry ${JSON.stringify(h.name)} of type ${h.type} has no name`);
    await this.parents(comps, h.name);
    const path = this.abs(rel);

    switch (h.type) {
      case 'file': {
        await this.clear(rel, false);
        // Synchronous calls: a layer is mostly small files, and a thread-pool round trip per
        // call costs more than the call itself.
        const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of body as AsyncIterable<Buffer>) {
            for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
          }
          if (!this.opts.noChown) fchownSync(fd, h.uid, h.gid);
          fchmodSync(fd, h.mode);
          futimesSync(fd, h.mtime, h.mtime);
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'symlink': {
        await drain(body);
        await this.clear(rel, false);
        symlinkSync(h.linkname, path);
        await this.owner(path, h);
        lutimesSync(path, h.mtime, h.mtime);
        break;
      }
      case 'link': {
        await drain(body);
        const target = splitEntryPath(h.linkname, 'hardlink target');
        const targetRel = target.join('/');
        if (targetRel === '') throw new LayerError(`hardlink ${JSON.stringify(h.name)} points at the layer's root`);
        if (targetRel === rel) break;
        if (this.specials.has(targetRel) && this.specials.get(targetRel)!.kind !== 'whiteout') {
          throw new LayerError(`hardlink ${JSON.stringify(h.name)} to a device or fifo (${h.linkname}) is not supported`);
        }
        const st = (await this.parents(target, h.linkname, false)) ? await this.lstatRel(targetRel) : undefined;
        if (!st) throw new LayerError(`hardlink ${JSON.stringify(h.name)} → ${JSON.stringify(h.linkname)}: the target is not in this layer`);
        if (st.isDirectory()) throw new LayerError(`hardlink ${JSON.stringify(h.name)} → ${JSON.stringify(h.linkname)}: the target is a directory`);
        await this.clear(rel, false);
        linkSync(this.abs(targetRel), path);
        if (h.xattrs.size === 0) return; // the inode has the target's attributes already
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        await drain(body);
        await this.clear(rel, false);
        const kind = h.type === 'fifo' ? 'fifo' : h.type === 'character-device' ? 'char' : 'block';
        this.specials.set(rel, { rel, kind, major: h.devmajor, minor: h.devminor, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime });
        this.setXattrs(rel, h);
        return;
      }
      default:
        throw new LayerError(`entry ${JSON.stringify(h.name)} has an unsupported type (${h.type})`);
    }
    this.setXattrs(rel, h);
  }

  /** Device nodes, fifos and whiteouts (made in a staging directory, then renamed into place), xattrs, directory times. */
  async finish(): Promise<void> {
    const specials = [...this.specials.values()];
    if (specials.length > 0) {
      const staging = join(this.root, `.stevedore-staging-${randomUUID()}`);
      await mkdir(staging, 0o700);
      try {
        const nodes: NodeSpec[] = specials.map((s, i) => ({ name: String(i), kind: s.kind === 'whiteout' ? 'char' : s.kind, major: s.major, minor: s.minor }));
        await makeNodes(staging, nodes);
        for (const [i, s] of specials.entries()) {
          const comps = s.rel.split('/');
          // A later entry may have replaced a parent with a file: then this node has nowhere to go.
          if (!(await this.parents(comps, s.rel, false))) continue;
          const existing = await this.lstatRel(s.rel);
          if (existing && s.kind === 'whiteout') continue;
          if (existing?.isDirectory()) rmSync(this.abs(s.rel), { recursive: true, force: true });
          const path = this.abs(s.rel);
          renameSync(join(staging, String(i)), path);
          if (!this.opts.noChown) lchownSync(path, s.uid, s.gid);
          chmodSync(path, s.kind === 'whiteout' ? 0 : s.mode);
          lutimesSync(path, s.mtime, s.mtime);
        }
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    }
    // Extended attributes, only on paths still there and reached through real directories.
    const attrs = new Map<string, Map<string, Buffer>>();
    for (const [rel, values] of this.xattrs) {
      const comps = rel === '' ? [] : rel.split('/');
      if (rel !== '' && (!(await this.parents(comps, rel, false)) || !(await this.lstatRel(rel)))) continue;
      attrs.set(rel, values);
    }
    const dump = `${this.root}.xattrs-${randomUUID()}`;
    try {
      await setXattrs(this.root, attrs, dump, (p, text) => writeFile(p, text, { mode: 0o600 }));
    } finally {
      await rm(dump, { force: true });
    }
    // Directory times last (creating entries changed them), deepest first.
    const dirs = [...this.dirTimes.entries()].sort((a, b) => b[0].split('/').length - a[0].split('/').length);
    for (const [rel, mtime] of dirs) {
      const comps = rel === '' ? [] : rel.split('/');
      if (rel !== '' && !(await this.parents(comps, rel, false))) continue;
      if (rel === '' || (await this.lstatRel(rel))?.isDirectory()) lutimesSync(this.abs(rel), mtime, mtime);
    }
  }
}

async function drain(body: Readable): Promise<void> {
  for await (const _ of body) {
    /* skip */
  }
}

/**
 * Applies an uncompressed layer tar stream to `dir` (an existing, empty, private directory) and
 * returns the digest of the bytes read, to be compared with the config's diff_id.
 */
export async function applyLayer(tarStream: Readable, dir: string, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const digester = new Digester();
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      digester.update(chunk);
      cb(null, chunk);
    },
  });
  const writer = new LayerWriter(dir, { noChown: opts.noChown ?? process.getuid?.() !== 0 });
  tarStream.on('error', (err) => hashing.destroy(err));
  await readTar(tarStream.pipe(hashing), (h, body) => writer.entry(h, body));
  await writer.finish();
  return { diffId: digester.digest(), size: digester.size, implicitDirs: writer.implicitDirs };
}

