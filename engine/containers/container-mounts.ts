// A container's mounts from its requests (-v, --mount, --tmpfs, --volumes-from) and its image's
// VOLUMEs: named volumes created on first use, anonymous ones for image VOLUMEs nothing else
// covers, host paths checked (or made, for -v); then, once the rootfs is mounted, docker's
// copy-up: an empty volume gets the image's content at its path, owners and modes kept.
import { execFile } from 'node:child_process';
import { mkdir, readdir, stat } from 'node:fs/promises';
import type { BindMount, TmpfsMount } from '../bundle/spec.js';
import { resolveInRootfs } from '../bundle/rootfs-path.js';
import type { MountRequest } from '../volumes/mount-options.js';
import { VolumeStore } from '../volumes/volume-store.js';
import type { ContainerRecord } from './container-store.js';
import { mountsOf } from './container-state.js';
import { UsageError } from './run-options.js';

/** A mount as the container's record keeps it (inspect's Mounts; rm -v; volume in-use checks). */
export interface ResolvedMount {
  type: 'bind' | 'volume' | 'tmpfs';
  /** Host path (bind, volume's _data). */
  source?: string;
  destination: string;
  readOnly: boolean;
  /** Volume name. */
  name?: string;
  anonymous?: boolean;
  /** tmpfs options. */
  options?: string[];
  /** Fill an empty volume from the image when the container is created. */
  copyUp?: boolean;
}

// The mounts a record holds (older records have none): container-state.ts, re-exported.
export { mountsOf };

/**
 * Resolves requests (in order: --volumes-from, then the flags; a later mount at the same path
 * wins) and adds an anonymous volume for every image VOLUME left uncovered. Creates volumes.
 */
export async function resolveMounts(
  root: string,
  requests: MountRequest[],
  imageVolumes: string[],
  fromContainers: { record: ContainerRecord; mode?: 'ro' | 'rw' }[],
): Promise<ResolvedMount[]> {
  const volumes = new VolumeStore(root);
  const byDest = new Map<string, ResolvedMount>();
  for (const { record, mode } of fromContainers) {
    for (const m of mountsOf(record)) {
      if (m.type === 'tmpfs') continue; // docker: tmpfs mounts are not shared
      byDest.set(m.destination, { type: m.type, source: m.source, destination: m.destination, readOnly: mode ? mode === 'ro' : m.readOnly, ...(m.name ? { name: m.name } : {}) });
    }
  }
  for (const req of requests) {
    if (req.type === 'tmpfs') {
      byDest.set(req.destination, { type: 'tmpfs', destination: req.destination, readOnly: req.options.includes('ro'), options: req.options });
    } else if (req.type === 'bind') {
      const st = await stat(req.source).catch(() => undefined);
      if (!st) {
        if (!req.create) throw new UsageError(`--mount: bind source path does not exist: ${req.source}`);
        await mkdir(req.source, { recursive: true });
      }
      byDest.set(req.destination, { type: 'bind', source: req.source, destination: req.destination, readOnly: req.readOnly });
    } else {
      const { volume, created } = await volumes.create({ name: req.name, labels: req.labels, anonymous: req.name === undefined, reuse: true, options: req.options });
      byDest.set(req.destination, {
        type: 'volume',
        source: volumes.dataDir(volume.name),
        destination: req.destination,
        readOnly: req.readOnly,
        name: volume.name,
        ...(volume.anonymous ? { anonymous: true } : {}),
        ...(!req.noCopy && (created || (await isEmptyDir(volumes.dataDir(volume.name)))) ? { copyUp: true } : {}),
      });
    }
  }
  for (const raw of imageVolumes) {
    const destination = raw.replace(/\/+$/, '') || '/';
    if (destination === '/' || byDest.has(destination)) continue;
    const { volume } = await volumes.create({ anonymous: true });
    byDest.set(destination, { type: 'volume', source: volumes.dataDir(volume.name), destination, readOnly: false, name: volume.name, anonymous: true, copyUp: true });
  }
  // Parents before children (a volume at /data and a bind at /data/in both show).
  return [...byDest.values()].sort((a, b) => a.destination.split('/').length - b.destination.split('/').length || a.destination.localeCompare(b.destination));
}

async function isEmptyDir(dir: string): Promise<boolean> {
  return (await readdir(dir).catch(() => [])).length === 0;
}

/**
 * docker's copy-up: an empty volume gets what the image has at its path (cp -a: owners, modes,
 * times, symlinks as they are, xattrs), and the directory's own owner and mode. The image path is
 * resolved inside the rootfs, never outside it.
 */
export async function copyUpVolumes(rootfs: string, mounts: ResolvedMount[]): Promise<void> {
  for (const m of mounts) {
    if (m.type !== 'volume' || !m.copyUp || !m.source) continue;
    delete m.copyUp;
    if (!(await isEmptyDir(m.source))) continue;
    const from = await resolveInRootfs(rootfs, m.destination);
    const st = await stat(from).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    await new Promise<void>((resolve, reject) =>
      execFile('cp', ['-a', '--', `${from}/.`, `${m.source}/`], (err, _o, stderr) => (err ? reject(new Error(`copying the image's ${m.destination} into volume ${m.name}: ${stderr.trim() || err.message}`)) : resolve())),
    );
  }
}

/** The runtime spec's view: binds (host paths and volumes) and tmpfs mounts. */
export function specMounts(mounts: ResolvedMount[]): { binds: BindMount[]; tmpfs: TmpfsMount[] } {
  const binds: BindMount[] = [];
  const tmpfs: TmpfsMount[] = [];
  for (const m of mounts) {
    if (m.type === 'tmpfs') tmpfs.push({ destination: m.destination, options: m.options ?? [] });
    else binds.push({ source: m.source!, destination: m.destination, readOnly: m.readOnly });
  }
  return { binds, tmpfs };
}
