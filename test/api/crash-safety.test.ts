// Crash safety of blob uploads: the real `stevedore serve` process (test/helpers/stevedore-process.ts,
// the compiled build in dist/) is SIGKILLed in the middle of an upload and restarted on the same data
// directory. An interrupted upload must never surface as a blob, its session must report how far it
// got and be resumable from there, and chunks the server acknowledged must survive the kill.
//
// The large blob (200 MiB) is generated block by block and streamed; it is never held in memory.
// The kill happens from inside the request body's stream, once a set number of bytes has been handed
// to the connection: no timing or sleeps decide when.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../oci/index.js';
import { REPO_ROOT, startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';
import { expectError, Registry } from './client.js';
import { IS_CNCF } from './target.js';

const MiB = 1 << 20;
const BLOCK = MiB;

/** Deterministic content of any length: 1 MiB random base block, each block stamped with its index. */
class Content {
  private readonly base = randomBytes(BLOCK);
  constructor(readonly size: number) {}

  private block(i: number): Buffer {
    const b = Buffer.from(this.base);
    b.writeUInt32BE(i, 0);
    b.writeUInt32BE((i * 2654435761) >>> 0, BLOCK - 4);
    return b;
  }

  /** The bytes [start, end) as a sequence of buffers of at most 1 MiB. */
  *range(start = 0, end = this.size): Generator<Buffer> {
    let pos = start;
    while (pos < end) {
      const i = Math.floor(pos / BLOCK);
      const from = pos - i * BLOCK;
      const to = Math.min(BLOCK, end - i * BLOCK);
      yield this.block(i).subarray(from, to);
      pos += to - from;
    }
  }

  digest(start = 0, end = this.size): Digest {
    const h = createHash('sha256');
    for (const b of this.range(start, end)) h.update(b);
    return `sha256:${h.digest('hex')}` as Digest;
  }

  /**
   * A request body streaming [start, end). With `stopAfter`, once that many bytes have been handed
   * over, `atStop` runs (it kills the server) before anything more is produced.
   */
  stream(start: number, end: number, stopAfter?: number, atStop?: () => Promise<void>): ReadableStream<Uint8Array> {
    const it = this.range(start, end);
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (stopAfter !== undefined && sent >= stopAfter) {
          await atStop?.();
          controller.error(new Error('server killed'));
          return;
        }
        const next = it.next();
        if (next.done) {
          controller.close();
          return;
        }
        sent += next.value.length;
        controller.enqueue(new Uint8Array(next.value.buffer, next.value.byteOffset, next.value.length));
      },
    });
  }
}

/** Streams a blob from the registry and hashes it: size and digest, without buffering it. */
async function pullDigest(url: string): Promise<{ status: number; size: number; digest: string; header: string | null }> {
  const res = await fetch(url);
  const h = createHash('sha256');
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      h.update(chunk);
      size += chunk.length;
    }
  }
  return { status: res.status, size, digest: `sha256:${h.digest('hex')}`, header: res.headers.get('docker-content-digest') };
}

/** Offset of an upload from a `Range: 0-<end>` header; `0-0` is read as an empty upload. */
function offsetOf(range: string | null): number {
  expect(range).toMatch(/^0-\d+$/);
  const end = Number(range!.slice(2));
  return end === 0 ? 0 : end + 1;
}

function ensureBuilt(): void {
  const main = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  if (existsSync(main)) return;
  try {
    execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'pipe' });
  } catch {
    /* tsc exits non-zero on type errors elsewhere but still emits */
  }
  if (!existsSync(main)) throw new Error('dist/cli/main.js is missing: run `npm run build` first');
}

describe.skipIf(IS_CNCF)('crash safety of uploads (SIGKILL and restart)', () => {
  const started: StevedoreProcess[] = [];
  const dataDirs: string[] = [];

  async function start(dataDir?: string): Promise<{ proc: StevedoreProcess; reg: Registry }> {
    const proc = await startStevedore(dataDir ? { dataDir } : {});
    started.push(proc);
    if (!dataDirs.includes(proc.dataDir)) dataDirs.push(proc.dataDir);
    return { proc, reg: new Registry(proc.url.replace(/\/+$/, '')) };
  }

  /** The upload URL on another server instance (same path and query, new host:port). */
  function moved(loc: string, reg: Registry): string {
    const u = new URL(loc);
    return reg.resolve(u.pathname + u.search);
  }

  beforeAll(() => {
    ensureBuilt();
  });
  afterAll(async () => {
    for (const p of started) await p.stop('SIGKILL');
    for (const d of dataDirs) await rm(d, { recursive: true, force: true });
  });

  it('a 200 MiB chunked upload killed mid-PATCH: no blob, status reports an offset, resume completes with the right digest', async () => {
    const content = new Content(200 * MiB);
    const fullDigest = content.digest();
    const repo = 'crash/big';
    const first = await start();
    const loc = await first.reg.startUpload(repo);

    // Stream the whole blob in one PATCH; kill the server once 96 MiB have gone out.
    const KILL_AFTER = 96 * MiB;
    let killing: Promise<unknown> | undefined;
    const outcome = await first.reg
      .patch(loc, {
        headers: { 'content-type': 'application/octet-stream' },
        body: content.stream(0, content.size, KILL_AFTER, () => (killing ??= first.proc.stop('SIGKILL')).then(() => undefined)),
      })
      .then(
        (res) => ({ ok: true as const, res }),
        (err: unknown) => ({ ok: false as const, err }),
      );
    // The connection drops as the process dies, possibly before its exit is observed: wait for the exit.
    expect(killing, 'the body stream reached the kill point').toBeDefined();
    await killing;
    expect(outcome.ok, outcome.ok ? `PATCH completed: ${outcome.res.status} ${outcome.res.text}` : '').toBe(false);
    expect(first.proc.child.signalCode).toBe('SIGKILL');

    const second = await start(first.proc.dataDir);
    const reg = second.reg;

    // Nothing of the interrupted upload is a blob.
    expect((await reg.head(`/v2/${repo}/blobs/${fullDigest}`)).status).toBe(404);
    expectError(await reg.get(`/v2/${repo}/blobs/${fullDigest}`), 404, 'BLOB_UNKNOWN');

    // The session survived and says how far it got.
    const here = moved(loc, reg);
    const status = await reg.get(here);
    expect(status.status).toBe(204);
    expect(status.body.length).toBe(0);
    const offset = offsetOf(status.header('range'));
    expect(offset).toBeLessThanOrEqual(KILL_AFTER);
    console.info(`crash-safety: upload offset after SIGKILL at ${KILL_AFTER} bytes sent: ${offset}`);

    // The stored prefix is not reachable as a blob either.
    if (offset > 0) expect((await reg.head(`/v2/${repo}/blobs/${content.digest(0, offset)}`)).status).toBe(404);
    // No partial or temporary file shows up as a repository, a tag or a blob.
    const catalog = await reg.get('/v2/_catalog');
    expect(catalog.status).toBe(200);
    for (const r of catalog.json<{ repositories: string[] }>().repositories) expect(r).toBe(repo);
    const tags = await reg.get(`/v2/${repo}/tags/list`);
    if (tags.status === 200) expect(tags.json<{ tags: string[] | null }>().tags ?? []).toEqual([]);
    else expectError(tags, 404, 'NAME_UNKNOWN');

    // Resume from the reported offset with the rest of the blob, then complete.
    const resume = await reg.patch(status.location(), {
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${content.size - 1}` },
      body: content.stream(offset, content.size),
    });
    expect(resume.status, resume.text).toBe(202);
    expect(resume.header('range')).toBe(`0-${content.size - 1}`);
    const put = await reg.put(resume.location(), { query: { digest: fullDigest } });
    expect(put.status, put.text).toBe(201);
    expect(put.header('docker-content-digest')).toBe(fullDigest);

    // The blob is pullable with the right content.
    const pulled = await pullDigest(reg.resolve(`/v2/${repo}/blobs/${fullDigest}`));
    expect(pulled.status).toBe(200);
    expect(pulled.size).toBe(content.size);
    expect(pulled.digest).toBe(fullDigest);
    expect(pulled.header).toBe(fullDigest);
    // The finished upload is gone.
    expectError(await reg.get(here), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('acknowledged chunks survive a SIGKILL: after restart the upload resumes exactly after the last 202', async () => {
    const content = new Content(24 * MiB + 12345);
    const repo = 'crash/acked';
    const first = await start();
    const loc = await first.reg.startUpload(repo);
    const CHUNK = 8 * MiB;
    let next = loc;
    for (let start = 0; start < 2 * CHUNK; start += CHUNK) {
      const res = await first.reg.patch(next, {
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + CHUNK - 1}` },
        body: Buffer.concat([...content.range(start, start + CHUNK)]),
      });
      expect(res.status, res.text).toBe(202);
      expect(res.header('range')).toBe(`0-${start + CHUNK - 1}`);
      next = res.location();
    }
    await first.proc.stop('SIGKILL');

    const second = await start(first.proc.dataDir);
    const reg = second.reg;
    const status = await reg.get(moved(next, reg));
    expect(status.status).toBe(204);
    expect(status.header('range')).toBe(`0-${2 * CHUNK - 1}`);
    const last = await reg.put(status.location(), {
      query: { digest: content.digest() },
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${2 * CHUNK}-${content.size - 1}` },
      body: Buffer.concat([...content.range(2 * CHUNK)]),
    });
    expect(last.status, last.text).toBe(201);
    const pulled = await pullDigest(reg.resolve(`/v2/${repo}/blobs/${content.digest()}`));
    expect(pulled.size).toBe(content.size);
    expect(pulled.digest).toBe(content.digest());
  });

  it('a monolithic PUT killed mid-body leaves no blob; pushing again afterwards works', async () => {
    const content = new Content(64 * MiB);
    const digest = content.digest();
    const repo = 'crash/mono';
    const first = await start();
    const loc = await first.reg.startUpload(repo);
    let killing: Promise<unknown> | undefined;
    const outcome = await first.reg
      .put(loc, {
        query: { digest },
        headers: { 'content-type': 'application/octet-stream' },
        body: content.stream(0, content.size, 40 * MiB, () => (killing ??= first.proc.stop('SIGKILL')).then(() => undefined)),
      })
      .then(
        () => 'completed',
        () => 'failed',
      );
    expect(killing, 'the body stream reached the kill point').toBeDefined();
    await killing;
    expect(outcome).toBe('failed');

    const second = await start(first.proc.dataDir);
    const reg = second.reg;
    expect((await reg.head(`/v2/${repo}/blobs/${digest}`)).status).toBe(404);
    // The interrupted session is either still there (204) or gone (404); it never completes by itself.
    const status = await reg.get(moved(loc, reg));
    expect([204, 404]).toContain(status.status);

    const again = await reg.startUpload(repo);
    const put = await reg.put(again, { query: { digest }, headers: { 'content-type': 'application/octet-stream' }, body: content.stream(0, content.size) });
    expect(put.status, put.text).toBe(201);
    const pulled = await pullDigest(reg.resolve(`/v2/${repo}/blobs/${digest}`));
    expect(pulled.size).toBe(content.size);
    expect(pulled.digest).toBe(digest);
  });
});
