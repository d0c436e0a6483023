// The root filesystem one build step works on: an overlay mount of the stage's layer snapshots
// (read-only) with a fresh upper directory that collects the step's changes, all in one temporary
// directory under the engine root (<root>/builder/tmp/<id>), so the upper directory can become a
// snapshot by a rename. Every open workspace is known to the process: an interrupted build
// unmounts and removes them all (removeAll), and so does a failed step.
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mountOverlay, unmountIfMounted } from '../../engine/bundle/overlay.js';

const open = new Set<Workspace>();

export class Workspace {
  readonly bundle: string;
  readonly rootfs: string;
  readonly upper: string;
  private readonly work: string;
  private mounted = false;

  private constructor(readonly dir: string) {
    this.bundle = join(dir, 'bundle');
    this.rootfs = join(this.bundle, 'rootfs');
    this.upper = join(dir, 'upper');
    this.work = join(dir, 'work');
  }

  /** Mounts `layerDirs` (lowest first; none for a `scratch` stage) with an empty upper directory. */
  static async mount(tmpRoot: string, layerDirs: string[]): Promise<Workspace> {
    const ws = new Workspace(join(tmpRoot, randomUUID()));
    open.add(ws);
    try {
      await mkdir(ws.rootfs, { recursive: true, mode: 0o700 });
      await Promise.all([mkdir(ws.upper, { mode: 0o755 }), mkdir(ws.work)]);
      let lowers = layerDirs;
      if (lowers.length === 0) {
        // overlayfs needs a lower directory: an empty one for scratch.
        const empty = join(ws.dir, 'empty');
        await mkdir(empty, { mode: 0o755 });
        lowers = [empty];
      }
      await mountOverlay(lowers, ws.upper, ws.work, ws.rootfs, join(ws.dir, 'l'));
      ws.mounted = true;
      return ws;
    } catch (err) {
      await ws.remove();
      throw err;
    }
  }

  async unmount(): Promise<void> {
    if (!this.mounted) return;
    await unmountIfMounted(this.rootfs);
    this.mounted = false;
  }

  /** Unmounts and removes everything of the workspace (its upper directory too, unless adopted). */
  async remove(): Promise<void> {
    try {
      await unmountIfMounted(this.rootfs);
      this.mounted = false;
    } finally {
      await rm(this.dir, { recursive: true, force: true });
      open.delete(this);
    }
  }

  /** Every workspace of this process, after a failure or an interrupt. */
  static async removeAll(): Promise<void> {
    for (const ws of [...open]) await ws.remove().catch(() => undefined);
  }
}
