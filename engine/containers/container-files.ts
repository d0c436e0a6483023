// `cp` both ways and `export`: files of a container's root filesystem (mounted for the while when
// the container is not running) through GNU tar, owners (numeric), modes, times, symlinks as links.
// Containment: the container-side path is resolved inside the rootfs (its symlinks followed as the
// container sees them, never out of it), and tar extracting into the container replaces a symlink
// where the archive has a directory instead of following it, so nothing lands outside the rootfs.
import { spawn } from 'node:child_process';
import { lstat, stat } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import type { Writable } from 'node:stream';
import { isMountPoint, mountOverlay, unmountIfMounted } from '../bundle/overlay.js';
import { resolveInRootfs } from '../bundle/rootfs-path.js';
import type { ContainerRecord } from './container-store.js';
import type { EngineContext } from './engine-context.js';
import { runningRootfs } from './container-state.js';
import { ContainerStateError, findContainer } from './lifecycle.js';

/** Runs fn with the container's merged rootfs mounted (already, or for the while). */
async function withRootfs<T>(ctx: EngineContext, r: ContainerRecord, fn: (rootfs: string) => Promise<T>): Promise<T> {
  // Running with the overlay mounted by its runtime: reached through the container itself.
  if (r.rootfsInRuntime && r.state === 'running') {
    const live = await runningRootfs(r);
    if (!live) throw new ContainerStateError(`container ${r.name} is starting or stopping: try again`);
    return fn(live);
  }
  if (await isMountPoint(r.rootfs)) return fn(r.rootfs);
  if (!r.layerDirs) throw new ContainerStateError(`container ${r.name} was made by an older stevedore: its files cannot be reached while it is stopped`);
  await mountOverlay(r.layerDirs, r.upperDir, r.workDir, r.rootfs, join(ctx.store.containerDir(r.id), 'l'));
  try {
    return await fn(r.rootfs);
  } finally {
    await unmountIfMounted(r.rootfs);
  }
}

function tar(args: string[], io: { stdin?: 'pipe'; stdout?: Writable | 'pipe' }): { done: Promise<void>; child: ReturnType<typeof spawn> } {
  const child = spawn('tar', args, { stdio: [io.stdin ?? 'ignore', io.stdout && io.stdout !== 'pipe' ? 'pipe' : (io.stdout ?? 'ignore'), 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  if (io.stdout && io.stdout !== 'pipe') child.stdout!.pipe(io.stdout, { end: false });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new ContainerStateError(`tar: ${err.trim().split('\n').pop() || `exit ${code}`}`))));
  });
  return { done, child };
}

const PACK = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls'];
/**
 * Reading from a container: its root file system only. Through /proc/PID/root (a running container
 * whose runtime mounted its overlay) the container's /proc, /sys, /dev and binds are mounted below
 * it; through the host mount nothing is, and this changes nothing.
 */
const FROM_ROOT = [...PACK, '--one-file-system'];
/** For tar's --transform=s|PATTERN|REPLACEMENT|: the pattern's regex characters and the replacement's own. */
const escapePattern = (s: string) => s.replace(/[\\|.*[\]^$]/g, (c) => `\\${c}`);
const escapeReplacement = (s: string) => s.replace(/[\\|&]/g, (c) => `\\${c}`);

/** Splits `C:/path` (docker's form); undefined for a host path. */
export function containerPath(arg: string): { container: string; path: string } | undefined {
  const i = arg.indexOf(':');
  if (i <= 0 || arg.startsWith('/') || arg.startsWith('.')) return undefined;
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

/** `cp C:SRC DEST`: into DEST (a directory that exists: inside it; else the copy is named DEST); DEST "-": a tar to `out`. */
export async function copyFromContainer(ctx: EngineContext, ref: string, src: string, dest: string, out: Writable): Promise<void> {
  const r = await findContainer(ctx, ref);
  const path = posix.resolve('/', src);
  await withRootfs(ctx, r, async (rootfs) => {
    // The parent resolved in the container's view; the last component copied as it is (a symlink stays a link).
    const parent = await resolveInRootfs(rootfs, posix.dirname(path));
    const name = posix.basename(path) || '.';
    if (!(await lstat(join(parent, name)).catch(() => undefined))) {
      throw new ContainerStateError(`no such file or directory in container ${r.name}: ${src}`);
    }
    if (dest === '-') {
      await tar(['-C', parent, ...FROM_ROOT, '-cf', '-', name], { stdout: out }).done;
      return;
    }
    const target = await stat(dest).catch(() => undefined);
    const into = target?.isDirectory() ? dest : dirname(dest);
    const rename = target?.isDirectory() ? [] : [`--transform=s|^${escapePattern(name)}|${escapeReplacement(basename(dest))}|`];
    if (!(await stat(into).catch(() => undefined))?.isDirectory()) throw new ContainerStateError(`destination directory ${into} does not exist`);
    const pack = tar(['-C', parent, ...FROM_ROOT, ...rename, '-cf', '-', name], { stdout: 'pipe' });
    const unpack = tar(['-C', into, ...PACK, '-xpf', '-'], { stdin: 'pipe' });
    pack.child.stdout!.pipe(unpack.child.stdin!);
    await Promise.all([pack.done, unpack.done]);
  });
}

/** `cp SRC C:DEST`: SRC (a host path) into the container, as copyFromContainer the other way. */
export async function copyToContainer(ctx: EngineContext, src: string, ref: string, dest: string): Promise<void> {
  const r = await findContainer(ctx, ref);
  if (!(await stat(src).catch(() => undefined))) throw new ContainerStateError(`no such file or directory: ${src}`);
  const path = posix.resolve('/', dest);
  await withRootfs(ctx, r, async (rootfs) => {
    const full = await resolveInRootfs(rootfs, path);
    const target = await stat(full).catch(() => undefined);
    const into = target?.isDirectory() ? full : await resolveInRootfs(rootfs, posix.dirname(path));
    if (!(await stat(into).catch(() => undefined))?.isDirectory()) throw new ContainerStateError(`no such directory in container ${r.name}: ${posix.dirname(path)}`);
    const name = basename(src.replace(/\/+$/, '')) || '.';
    const rename = target?.isDirectory() ? [] : [`--transform=s|^${escapePattern(name)}|${escapeReplacement(posix.basename(path))}|`];
    const pack = tar(['-C', dirname(src.replace(/\/+$/, '')), ...PACK, ...rename, '-cf', '-', name], { stdout: 'pipe' });
    // A directory of the archive replaces a symlink of that name (tar's default without
    // --keep-directory-symlink): the container's links are never followed out of its root.
    const unpack = tar(['-C', into, ...PACK, '-xpf', '-'], { stdin: 'pipe' });
    pack.child.stdout!.pipe(unpack.child.stdin!);
    await Promise.all([pack.done, unpack.done]);
  });
}

/** `export C`: the merged rootfs as a tar. */
export async function exportContainer(ctx: EngineContext, ref: string, out: Writable): Promise<void> {
  const r = await findContainer(ctx, ref);
  await withRootfs(ctx, r, async (rootfs) => {
    await tar(['-C', rootfs, ...FROM_ROOT, '-cf', '-', '.'], { stdout: out }).done;
  });
}
