import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentMismatchError } from '../util/errors.js';
import { FileBody } from './file-body.js';

/** A sink that copies what it is given and takes its time to say so, like a socket under load. */
function slowSink() {
  const got: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  let ended = false;
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      got.push(Buffer.from(chunk));
      buffers.add(chunk.buffer);
      setTimeout(cb, 2);
    },
    final(cb) {
      ended = true;
      cb();
    },
  });
  return { sink, got, buffers, ended: () => ended };
}

describe('FileBody', () => {
  let dir: string;
  const data = randomBytes(5 * 1024 * 1024 + 12345);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-body-'));
    await writeFile(join(dir, 'blob'), data);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('sends the range it names through a few reused buffers, and reports progress', async () => {
    const { sink, got, buffers, ended } = slowSink();
    let progress = 0;
    const body = new FileBody(join(dir, 'blob'), 1000, data.length - 2000, (n) => (progress += n));
    await body.writeTo(sink, () => false);
    expect(Buffer.concat(got).equals(data.subarray(1000, data.length - 1000))).toBe(true);
    expect(progress).toBe(data.length - 2000);
    expect(body.sent).toBe(true);
    await finished(sink);
    expect(ended()).toBe(true);
    // Six reads of up to 1 MiB went through three buffers.
    expect(buffers.size).toBeLessThanOrEqual(3);
  });

  it('fails, without ending the request, when the file is shorter than its descriptor', async () => {
    const { sink, ended } = slowSink();
    const body = new FileBody(join(dir, 'blob'), 0, data.length + 1);
    await expect(body.writeTo(sink, () => false)).rejects.toBeInstanceOf(ContentMismatchError);
    expect(body.sent).toBe(false);
    expect(ended()).toBe(false);
  });

  it('stops at the next buffer once told to (the server answered early)', async () => {
    const { sink, got, ended } = slowSink();
    let stop = false;
    const body = new FileBody(join(dir, 'blob'), 0, data.length);
    const writing = body.writeTo(sink, () => stop);
    await new Promise((r) => setTimeout(r, 1));
    stop = true;
    await writing;
    expect(body.sent).toBe(false);
    expect(ended()).toBe(false);
    expect(Buffer.concat(got).length).toBeLessThan(data.length);
  });
});
