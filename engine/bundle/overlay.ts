// The container's root filesystem: an overlay mount of the image's unpacked layers (read-only
// lower directories) with the container's own upper and work directories on top.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';

export class MountError extends Error {}

function run(cmd: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd }, (err, _stdout, stderr) =>
      err ? reject(new MountError(`${cmd} ${args[args.length - 1]}: ${stderr.trim() || err.message}`)) : resolve(),
    ),
  );
}

// The mount(2) option string is limited to one page; longer lists of layers are given relative
// to their common parent directory (the kernel resolves them from the caller's cwd).
const MAX_OPTIONS = 4000;

function commonParent(paths: string[]): string {
  let parent = dirname(paths[0]!);
  while (!paths.every((p) => p.startsWith(parent.endsWith('/') ? parent : `${parent}/`))) parent = dirname(parent);
  return parent;
}

/** Mounts layerDirs (lowest first, as LocalImage gives them) with upper and work at target. */
export async function mountOverlay(layerDirs: string[], upperDir: string, workDir: string, target: string): Promise<void> {
  if (layerDirs.length === 0) throw new MountError('the image has no layers');
  for (const p of [...layerDirs, upperDir, workDir]) {
    // overlayfs splits its options on ',' and lowerdir on ':'.
    if (/[,:\\]/.test(p)) throw new MountError(`cannot use ${p} in an overlay mount: it contains ',', ':' or '\\'`);
  }
  // overlayfs wants the top layer first.
  const lower = [...layerDirs].reverse();
  let options = `lowerdir=${lower.join(':')},upperdir=${upperDir},workdir=${workDir}`;
  let cwd: string | undefined;
  if (options.length > MAX_OPTIONS) {
    cwd = commonParent([...lower, upperDir, workDir]);
    const rel = (p: string) => relative(cwd!, p);
    options = `lowerdir=${lower.map(rel).join(':')},upperdir=${rel(upperDir)},workdir=${rel(workDir)}`;
    if (options.length > MAX_OPTIONS) throw new MountError(`too many layers (${layerDirs.length}) for one overlay mount`);
  }
  await run('mount', ['-t', 'overlay', 'overlay', '-o', options, target], cwd);
}

/** Decodes the octal escapes of /proc/self/mountinfo paths. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

export async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
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
