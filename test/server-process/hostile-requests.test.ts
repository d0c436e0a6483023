// Requests meant to hurt the server: oversized and malformed bodies, clients that vanish mid-body,
// requests Node's own HTTP parser refuses. Run against the real `stevedore serve` process so that
// an exception escaping a request path shows as what it is for users: the process exiting.
// After each, the server must still answer, and the client must have been told what went wrong.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { htpasswdText, RULES } from '../auth/auth-env.js';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';

let dir: string;
/** Without access control: every registry request path is open to the attacks. */
let s: StevedoreProcess;
/** Token mode: the token endpoint's form body is one of the request paths under attack. */
let t: StevedoreProcess;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hostile-'));
  await mkdir(join(dir, 'keys'));
  await writeFile(join(dir, 'htpasswd'), htpasswdText());
  const configPath = join(dir, 'config.yml');
  await writeFile(
    configPath,
    stringify({
      auth: {
        mode: 'token',
        htpasswd: { path: join(dir, 'htpasswd') },
        tokenService: { enabled: true, keyFile: join(dir, 'keys', 'token.pem') },
        ...RULES,
      },
    }),
  );
  [s, t] = await Promise.all([
    startStevedore({ dataDir: join(dir, 'data') }),
    startStevedore({ dataDir: join(dir, 'token-data'), args: ['--config', configPath] }),
  ]);
}, 90_000);

afterAll(async () => {
  await Promise.all([s?.stop(), t?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  // Still running, still serving.
  for (const p of [s, t]) {
    expect(p.child.exitCode).toBeNull();
    expect(p.child.signalCode).toBeNull();
    const res = await fetch(`${p.url}/v2/`);
    expect(res.status).toBe(p === s ? 200 : 401);
    await res.arrayBuffer();
  }
});

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/**
 * Sends `total` bytes of body in 64 KiB writes without waiting for an answer (as curl does with
 * a chunked upload), and resolves with the response, whenever it comes.
 */
function pushBody(base: string, path: string, method: string, headers: Record<string, string | number>, total: number): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(new URL(path, base), { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        req.destroy();
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(64 * 1024, 0x7b);
    let sent = 0;
    const write = () => {
      while (sent < total && !req.destroyed) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      if (!req.destroyed && sent >= total) req.end();
    };
    write();
  });
}

/** Writes raw bytes on a new connection; resolves with everything received until the server closes it. */
function raw(bytes: string | Buffer, timeoutMs = 20_000): Promise<string> {
  const { hostname, port } = new URL(s.url);
  return new Promise<string>((resolve, reject) => {
    const sock = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${Buffer.concat(chunks).toString('latin1').slice(0, 300)}`));
    }, timeoutMs);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => undefined); // a reset after the answer: what was received counts
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    sock.write(bytes);
  });
}

function expectJsonError(text: string, status: number): void {
  expect(text).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  expect(text.toLowerCase()).toContain('content-type: application/json');
  const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { errors: { code: string; message: string }[] };
  expect(body.errors[0]!.message.length).toBeGreaterThan(0);
}

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

describe('oversized bodies answered early', () => {
  it('a chunked 5 MB manifest PUT gets its 413 and the server lives', async () => {
    const a = await pushBody(s.url, '/v2/x/y/manifests/t', 'PUT', { 'Content-Type': MANIFEST_TYPE, 'Transfer-Encoding': 'chunked' }, 5 * 1024 * 1024);
    expect(a.status).toBe(413);
    expect(JSON.parse(a.body).errors[0].code).toBe('SIZE_INVALID');
  });

  it('a manifest PUT declaring 1 GB gets its 413 while still sending; other clients are served meanwhile', async () => {
    const heavy = pushBody(s.url, '/v2/x/y/manifests/t', 'PUT', { 'Content-Type': MANIFEST_TYPE, 'Content-Length': 1024 ** 3 }, 1024 ** 3);
    const other = await fetch(`${s.url}/v2/x/y/tags/list`);
    expect(other.status).toBe(404);
    await other.arrayBuffer();
    const a = await heavy;
    expect(a.status).toBe(413);
    expect(JSON.parse(a.body).errors[0].code).toBe('SIZE_INVALID');
  });

  it('a token-endpoint POST over 64 KiB gets its 413', async () => {
    const a = await pushBody(t.url, '/auth/token', 'POST', { 'Content-Type': 'application/x-www-form-urlencoded', 'Transfer-Encoding': 'chunked' }, 1024 * 1024);
    expect(a.status).toBe(413);
    expect(JSON.parse(a.body).error).toBe('invalid_request');
  });
});

describe('clients that go away mid-body', () => {
  it('a manifest PUT and a blob PATCH cut off half-way', async () => {
    const post = await fetch(`${s.url}/v2/x/y/blobs/uploads/`, { method: 'POST' });
    expect(post.status).toBe(202);
    const location = new URL(post.headers.get('location')!, s.url).pathname;
    for (const [method, path, type] of [
      ['PUT', '/v2/x/y/manifests/t', MANIFEST_TYPE],
      ['PATCH', location, 'application/octet-stream'],
    ] as const) {
      const head = `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: 100000\r\n\r\n`;
      const { hostname, port } = new URL(s.url);
      await new Promise<void>((resolve) => {
        const sock = connect(Number(port), hostname, () => {
          sock.write(head + '{'.repeat(30_000), () => setTimeout(() => sock.destroy(), 50));
        });
        sock.on('error', () => undefined);
        sock.on('close', () => resolve());
      });
    }
    // The upload survives its interrupted chunk and still takes a proper one.
    const status = await fetch(`${s.url}${location}`);
    expect(status.status).toBe(204);
  });
});

describe("requests Node's parser refuses get a JSON error and one log line", () => {
  const cases: [string, string, number][] = [
    ['bad Content-Length', 'PUT /v2/x/y/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n', 400],
    ['Content-Length with chunked', 'PUT /v2/x/y/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['control characters in the URL', 'GET /v2/\x01\x7f HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['64 KB of headers', `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`, 431],
    ['no Host', 'GET /v2/ HTTP/1.1\r\nConnection: close\r\n\r\n', 400],
  ];
  for (const [what, bytes, status] of cases) {
    it(what, async () => {
      const before = s.logs.length;
      const text = await raw(bytes);
      expectJsonError(text, status);
      const lines = s.logs.slice(before);
      expect(lines.filter((l) => /^\s+at /.test(l))).toEqual([]);
    });
  }
});
