// The storage driver contract: the same tests for every StorageDriver (filesystem, S3). A driver
// test file calls `describeDriverContract` with a harness that gives each test an empty store.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { InvalidPathError, PathNotFoundError, type StorageDriver } from '../../storage/driver.js';

export interface DriverHarness {
  /**
   * An empty store for one test. `open()` returns a new driver instance over that store each time
   * it is called, sharing nothing in memory with the others: another process, as far as the
   * driver can tell.
   */
  fresh(): Promise<{ open(): StorageDriver; cleanup(): Promise<void> }>;
  /** The driver's part size for resumable writers (where one stored piece ends), if any. */
  partSize: number;
}

export const MiB = 1024 * 1024;

/** Deterministic pseudo-random content: byte `i` of a stream depends only on `i` and the seed. */
export function patternBytes(offset: number, length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let j = 0; j < length; j++) out[j] = Math.imul((offset + j) ^ seed, 2654435761) >>> 24;
  return out;
}

export function patternDigest(length: number, seed = 1): string {
  const h = createHash('sha256');
  for (let off = 0; off < length; off += MiB) h.update(patternBytes(off, Math.min(MiB, length - off), seed));
  return h.digest('hex');
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function streamDigest(stream: Readable): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of stream) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/** Appends `length` pattern bytes at `offset` through a new writer of a new driver instance. */
async function appendPattern(driver: StorageDriver, path: string, offset: number, length: number, seed: number, chunk = 256 * 1024): Promise<number> {
  const w = await driver.writer(path, true);
  try {
    expect(w.size).toBe(offset);
    for (let off = 0; off < length; off += chunk) await w.write(patternBytes(offset + off, Math.min(chunk, length - off), seed));
    await w.commit();
    return w.size;
  } finally {
    await w.close();
  }
}

const text = async (s: Readable) => (await readAll(s)).toString('utf8');

export function describeDriverContract(name: string, harness: () => DriverHarness): void {
  describe(`${name}: storage driver contract`, () => {
    // Each test gets an empty store; `use` opens it and cleans up after the test body.
    const use = async (body: (open: () => StorageDriver, d: StorageDriver) => Promise<void>) => {
      const store = await harness().fresh();
      try {
        await body(store.open, store.open());
      } finally {
        await store.cleanup();
      }
    };

    it('puts and gets small objects, replacing them whole; empty and binary content round-trip', () =>
      use(async (_open, d) => {
        await d.putContent('/a/b/c', Buffer.from('one'));
        await d.putContent('/a/b/c', Buffer.from('two'));
        expect((await d.getContent('/a/b/c')).toString()).toBe('two');
        await d.putContent('/empty', new Uint8Array(0));
        expect((await d.getContent('/empty')).length).toBe(0);
        const bin = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        await d.putContent('/bin', bin);
        expect((await d.getContent('/bin')).equals(bin)).toBe(true);
      }));

    it('streams whole objects and byte ranges; a range past the end is empty', () =>
      use(async (_open, d) => {
        await d.putContent('/f', Buffer.from('0123456789'));
        expect(await text(await d.reader('/f'))).toBe('0123456789');
        expect(await text(await d.reader('/f', 2, 4))).toBe('234');
        expect(await text(await d.reader('/f', 7))).toBe('789');
        expect(await text(await d.reader('/f', 9, 9))).toBe('9');
        expect(await text(await d.reader('/f', 10))).toBe('');
        await d.putContent('/e', new Uint8Array(0));
        expect(await text(await d.reader('/e'))).toBe('');
      }));

    it('lists the direct children of nested directories, files and directories alike', () =>
      use(async (_open, d) => {
        await d.putContent('/d/x/1', Buffer.from('1'));
        await d.putContent('/d/y', Buffer.from('2'));
        await d.putContent('/d/z/w/v', Buffer.from('3'));
        await d.putContent('/d-sibling/q', Buffer.from('4'));
        const w = await d.writer('/d/upload', false);
        await w.write(Buffer.from('data'));
        await w.commit();
        await w.close();
        expect((await d.list('/d')).sort()).toEqual(['/d/upload', '/d/x', '/d/y', '/d/z']);
        expect(await d.list('/d/z')).toEqual(['/d/z/w']);
        expect(await d.list('/d/z/w')).toEqual(['/d/z/w/v']);
        await expect(d.list('/d/y')).rejects.toBeInstanceOf(PathNotFoundError); // a file, not a directory
      }));

    it('stats objects (size, time) and directories', () =>
      use(async (_open, d) => {
        const before = Date.now();
        await d.putContent('/s/file', Buffer.from('12345'));
        const st = await d.stat('/s/file');
        expect(st).toMatchObject({ path: '/s/file', size: 5, isDir: false });
        // Store clocks may round to seconds and differ a little from ours.
        expect(Math.abs(st.modTime.getTime() - before)).toBeLessThan(60_000);
        const dir = await d.stat('/s');
        expect(dir).toMatchObject({ path: '/s', isDir: true });
        expect(Math.abs(dir.modTime.getTime() - before)).toBeLessThan(60_000);
      }));

    it('moves objects, replacing the destination; the source is gone', () =>
      use(async (_open, d) => {
        await d.putContent('/m/src', Buffer.from('moved'));
        await d.putContent('/m/dst/existing', Buffer.from('old'));
        await d.move('/m/src', '/m/dst/existing');
        expect((await d.getContent('/m/dst/existing')).toString()).toBe('moved');
        await expect(d.stat('/m/src')).rejects.toBeInstanceOf(PathNotFoundError);
        await d.move('/m/dst/existing', '/other/place');
        expect((await d.getContent('/other/place')).toString()).toBe('moved');
        await expect(d.stat('/m/dst/existing')).rejects.toBeInstanceOf(PathNotFoundError);
      }));

    it('deletes single objects and whole trees, leaving siblings with the same name prefix', () =>
      use(async (_open, d) => {
        for (const p of ['/t/a/1', '/t/a/b/2', '/t/a/b/c/3', '/t/a-x/4', '/t/a.y', '/t/ab', '/t/k']) await d.putContent(p, Buffer.from(p));
        const w = await d.writer('/t/a/upload', false);
        await w.write(Buffer.from('in progress'));
        await w.commit();
        await w.close();
        await d.delete('/t/a');
        await expect(d.stat('/t/a')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(d.stat('/t/a/b/c/3')).rejects.toBeInstanceOf(PathNotFoundError);
        await expect(d.stat('/t/a/upload')).rejects.toBeInstanceOf(PathNotFoundError);
        expect((await d.list('/t')).sort()).toEqual(['/t/a-x', '/t/a.y', '/t/ab', '/t/k']);
        await d.delete('/t/k');
        await expect(d.getContent('/t/k')).rejects.toBeInstanceOf(PathNotFoundError);
        expect((await d.getContent('/t/ab')).toString()).toBe('/t/ab');
      }));

    it('reports missing paths as PathNotFoundError', () =>
      use(async (_open, d) => {
        await d.putContent('/present/file', Buffer.from('x'));
        for (const p of ['/missing', '/present/missing', '/present/file/below']) {
          await expect(d.getContent(p)).rejects.toBeInstanceOf(PathNotFoundError);
          await expect(d.reader(p)).rejects.toBeInstanceOf(PathNotFoundError);
          await expect(d.stat(p)).rejects.toBeInstanceOf(PathNotFoundError);
          await expect(d.list(p)).rejects.toBeInstanceOf(PathNotFoundError);
          await expect(d.delete(p)).rejects.toBeInstanceOf(PathNotFoundError);
          await expect(d.move(p, '/x')).rejects.toBeInstanceOf(PathNotFoundError);
        }
        await expect(d.stat('/x')).rejects.toBeInstanceOf(PathNotFoundError); // a failed move creates nothing
      }));

    it('refuses paths that could leave the root', () =>
      use(async (_open, d) => {
        for (const p of ['/../etc/passwd', 'relative', '/a/../../b', '/a//b', '/a/./b', '/a b', '/', '/a!0000000000000000', '/a~b']) {
          await expect(d.getContent(p)).rejects.toBeInstanceOf(InvalidPathError);
          await expect(d.putContent(p, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidPathError);
        }
      }));

    it('continues a resumable writer from another driver instance (another process)', () =>
      use(async (open) => {
        const w1 = await open().writer('/up/data', false);
        expect(w1.size).toBe(0);
        await w1.commit();
        await w1.close();
        expect((await open().stat('/up/data')).size).toBe(0); // an upload just created exists, empty
        const w2 = await open().writer('/up/data', true);
        await w2.write(Buffer.from('abc'));
        await w2.commit();
        await w2.close();
        const w3 = await open().writer('/up/data', true);
        expect(w3.size).toBe(3);
        await w3.write(Buffer.from('de'));
        await w3.write(Buffer.from('f'));
        await w3.commit();
        await w3.close();
        const d = open();
        expect((await d.stat('/up/data')).size).toBe(6);
        expect((await d.getContent('/up/data')).toString()).toBe('abcdef');
        expect(await text(await d.reader('/up/data', 2, 4))).toBe('cde');
        // A writer without append starts the file over.
        const w4 = await open().writer('/up/data', false);
        expect(w4.size).toBe(0);
        await w4.write(Buffer.from('new'));
        await w4.commit();
        await w4.close();
        expect((await open().getContent('/up/data')).toString()).toBe('new');
        // Appending to an object written whole continues it.
        await d.putContent('/up/plain', Buffer.from('plain+'));
        const w5 = await open().writer('/up/plain', true);
        expect(w5.size).toBe(6);
        await w5.write(Buffer.from('more'));
        await w5.commit();
        await w5.close();
        expect((await open().getContent('/up/plain')).toString()).toBe('plain+more');
      }));

    it('cancels a writer: the file is gone', () =>
      use(async (open) => {
        const w = await open().writer('/c/data', false);
        await w.write(Buffer.from('doomed'));
        await w.commit();
        const again = await open().writer('/c/data', true);
        await again.cancel();
        await w.close();
        await expect(open().stat('/c/data')).rejects.toBeInstanceOf(PathNotFoundError);
      }));

    it('keeps appends smaller than the part size, each from a new instance, visible and exact', () =>
      use(async (open) => {
        const part = harness().partSize;
        // Sizes chosen to end short of, exactly at and across part boundaries, and tiny ones.
        const sizes = [MiB, 3 * MiB + 17, part - 4 * MiB - 17, 1, 64 * 1024, part - 1 - 64 * 1024, 2 * MiB, part + 3 * MiB];
        let size = 0;
        for (const n of sizes) {
          size = await appendPattern(open(), '/small/data', size, n, 7);
          const st = await open().stat('/small/data');
          expect(st.size).toBe(size);
        }
        const total = sizes.reduce((a, b) => a + b, 0);
        expect(size).toBe(total);
        const d = open();
        expect(await streamDigest(await d.reader('/small/data'))).toEqual({ sha256: patternDigest(total, 7), size: total });
        // Ranges across part boundaries and inside later parts.
        for (const [from, to] of [
          [part - 10, part + 10],
          [2 * part - 1, 2 * part],
          [MiB - 3, 4 * MiB + 20],
          [total - 5, total - 1],
        ] as const) {
          expect((await readAll(await d.reader('/small/data', from, to))).equals(patternBytes(from, to - from + 1, 7))).toBe(true);
        }
        await d.move('/small/data', '/blobs/small');
        expect((await d.stat('/blobs/small')).size).toBe(total);
        expect(await streamDigest(await d.reader('/blobs/small'))).toEqual({ sha256: patternDigest(total, 7), size: total });
        await expect(d.stat('/small/data')).rejects.toBeInstanceOf(PathNotFoundError);
      }));

    it('writes a file several times the part size in one stream and moves it into place intact', () =>
      use(async (open) => {
        const part = harness().partSize;
        const total = 4 * part + 12345;
        const d = open();
        const w = await d.writer('/big/data', false);
        for (let off = 0; off < total; off += 100_000) await w.write(patternBytes(off, Math.min(100_000, total - off), 3));
        expect(w.size).toBe(total);
        await w.commit();
        await w.close();
        expect((await open().stat('/big/data')).size).toBe(total);
        await open().move('/big/data', '/blobs/big');
        const st = await open().stat('/blobs/big');
        expect(st).toMatchObject({ size: total, isDir: false });
        expect(await streamDigest(await open().reader('/blobs/big'))).toEqual({ sha256: patternDigest(total, 3), size: total });
        const from = 2 * part - 100;
        expect((await readAll(await open().reader('/blobs/big', from, from + 1000))).equals(patternBytes(from, 1001, 3))).toBe(true);
        await expect(open().stat('/big/data')).rejects.toBeInstanceOf(PathNotFoundError);
      }));
  });
}
