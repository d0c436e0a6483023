// A COPY/ADD layer planned as tar entries instead of written through an overlay mount: the files
// are read from their sources once, straight into the layer's tar, and nothing is created on disk
// but the blob (the layer's snapshot is unpacked from it later, only when a step or a container
// needs it). Copying 10,000 small files through overlayfs cost a create, a copy, a chown, a chmod
// and a utimes each on the overlay, then an lstat and a read each to diff the upper directory
// back; that was most of a COPY step's time.
//
// The result is the layer an overlay upper directory would have given: the destination's
// directories that exist below are in the layer with their own owner and mode (overlayfs's
// copy-up), those the copy makes are 0755 (owner from --chown), symlinks below are followed when
// resolving the destination as the container would see them (absolute targets start at the
// rootfs, `..` stops at its top) but never those inside copied trees, and a later source of the
// same step replaces what an earlier one put at the same path. `view` is a read-only look at the
// layers below (an overlay mount of them), used only to resolve the destination path.
import { lstatSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { type PathNode, walkRootfsPath } from '../../engine/bundle/rootfs-path.js';
import { KindedError } from '../../util/errors.js';
import type { TarEntryHeader } from './tar-writer.js';
import { layerXattrs, readXattrsOf } from './upper-diff.js';

/** A destination that cannot be made (a file where a directory is needed): kind `invalid`. */
export class PlannedLayerError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'PlannedLayerError';
  }
}

export interface PlannedEntry {
  header: TarEntryHeader;
  /** Host file the content is read from (regular files). */
  file?: string;
}

interface Planned extends PlannedEntry {
  /** A directory whose counterpart below is not a directory: nothing below shows through it. */
  fresh?: boolean;
  /** A directory replacing one below that an earlier source of this step had replaced by a non-directory. */
  opaque?: boolean;
}

export class PlannedLayer {
  /** Entries this step writes, by path relative to the root (no leading or trailing slash). */
  private readonly planned = new Map<string, Planned>();
  /** Directories below on the way to a destination: in the layer when something under them is. */
  private readonly copiedUp = new Map<string, TarEntryHeader>();

  constructor(
    private readonly view: string,
    /** Modification time (seconds) of directories the copy makes. */
    private readonly now: number,
    /** SOURCE_DATE_EPOCH: later modification times are clamped to it. */
    private readonly epoch?: number,
  ) {}

  /** Whether `rel` (a resolved path) is hidden from the layers below by a directory this step made over a non-directory. */
  private underFresh(rel: string): boolean {
    for (let i = rel.lastIndexOf('/'); i > 0; i = rel.lastIndexOf('/', i - 1)) {
      const p = this.planned.get(rel.slice(0, i));
      if (p?.fresh) return true;
      if (p && p.header.type !== 'dir') return true;
    }
    return false;
  }

  /** What the layers below have at `rel` (a resolved path whose parents are real directories). */
  private below(rel: string) {
    if (this.underFresh(rel)) return undefined;
    try {
      return lstatSync(join(this.view, rel), { throwIfNoEntry: false });
    } catch {
      return undefined; // ENOTDIR: a file below where a directory would be
    }
  }

  /**
   * Resolves container path `path` as the container would see it after this step so far, its
   * last component included. `create`: missing directories are planned (0755, `owner`) and the
   * result must be a directory. Returns the resolved relative path, and whether it is a directory.
   */
  private async resolve(path: string, create: false | { uid: number; gid: number }): Promise<{ rel: string; kind: 'dir' | 'other' | 'missing' }> {
    const walk = await walkRootfsPath(path, async (rel): Promise<PathNode> => {
      const p = this.planned.get(rel);
      if (p) return p.header.type === 'dir' ? { kind: 'dir' } : p.header.type === 'symlink' ? { kind: 'symlink', target: p.header.linkname ?? '' } : { kind: 'other' };
      const st = this.below(rel);
      if (!st) {
        if (!create) return { kind: 'missing' };
        this.planned.set(rel, { header: { name: `${rel}/`, type: 'dir', mode: 0o755, uid: create.uid, gid: create.gid, mtime: this.now }, fresh: true });
        return { kind: 'dir' };
      }
      if (st.isSymbolicLink()) return { kind: 'symlink', target: await readlink(join(this.view, rel)) };
      if (!st.isDirectory()) return { kind: 'other' };
      if (create && !this.copiedUp.has(rel)) {
        this.copiedUp.set(rel, { name: `${rel}/`, type: 'dir', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) });
      }
      return { kind: 'dir' };
    });
    const rel = walk.resolved.join('/');
    if (walk.kind === 'missing') return { rel: [...walk.resolved, ...walk.rest].join('/'), kind: 'missing' };
    if (walk.kind === 'other') {
      if (walk.rest.length === 0 && !create) return { rel, kind: 'other' };
      throw new PlannedLayerError(`cannot copy to ${path}: /${rel} is not a directory`);
    }
    return { rel, kind: 'dir' };
  }

  /** Whether container path `path` is a directory now (symlinks followed). */
  async isDir(path: string): Promise<boolean> {
    return (await this.resolve(path, false)).kind === 'dir';
  }

  /** Makes sure directory `path` exists (made 0755 with `owner` where missing); its resolved relative path. */
  async ensureDir(path: string, owner: { uid: number; gid: number } = { uid: 0, gid: 0 }): Promise<string> {
    return (await this.resolve(path, owner)).rel;
  }

  /**
   * Puts an entry at `rel` (a parent resolved by ensureDir or put by this step, + a name; no
   * symlink followed): whatever this step put
   * there before is replaced; a directory merges with a directory below, anything else hides it.
   */
  put(rel: string, entry: PlannedEntry): void {
    const before = this.planned.get(rel);
    if (before && before.header.type === 'dir' && entry.header.type !== 'dir') {
      for (const k of [...this.planned.keys()]) if (k.startsWith(`${rel}/`)) this.planned.delete(k);
    }
    const name = entry.header.type === 'dir' ? `${rel}/` : rel;
    const next: Planned = { ...entry, header: { ...entry.header, name } };
    if (entry.header.type === 'dir') {
      if (before?.header.type === 'dir') {
        next.fresh = before.fresh;
        next.opaque = before.opaque;
      } else {
        const st = this.below(rel);
        // A directory below, hidden by what an earlier source put here, stays hidden.
        next.opaque = !!before && !!st?.isDirectory();
        next.fresh = next.opaque || !st?.isDirectory();
      }
    }
    this.planned.set(rel, next);
  }

  /** The layer's entries in tar order: parents first, names in byte order. */
  async entries(): Promise<PlannedEntry[]> {
    const out = new Map<string, PlannedEntry>();
    for (const [rel, p] of this.planned) {
      out.set(rel, { header: p.header, ...(p.file ? { file: p.file } : {}) });
      if (p.opaque) out.set(`${rel}/.wh..wh..opq`, { header: { name: `${rel}/.wh..wh..opq`, type: 'file', mode: 0, uid: 0, gid: 0, mtime: p.header.mtime, size: 0 } });
    }
    // Directories below on the way to something this step wrote, as overlayfs copies them up:
    // owner, mode, times and extended attributes.
    const copied: string[] = [];
    for (const rel of [...out.keys()]) {
      for (let i = rel.lastIndexOf('/'); i > 0; i = rel.lastIndexOf('/', i - 1)) {
        const parent = rel.slice(0, i);
        if (out.has(parent)) continue;
        const up = this.copiedUp.get(parent);
        if (up) {
          out.set(parent, { header: up });
          copied.push(parent);
        }
      }
    }
    if (copied.length) {
      const found = await readXattrsOf(copied.map((rel) => join(this.view, rel)));
      for (const rel of copied) {
        const xattrs = layerXattrs(found.get(join(this.view, rel)));
        if (xattrs) out.set(rel, { header: { ...out.get(rel)!.header, xattrs } });
      }
    }
    // Byte order with `/` lowest: a directory's entries right after it, before its siblings.
    const sorted = [...out.entries()].map(([rel, e]) => ({ key: Buffer.from(rel.replace(/\//g, '\0')), e })).sort((a, b) => Buffer.compare(a.key, b.key));
    const epoch = this.epoch;
    return sorted.map(({ e }) => (epoch !== undefined && e.header.mtime > epoch ? { ...e, header: { ...e.header, mtime: epoch } } : e));
  }
}

/** `rel` joined with a name, as a resolved relative path. */
export function childOf(rel: string, name: string): string {
  return rel ? posix.join(rel, name) : name;
}
