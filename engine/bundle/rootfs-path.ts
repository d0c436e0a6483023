// Paths inside a container's root filesystem, resolved on the host without ever leaving it: the
// image's symlinks are followed as the container would see them (absolute targets start at the
// rootfs, `..` stops at its top), so a hostile /etc/passwd -> /host/secret link reads nothing of
// the host. One walk (walkRootfsPath) serves the real tree here and the builder's planned layers,
// which look up the components their own way.
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KindedError } from '../../util/errors.js';

const MAX_LINKS = 40;

/** What is at one component of a path: a symlink carries its target. */
export type PathNode = { kind: 'dir' | 'other' | 'missing' } | { kind: 'symlink'; target: string };

export interface WalkResult {
  /** The components resolved so far, the stopping one included (relative to the root). */
  resolved: string[];
  /** What the last visited component is; `dir` when the whole path resolved to directories. */
  kind: 'dir' | 'other' | 'missing';
  /** The components after a `missing` or `other` stop, not visited. */
  rest: string[];
}

/**
 * Walks `path` component by component from the root, following symlinks as the container would.
 * `visit` says what is at a relative path (components joined by '/'); the walk stops at the first
 * component that is missing or not a directory. Too many links: a kind `invalid` error.
 */
export async function walkRootfsPath(path: string, visit: (rel: string) => Promise<PathNode> | PathNode): Promise<WalkResult> {
  const pending = path.split('/').filter((c) => c !== '' && c !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const node = await visit([...resolved, part].join('/'));
    if (node.kind === 'symlink') {
      if (++links > MAX_LINKS) throw new KindedError('invalid', `${path}: too many levels of symbolic links in the image`);
      if (node.target.startsWith('/')) resolved.length = 0;
      pending.unshift(...node.target.split('/').filter((c) => c !== '' && c !== '.'));
      continue;
    }
    resolved.push(part);
    if (node.kind !== 'dir') return { resolved, kind: node.kind, rest: pending };
  }
  return { resolved, kind: 'dir', rest: [] };
}

/** The host path of `path` inside `rootfs`; the last components need not exist. */
export async function resolveInRootfs(rootfs: string, path: string): Promise<string> {
  const walk = await walkRootfsPath(path, async (rel) => {
    const host = join(rootfs, rel);
    let st;
    try {
      st = await lstat(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
      throw err;
    }
    if (st.isSymbolicLink()) return { kind: 'symlink', target: await readlink(host) };
    return { kind: st.isDirectory() ? 'dir' : 'other' };
  });
  return join(rootfs, ...walk.resolved, ...walk.rest);
}
