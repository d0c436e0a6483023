import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, plainAgent } from './http-exchange.js';

let server: Server | undefined;
const agent = plainAgent();

afterEach(async () => {
  agent.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

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
