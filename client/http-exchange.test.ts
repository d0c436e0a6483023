import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { BULK_BUFFER_BYTES, BULK_UNSUPPORTED, exchange, exchangeBulk, plainAgent, recycleBulkChunks } from './http-exchange.js';
import type { HostResolver, HostSettings } from './registry-hosts.js';
import { Transport } from './transport.js';

let server: Server | undefined;
const agent = plainAgent();

let tcpServer: TcpServer | undefined;

afterEach(async () => {
  agent.destroy();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  await new Promise<void>((resolve) => (tcpServer ? tcpServer.close(() => resolve()) : resolve()));
  tcpServer = undefined;
});

/** A TCP server answering each connection with `answer` once it has the request's head. */
async function serveRaw(answer: (socket: Socket, head: string) => void): Promise<URL> {
  tcpServer = createTcpServer((socket) => {
    let head = '';
    socket.on('data', (d: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) answer(socket, head);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => tcpServer!.listen(0, '127.0.0.1', resolve));
  return new URL(`http://127.0.0.1:${(tcpServer.address() as AddressInfo).port}/v2/x/blobs/sha256:0?a=1`);
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<{ bytes: Buffer; sizes: number[] }> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return { bytes: Buffer.concat(chunks), sizes: chunks.map((c) => c.length) };
}

async function serve(handler: Parameters<typeof createServer>[1]): Promise<URL> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/x`);
}

const opts = { headers: {}, agent, headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000 };

/** A slow endless upload source that records whether it was destroyed. */
function endlessSource(): Readable & { wasDestroyed: () => boolean } {
  let destroyed = false;
  const src = new Readable({
    read() {
      setTimeout(() => this.push(Buffer.alloc(64 * 1024)), 5);
    },
    destroy(err, cb) {
      destroyed = true;
      cb(err);
    },
  });
  return Object.assign(src, { wasDestroyed: () => destroyed });
}

describe('exchange', () => {
  it('reads small bodies as text, JSON and bytes, and sends a Buffer with its length', async () => {
    const url = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(JSON.stringify({ method: req.method, length: req.headers['content-length'], body: Buffer.concat(chunks).toString() })));
    });
    const r = await exchange(url, { ...opts, method: 'PUT', body: Buffer.from('hello') });
    expect(r.status).toBe(200);
    expect(await r.body.json()).toEqual({ method: 'PUT', length: '5', body: 'hello' });
    const t = await exchange(url, { ...opts, method: 'GET' });
    expect(JSON.parse(await t.body.text())).toMatchObject({ method: 'GET' });
    const b = await exchange(url, { ...opts, method: 'GET' });
    expect(Buffer.from(await b.body.arrayBuffer()).toString()).toContain('"method":"GET"');
  });

  it('returns an early answer and stops sending a streamed body the server will not read', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(413, { connection: 'close' }).end('too big');
    });
    const src = endlessSource();
    const r = await exchange(url, { ...opts, method: 'PUT', body: src });
    expect(r.status).toBe(413);
    expect(await r.body.text()).toBe('too big');
    await expect.poll(() => src.wasDestroyed()).toBe(true);
  });

  it('releases a streamed body when the connection fails mid-upload', async () => {
    const url = await serve((req) => {
      let seen = 0;
      req.on('data', (c: Buffer) => {
        seen += c.length;
        if (seen > 256 * 1024) req.socket.destroy();
      });
    });
    const src = endlessSource();
    await expect(exchange(url, { ...opts, method: 'PUT', body: src })).rejects.toMatchObject({ code: expect.stringMatching(/ECONNRESET|EPIPE/) });
    await expect.poll(() => src.wasDestroyed()).toBe(true);
  });

  it('dump() reads a short body to its end so the connection is reused', async () => {
    let connections = 0;
    const url = await serve((_req, res) => res.end('x'.repeat(1000)));
    server!.on('connection', () => connections++);
    for (let i = 0; i < 3; i++) await (await exchange(url, { ...opts, method: 'GET' })).body.dump();
    expect(connections).toBe(1);
  });
});

describe('exchangeBulk', () => {
  const bulkOpts = { headers: { 'user-agent': 'test', authorization: 'Bearer t' }, headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000 };

  it('reads a large body whole, in chunks of at most a buffer, with the status and headers', async () => {
    const content = randomBytes(3 * BULK_BUFFER_BYTES + 12_345);
    let seen: { url?: string; headers?: Record<string, unknown> } = {};
    const url = await serve((req, res) => {
      seen = { url: req.url, headers: req.headers };
      res.setHeader('x-twice', ['a', 'b']);
      res.writeHead(200, { 'content-length': content.length, 'docker-content-digest': 'sha256:x' });
      // In pieces, as a file is sent.
      let at = 0;
      const next = () => {
        if (at >= content.length) return res.end();
        const piece = content.subarray(at, at + 300_000);
        at += piece.length;
        if (res.write(piece)) setImmediate(next);
        else res.once('drain', next);
      };
      next();
    });
    const r = await exchangeBulk(url, bulkOpts);
    expect(r.status).toBe(200);
    expect(r.headers['docker-content-digest']).toBe('sha256:x');
    expect(r.headers['x-twice']).toBe('a, b');
    const { bytes, sizes } = await collect(r.body);
    expect(bytes.equals(content)).toBe(true);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(BULK_BUFFER_BYTES);
    expect(seen.url).toBe('/v2/x');
    expect(seen.headers).toMatchObject({ authorization: 'Bearer t', 'user-agent': 'test', connection: 'close', host: url.host });
  });

  it('reads an error answer as text, and a body without a length to the connection end', async () => {
    let url = await serve((_req, res) => res.writeHead(404, { 'content-type': 'application/json', 'content-length': 13 }).end('{"errors":[]}'));
    const r = await exchangeBulk(url, bulkOpts);
    expect(r.status).toBe(404);
    expect(await r.body.text()).toBe('{"errors":[]}');
    // An interim answer first is skipped.
    url = await serveRaw((socket) => socket.end('HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nx-a: 1\r\n\r\nuntil the end'));
    const u = await exchangeBulk(url, bulkOpts);
    expect(u.status).toBe(200);
    expect(u.headers['x-a']).toBe('1');
    expect(await u.body.text()).toBe('until the end');
  });

  it('passes on what arrived when the socket goes quiet, before the rest comes', async () => {
    let sendRest!: () => void;
    const url = await serveRaw((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${200_000}\r\n\r\n`);
      socket.write(Buffer.alloc(100_000, 1));
      sendRest = () => socket.end(Buffer.alloc(100_000, 2));
    });
    const r = await exchangeBulk(url, bulkOpts);
    const it = r.body[Symbol.asyncIterator]();
    let first = 0;
    // The first 100 000 bytes are passed on while the server waits (else this never ends).
    while (first < 100_000) first += ((await it.next()).value as Uint8Array).length;
    expect(first).toBe(100_000);
    sendRest();
    let rest = 0;
    for (let n = await it.next(); !n.done; n = await it.next()) rest += (n.value as Uint8Array).length;
    expect(rest).toBe(100_000);
  });

  it('fails the body with ECONNRESET when the connection ends early, and the request when it ends before the head', async () => {
    let url = await serveRaw((socket) => socket.end(`HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n${'x'.repeat(10)}`));
    const r = await exchangeBulk(url, bulkOpts);
    await expect(collect(r.body)).rejects.toMatchObject({ code: 'ECONNRESET' });
    url = await serveRaw((socket) => socket.end());
    await expect(exchangeBulk(url, bulkOpts)).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('refuses a chunked body (the transport sends the request again through http) and header injection', async () => {
    const url = await serve((_req, res) => {
      res.write('chunked ');
      res.end('answer');
    });
    await expect(exchangeBulk(url, bulkOpts)).rejects.toMatchObject({ code: BULK_UNSUPPORTED });
    await expect(exchangeBulk(url, { ...bulkOpts, headers: { range: 'bytes=0-\r\nx-evil: 1' } })).rejects.toMatchObject({ code: 'ERR_INVALID_CHAR' });
    const hosts = { resolve: (apiHost: string): HostSettings => ({ apiHost, scheme: 'http', skipTlsVerify: false, ca: [] }) } as unknown as HostResolver;
    const t = new Transport(hosts, { retries: 0, minDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1 });
    const res = await t.send(url.host, { method: 'GET', path: '/v2/x', bulk: true });
    expect(await res.body.text()).toBe('chunked answer');
    await t.close();
  });

  it('reads into the memory of chunks given back, never into chunks still out', async () => {
    const first = randomBytes(3 * BULK_BUFFER_BYTES);
    const second = randomBytes(3 * BULK_BUFFER_BYTES);
    let next = first;
    const url = await serve((_req, res) => res.writeHead(200, { 'content-length': next.length }).end(next));
    const kept: Uint8Array[] = [];
    const given: ArrayBufferLike[] = [];
    const r1 = await exchangeBulk(url, bulkOpts);
    for await (const c of r1.body as AsyncIterable<Uint8Array>) {
      // The first chunk is kept (its bytes still in use); the others are given back.
      if (kept.length === 0) kept.push(c);
      else {
        given.push(c.buffer);
        recycleBulkChunks([c]);
      }
    }
    const keptCopy = Buffer.from(kept[0]!);
    next = second;
    const r2 = await exchangeBulk(url, bulkOpts);
    const parts: Buffer[] = [];
    let reused = 0;
    for await (const c of r2.body as AsyncIterable<Uint8Array>) {
      if (given.includes(c.buffer)) reused++;
      expect(c.buffer).not.toBe(kept[0]!.buffer);
      parts.push(Buffer.from(c));
    }
    expect(Buffer.concat(parts).equals(second)).toBe(true);
    expect(reused).toBeGreaterThan(0);
    // The kept chunk was not read into.
    expect(Buffer.from(kept[0]!).equals(keptCopy)).toBe(true);
  });

  it('never hands one buffer to two reads: a body ending on a buffer boundary, given back while others read', async () => {
    // Each body fills its buffers exactly, so its last buffer is spare at once when it ends; the
    // reads run side by side, each giving its chunks back as it goes.
    const bodies = Array.from({ length: 6 }, () => randomBytes(2 * BULK_BUFFER_BYTES));
    let i = 0;
    const url = await serve((_req, res) => {
      const b = bodies[i++ % bodies.length]!;
      res.writeHead(200, { 'content-length': b.length }).end(b);
    });
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(
        bodies.map(async () => {
          const r = await exchangeBulk(url, bulkOpts);
          const parts: Buffer[] = [];
          for await (const c of r.body as AsyncIterable<Uint8Array>) {
            parts.push(Buffer.from(c));
            await new Promise((resolve) => setImmediate(resolve));
            recycleBulkChunks([c]);
          }
          return Buffer.concat(parts);
        }),
      );
      for (const got of results) expect(bodies.some((b) => b.equals(got))).toBe(true);
    }
  });

  it('holds a body the reader does not take, and gives it all when it does', async () => {
    const content = randomBytes(8 * BULK_BUFFER_BYTES);
    const url = await serve((_req, res) => res.writeHead(200, { 'content-length': content.length }).end(content));
    const r = await exchangeBulk(url, bulkOpts);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Not read meanwhile: at most the stream's two waiting buffers were taken off the socket.
    expect(r.body.readableLength).toBeLessThanOrEqual(2);
    const { bytes } = await collect(r.body);
    expect(bytes.equals(content)).toBe(true);
  });
});
