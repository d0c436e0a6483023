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
// Set by an interrupt: a step that mounts after it gets an error, not a directory nobody removes.
let closed = false;

export class Workspace {
  readonly bundle: string;
  readonly rootfs: string;
  readonly upper: string;
  private readonly work: string;
  private mounted = false;
  private removing: Promise<void> | undefined;
  private mounting: Promise<void> | undefined;

  private constructor(readonly dir: string) {
    this.bundle = join(dir, 'bundle');
    this.rootfs = join(this.bundle, 'rootfs');
    this.upper = join(dir, 'upper');
    this.work = join(dir, 'work');
  }

  /** Mounts `layerDirs` (lowest first; none for a `scratch` stage) with an empty upper directory. */
  static async mount(tmpRoot: string, layerDirs: string[]): Promise<Workspace> {
    if (closed) throw new Error('the build was interrupted');
    const ws = new Workspace(join(tmpRoot, randomUUID()));
    open.add(ws);
    const mounting = ws.mountNow(layerDirs);
    // A removal (an interrupt's) waits for the mount to settle, so it never runs before a
    // directory it should remove is created.
    ws.mounting = mounting.then(() => undefined, () => undefined);
    try {
      await mounting;
      if (closed) throw new Error('the build was interrupted');
      return ws;
    } catch (err) {
      await ws.remove();
      throw err;
    }
  }

  private async mountNow(layerDirs: string[]): Promise<void> {
    await mkdir(this.rootfs, { recursive: true, mode: 0o700 });
    await Promise.all([mkdir(this.upper, { mode: 0o755 }), mkdir(this.work)]);
    let lowers = layerDirs;
    if (lowers.length === 0) {
      // overlayfs needs a lower directory: an empty one for scratch.
      const empty = join(this.dir, 'empty');
      await mkdir(empty, { mode: 0o755 });
      lowers = [empty];
    }
    await mountOverlay(lowers, this.upper, this.work, this.rootfs, join(this.dir, 'l'));
    this.mounted = true;
  }

  async unmount(): Promise<void> {
    if (!this.mounted) return;
    await unmountIfMounted(this.rootfs);
    this.mounted = false;
  }

  /**
   * Unmounts and removes everything of the workspace (its upper directory too, unless adopted).
   * One removal per workspace: a failed step and an interrupt may both ask at once, and each must
   * wait for the same removal to finish (a second umount or rm racing the first could fail and let
   * the process exit with the directory half removed).
   */
  remove(): Promise<void> {
    this.removing ??= (async () => {
      await this.mounting;
      try {
        await unmountIfMounted(this.rootfs);
        this.mounted = false;
      } finally {
        await rm(this.dir, { recursive: true, force: true, maxRetries: 5 });
        open.delete(this);
      }
    })();
    return this.removing;
  }

  /** Every workspace of this process, after a failure. */
  static async removeAll(): Promise<void> {
    await Promise.all([...open].map((ws) => ws.remove().catch(() => undefined)));
  }

  /** After an interrupt: removes every workspace and refuses new ones until the process exits. */
  static async closeAll(): Promise<void> {
    closed = true;
    await Workspace.removeAll();
  }
}
