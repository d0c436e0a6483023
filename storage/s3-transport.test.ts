// The S3 driver's GET transport against local HTTP(S) servers: what it streams, when it reuses a
// connection, and how it reports what it cannot stream (the driver then asks the SDK). The happy
// path against a real S3 server is covered by storage/s3-driver.test.ts and test/s3/.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { S3Transport, type GetOutcome } from './s3-transport.js';

const MiB = 1024 * 1024;

function pattern(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >> 12)) & 0xff;
  return b;
}

interface Local {
  url: string;
  connections: number;
  server: Server;
}

const servers: Server[] = [];
const transports: S3Transport[] = [];
afterEach(async () => {
  transports.splice(0).forEach((t) => t.destroy());
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise((r) => s.close(r));
    }),
  );
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, server: Server = createServer()): Promise<Local> {
  const local: Local = { url: '', connections: 0, server };
  server.on('request', handler);
  server.on('connection', () => local.connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  local.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return local;
}

function transport(opts: ConstructorParameters<typeof S3Transport>[0] = {}): S3Transport {
  const t = new S3Transport(opts);
  transports.push(t);
  return t;
}

async function bodyOf(out: GetOutcome): Promise<Buffer> {
  if (out.kind !== 'body') throw new Error(`expected a body, got ${JSON.stringify(out)}`);
  const chunks: Buffer[] = [];
  for await (const c of out.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('S3Transport', () => {
  it('streams a body exactly, honours Range, and reuses one connection for sequential GETs', async () => {
    const data = pattern(9 * MiB + 123);
    const seen: (string | undefined)[] = [];
    const local = await serve((req, res) => {
      seen.push(req.headers.range);
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      const part = m ? data.subarray(Number(m[1]), m[2] ? Number(m[2]) + 1 : undefined) : data;
      res.writeHead(m ? 206 : 200, { 'Content-Length': part.length });
      res.end(part);
    });
    const t = transport();
    expect(sha(await bodyOf(await t.get(`${local.url}/b/key?X-Amz-Signature=x`)))).toBe(sha(data));
    expect(sha(await bodyOf(await t.get(`${local.url}/b/key`, 'bytes=5-1048580')))).toBe(sha(data.subarray(5, 1048581)));
    const empty = await t.get(`${local.url}/b/key`, 'bytes=7-6');
    expect(empty).toMatchObject({ kind: 'body', size: 0 });
    expect(await bodyOf(empty)).toHaveLength(0);
    expect(seen).toEqual([undefined, 'bytes=5-1048580', 'bytes=7-6']);
    expect(local.connections).toBe(1);
  });

  it('stops reading from the server while the reader is behind (backpressure)', async () => {
    const data = pattern(64 * MiB);
    let written = 0;
    const local = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Length': data.length });
      const step = () => {
        while (written < data.length) {
          const n = Math.min(MiB, data.length - written);
          const ok = res.write(data.subarray(written, written + n));
          written += n;
          if (!ok) return res.once('drain', step);
        }
        res.end();
      };
      step();
    });
    const out = await transport().get(`${local.url}/k`);
    if (out.kind !== 'body') throw new Error(out.kind);
    // Nobody reads: the server gets stuck once the socket buffers and the stream's buffer are full.
    let last = -1;
    while (written !== last) {
      last = written;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(written).toBeLessThan(32 * MiB);
    expect(out.body.readableLength).toBeLessThanOrEqual(2 * MiB);
    expect(sha(await bodyOf(out))).toBe(sha(data));
  });

  it('writes straight into a piped destination (as koa pipes a blob), reusing buffers only after their writes completed', async () => {
    const data = pattern(24 * MiB + 17);
    const local = await serve((req, res) => {
      res.writeHead(200, { 'Content-Length': data.length });
      res.end(data);
    });
    const t = transport();
    for (let round = 0; round < 2; round++) {
      const out = await t.get(`${local.url}/k`);
      if (out.kind !== 'body') throw new Error(out.kind);
      // A slow destination that looks at each chunk only when it completes the write: a buffer
      // reused for later reads before then would show as a wrong digest.
      const hash = createHash('sha256');
      let writes = 0;
      const dest = new Writable({
        highWaterMark: 4 * MiB, // several slabs' worth of writes in flight
        write(chunk: Buffer, _enc, cb) {
          writes++;
          setTimeout(() => {
            hash.update(chunk);
            cb();
          }, 1);
        },
      });
      await pipeline(out.body, dest);
      expect(hash.digest('hex')).toBe(sha(data));
      expect(writes).toBeGreaterThan(0);
    }
    expect(local.connections).toBe(1);
  });

  it('holds no slab while idle or for HEADs, and gives a piped body’s slabs back to the pool', async () => {
    const data = pattern(5 * MiB + 3);
    const local = await serve((req, res) => {
      res.writeHead(200, { 'Content-Length': data.length });
      res.end(req.method === 'HEAD' ? undefined : data);
    });
    const t = transport();
    // 64 HEADs at once: 64 connections, no slab taken for any of them.
    const heads = await Promise.all(Array.from({ length: 64 }, () => t.head(`${local.url}/k`)));
    expect(heads.every((h) => h.kind === 'object' && h.size === data.length)).toBe(true);
    expect(t.stats()).toMatchObject({ slabsAllocated: 0, idle: 32, idleHoldingSlab: 0 });
    for (let round = 0; round < 3; round++) {
      const out = await t.get(`${local.url}/k`);
      if (out.kind !== 'body') throw new Error(out.kind);
      const hash = createHash('sha256');
      await pipeline(
        out.body,
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            cb();
          },
        }),
      );
      expect(hash.digest('hex')).toBe(sha(data));
      // Idle again: the connection keeps no slab; its slabs are in the pool for the next body.
      const stats = t.stats();
      expect(stats.idleHoldingSlab).toBe(0);
      expect(stats.freeSlabs).toBe(stats.slabsAllocated);
    }
    // The later rounds reused the first round's slabs.
    expect(t.stats().slabsAllocated).toBeLessThanOrEqual(3);
  });

  it('copies body bytes that came in the same read as the head before that buffer is reused', async () => {
    // Head and whole body in one write: one socket read. The first body is read only after a
    // second GET on the same connection has been read into the same buffer.
    const bodies = [Buffer.alloc(3000, 'a'), Buffer.alloc(3000, 'b')];
    let served = 0;
    const server = createNetServer((socket) => {
      socket.on('data', () => {
        const body = bodies[served++ % 2]!;
        socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/k`;
      const t = transport();
      const first = await t.get(url);
      expect(first).toMatchObject({ kind: 'body', status: 200, size: 3000 });
      // Wait until the connection is idle again (the whole first body has been delivered).
      while (t.stats().idle === 0) await new Promise((r) => setTimeout(r, 5));
      const second = await t.get(url);
      expect((await bodyOf(second)).equals(bodies[1]!)).toBe(true);
      expect((await bodyOf(first)).equals(bodies[0]!)).toBe(true);
      expect(served).toBe(2);
      expect(t.stats().slabsAllocated).toBe(0);
    } finally {
      server.close();
    }
  });

  it('reads small objects whole into buffers of their own, leaving the slabs to the pool', async () => {
    const data = pattern(3 * MiB + 1);
    const local = await serve((req, res) => {
      if (req.url === '/missing') {
        const xml = '<Error><Code>NoSuchKey</Code></Error>';
        res.writeHead(404, { 'Content-Length': xml.length });
        res.end(xml);
        return;
      }
      const body = req.url === '/small' ? Buffer.from('{"schemaVersion":2}') : req.url === '/empty' ? Buffer.alloc(0) : data;
      res.writeHead(200, { 'Content-Length': body.length });
      res.end(body);
    });
    const t = transport();
    const small = await t.getContent(`${local.url}/small`);
    if (small.kind !== 'content') throw new Error(small.kind);
    expect(small.content.toString()).toBe('{"schemaVersion":2}');
    expect(t.stats().slabsAllocated).toBe(0); // (one read: the head and the body)
    for (let round = 0; round < 2; round++) {
      const big = await t.getContent(`${local.url}/big`);
      if (big.kind !== 'content') throw new Error(big.kind);
      expect(big.content.length).toBe(data.length);
      expect(sha(big.content)).toBe(sha(data));
      const stats = t.stats();
      expect(stats.idleHoldingSlab).toBe(0);
      expect(stats.freeSlabs).toBe(stats.slabsAllocated); // no slab kept by the content
    }
    expect(t.stats().slabsAllocated).toBeLessThanOrEqual(4);
    expect(await t.getContent(`${local.url}/missing`)).toEqual({ kind: 'status', status: 404, code: 'NoSuchKey' });
    expect(await t.getContent(`${local.url}/empty`)).toEqual({ kind: 'content', status: 200, content: Buffer.alloc(0) });
    expect(local.connections).toBe(1);
  });

  it('reports a whole read cut short as failed (the caller asks the SDK)', async () => {
    const local = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Length': 4 * MiB });
      res.write(pattern(MiB), () => res.socket?.destroy());
    });
    expect(await transport().getContent(`${local.url}/k`)).toMatchObject({ kind: 'failed' });
  });

  it('reads a response head that arrives in pieces', async () => {
    const server = createNetServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 206 Partial Content\r\nContent-Le');
        setTimeout(() => socket.write('ngth: 5\r\nContent-Range: bytes 0-4/9\r'), 20);
        setTimeout(() => socket.end('\n\r\nhello'), 40);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const out = await transport().get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/k`, 'bytes=0-4');
      expect(out).toMatchObject({ kind: 'body', status: 206, size: 5 });
      expect((await bodyOf(out)).toString()).toBe('hello');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('reports other statuses with S3’s error code, and keeps the connection', async () => {
    const local = await serve((_req, res) => {
      const xml = '<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>gone</Message></Error>';
      res.writeHead(404, { 'Content-Length': Buffer.byteLength(xml), 'Content-Type': 'application/xml' });
      res.end(xml);
    });
    const t = transport();
    expect(await t.get(`${local.url}/k`)).toEqual({ kind: 'status', status: 404, code: 'NoSuchKey' });
    expect(await t.get(`${local.url}/k`)).toEqual({ kind: 'status', status: 404, code: 'NoSuchKey' });
    expect(local.connections).toBe(1);
  });

  it('HEADs: the size and time of an object or the status, on the connection GETs reuse', async () => {
    const data = pattern(3 * MiB);
    const methods: string[] = [];
    const local = await serve((req, res) => {
      methods.push(`${req.method} ${req.url}`);
      if (req.url?.startsWith('/missing')) {
        res.writeHead(404, { 'Content-Length': 0 });
        res.end();
        return;
      }
      // (Node's server sends no body for a HEAD: only the head, with the object's length.)
      res.writeHead(200, { 'Content-Length': data.length, 'Last-Modified': 'Thu, 03 Dec 2026 23:00:00 GMT' });
      res.end(req.method === 'HEAD' ? undefined : data);
    });
    const t = transport();
    expect(await t.head(`${local.url}/obj?X-Amz-Signature=1`)).toEqual({ kind: 'object', size: data.length, lastModified: 'Thu, 03 Dec 2026 23:00:00 GMT' });
    expect(await t.head(`${local.url}/missing`)).toEqual({ kind: 'status', status: 404 });
    expect(sha(await bodyOf(await t.get(`${local.url}/obj`)))).toBe(sha(data));
    expect(await t.head(`${local.url}/obj`)).toMatchObject({ kind: 'object', size: data.length });
    expect(methods).toEqual(['HEAD /obj?X-Amz-Signature=1', 'HEAD /missing', 'GET /obj', 'HEAD /obj']);
    expect(local.connections).toBe(1);
  });

  it('gives up on a response without a Content-Length (the caller asks the SDK instead)', async () => {
    const local = await serve((_req, res) => {
      res.writeHead(200); // chunked
      res.end('abc');
    });
    expect(await transport().get(`${local.url}/k`)).toMatchObject({ kind: 'failed' });
  });

  it('fails the stream when the connection ends before the body does', async () => {
    const local = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Length': 4 * MiB });
      res.write(pattern(MiB), () => res.socket?.destroy());
    });
    const out = await transport().get(`${local.url}/k`);
    await expect(bodyOf(out)).rejects.toThrow(/connection closed with \d+ bytes of the object still to come/);
  });

  it('retries once on a new connection when a kept-alive one was closed by the server', async () => {
    const sockets: Socket[] = [];
    const local = await serve((req, res) => {
      sockets.push(req.socket);
      res.writeHead(200, { 'Content-Length': 2 });
      res.end('ok');
    });
    const t = transport();
    expect((await bodyOf(await t.get(`${local.url}/k`))).toString()).toBe('ok');
    // The server drops the idle connection without the client noticing yet.
    sockets[0]!.destroy();
    expect((await bodyOf(await t.get(`${local.url}/k`))).toString()).toBe('ok');
    expect(local.connections).toBe(2);
  });

  it('reports a refused connection as failed', async () => {
    const local = await serve(() => undefined);
    const url = local.url;
    await new Promise((r) => local.server.close(r));
    servers.splice(servers.indexOf(local.server), 1);
    expect(await transport().get(`${url}/k`)).toMatchObject({ kind: 'failed', error: expect.objectContaining({ message: expect.stringMatching(/ECONNREFUSED/) }) });
  });

  it('speaks https', async () => {
    const dir = mkdtempSync(join(tmpdir(), 's3-transport-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      const cert = readFileSync(join(dir, 'cert.pem'));
      const data = pattern(3 * MiB + 1);
      const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert });
      const local = await serve((_req, res) => {
        res.writeHead(200, { 'Content-Length': data.length });
        res.end(data);
      }, server);
      const url = local.url.replace(/^http:/, 'https:');
      const t = transport({ ca: cert });
      expect(sha(await bodyOf(await t.get(`${url}/k`)))).toBe(sha(data));
      expect(sha(await bodyOf(await t.get(`${url}/k`)))).toBe(sha(data));
      expect(local.connections).toBe(1);
      // Not trusted without the CA: no response, so the caller's SDK request decides.
      expect(await transport().get(`${url}/k`)).toMatchObject({ kind: 'failed' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
