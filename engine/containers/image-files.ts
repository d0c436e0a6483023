// What creating a container reads from its image's files: /etc/passwd and /etc/group (to resolve
// its user) and whether its working directory exists (docker creates a missing one). Reading them
// needs the image's layers merged, that is the overlay mounted on the host (the unpacked layers
// mark opaque directories with an extended attribute Node cannot read), which costs a `mount` and
// an `umount` process. So they are read once per image, through that mount, and kept next to the
// image's top snapshot (the ChainID names the whole stack of layers below it, which never changes;
// the file goes with the snapshot); later containers of the image are created without any host
// mount, and their runtime mounts the overlay itself (spec.ts rootfsOverlay).
//
// Only what a new container sees is kept: its upper directory is empty then. A container's own
// changes (a user added in it) are read from the container itself (exec, health checks).
import { basename, dirname, join } from 'node:path';
import type { UserFiles } from '../bundle/user.js';

export interface ImageFiles extends UserFiles {
  /** Working directories (as given, absolute) found to be directories of the image. */
  dirs: string[];
}

const NAME = 'container-files.json';

/** Where the files of this stack of layers are kept: beside its top snapshot, when it is one. */
function cachePath(layerDirs: string[]): string | undefined {
  const top = layerDirs[layerDirs.length - 1];
  // <root>/snapshots/<ChainID hex>/fs (store/snapshots.ts): anything else is not cached.
  if (!top || basename(top) !== 'fs' || !/^[0-9a-f]{64}$/.test(basename(dirname(top)))) return undefined;
  return join(dirname(top), NAME);
}

/** What was kept for this image; undefined when nothing (or something unreadable) was. */
export async function readImageFiles(layerDirs: string[]): Promise<ImageFiles | undefined> {
  const path = cachePath(layerDirs);
  if (!path) return undefined;
  try {
    // A small file, read synchronously on `run`'s short path (no thread-pool trip).
    const f = JSON.parse(process.getBuiltinModule('node:fs').readFileSync(path, 'utf8')) as Partial<ImageFiles>;
    if (typeof f.passwd !== 'string' || typeof f.group !== 'string' || !Array.isArray(f.dirs)) return undefined;
    return { passwd: f.passwd, group: f.group, dirs: f.dirs.filter((d): d is string => typeof d === 'string') };
  } catch {
    return undefined;
  }
}

/**
 * Keeps what a container created through the host mount read (merged with what was kept before).
 * Atomic but not durable: it is derived from the snapshot, and a lost or torn file only means the
 * next container mounts on the host again. Best effort: a failure never fails the container.
 */
export async function keepImageFiles(layerDirs: string[], files: UserFiles, cwd: string | undefined): Promise<void> {
  const path = cachePath(layerDirs);
  if (!path) return;
  const before = await readImageFiles(layerDirs);
  const dirs = [...new Set([...(before?.dirs ?? []), ...(cwd ? [cwd] : [])])];
  if (before && before.passwd === files.passwd && before.group === files.group && dirs.length === before.dirs.length) return;
  const { writeFileAtomic } = await import('../../util/atomic-file.js');
  await writeFileAtomic(path, JSON.stringify({ passwd: files.passwd, group: files.group, dirs }), { durable: false, mode: 0o600 }).catch(() => {});
}
