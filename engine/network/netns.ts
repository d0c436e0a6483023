// A container's network namespace as a file, like `ip netns add`: a new namespace bind-mounted on
// /run/stevedore/<root hash>/netns/<id>, so it outlives any process in it. The CNI plugins enter it by that path, the
// runtime joins it (config.json names the path), and a stop/start keeps the same file.
import { execFile } from 'node:child_process';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isMountPoint, unmountIfMounted } from '../bundle/overlay.js';
import { NetworkError } from './network-error.js';
import { digestOf } from '../../oci/digest.js';

/**
 * /run/stevedore/<hash of the root>/netns: in /run (a tmpfs) because a namespace does not outlive
 * a reboot and neither should its file; one directory per engine root, since the repair after a
 * crash treats every file there without a live container of this root as a leftover.
 */
export const netnsDir = (root: string) => join('/run/stevedore', digestOf(root).slice('sha256:'.length, 'sha256:'.length + 16), 'netns');
export const netnsPath = (root: string, id: string) => join(netnsDir(root), id);

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, (err, _o, stderr) => (err ? reject(new NetworkError('plugin', `${cmd}: ${stderr.trim() || err.message}`)) : resolve())),
  );
}

/**
 * Creates a fresh namespace at path with its loopback up: util-linux `unshare --net=FILE` makes
 * the namespace and the bind mount, then execs `ip link set lo up` inside it (one process chain,
 * ~8 ms), instead of `unshare … true` followed by the CNI loopback plugin (~25 ms more). With
 * `fifo` (the ready gate's, ready-gate.ts) the same chain makes that FIFO first: each process
 * started from the engine is a fork of the (large) node process, which blocks its event loop
 * until the child has exec'd, so one fork of it fewer per bridge start.
 */
export async function createNetns(path: string, fifo?: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  if (await isMountPoint(path)) {
    if (fifo) await run('mkfifo', ['-m', '600', fifo]);
    return;
  }
  await writeFile(path, '', { mode: 0o600 });
  if (fifo) await run('sh', ['-c', 'mkfifo -m 600 "$1" && exec unshare --net="$2" ip link set lo up', 'sh', fifo, path]);
  else await run('unshare', [`--net=${path}`, 'ip', 'link', 'set', 'lo', 'up']);
}

/** Makes path name the namespace another one names (`--network container:NAME`). */
export async function bindNetns(source: string, path: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  await unmountIfMounted(path);
  await writeFile(path, '', { mode: 0o600 });
  await run('mount', ['--bind', source, path]);
}

/** Releases the namespace file; the namespace itself goes when nothing else holds it. */
export async function removeNetns(path: string): Promise<void> {
  await unmountIfMounted(path);
  await rm(path, { force: true });
  // The last one out removes the (then empty) directories: nothing of ours stays in /run.
  const dirs = [dirname(path), dirname(dirname(path)), dirname(dirname(dirname(path)))];
  for (const d of dirs) if (!(await rmdir(d).then(() => true, () => false))) break;
}
