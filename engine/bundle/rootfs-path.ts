// Paths inside a container's root filesystem, resolved on the host without ever leaving it: the
// image's symlinks are followed as the container would see them (absolute targets start at the
// rootfs, `..` stops at its top), so a hostile /etc/passwd -> /host/secret link reads nothing of
// the host.
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';

const MAX_LINKS = 40;

/** The host path of `path` inside `rootfs`; the last components need not exist. */
export async function resolveInRootfs(rootfs: string, path: string): Promise<string> {
  const pending = path.split('/').filter((c) => c !== '' && c !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = join(rootfs, ...resolved, part);
    let st;
    try {
      st = await lstat(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        resolved.push(part, ...pending);
        return join(rootfs, ...resolved);
      }
      throw err;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new Error(`${path}: too many levels of symbolic links in the image`);
      const target = await readlink(host);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
      continue;
    }
    resolved.push(part);
  }
  return join(rootfs, ...resolved);
}
