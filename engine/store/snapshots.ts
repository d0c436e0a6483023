// Snapshots: one directory per unpacked layer, keyed by its ChainID (image-spec config.md), so a
// layer shared by several images (same content on the same parents) is unpacked once. A layer is
// unpacked into snapshots/tmp/ and renamed into place only when complete and its diff_id checked,
// so a directory snapshots/<chainid> is always a whole layer; a lock per ChainID makes concurrent
// pulls unpack it once.
import { chmod, lchown, lstat, mkdir, readdir, readFile, rename, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeFileAtomic } from '../../util/atomic-file.js';
import { digestOf, parseDigest, type Digest } from '../../oci/digest.js'; // not the index: `run` loads only this
import { ownerAlive, withLock } from '../file-lock.js';
import { KindedError } from '../../util/errors.js';
import { randomHex } from '../../util/random-hex.js';

/** ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : digestOf(`${out[out.length - 1]} ${d}`));
  return out;
}

/** A layer whose uncompressed content does not match the config's diff_id. */
export class DiffIdMismatchError extends KindedError {
  constructor(message: string) {
    super('corrupt', message);
    this.name = 'DiffIdMismatchError';
  }
}

export interface SnapshotInfo {
  chainId: Digest;
  diffId: Digest;
  /** Uncompressed size of the layer tar. */
  size: number;
  implicitDirs: string[];
}

/** Flushes the file system holding `dir` (syncfs), so a committed snapshot survives a power cut. */
function syncFs(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // node:child_process (with the streams, sockets and dgram it brings) when a snapshot is committed,
    // not with the store: `images` reads snapshots' sizes and never commits one.
    const child = process.getBuiltinModule('node:child_process').spawn('sync', ['-f', dir], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sync -f ${dir} failed (exit ${code})`))));
  });
}

export interface EnsureOptions {
  onWait?: () => void;
  slot?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** The committed directories of the layers below, lowest first. */
  lowers?: () => Promise<string[]>;
}

/** Gives directories a layer made implicitly the owner, mode and mtime of the same directory in the nearest lower layer. */
async function inheritDirs(fs: string, rels: string[], lowerDirs: string[]): Promise<void> {
  for (const rel of rels) {
    const here = await lstat(join(fs, rel)).catch(() => undefined);
    if (!here?.isDirectory()) continue;
    for (let j = lowerDirs.length - 1; j >= 0; j--) {
      const st = await lstat(join(lowerDirs[j]!, rel)).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) {
        await lchown(join(fs, rel), st.uid, st.gid);
        await chmod(join(fs, rel), st.mode & 0o7777);
        await utimes(join(fs, rel), st.atime, st.mtime);
      }
      break;
    }
  }
}

export class Snapshots {
  readonly dir: string;
  readonly tmpDir: string;

  constructor(readonly root: string) {
    this.dir = join(root, 'snapshots');
    this.tmpDir = join(this.dir, 'tmp');
  }

  path(chainId: Digest): string {
    return join(this.dir, parseDigest(chainId).hex);
  }

  /** The layer's directory: what goes into overlayfs's lowerdir. */
  fsDir(chainId: Digest): string {
    return join(this.path(chainId), 'fs');
  }

  async has(chainId: Digest): Promise<boolean> {
    // Synchronous: one stat per layer on `run`'s short path (no thread-pool trip).
    return process.getBuiltinModule('node:fs').existsSync(join(this.path(chainId), 'snapshot.json'));
  }

  async info(chainId: Digest): Promise<SnapshotInfo | undefined> {
    try {
      return JSON.parse(await readFile(join(this.path(chainId), 'snapshot.json'), 'utf8')) as SnapshotInfo;
    } catch {
      return undefined;
    }
  }

  /**
   * Unpacks the layer stored in `blobFile` as snapshot `chainId`, unless it is there already.
   * `slot` bounds how many unpacks run at once (the lock wait is outside it); `lowers` gives the
   * layer directories below this one once they are committed, to copy the owner, mode and time
   * of directories a layer needed but did not contain (else overlayfs would show them 0755 root).
   */
  async ensure(chainId: Digest, diffId: Digest, blobFile: string, opts: EnsureOptions = {}): Promise<'present' | 'unpacked'> {
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    const slot = opts.slot ?? (<T>(fn: () => Promise<T>) => fn());
    return withLock(
      `${this.path(chainId)}.lock`,
      async () => {
        if (await this.has(chainId)) return 'present';
        const tmp = join(this.tmpDir, randomHex(16));
        try {
          const fs = join(tmp, 'fs');
          await mkdir(fs, { recursive: true });
          await chmod(fs, 0o755); // the container's / unless the layer says otherwise, whatever the umask
          // Loaded here: finding an image already unpacked (`run`) does not need the unpacker.
          const { unpackLayer } = await import('../unpack/unpack-layer.js');
          const result = await slot(() => unpackLayer(blobFile, fs));
          if (result.diffId !== diffId) throw new DiffIdMismatchError(`layer content has diff_id ${result.diffId}, but the image config says ${diffId}`);
          if (result.implicitDirs.length > 0 && opts.lowers) await inheritDirs(fs, result.implicitDirs, await opts.lowers());
          const info: SnapshotInfo = { chainId, diffId, size: result.size, implicitDirs: result.implicitDirs };
          await writeFileAtomic(join(tmp, 'snapshot.json'), JSON.stringify(info));
          await syncFs(tmp);
          await rm(this.path(chainId), { recursive: true, force: true }); // a leftover without snapshot.json
          await rename(tmp, this.path(chainId));
          await syncDir(this.dir);
          return 'unpacked';
        } catch (err) {
          await rm(tmp, { recursive: true, force: true });
          throw err;
        }
      },
      opts.onWait,
    );
  }

  /**
   * Makes `fsDir` (a directory already in overlayfs form on this file system: the upper directory
   * of a build step) snapshot `chainId` by renaming it into place, instead of unpacking its layer
   * again; when the snapshot exists already, `fsDir` is removed.
   */
  async adopt(chainId: Digest, diffId: Digest, size: number, fsDir: string): Promise<'present' | 'adopted'> {
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    return withLock(`${this.path(chainId)}.lock`, async () => {
      if (await this.has(chainId)) {
        await rm(fsDir, { recursive: true, force: true });
        return 'present';
      }
      const tmp = join(this.tmpDir, randomHex(16));
      try {
        await mkdir(tmp);
        await rename(fsDir, join(tmp, 'fs'));
        const info: SnapshotInfo = { chainId, diffId, size, implicitDirs: [] };
        await writeFileAtomic(join(tmp, 'snapshot.json'), JSON.stringify(info));
        await syncFs(tmp);
        await rm(this.path(chainId), { recursive: true, force: true });
        await rename(tmp, this.path(chainId));
        await syncDir(this.dir);
        return 'adopted';
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
    });
  }

  async list(): Promise<Digest[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}` as Digest);
  }

  /** Removes a snapshot: first renamed away, so a half-deleted tree never looks like a snapshot. */
  async remove(chainId: Digest): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    const trash = join(this.tmpDir, `trash-${randomHex(16)}`);
    try {
      await rename(this.path(chainId), trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await rm(trash, { recursive: true, force: true });
  }

  /** Lock files left by crashed processes (only called while no pull runs). */
  async removeStaleLocks(): Promise<void> {
    for (const n of await readdir(this.dir).catch(() => [] as string[])) {
      if (!n.endsWith('.lock')) continue;
      const content = await readFile(join(this.dir, n), 'utf8').catch(() => undefined);
      if (content && !(await ownerAlive(content))) await rm(join(this.dir, n), { force: true });
    }
  }

  /** Leftovers of unpacks interrupted by a crash (only called while no pull runs). */
  async removeLeftovers(): Promise<number> {
    const names = await readdir(this.tmpDir).catch(() => [] as string[]);
    for (const n of names) await rm(join(this.tmpDir, n), { recursive: true, force: true });
    return names.length;
  }
}
