// What `stevedore pull -o oci:DIR` makes durable, and in which order, as the kernel saw it (strace
// of the real command against a real registry): every blob and the manifest are fsynced before
// they are renamed to their digest; the names in blobs/sha256 are fsynced (the directory) before
// index.json is renamed into place, so index.json never names a blob a power cut could lose; and
// index.json is synced, renamed and its directory synced before the command says it is done.
// The pull batches these fsyncs (in parallel, one directory fsync for all blobs) for speed: this
// is what must survive that.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/index.js';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { CLI } from '../helpers/stevedore-process.js';

let dir: string;
let server: RunningServer;
let host: string;
let image: BuiltImage;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layout-durability-'));
  server = await startServer({ dataDir: join(dir, 'registry'), addr: '127.0.0.1:0', logLevel: 'silent' });
  host = new URL(server.url).host;
  image = multiLayerImage({ tag: 'v1', randomBytes: 6 * 1024 * 1024 });
  await writeLayout(join(dir, 'image'), image);
  await skopeoCopy(`oci:${join(dir, 'image')}:v1`, `docker://${host}/app/durable:v1`);
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Call {
  seq: number;
  name: string;
  args: string;
}

/** Runs the CLI under strace (fds shown with their paths) and returns the file calls in order. */
function traced(args: string[], log: string): Promise<Call[]> {
  return new Promise((resolve, reject) => {
    execFile(
      'strace',
      ['-f', '-y', '-qq', '-e', 'signal=none', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', '-o', log, process.execPath, CLI, ...args],
      { timeout: 120_000 },
      async (err, _stdout, stderr) => {
        if (err) return reject(new Error(`${args.join(' ')} failed: ${stderr}`));
        // One entry per completed call, in the order they completed. Under -f a call another
        // thread interrupts is split: "PID fsync(23</p> <unfinished ...>", later "PID <... fsync resumed>) = 0".
        const calls: Call[] = [];
        const pending = new Map<string, { name: string; args: string }>();
        for (const line of (await readFile(log, 'utf8')).split('\n')) {
          const m = /^(\d+)\s+(fsync|fdatasync|rename|renameat2?)\((.*)$/.exec(line);
          if (m && m[3]!.endsWith('<unfinished ...>')) pending.set(m[1]!, { name: m[2]!, args: m[3]! });
          else if (m) calls.push({ seq: calls.length, name: m[2]!, args: m[3]! });
          const resumed = /^(\d+)\s+<\.\.\. (\w+) resumed>/.exec(line);
          const started = resumed && pending.get(resumed[1]!);
          if (started) {
            pending.delete(resumed![1]!);
            calls.push({ seq: calls.length, ...started });
          }
        }
        resolve(calls);
      },
    );
  });
}

describe('pull into an OCI layout', () => {
  it('syncs each blob and its name before index.json names it, and index.json before it is done', async () => {
    const out = join(dir, 'pulled');
    const calls = await traced(['pull', '-q', `${host}/app/durable:v1`, '--output', `oci:${out}:v1`], join(dir, 'strace.log'));
    const blobsDir = join(out, 'blobs', 'sha256');
    // The last completed fsync of a path (the early fdatasyncs of a blob being written do not count).
    const fsyncDone = (path: string) => {
      const done = calls.filter((c) => c.name === 'fsync' && c.args.includes(`<${path}>`));
      return done.length > 0 ? done[done.length - 1]!.seq : -1;
    };
    const renameTo = (path: string) => calls.find((c) => c.name.startsWith('rename') && c.args.includes(`, "${path}"`));
    const renameOf = (final: string) => {
      const r = renameTo(final);
      expect(r, `no rename to ${final}`).toBeDefined();
      return { seq: r!.seq, from: /"([^"]+)"/.exec(r!.args)![1]! };
    };
    const indexRename = renameOf(join(out, 'index.json'));
    const digests = [...image.blobs.map((b) => b.descriptor.digest), image.manifest.digest];
    let lastBlobRename = -1;
    for (const d of digests) {
      const final = join(blobsDir, d.slice('sha256:'.length));
      const r = renameOf(final);
      // The content was fsynced (as the temporary file) before the rename.
      const synced = fsyncDone(r.from);
      expect(synced, `${d}: fsync of its content`).toBeGreaterThanOrEqual(0);
      expect(synced, `${d}: fsynced before its rename`).toBeLessThan(r.seq);
      lastBlobRename = Math.max(lastBlobRename, r.seq);
    }
    // blobs/sha256 fsynced after the last name went in and before index.json was renamed.
    const dirSyncs = calls.filter((c) => c.name === 'fsync' && c.args.includes(`<${blobsDir}>`)).map((c) => c.seq);
    expect(dirSyncs.some((s) => s > lastBlobRename && s < indexRename.seq), 'blobs/sha256 fsynced between the last blob rename and the index.json rename').toBe(true);
    // index.json's content before its rename, the layout directory after it.
    expect(fsyncDone(indexRename.from)).toBeGreaterThanOrEqual(0);
    expect(fsyncDone(indexRename.from)).toBeLessThan(indexRename.seq);
    expect(fsyncDone(out)).toBeGreaterThan(indexRename.seq);
    // And the layout is whole.
    const idx = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(idx.manifests.map((m: { digest: string }) => m.digest)).toEqual([image.manifest.digest]);
  });
});
