// One HTTP request and its response on Node's own http/https (no npm HTTP stack): the client's
// commands start without loading one, and leave nothing behind that would hold the process open
// after their work is done. Node's agents keep idle connections unref'd, so a pooled keep-alive
// socket never keeps a finished command waiting.
import type { Agent as HttpAgent, IncomingHttpHeaders } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { FileBody } from './file-body.js';

/** A response body: a stream, with the helpers the client reads small answers with. */
export interface ResponseBody extends Readable {
  /** Reads and discards a short body so the connection can be reused; a long one is cut off instead. */
  dump(): Promise<void>;
  text(): Promise<string>;
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
}

export interface ExchangeOptions {
  method: string;
  headers: Record<string, string>;
  body?: Readable | Buffer | string | FileBody;
  agent: HttpAgent | HttpsAgent;
  signal?: AbortSignal;
  /** Longest wait for the response headers (no bytes from the server), in milliseconds. */
  headersTimeoutMs: number;
  /** Longest silence while the body flows, in milliseconds. */
  bodyTimeoutMs: number;
}

// The CommonJS modules, not ESM imports: an ESM import of node:http builds its export facade by
// reading every export, and one of them is a getter that loads Node's bundled undici (~20 ms).
const http = () => process.getBuiltinModule('node:http');
const https = () => process.getBuiltinModule('node:https');

/** Bodies thrown away are read to their end up to this size (so the socket is reused), else cut. */
const DUMP_LIMIT = 256 * 1024;

/** A timeout of a request, with the code retries and the network hints know. */
function timeoutError(what: string): Error {
  return Object.assign(new Error(`${what} timed out`), { code: 'ETIMEDOUT' });
}

async function readAll(res: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function dump(res: Readable): Promise<void> {
  if (res.readableEnded || res.destroyed) return;
  let seen = 0;
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      seen += c.length;
      if (seen > DUMP_LIMIT) {
        res.destroy();
        return;
      }
    }
  } catch {
    // A body being thrown away that fails on the way changes nothing for the caller.
  }
}

function asBody(res: Readable): ResponseBody {
  return Object.assign(res, {
    dump: () => dump(res),
    text: async () => (await readAll(res)).toString('utf8'),
    json: async () => JSON.parse((await readAll(res)).toString('utf8')) as unknown,
    arrayBuffer: async () => {
      const b = await readAll(res);
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    },
  });
}

/** Sends one request; resolves with the response once its headers are in (any status). */
export async function exchange(url: URL, opts: ExchangeOptions): Promise<Exchange> {
  const tls = url.protocol === 'https:';
  const send = tls ? https().request : http().request;
  const headers: Record<string, string> = { ...opts.headers };
  if ((typeof opts.body === 'string' || Buffer.isBuffer(opts.body)) && headers['content-length'] === undefined) {
    headers['content-length'] = String(Buffer.byteLength(opts.body));
  }
  return new Promise<Exchange>((resolve, reject) => {
    const body = opts.body;
    const fileBody = body instanceof FileBody ? body : undefined;
    const stream = body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body) && !fileBody ? (body as Readable) : undefined;
    /** Every byte handed to the request, or the upload given up (a file body stops at its next buffer). */
    let uploadDone = !fileBody && !stream;
    const req = send(url, { method: opts.method, headers, agent: opts.agent, signal: opts.signal }, (res) => {
      req.setTimeout(opts.bodyTimeoutMs);
      if (fileBody ? !fileBody.sent : !uploadDone) {
        // The server answered before taking the whole body (an error, a refusal): stop sending,
        // and do not reuse a connection left in the middle of a request.
        uploadDone = true;
        stream?.unpipe(req);
        stream?.destroy();
        res.once('close', () => req.destroy());
      }
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: asBody(res) });
    });
    req.setTimeout(opts.headersTimeoutMs, () => req.destroy(timeoutError(`${opts.method} ${url.origin}`)));
    req.once('error', reject);
    if (fileBody) fileBody.writeTo(req, () => uploadDone).catch((err: unknown) => req.destroy(err as Error));
    else if (stream) {
      stream.once('error', (err) => req.destroy(err));
      stream.once('end', () => {
        uploadDone = true;
      });
      // A request that fails mid-upload releases its source (an open file) at once.
      req.once('error', () => stream.destroy());
      stream.pipe(req);
    } else req.end(body);
  });
}

/** Keep-alive agent settings shared by the plain and TLS agents. */
export const AGENT_OPTIONS = { keepAlive: true, maxSockets: 16, maxFreeSockets: 16, scheduling: 'lifo' as const };

export function plainAgent(): HttpAgent {
  return new (http().Agent)(AGENT_OPTIONS);
}

export async function tlsAgent(tlsOptions: { rejectUnauthorized: boolean; ca?: string[]; cert?: string; key?: string }): Promise<HttpsAgent> {
  return new (https().Agent)({ ...AGENT_OPTIONS, ...tlsOptions });
}

/** A bulk read's buffers: socket reads go straight into one, passed on as a chunk when it is full. */
export const BULK_BUFFER_BYTES = 1024 * 1024;
/** Bytes of a bulk body read but not passed on yet are passed on when the socket is quiet this long. */
const BULK_IDLE_MS = 20;
/** Longest response head a bulk read accepts. */
const BULK_MAX_HEAD_BYTES = 64 * 1024;

/**
 * Bulk buffers handed out in chunks: how many of their chunks are still out, and whether more
 * will be cut from them. A buffer all of whose chunks came back (`recycleBulkChunks`) is read
 * into again: fresh memory costs a page fault per 4 KiB (~12,000 for a 48 MB pull).
 */
const bulkBuffers = new WeakMap<ArrayBufferLike, { buf: Buffer; out: number; done: boolean }>();
const spareBuffers: Buffer[] = [];
/** Spare buffers kept at most (the rest are left to the garbage collector). */
const SPARE_BUFFERS = 8;

function takeBulkBuffer(): Buffer {
  const buf = spareBuffers.pop() ?? Buffer.allocUnsafeSlow(BULK_BUFFER_BYTES);
  bulkBuffers.set(buf.buffer, { buf, out: 0, done: false });
  return buf;
}

function spare(buffer: ArrayBufferLike): void {
  const e = bulkBuffers.get(buffer);
  if (!e || !e.done || e.out > 0) return;
  bulkBuffers.delete(buffer);
  if (spareBuffers.length < SPARE_BUFFERS) spareBuffers.push(e.buf);
}

/**
 * Gives back chunks of bulk bodies (`exchangeBulk`) once nothing uses their bytes any more (they
 * were written and nothing keeps them): their memory is read into again. Each chunk at most once;
 * chunks from elsewhere are ignored.
 */
export function recycleBulkChunks(chunks: Uint8Array[]): void {
  for (const c of chunks) {
    const e = bulkBuffers.get(c.buffer);
    if (!e || e.out === 0) continue;
    e.out--;
    spare(c.buffer);
  }
}

/** The code of the error a bulk read gives for an answer it does not read (a chunked body). */
export const BULK_UNSUPPORTED = 'ERR_STEVEDORE_BULK_UNSUPPORTED';

function headerLineError(): Error {
  return Object.assign(new TypeError('invalid character in a request header'), { code: 'ERR_INVALID_CHAR' });
}

/**
 * A GET over plain HTTP whose body is read off the socket into 1 MiB buffers (net's `onread`),
 * without Node's HTTP parser and its stream chunk per 64 KiB read: for blob downloads, where
 * those layers cost more CPU than hashing the bytes (a 48 MB pull: ~60 ms less CPU). Loopback
 * reads then fill hundreds of kilobytes each, and the body stream carries one chunk per MiB (or
 * what arrived before the socket went quiet for 20 ms). Its own connection, closed after the
 * answer (`connection: close`): no pool. Bodies with a Content-Length, or read to the
 * connection's end; a chunked or otherwise encoded body fails with code BULK_UNSUPPORTED
 * before anything is resolved, so the caller can send the request again through `exchange`.
 * Errors carry the same codes as Node's http (ECONNREFUSED, ECONNRESET, ETIMEDOUT...).
 */
export function exchangeBulk(url: URL, opts: Omit<ExchangeOptions, 'agent' | 'body' | 'method'>): Promise<Exchange> {
  const net = process.getBuiltinModule('node:net');
  const stream = process.getBuiltinModule('node:stream');
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const [name, value] of Object.entries(opts.headers)) {
    if (/[\r\n\0:]/.test(name) || /[\r\n\0]/.test(value)) return Promise.reject(headerLineError());
    if (name.toLowerCase() === 'connection' || name.toLowerCase() === 'host') continue;
    head += `${name}: ${value}\r\n`;
  }
  head += 'connection: close\r\n\r\n';

  return new Promise<Exchange>((resolve, reject) => {
    let buf = takeBulkBuffer();
    /** Bytes in `buf`, and how many of them were consumed (the head) or passed on (the body). */
    let fill = 0;
    let passed = 0;
    let body: Readable | undefined;
    /** The body's length from Content-Length, or -1: up to the connection's end. */
    let length = -1;
    let received = 0;
    let paused = false;
    let idle: ReturnType<typeof setTimeout> | undefined;
    let lastReadAt = 0;

    let failed = false;
    /** The current buffer was retired: it may be spare, even taken by another read, already. */
    let retired = false;
    /** No more chunks are cut from the current buffer: it is spare once they all came back. */
    const retire = (): void => {
      if (retired) return;
      retired = true;
      bulkBuffers.get(buf.buffer)!.done = true;
      spare(buf.buffer);
    };
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      clearTimeout(idle);
      retire();
      socket.destroy();
      if (body) body.destroy(err);
      else reject(err);
    };
    /** Passes on the body bytes not passed on yet; false when the reader wants no more for now. */
    const passOn = (): boolean => {
      if (fill === passed) return true;
      const chunk = buf.subarray(passed, fill);
      passed = fill;
      bulkBuffers.get(buf.buffer)!.out++;
      return body!.push(chunk);
    };
    const finish = (): void => {
      clearTimeout(idle);
      passOn();
      retire();
      body!.push(null);
      socket.destroy();
    };
    const onIdle = (): void => {
      idle = undefined;
      if (!body || body.destroyed) return;
      const quiet = performance.now() - lastReadAt;
      if (quiet < BULK_IDLE_MS) idle = setTimeout(onIdle, BULK_IDLE_MS - quiet);
      else if (!passOn()) paused = true;
    };
    /** Where the answer's head starts in `buf` (after interim 1xx heads). */
    let headStart = 0;
    /** Parses a head ending at `end`; false for an interim (1xx) one, which is skipped. */
    const onHead = (end: number): boolean => {
      const lines = buf.toString('latin1', headStart, end).split('\r\n');
      const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]!);
      if (!status) {
        fail(Object.assign(new Error(`${url.origin}: not an HTTP/1.1 answer`), { code: 'HPE_INVALID_CONSTANT' }));
        return true;
      }
      const code = Number(status[1]);
      if (code >= 100 && code < 200) {
        headStart = end + 4;
        return false;
      }
      const headers: IncomingHttpHeaders = {};
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!;
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        const had = headers[name];
        if (name === 'set-cookie') headers[name] = [...((had as string[] | undefined) ?? []), value];
        else headers[name] = had === undefined ? value : `${had as string}, ${value}`;
      }
      const encoding = headers['transfer-encoding'];
      if (encoding !== undefined && String(encoding).toLowerCase() !== 'identity') {
        fail(Object.assign(new Error(`${url.origin}: a ${String(encoding)} body is not read in bulk`), { code: BULK_UNSUPPORTED }));
        return true;
      }
      if (code === 204 || code === 304) length = 0;
      else if (headers['content-length'] !== undefined) {
        length = Number(headers['content-length']);
        if (!Number.isSafeInteger(length) || length < 0) {
          fail(Object.assign(new Error(`${url.origin}: invalid Content-Length`), { code: 'HPE_INVALID_CONTENT_LENGTH' }));
          return true;
        }
      }
      passed = end + 4;
      socket.setTimeout(opts.bodyTimeoutMs);
      body = new stream.Readable({
        // Each chunk as it was pushed (a byte-mode read() would join the buffered ones in a new
        // buffer); two may wait for the reader before the socket is paused.
        objectMode: true,
        highWaterMark: 2,
        read: () => {
          if (!paused) return;
          paused = false;
          socket.resume();
        },
        destroy: (err, cb) => {
          clearTimeout(idle);
          retire();
          socket.destroy();
          cb(err);
        },
      });
      Object.assign(body, { recycle: recycleBulkChunks });
      resolve({ status: code, headers, body: asBody(body) });
      return true;
    };
    const onRead = (n: number): boolean => {
      fill += n;
      if (!body) {
        for (;;) {
          const end = buf.subarray(0, fill).indexOf('\r\n\r\n', headStart);
          if (end < 0) {
            if (fill >= BULK_MAX_HEAD_BYTES) fail(Object.assign(new Error(`${url.origin}: response head too large`), { code: 'HPE_HEADER_OVERFLOW' }));
            return !failed;
          }
          if (onHead(end)) break;
        }
        if (!body) return false;
        n = fill - passed;
      }
      if (length >= 0 && received + n >= length) {
        // Anything after the body is not read (the connection is closed).
        fill -= received + n - length;
        received = length;
        finish();
        return false;
      }
      received += n;
      if (fill === buf.length) {
        const more = passOn();
        retire();
        buf = takeBulkBuffer();
        retired = false;
        fill = passed = 0;
        if (!more) {
          paused = true;
          return false;
        }
      } else {
        lastReadAt = performance.now();
        idle ??= setTimeout(onIdle, BULK_IDLE_MS);
      }
      return true;
    };

    const port = Number(url.port || 80);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const socket = net.connect({ host, port, noDelay: true, onread: { buffer: () => buf.subarray(fill), callback: onRead } });
    socket.setTimeout(opts.headersTimeoutMs, () => fail(timeoutError(`GET ${url.origin}`)));
    socket.on('error', fail);
    socket.once('end', () => {
      if (!body) fail(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      else if (length < 0) finish();
      else if (received < length) fail(Object.assign(new Error(`${url.origin}: the connection closed after ${received} of ${length} bytes`), { code: 'ECONNRESET' }));
    });
    const signal = opts.signal;
    if (signal) {
      if (signal.aborted) return fail(signal.reason as Error);
      const onAbort = () => fail(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    socket.write(head, 'latin1');
  });
}
