// The container's root filesystem: an overlay mount of the image's unpacked layers (read-only
// lower directories) with the container's own upper and work directories on top.
import { KindedError } from '../../util/errors.js';
import { execFile } from 'node:child_process';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

/** mount/umount failed: the host's state (a busy mount, a missing filesystem), not the request. */
export class MountError extends KindedError {
  constructor(message: string) {
    super('unavailable', message);
    this.name = 'MountError';
  }
}

function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd }, (err, _stdout, stderr) =>
      err ? reject(new MountError(`${cmd} ${args[args.length - 1]}: ${stderr.trim() || err.message}`)) : resolve(),
    ),
  );
}

// The mount(2) option string is limited to one page. Longer lists of layers are given as short
// symbolic links (l/0, l/1, …, like Docker's overlay2) in a directory next to upper and work,
// relative to it (the kernel resolves them from the caller's cwd and follows the links).
const MAX_OPTIONS = 4000;

/** overlayfs splits its options on ',' and lowerdir on ':' (snapshot names like sha256:… have one); '\\' escapes. */
const escape = (p: string) => p.replace(/[\\:,]/g, (c) => `\\${c}`);

/**
 * The overlay's mount options for layerDirs (lowest first) under upper and work, with absolute
 * paths: what a runtime mounting the overlay itself is given (runtime-spec mounts, which have no
 * working directory for the short links below); undefined when they do not fit in one page.
 */
export function overlayOptions(layerDirs: string[], upperDir: string, workDir: string): string[] | undefined {
  if (layerDirs.length === 0) return undefined;
  // overlayfs wants the top layer first.
  const options = [`lowerdir=${[...layerDirs].reverse().map(escape).join(':')}`, `upperdir=${escape(upperDir)}`, `workdir=${escape(workDir)}`];
  return options.join(',').length > MAX_OPTIONS ? undefined : options;
}

/**
 * Mounts layerDirs (lowest first, as LocalImage gives them) with upper and work at target; linkDir
 * (in the same directory as upper and work) holds the short links when the paths are too long.
 */
export async function mountOverlay(layerDirs: string[], upperDir: string, workDir: string, target: string, linkDir: string): Promise<void> {
  if (layerDirs.length === 0) throw new MountError('the image has no layers');
  // overlayfs wants the top layer first.
  const lower = [...layerDirs].reverse();
  let options = overlayOptions(layerDirs, upperDir, workDir)?.join(',') ?? '';
  let cwd: string | undefined;
  if (!options) {
    cwd = dirname(linkDir);
    await rm(linkDir, { recursive: true, force: true });
    await mkdir(linkDir);
    await Promise.all(lower.map((dir, i) => symlink(dir, join(linkDir, String(i)))));
    const rel = (p: string) => escape(relative(cwd!, p));
    options = `lowerdir=${lower.map((_, i) => rel(join(linkDir, String(i)))).join(':')},upperdir=${rel(upperDir)},workdir=${rel(workDir)}`;
    if (options.length > MAX_OPTIONS) throw new MountError(`too many layers (${layerDirs.length}) for one overlay mount`);
  }
  await run('mount', ['-t', 'overlay', 'overlay', '-o', options, target], cwd);
}

/** Decodes the octal escapes of /proc/self/mountinfo paths. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

export async function isMountPoint(path: string): Promise<boolean> {
  // Read synchronously: a proc file (no disk), read twice by every `run` (before the start and at
  // the exit), where an asynchronous read is several thread-pool trips.
  const info = process.getBuiltinModule('node:fs').readFileSync('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => unescape(line.split(' ')[4] ?? '') === path);
}

/** Unmounts target if it is mounted (lazily when something still holds it busy). */
export async function unmountIfMounted(target: string): Promise<void> {
  while (await isMountPoint(target)) {
    try {
      await run('umount', [target]);
    } catch (err) {
      if (!/busy/i.test((err as Error).message)) throw err;
      await run('umount', ['--lazy', target]);
    }
  }
}
