import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer, text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../oci/index.js';
import type { PutOptions } from './driver.js';
import { FilesystemDriver } from './filesystem-driver.js';
import { openRegistryStorage, type RegistryStorage } from './index.js';
import { DigestMismatchError, UploadOffsetError, UploadUnknownError, type GrowingUpload } from './upload-store.js';

let root: string;
let store: RegistryStorage;
const open = () => openRegistryStorage(new FilesystemDriver({ rootDirectory: root }));
const body = (s: string) => Readable.from([Buffer.from(s)]);

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'uploads-'));
  store = open();
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('UploadStore', () => {
  it('assembles chunks, verifies the digest and links the blob into the repository only', async () => {
    const up = await store.uploads.create('a/b');
    expect(await store.uploads.append('a/b', up.id, body('hello '), 0)).toBe(6);
    expect(await store.uploads.append('a/b', up.id, body('world'), 6)).toBe(11);
    const digest = digestOf('hello world');
    expect(await store.blobs.stat('a/b', digest)).toBeUndefined();
    await store.uploads.commit('a/b', up.id, digest);
    expect(await store.blobs.stat('a/b', digest)).toEqual({ digest, size: 11 });
    expect(await store.blobs.stat('other', digest)).toBeUndefined();
    expect(await text(await store.blobs.reader(digest))).toBe('hello world');
    await expect(store.uploads.status('a/b', up.id)).rejects.toBeInstanceOf(UploadUnknownError);
  });

  it('a whole blob in one step (appendAndCommit) is stored, linked and its upload gone; the quota hook sees its size first', async () => {
    const up = await store.uploads.create('a/b');
    const digest = digestOf('small blob');
    const admitted: number[] = [];
    const info = await store.uploads.appendAndCommit('a/b', up.id, body('small blob'), digest, async (size) => {
      admitted.push(size);
      expect(await store.blobs.stat('a/b', digest)).toBeUndefined(); // admitted before it is linked
    });
    expect(info).toEqual({ digest, size: 10 });
    expect(admitted).toEqual([10]);
    expect(await store.blobs.stat('a/b', digest)).toEqual({ digest, size: 10 });
    expect(await text(await store.blobs.reader(digest))).toBe('small blob');
    await expect(store.uploads.status('a/b', up.id)).rejects.toBeInstanceOf(UploadUnknownError);
    expect(await store.uploads.count()).toBe(0);
  });

  it('appendAndCommit with a wrong digest stores nothing and ends the upload; a refused quota keeps it', async () => {
    const up = await store.uploads.create('a/b');
    const wrong = digestOf('something else');
    await expect(store.uploads.appendAndCommit('a/b', up.id, body('payload'), wrong, async () => undefined)).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await store.blobs.statGlobal(wrong)).toBeUndefined();
    expect(await store.blobs.statGlobal(digestOf('payload'))).toBeUndefined();
    await expect(store.uploads.status('a/b', up.id)).rejects.toBeInstanceOf(UploadUnknownError);

    const kept = await store.uploads.create('a/b');
    const refusal = new Error('over quota');
    await expect(store.uploads.appendAndCommit('a/b', kept.id, body('payload'), digestOf('payload'), () => Promise.reject(refusal))).rejects.toBe(refusal);
    expect(await store.blobs.stat('a/b', digestOf('payload'))).toBeUndefined();
    expect((await store.uploads.status('a/b', kept.id)).size).toBe(7);
  });

  it('appendAndCommit after earlier chunks appends and commits the whole upload', async () => {
    const up = await store.uploads.create('a/b');
    await store.uploads.append('a/b', up.id, body('hello '), 0);
    const digest = digestOf('hello world');
    expect(await store.uploads.appendAndCommit('a/b', up.id, body('world'), digest, async () => undefined, 6)).toEqual({ digest, size: 11 });
    expect(await text(await store.blobs.reader(digest))).toBe('hello world');
    // From another instance (no running digest in memory): the stored bytes are read back.
    const other = await store.uploads.create('a/b');
    await store.uploads.append('a/b', other.id, body('hello '), 0);
    const digest2 = digestOf('hello there');
    expect(await open().uploads.appendAndCommit('a/b', other.id, body('there'), digest2, async () => undefined)).toEqual({ digest: digest2, size: 11 });
  });

  it('a new upload has no bytes until its first append, and an empty blob commits from it', async () => {
    const up = await store.uploads.create('a/b');
    expect((await open().uploads.status('a/b', up.id)).size).toBe(0);
    const empty = digestOf('');
    expect(await store.uploads.commit('a/b', up.id, empty)).toEqual({ digest: empty, size: 0 });
    expect(await store.blobs.stat('a/b', empty)).toEqual({ digest: empty, size: 0 });
    const next = await store.uploads.create('a/b');
    expect(await open().uploads.append('a/b', next.id, body('abc'), 0)).toBe(3);
    expect((await store.uploads.status('a/b', next.id)).size).toBe(3);
  });

  it('a new session\'s record is written without fsyncs and made durable with its first bytes; a record a crash left empty is an unknown upload', async () => {
    class Recording extends FilesystemDriver {
      readonly calls: string[] = [];
      override async putContent(path: string, content: Uint8Array, opts?: PutOptions): Promise<void> {
        this.calls.push(`put ${path}${opts?.durable === false ? ' (not durable)' : ''}`);
        return super.putContent(path, content, opts);
      }
      override async syncContent(path: string): Promise<void> {
        this.calls.push(`sync ${path}`);
        return super.syncContent(path);
      }
    }
    const driver = new Recording({ rootDirectory: root });
    const s = openRegistryStorage(driver);
    const up = await s.uploads.create('a/b');
    expect(driver.calls).toEqual([`put /uploads/${up.id}/info (not durable)`]);
    expect(await s.uploads.append('a/b', up.id, body('abc'))).toBe(3);
    expect(driver.calls).toEqual([`put /uploads/${up.id}/info (not durable)`, `sync /uploads/${up.id}/info`]);
    // A whole blob in one PUT never needs the record: nothing acknowledged is in it.
    const whole = await s.uploads.create('a/b');
    await s.uploads.appendAndCommit('a/b', whole.id, body('whole'), digestOf('whole'), async () => undefined);
    expect(driver.calls.filter((c) => c.includes(whole.id))).toEqual([`put /uploads/${whole.id}/info (not durable)`]);
    expect(await s.blobs.stat('a/b', digestOf('whole'))).toEqual({ digest: digestOf('whole'), size: 5 });
    // What a power cut can leave of a record never synced: an empty file.
    const lost = await s.uploads.create('a/b');
    await writeFile(join(root, 'uploads', lost.id, 'info'), '');
    await expect(open().uploads.status('a/b', lost.id)).rejects.toBeInstanceOf(UploadUnknownError);
    await expect(open().uploads.append('a/b', lost.id, body('x'))).rejects.toBeInstanceOf(UploadUnknownError);
  });

  // The process "dies" when it writes the repository link: the one fault no real part produces on cue.
  class DiesOnLink extends FilesystemDriver {
    override async putContent(path: string, content: Uint8Array): Promise<void> {
      if (path.includes('/_layers/')) throw new Error('killed');
      return super.putContent(path, content);
    }
  }

  it('a commit cut after the blob got its name and before its link: the upload keeps its bytes, takes no more, and a retried PUT completes it', async () => {
    const crashed = openRegistryStorage(new DiesOnLink({ rootDirectory: root }));
    const data = 'not yet acknowledged';
    const digest = digestOf(data);
    const up = await crashed.uploads.create('r');
    await crashed.uploads.append('r', up.id, body(data));
    await expect(crashed.uploads.commit('r', up.id, digest)).rejects.toThrow('killed');
    expect(await crashed.blobs.stat('r', digest)).toBeUndefined();
    expect(await crashed.blobs.statGlobal(digest)).toEqual({ digest, size: data.length });
    const after = open();
    expect(await after.uploads.recoverCommits()).toBe(0); // nothing was acknowledged: no record
    expect((await after.uploads.status('r', up.id)).size).toBe(data.length);
    // A chunk now would write into the stored blob through its other name: refused, blob intact.
    await expect(after.uploads.append('r', up.id, body('more'), data.length)).rejects.toBeInstanceOf(UploadUnknownError);
    expect(await text(await after.blobs.reader(digest))).toBe(data);
    expect(await after.uploads.commit('r', up.id, digest)).toEqual({ digest, size: data.length });
    expect(await after.blobs.stat('r', digest)).toEqual({ digest, size: data.length });
    expect(await text(await after.blobs.reader(digest))).toBe(data);
    await expect(after.uploads.status('r', up.id)).rejects.toBeInstanceOf(UploadUnknownError);
    // The upload's removal: the blob keeps its bytes.
    expect(await text(await after.blobs.reader(digest))).toBe(data);
  });

  it('a commit cut between moving the data and linking it is completed by a retried PUT or the next start (drivers that cannot link: a commit record)', async () => {
    for (const resume of ['retried PUT', 'restart'] as const) {
      const driver = new DiesOnLink({ rootDirectory: root });
      Object.assign(driver, { capabilities: { ...driver.capabilities, link: false } });
      const crashed = openRegistryStorage(driver);
      const repo = `r/${resume.replace(' ', '-')}`;
      const data = `acknowledged ${resume}`;
      const up = await crashed.uploads.create(repo);
      await crashed.uploads.append(repo, up.id, body(data));
      await expect(crashed.uploads.commit(repo, up.id, digestOf(data))).rejects.toThrow('killed');
      expect(await crashed.blobs.stat(repo, digestOf(data))).toBeUndefined();
      const after = open();
      if (resume === 'retried PUT') {
        expect((await after.uploads.status(repo, up.id)).size).toBe(data.length);
        expect(await after.uploads.commit(repo, up.id, digestOf(data))).toEqual({ digest: digestOf(data), size: data.length });
      } else {
        expect(await after.uploads.recoverCommits()).toBe(1);
      }
      expect(await after.blobs.stat(repo, digestOf(data))).toEqual({ digest: digestOf(data), size: data.length });
      expect(await text(await after.blobs.reader(digestOf(data)))).toBe(data);
      await expect(after.uploads.status(repo, up.id)).rejects.toBeInstanceOf(UploadUnknownError);
    }
  });

  it('a final PUT with bytes on a worker that made the upload, after another worker took a PATCH: the stored bytes count', async () => {
    // Workers (hybrid): the creating worker's running digest still says 0 bytes; the other one's
    // PATCH is in storage. The one-step path must see that, not overwrite it.
    const a = openRegistryStorage(new FilesystemDriver({ rootDirectory: root }), { digestState: 'hybrid' });
    const b = openRegistryStorage(new FilesystemDriver({ rootDirectory: root }), { digestState: 'hybrid' });
    const up = await a.uploads.create('r');
    await b.uploads.append('r', up.id, body('first-'), 0);
    const digest = digestOf('first-last');
    expect(await a.uploads.appendAndCommit('r', up.id, body('last'), digest, async () => {})).toEqual({ digest, size: 10 });
    expect(await text(await store.blobs.reader(digest))).toBe('first-last');
  });

  it('refuses chunks that do not start at the current end', async () => {
    const up = await store.uploads.create('r');
    await store.uploads.append('r', up.id, body('abc'), 0);
    await expect(store.uploads.append('r', up.id, body('xyz'), 0)).rejects.toBeInstanceOf(UploadOffsetError);
    await expect(store.uploads.append('r', up.id, body('xyz'), 5)).rejects.toBeInstanceOf(UploadOffsetError);
    expect((await store.uploads.status('r', up.id)).size).toBe(3);
  });

  it('continues an upload in another process sharing the storage (no in-memory state)', async () => {
    const up = await store.uploads.create('r');
    await store.uploads.append('r', up.id, body('first-'), 0);
    const other = open(); // a fresh store: a restarted server or another replica
    expect((await other.uploads.status('r', up.id)).size).toBe(6);
    await other.uploads.append('r', up.id, body('second'), 6);
    await other.uploads.commit('r', up.id, digestOf('first-second'));
    expect(await store.blobs.stat('r', digestOf('first-second'))).toBeTruthy();
  });

  it('with saved digest state, another process continues an upload without re-reading it', async () => {
    const reads: string[] = [];
    const counting = (): FilesystemDriver => {
      const d = new FilesystemDriver({ rootDirectory: root });
      const reader = d.reader.bind(d);
      d.reader = (path, offset, end) => {
        reads.push(path);
        return reader(path, offset, end);
      };
      return d;
    };
    const a = openRegistryStorage(counting(), { digestState: 'storage' });
    const up = await a.uploads.create('r');
    await a.uploads.append('r', up.id, body('first-'), 0);
    const b = openRegistryStorage(counting(), { digestState: 'storage' }); // another replica
    await b.uploads.append('r', up.id, body('second-'), 6);
    await a.uploads.append('r', up.id, body('third'), 13); // and back
    await b.uploads.commit('r', up.id, digestOf('first-second-third'));
    expect(reads).toEqual([]);
    expect(await store.blobs.stat('r', digestOf('first-second-third'))).toBeTruthy();

    // Without saved state the other process re-reads what is stored, once, and still gets it right.
    const c = openRegistryStorage(counting());
    const up2 = await c.uploads.create('r');
    await c.uploads.append('r', up2.id, body('abc'), 0);
    const d = openRegistryStorage(counting());
    await d.uploads.append('r', up2.id, body('def'), 3);
    await d.uploads.commit('r', up2.id, digestOf('abcdef'));
    expect(reads).toHaveLength(1);
  });

  it('hybrid digest state: native while one process holds the upload, one re-read when another takes over, saved from then on', async () => {
    const reads: string[] = [];
    const stateWrites: string[] = [];
    const counting = (): FilesystemDriver => {
      const d = new FilesystemDriver({ rootDirectory: root });
      const reader = d.reader.bind(d);
      d.reader = (path, offset, end) => {
        reads.push(path);
        return reader(path, offset, end);
      };
      const putContent = d.putContent.bind(d);
      d.putContent = (path, content) => {
        if (path.endsWith('/digeststate')) stateWrites.push(path);
        return putContent(path, content);
      };
      return d;
    };
    // The common case: every chunk on the process that started the upload saves nothing and reads nothing.
    const a = openRegistryStorage(counting(), { digestState: 'hybrid' });
    const one = await a.uploads.create('r');
    await a.uploads.append('r', one.id, body('aa-'), 0);
    await a.uploads.append('r', one.id, body('bb'), 3);
    await a.uploads.commit('r', one.id, digestOf('aa-bb'));
    expect({ reads, stateWrites }).toEqual({ reads: [], stateWrites: [] });

    const up = await a.uploads.create('r');
    await a.uploads.append('r', up.id, body('first-'), 0);
    const b = openRegistryStorage(counting(), { digestState: 'hybrid' }); // another worker, replica or a restart
    await b.uploads.append('r', up.id, body('second-'), 6); // re-reads the 6 bytes, saves the state
    expect(reads).toHaveLength(1);
    await a.uploads.append('r', up.id, body('third-'), 13); // a's native digest (at 6) is stale: the saved state
    const c = openRegistryStorage(counting(), { digestState: 'hybrid' });
    await c.uploads.append('r', up.id, body('fourth'), 19);
    const d = openRegistryStorage(counting(), { digestState: 'hybrid' });
    await d.uploads.commit('r', up.id, digestOf('first-second-third-fourth'));
    expect(reads).toHaveLength(1);
    expect(stateWrites).toHaveLength(3);
    expect(await store.blobs.stat('r', digestOf('first-second-third-fourth'))).toBeTruthy();
  });

  it('verifies sha512 digests too', async () => {
    const up = await store.uploads.create('r');
    await store.uploads.append('r', up.id, body('data'));
    await store.uploads.commit('r', up.id, digestOf('data', 'sha512'));
    expect(await store.blobs.stat('r', digestOf('data', 'sha512'))).toEqual({ digest: digestOf('data', 'sha512'), size: 4 });
  });

  it('drops an upload whose content does not match the digest, storing nothing', async () => {
    const up = await store.uploads.create('r');
    await store.uploads.append('r', up.id, body('data'));
    await expect(store.uploads.commit('r', up.id, digestOf('other'))).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await store.blobs.statGlobal(digestOf('data'))).toBeUndefined();
    expect(await store.blobs.statGlobal(digestOf('other'))).toBeUndefined();
  });

  it('keeps uploads private to their repository', async () => {
    const up = await store.uploads.create('r');
    await expect(store.uploads.status('s', up.id)).rejects.toBeInstanceOf(UploadUnknownError);
    await expect(store.uploads.status('r', 'not-a-uuid')).rejects.toBeInstanceOf(UploadUnknownError);
  });

  it('stores a blob pushed concurrently by two uploads once, intact', async () => {
    const content = 'x'.repeat(100_000);
    const digest = digestOf(content);
    await Promise.all(
      ['r1', 'r2', 'r1'].map(async (repo) => {
        const up = await store.uploads.create(repo);
        await store.uploads.append(repo, up.id, Readable.from([Buffer.from(content.slice(0, 50_000)), Buffer.from(content.slice(50_000))]));
        await store.uploads.commit(repo, up.id, digest);
      }),
    );
    expect(await text(await store.blobs.reader(digest))).toBe(content);
    expect(await store.blobs.stat('r2', digest)).toEqual({ digest, size: 100_000 });
  });

  it('purges uploads older than the cut-off', async () => {
    const old = await store.uploads.create('r');
    const purged = await store.uploads.purge(new Date(Date.now() + 1000));
    expect(purged).toBe(1);
    await expect(store.uploads.status('r', old.id)).rejects.toBeInstanceOf(UploadUnknownError);
    const fresh = await store.uploads.create('r');
    expect(await store.uploads.purge(new Date(Date.now() - 60_000))).toBe(0);
    expect((await store.uploads.status('r', fresh.id)).size).toBe(0);
  });

  describe('a growing upload (written once, read back while it is written)', () => {
    /** Everything written so far, read back through the upload in reads of `step` bytes. */
    async function readBack(up: GrowingUpload, step: number): Promise<Buffer> {
      const out = Buffer.alloc(up.size);
      for (let pos = 0; pos < out.length; ) {
        const buf = Buffer.alloc(Math.min(step, out.length - pos));
        const n = await up.read(buf, pos, buf.length);
        expect(n).toBeGreaterThan(0);
        buf.copy(out, pos, 0, n);
        pos += n;
      }
      return out;
    }

    it('reads back every byte at once (in the file, being written, or batched in memory); stored only at commit', async () => {
      const blob = randomBytes(3 * 1024 * 1024 + 12_345);
      const digest = digestOf(blob);
      const up = (await store.uploads.createGrowing('r', digest))!;
      expect(up).toBeDefined();
      for (let pos = 0, i = 0; pos < blob.length; i++) {
        const chunk = blob.subarray(pos, pos + 50_000 + i * 997);
        // Not awaited: a read goes on while this write may be writing a batch to the file.
        const writing = up.write(chunk);
        pos += chunk.length;
        expect((await readBack(up, 300_000)).equals(blob.subarray(0, pos))).toBe(true);
        await writing;
        expect(await store.blobs.statGlobal(digest)).toBeUndefined();
      }
      expect(await store.uploads.count()).toBe(1);
      expect(await up.commit()).toEqual({ digest, size: blob.length });
      expect(await store.blobs.stat('r', digest)).toEqual({ digest, size: blob.length });
      expect(await store.uploads.count()).toBe(0);
      expect((await readBack(up, 1024 * 1024)).equals(blob)).toBe(true); // readers still going after the commit
      await up.close();
      expect((await buffer(await store.blobs.reader(digest))).equals(blob)).toBe(true);
    });

    it('content that does not match the digest is refused at commit and closing discards it: nothing stored', async () => {
      const blob = randomBytes(200_000);
      const digest = digestOf(blob);
      const up = (await store.uploads.createGrowing('r', digest))!;
      const wrong = Buffer.from(blob);
      wrong[5] = wrong[5]! ^ 1;
      await up.write(wrong);
      expect(() => up.verify()).toThrow(DigestMismatchError);
      await expect(up.commit()).rejects.toBeInstanceOf(DigestMismatchError);
      await up.close();
      expect(await store.blobs.statGlobal(digest)).toBeUndefined();
      expect(await store.uploads.count()).toBe(0);
    });

    it('a short transfer closed before its commit leaves no upload and no blob', async () => {
      const blob = randomBytes(100_000);
      const up = (await store.uploads.createGrowing('r', digestOf(blob)))!;
      await up.write(blob.subarray(0, 60_000));
      await up.close();
      expect(await store.blobs.statGlobal(digestOf(blob))).toBeUndefined();
      expect(await store.uploads.count()).toBe(0);
    });
  });
});
