// HTTP to registries: pooled keep-alive connections per host, TLS settings per host, plain-HTTP
// fallback for insecure registries, and retries with backoff on connection errors, 429 and 5xx
// (honouring Retry-After). On Node's own http/https (client/http-exchange.ts): no npm HTTP stack
// to load at start-up, and none whose background work holds a finished command open.
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { ClientError } from './errors.js';
import type { FileBody } from './file-body.js';
import { BULK_UNSUPPORTED, exchange, exchangeBulk, plainAgent, tlsAgent, type Exchange, type ResponseBody } from './http-exchange.js';
import type { HostResolver, HostSettings } from './registry-hosts.js';
import { sniffTls } from './tls-sniff.js';

export interface RetryPolicy {
  /** Further attempts after the first. */
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Longest Retry-After honoured; longer ones are capped. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, minDelayMs: 250, maxDelayMs: 8000, maxRetryAfterMs: 60_000 };

export interface TransportRequest {
  method: string;
  /** Absolute URL, or a path on the registry (`/v2/...`). */
  path: string;
  headers?: Record<string, string>;
  /** A body, or a function making a fresh body for each attempt (streams cannot be replayed). */
  body?: Buffer | string | (() => Readable | Buffer | FileBody);
  /** Retry this request on failure (default: true only when the body can be replayed). */
  retry?: boolean;
  signal?: AbortSignal;
  /**
   * A large body to download (a blob): over plain HTTP, read off its own connection into 1 MiB
   * buffers (http-exchange.ts `exchangeBulk`) instead of through Node's HTTP parser. GET only.
   */
  bulk?: boolean;
  /** Called before each retry (for progress reporting). */
  onRetry?: (attempt: number, reason: string, delayMs: number) => void;
}

export interface TransportResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
  url: string;
}

const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
]);

/** Longest wait for a response's headers, and longest silence while its body flows. */
export const HEADERS_TIMEOUT_MS = 120_000;
export const BODY_TIMEOUT_MS = 300_000;

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504 || status === 500;
}

export function isRetryableError(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return RETRYABLE_CODES.has(e?.code ?? '') || RETRYABLE_CODES.has(e?.cause?.code ?? '');
}

/** Retry-After as seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function backoffDelay(attempt: number, policy: RetryPolicy): number {
  const exp = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** (attempt - 1));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });
}

export class Transport {
  private readonly agents = new Map<string, HttpAgent | HttpsAgent>();
  /** Insecure hosts found to speak plain HTTP. */
  private readonly plainHosts = new Set<string>();
  /** One sniff per insecure host (client/tls-sniff.ts), shared by the requests that wait for it. */
  private readonly sniffs = new Map<string, Promise<void>>();

  constructor(
    readonly hosts: HostResolver,
    readonly retry: RetryPolicy = DEFAULT_RETRY,
    readonly userAgent = 'stevedore/0.1',
  ) {}

  /** The pooled agent for a host's TLS settings (plain HTTP shares one agent). */
  private async agentFor(settings: HostSettings, tls: boolean): Promise<HttpAgent | HttpsAgent> {
    const key = tls ? `https|${settings.apiHost}|${settings.skipTlsVerify}|${settings.ca.length}` : 'http';
    let agent = this.agents.get(key);
    if (!agent) {
      agent = tls
        ? await tlsAgent({
            rejectUnauthorized: !settings.skipTlsVerify,
            // Unverified: an empty CA list spares parsing Node's ~150 root certificates, which
            // nothing checks (10-14 ms of a pull from a loopback registry, whose HTTPS probe this is).
            ...(settings.ca.length > 0 ? { ca: settings.ca } : settings.skipTlsVerify ? { ca: [] } : {}),
            ...(settings.cert && settings.key ? { cert: settings.cert, key: settings.key } : {}),
          })
        : plainAgent();
      // Another request may have made one while this one loaded https: keep the first.
      agent = this.agents.get(key) ?? agent;
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** The base URL of a registry (`https://registry-1.docker.io`). */
  baseUrl(registry: string): string {
    const s = this.hosts.resolve(registry);
    const scheme = s.scheme === 'http' || (s.scheme === 'auto' && this.plainHosts.has(s.apiHost)) ? 'http' : 'https';
    return `${scheme}://${s.apiHost}`;
  }

  /** Sends a request to `registry`, retrying as the policy allows. Error statuses are returned, not thrown. */
  async send(registry: string, req: TransportRequest): Promise<TransportResponse> {
    const settings = this.hosts.resolve(registry);
    const replayable = req.body === undefined || typeof req.body !== 'object' || Buffer.isBuffer(req.body) || typeof req.body === 'function';
    const mayRetry = req.retry ?? replayable;
    if (settings.scheme === 'auto' && !/^https?:\/\//.test(req.path)) await this.sniff(settings.apiHost);
    for (let attempt = 0; ; attempt++) {
      const url = /^https?:\/\//.test(req.path) ? req.path : `${this.baseUrl(registry)}${req.path}`;
      const body = typeof req.body === 'function' ? req.body() : req.body;
      let res: TransportResponse;
      try {
        const target = new URL(url);
        const headers = { 'user-agent': this.userAgent, ...req.headers };
        const viaHttp = async (): Promise<Exchange> =>
          exchange(target, {
            method: req.method,
            headers,
            body,
            signal: req.signal,
            agent: await this.agentFor(settings, target.protocol === 'https:'),
            headersTimeoutMs: HEADERS_TIMEOUT_MS,
            bodyTimeoutMs: BODY_TIMEOUT_MS,
          });
        const r =
          req.bulk && req.method === 'GET' && body === undefined && target.protocol === 'http:'
            ? await exchangeBulk(target, { headers, signal: req.signal, headersTimeoutMs: HEADERS_TIMEOUT_MS, bodyTimeoutMs: BODY_TIMEOUT_MS }).catch((err: unknown) => {
                // An answer the bulk read does not take (a chunked body): the same GET through Node's http.
                if ((err as { code?: string }).code === BULK_UNSUPPORTED) return viaHttp();
                throw err;
              })
            : await viaHttp();
        res = { status: r.status, headers: r.headers, body: r.body, url };
      } catch (err) {
        if (req.signal?.aborted) throw err;
        if (settings.scheme === 'auto' && url.startsWith('https:') && !/^https?:\/\//.test(req.path)) {
          // An insecure registry that fails over HTTPS is tried over plain HTTP from then on, as
          // Docker does (a concurrent request may have switched already: just go again).
          this.plainHosts.add(settings.apiHost);
          attempt--;
          continue;
        }
        if (mayRetry && attempt < this.retry.retries && isRetryableError(err)) {
          const delay = backoffDelay(attempt + 1, this.retry);
          req.onRetry?.(attempt + 1, (err as Error).message, delay);
          await sleep(delay, req.signal);
          continue;
        }
        // Loaded on a failure only: `tags` (timed against `node -e 0`) loads the transport.
        const failure = (await import('./network-errors.js')).describeNetworkFailure(url, err);
        throw new ClientError(`${req.method} ${url}: ${failure.why}`, { cause: err, kind: failure.kind, hint: failure.hint });
      }
      if (mayRetry && attempt < this.retry.retries && isRetryableStatus(res.status)) {
        const retryAfter = parseRetryAfter(res.headers['retry-after']);
        const delay = retryAfter !== undefined ? Math.min(retryAfter, this.retry.maxRetryAfterMs) : backoffDelay(attempt + 1, this.retry);
        await res.body.dump();
        req.onRetry?.(attempt + 1, `HTTP ${res.status}`, delay);
        await sleep(delay, req.signal);
        continue;
      }
      return res;
    }
  }

  /**
   * Before an insecure host's first request: a host that answers a TLS ClientHello in plain HTTP
   * is reached over plain HTTP at once, without loading TLS for an HTTPS attempt bound to fail.
   */
  private sniff(apiHost: string): Promise<void> {
    let p = this.sniffs.get(apiHost);
    if (!p) {
      p = sniffTls(apiHost).then((r) => {
        if (r === 'plain') this.plainHosts.add(apiHost);
      });
      this.sniffs.set(apiHost, p);
    }
    return p;
  }

  /** Closes every pooled connection: nothing of the transport is left to hold the process open. */
  async close(): Promise<void> {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }

  /** Connections open (in use or idle) across the transport's agents. */
  openConnections(): number {
    let n = 0;
    for (const a of this.agents.values()) {
      for (const list of [...Object.values(a.sockets), ...Object.values(a.freeSockets)]) n += list?.length ?? 0;
    }
    return n;
  }
}

export function header(res: TransportResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
