import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Digest } from '../../oci/index.js';
import { SharedBlobFetch, tempFileSpool } from './shared-fetch.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

async function collect(gen: AsyncGenerator<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}

/** Reads until `n` bytes have arrived (or the generator ends), keeping the generator open. */
async function readAtLeast(gen: AsyncGenerator<Buffer>, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const r = await gen.next();
    if (r.done) break;
    parts.push(r.value);
    got += r.value.length;
  }
  return Buffer.concat(parts);
}

describe('SharedBlobFetch', () => {
  let dir: string;
  /** Whether this process holds a spool file made under `dir` open (the file itself has no name). */
  const spoolOpen = () =>
    readdirSync('/proc/self/fd').some((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${dir}/`);
      } catch {
        return false; // closed meanwhile (the directory's own descriptor)
      }
    });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shared-fetch-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('readers get bytes as they arrive, a late reader gets the whole blob, the last byte waits for verification', async () => {
    const blob = randomBytes(300_000);
    const body = new PassThrough();
    const f = new SharedBlobFetch(sha(blob), () => tempFileSpool(dir, sha(blob)), async () => ({ body, size: blob.length }));
    await f.started;
    // Spooling, and nothing on disk has a name: a server killed now leaves no bytes behind.
    expect(spoolOpen()).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
    const early = f.read();
    body.write(blob.subarray(0, 100_000));
    const first = await readAtLeast(early, 99_999);
    expect(first.equals(blob.subarray(0, first.length))).toBe(true);
    body.write(blob.subarray(100_000));
    // Everything has arrived but is not verified (the upstream has not ended): one byte is held back.
    const almost = await readAtLeast(early, blob.length - 1 - first.length);
    expect(first.length + almost.length).toBe(blob.length - 1);
    const late = f.read(); // joins after most of the transfer
    const lateAll = collect(late);
    body.end();
    await f.verified;
    const rest = await collect(early);
    expect(Buffer.concat([first, almost, rest]).equals(blob)).toBe(true);
    expect((await lateAll).equals(blob)).toBe(true);
    expect((await collect(f.read(1000, 1999))).equals(blob.subarray(1000, 2000))).toBe(true);
    f.close();
    await expect.poll(spoolOpen).toBe(false);
  });

  it('a retained transfer keeps its spool past close() until the reader that was getting going is done', async () => {
    const blob = randomBytes(10_000);
    const body = new PassThrough();
    const f = new SharedBlobFetch(sha(blob), () => tempFileSpool(dir, sha(blob)), async () => ({ body, size: blob.length }));
    f.retain();
    body.end(blob);
    await f.verified;
    f.close(); // stored: no new readers will find it
    expect(spoolOpen()).toBe(true);
    expect((await collect(f.read())).equals(blob)).toBe(true);
    f.unretain();
    await expect.poll(spoolOpen).toBe(false);
  });

  it('a transfer whose bytes do not match the digest fails every reader before its last byte', async () => {
    const blob = randomBytes(50_000);
    const wrong = Buffer.from(blob);
    wrong[10] = wrong[10]! ^ 1;
    const body = new PassThrough();
    const f = new SharedBlobFetch(sha(blob), () => tempFileSpool(dir, sha(blob)), async () => ({ body, size: blob.length }));
    await f.started;
    const reader = f.read();
    body.end(wrong);
    let got = 0;
    await expect(
      (async () => {
        for await (const c of reader) got += c.length;
      })(),
    ).rejects.toThrow(/digest/);
    expect(got).toBeLessThan(blob.length);
    await expect(f.verified).rejects.toThrow(/digest/);
    expect(f.failed).toBe(true);
  });

  it('fails on a body shorter or longer than its Content-Length, and when the upstream cannot be reached', async () => {
    const blob = randomBytes(1000);
    const short = new PassThrough();
    const f1 = new SharedBlobFetch(sha(blob), () => tempFileSpool(dir, sha(blob)), async () => ({ body: short, size: blob.length }));
    short.end(blob.subarray(0, 999));
    await expect(f1.verified).rejects.toThrow(/999 of 1000/);
    const long = new PassThrough();
    const f2 = new SharedBlobFetch(sha(blob), () => tempFileSpool(dir, sha(blob)), async () => ({ body: long, size: 999 }));
    long.end(blob);
    await expect(f2.verified).rejects.toThrow(/more than its Content-Length/);
    const f3 = new SharedBlobFetch(sha(blob), () => tempFileSpool(dir, sha(blob)), () => Promise.reject(new Error('ECONNREFUSED')));
    await expect(f3.started).rejects.toThrow('ECONNREFUSED');
    await expect(collect(f3.read())).rejects.toThrow('ECONNREFUSED');
  });
});
