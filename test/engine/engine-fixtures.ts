// Shared by the engine's image tests: a real Stevedore registry to pull from, pushing test images
// to it, running the compiled `stevedore` CLI, and overlay mounts of pulled images.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, lstat, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { Client } from '../../client/index.js';
import { CLI } from '../helpers/stevedore-process.js';
import type { TestBlob, TestImage } from './layer-fixtures.js';

const execFileP = promisify(execFile);

export async function pushImage(host: string, repo: string, tag: string, image: TestImage, index?: TestBlob & { digest: string; mediaType: string }, others: TestImage[] = []): Promise<void> {
  const client = new Client();
  try {
    const rc = client.registryClient(host);
    for (const img of [image, ...others]) {
      for (const b of img.blobs) {
        await rc.uploadBlob(repo, b.descriptor, { open: async (offset) => Readable.from([b.bytes.subarray(offset)]) });
      }
      await rc.putManifest(repo, index ? img.manifest.digest : tag, { mediaType: img.manifest.mediaType, bytes: img.manifest.bytes });
    }
    if (index) await rc.putManifest(repo, tag, { mediaType: index.mediaType, bytes: index.bytes });
  } finally {
    await client.close();
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the compiled CLI; never rejects (the exit code is part of the result). */
export function stevedore(args: string[], opts: { env?: NodeJS.ProcessEnv; onStderr?: (s: string) => void } = {}): Promise<CliResult> & { pid?: number; kill: (s: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    opts.onStderr?.(d);
  });
  const p = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))) as Promise<CliResult> & { pid?: number; kill: (s: NodeJS.Signals) => void };
  p.pid = child.pid;
  p.kill = (s) => child.kill(s);
  return p;
}

const made: string[] = [];

/** A fresh directory under the system's temporary directory, removed by removeTempDirs(). */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** The store's inspect of an image: its unpacked layer directories etc. */
export async function inspectLayers(root: string, ref: string): Promise<string[]> {
  const { inspectLocalImage } = await import('../../engine/image-inspect.js');
  const { ImageStore } = await import('../../engine/store/image-store.js');
  const out = await inspectLocalImage(new ImageStore(root), ref);
  if (!out) throw new Error(`no local image ${ref} in ${root}`);
  return out.LayerDirs;
}

export interface Mounted {
  dir: string;
  unmount(): Promise<void>;
}

/** Mounts the layers as a user's container would see them: overlayfs, newest layer first in lowerdir. */
export async function mountOverlay(layerDirs: string[]): Promise<Mounted> {
  const base = await tempDir('stevedore-ovl-');
  const [merged, upper, work] = ['merged', 'upper', 'work'].map((d) => join(base, d)) as [string, string, string];
  for (const d of [merged, upper, work]) await mkdir(d);
  const lower = [...layerDirs].reverse().join(':');
  await execFileP('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
  return {
    dir: merged,
    async unmount() {
      await execFileP('umount', [merged]);
      await rm(base, { recursive: true, force: true });
    },
  };
}

export async function getXattr(path: string, name: string): Promise<Buffer | undefined> {
  try {
    const { stdout } = await execFileP('getfattr', ['-h', '--absolute-names', '--only-values', '-e', 'hex', '-n', name, path], { encoding: 'buffer' });
    return stdout;
  } catch {
    return undefined;
  }
}

/** Everything a user could notice about a tree: paths, types, modes, owners, times, contents, targets, device numbers, xattrs. */
export async function describeTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    const names = (await readdir(join(root, rel))).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const p = join(root, r);
      const st = await lstat(p);
      let extra = '';
      if (st.isFile()) extra = createHash('sha256').update(await readFile(p)).digest('hex');
      else if (st.isSymbolicLink()) extra = `-> ${await readlink(p)}`;
      else if (st.isCharacterDevice() || st.isBlockDevice()) extra = `rdev ${st.rdev}`;
      const { stdout } = await execFileP('getfattr', ['-h', '--absolute-names', '-d', '-m', '-', '-e', 'hex', p]).catch(() => ({ stdout: '' }));
      const attrs = stdout.split('\n').filter((l) => l && !l.startsWith('#')).join(',');
      out.push(`${r} ${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.isDirectory() ? '' : Math.floor(st.mtimeMs / 1000)} ${extra} ${attrs}`);
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}
