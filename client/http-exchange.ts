// One HTTP request and its response on Node's own http/https (no npm HTTP stack): the client's
// commands start without loading one, and leave nothing behind that would hold the process open
// after their work is done. Node's agents keep idle connections unref'd, so a pooled keep-alive
// socket never keeps a finished command waiting.
import type { Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';

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
  body?: Readable | Buffer | string;
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

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function dump(res: IncomingMessage): Promise<void> {
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

function asBody(res: IncomingMessage): ResponseBody {
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
    let uploadDone = opts.body === undefined || typeof opts.body === 'string' || Buffer.isBuffer(opts.body);
    const req = send(url, { method: opts.method, headers, agent: opts.agent, signal: opts.signal }, (res) => {
      req.setTimeout(opts.bodyTimeoutMs);
      if (!uploadDone && opts.body && typeof opts.body === 'object' && !Buffer.isBuffer(opts.body)) {
        // The server answered before taking the whole body (an error, a refusal): stop sending,
        // and do not reuse a connection left in the middle of a request.
        const body = opts.body;
        body.unpipe(req);
        body.destroy();
        res.once('close', () => req.destroy());
      }
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: asBody(res) });
    });
    req.setTimeout(opts.headersTimeoutMs, () => req.destroy(timeoutError(`${opts.method} ${url.origin}`)));
    req.once('error', reject);
    const body = opts.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else {
      body.once('error', (err) => req.destroy(err));
      body.once('end', () => {
        uploadDone = true;
      });
      // A request that fails mid-upload releases its source (an open file) at once.
      req.once('error', () => body.destroy());
      body.pipe(req);
    }
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
