// Object GETs for the S3 driver without the AWS SDK's response handling. The SDK hands a download
// over as Node's http.IncomingMessage: one JS parse/push/pipe round per 64 KiB socket read (the
// registry's blob pulls spent most of their CPU there). This module fetches a presigned GET URL
// (signed by the SDK's presigner, so credentials, session tokens and SigV4 stay the SDK's) over a
// plain TCP/TLS socket that reads into large slabs (`onread`): one chunk per socket read of up to
// 1 MiB, handed to the caller as a Readable with backpressure (a full Readable pauses the socket).
// When the Readable is piped (koa pipes a blob into the response), chunks are written to the
// destination directly and a slab is reused once every write from it has completed: no allocation
// per MB, so no garbage collections driven by 1 MiB buffers (they were half the pull's CPU). Chunks
// read any other way are the reader's to keep, and their slabs are left to the garbage collector.
// A connection holds a slab only while it reads a body: a response head is read into a small
// buffer of the connection's own (body bytes that came with it are copied out), the slab is taken
// when the body's next read needs room and handed back when the exchange ends. An idle connection,
// or a HEAD, holds none.
//
// HEADs (the driver's stat of an object) go the same way: an SDK HeadObject costs more CPU than the
// byte-streaming of a small blob. So do small objects read whole (getContent: links, manifests):
// their bytes are copied into a buffer of the object's size as they arrive, so they pin no slab.
//
// Deliberately small: HTTP/1.1 GET and HEAD only, responses with a Content-Length (what S3 and S3-compatible
// stores send for objects). Anything else — another status, a chunked response, a socket that
// fails before the response starts — is reported to the caller, which falls back to the SDK (its
// retries and its error types); a body cut short is an error on the stream. Idle connections are
// kept for reuse, unreferenced, and closed after IDLE_MS.
import { connect as netConnect, type Socket } from 'node:net';
import { Readable, type Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';

/** Largest chunk handed out: one socket read. */
const SLAB_BYTES = 1024 * 1024;
/** A connection's own buffer for reads of a response head (and whatever follows it in that read). */
const HEAD_READ_BYTES = 16 * 1024;
/** A slab with less room than this left is replaced by a new one for the next read. */
const MIN_READ_BYTES = 128 * 1024;
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const IDLE_MS = 4_000;
const MAX_IDLE_PER_ORIGIN = 32;
const MAX_FREE_SLABS = 16;

/** A buffer socket reads go into, and who still uses its bytes. */
interface Slab {
  buf: Buffer;
  used: number;
  /** Chunks of it not yet written (pending in a body, or in a write in flight). */
  refs: number;
  /** No more reads go into it. */
  retired: boolean;
  /** A chunk of it was handed to a reader: its bytes must never be overwritten. */
  escaped: boolean;
}

/** Free slabs, reused by every connection of a transport. */
class SlabPool {
  private readonly free: Buffer[] = [];
  /** Slabs allocated so far (tests). */
  allocated = 0;
  get freeCount(): number {
    return this.free.length;
  }
  take(): Slab {
    let buf = this.free.pop();
    if (!buf) {
      buf = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.allocated++;
    }
    return { buf, used: 0, refs: 0, retired: false, escaped: false };
  }
  /** Called when a slab was retired or a write from it completed: back to the pool if nothing uses it. */
  release(slab: Slab): void {
    if (slab.retired && slab.refs === 0 && !slab.escaped && this.free.length < MAX_FREE_SLABS) {
      slab.escaped = true; // (once)
      this.free.push(slab.buf);
    }
  }
}

/** A GET whose response is not a body we stream (or no response at all): the caller decides. */
export type GetOutcome =
  | { kind: 'body'; status: number; size: number; body: Readable }
  /** Another status (with S3's error code from the XML body when there is one). */
  | { kind: 'status'; status: number; code: string | undefined }
  /** No usable response (connection failed, unsupported framing): try another way. */
  | { kind: 'failed'; error: Error };

/** A GET of a small object read whole: its bytes, in a buffer of their own of the exact size. */
export type ContentOutcome =
  | { kind: 'content'; status: number; content: Buffer }
  | { kind: 'status'; status: number; code: string | undefined }
  | { kind: 'failed'; error: Error };

/** What a HEAD found: the object's size and time, another status, or no usable response. */
export type HeadOutcome =
  | { kind: 'object'; size: number; lastModified: string | undefined }
  | { kind: 'status'; status: number }
  | { kind: 'failed'; error: Error };

export interface S3TransportOptions {
  /** Connect and response-head timeout (ms). */
  timeoutMs?: number;
  /** Extra trusted CAs for https endpoints (default: Node's, as the SDK uses). */
  ca?: string | Buffer;
}

interface Head {
  status: number;
  headers: Map<string, string>;
}

/** One exchange on a connection: head parsing, then the body. */
interface Exchange {
  onHead(head: Head): void;
  /** `slab`: where the chunk's bytes live (undefined: a buffer of its own). */
  onBody(chunk: Buffer, slab: Slab | undefined): boolean;
  onClose(error: Error): void;
}

class Connection {
  readonly socket: Socket;
  private exchange: Exchange | undefined;
  private head: Buffer[] = [];
  private headBytes = 0;
  /** Where reads go while no body is being read (a head, or bytes on an idle connection). */
  private readonly headBuf = Buffer.allocUnsafeSlow(HEAD_READ_BYTES);
  /** The slab body reads go into; only while an exchange reads its body. */
  private slab: Slab | undefined;
  reusable = true;
  closed = false;

  constructor(url: URL, timeoutMs: number, ca: string | Buffer | undefined, private readonly pool: SlabPool, onClosed: (c: Connection) => void) {
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const onread = {
      // A head (or anything outside an exchange's body) is read into the connection's own buffer;
      // a body read gets the free end of the current slab (a new one when there is none or little
      // is left): the chunk handed out is a view of it, no copy.
      buffer: () => {
        if (this.headBytes >= 0 || !this.exchange) return this.headBuf;
        let slab = this.slab;
        if (!slab || slab.buf.length - slab.used < MIN_READ_BYTES) {
          if (slab) {
            slab.retired = true;
            pool.release(slab);
          }
          slab = this.slab = pool.take();
        }
        return slab.buf.subarray(slab.used);
      },
      callback: (n: number, buf: Uint8Array) => {
        const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
        if (buf.buffer === this.headBuf.buffer) return this.onData(chunk, undefined);
        const slab = this.slab!;
        slab.used += n;
        return this.onData(chunk, slab);
      },
    };
    const host = url.hostname.replace(/^\[|\]$/g, '');
    this.socket =
      url.protocol === 'https:'
        ? // (tls.connect takes onread like net.connect; @types/node does not declare it)
          tlsConnect({ host, port, servername: /^[\d.:]+$/.test(host) ? undefined : host, ALPNProtocols: ['http/1.1'], ...(ca ? { ca } : {}), ...({ onread } as object) })
        : netConnect({ host, port, onread });
    this.socket.setNoDelay(true);
    this.socket.setTimeout(timeoutMs);
    this.socket.on('timeout', () => this.socket.destroy(new Error('s3 transport: timed out')));
    let lastError: Error | undefined;
    this.socket.on('error', (err) => {
      lastError = err; // reported through 'close'
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.dropSlab();
      const ex = this.exchange;
      this.exchange = undefined;
      ex?.onClose(new Error(`s3 transport: connection closed${lastError ? ` (${lastError.message})` : ''}`));
      onClosed(this);
    });
  }

  start(exchange: Exchange, request: string, timeoutMs: number): void {
    this.exchange = exchange;
    this.head = [];
    this.headBytes = 0;
    this.socket.ref();
    this.socket.setTimeout(timeoutMs);
    this.socket.write(request);
  }

  /** The exchange is over: the connection may serve another (its slab goes back). */
  finish(): void {
    this.exchange = undefined;
    this.dropSlab();
  }

  /** No more reads into the current slab: back to the pool once nothing uses it. */
  private dropSlab(): void {
    const slab = this.slab;
    if (!slab) return;
    this.slab = undefined;
    slab.retired = true;
    this.pool.release(slab);
  }

  /** Whether a slab is held (tests). */
  get holdsSlab(): boolean {
    return this.slab !== undefined;
  }

  resume(): void {
    if (!this.closed) this.socket.resume();
  }

  /** `slab` undefined: `chunk` is in the connection's head buffer, to be copied before it is kept. */
  private onData(chunk: Buffer, slab: Slab | undefined): boolean {
    const ex = this.exchange;
    if (!ex) {
      // Bytes nobody asked for: the connection is out of step.
      this.socket.destroy();
      return false;
    }
    if (this.headBytes >= 0) {
      this.headBytes += chunk.length;
      const single = this.head.length === 0;
      const all = single ? chunk : Buffer.concat([...this.head, chunk]);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        // Kept across reads: a copy (the slab it is in may be reused meanwhile).
        this.head = [single ? Buffer.from(all) : all];
        if (this.headBytes > MAX_HEAD_BYTES) this.socket.destroy(new Error('s3 transport: response head too large'));
        return true;
      }
      this.headBytes = -1;
      this.head = [];
      this.socket.setTimeout(0); // a paused body may wait on the client indefinitely
      const head = parseHead(all.subarray(0, end).toString('latin1'));
      if (!head) {
        this.socket.destroy(new Error('s3 transport: malformed response head'));
        return false;
      }
      ex.onHead(head);
      // The first body bytes came with the head (unless the exchange ended on the head alone):
      // copied out of the head buffer, which the next read reuses.
      if (this.closed || this.exchange !== ex) return true;
      const rest = all.subarray(end + 4);
      return single && slab ? ex.onBody(rest, slab) : ex.onBody(single && rest.length > 0 ? Buffer.from(rest) : rest, undefined);
    }
    // (Body bytes read into the head buffer: not expected, as a body's reads go to a slab.)
    return slab ? ex.onBody(chunk, slab) : ex.onBody(Buffer.from(chunk), undefined);
  }

  /** Back to head parsing for the next exchange. */
  resetHead(): void {
    this.head = [];
    this.headBytes = 0;
  }
}

function parseHead(text: string): Head | undefined {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(m[1]), headers };
}

/**
 * A response body. Until it is read or piped, chunks wait (the socket paused). Read: chunks are
 * pushed as they arrive, the reader's to keep. Piped (the one destination, before any read): each
 * chunk is written to the destination as it arrives, its slab reused when the write completes,
 * and the socket paused while the destination is full.
 */
class BodyStream extends Readable {
  private mode: 'waiting' | 'read' | 'piped' = 'waiting';
  private pending: { chunk: Buffer; slab: Slab | undefined }[] = [];
  private complete = false;
  private dest: Writable | undefined;
  private endDest = false;
  private readonly onDrain = () => this.resumeSocket();

  constructor(
    private readonly pool: SlabPool,
    private readonly resumeSocket: () => void,
    private readonly onDestroy: () => void,
  ) {
    super({ highWaterMark: SLAB_BYTES });
  }

  /** The next chunk from the socket; false: pause it. */
  deliver(chunk: Buffer, slab: Slab | undefined): boolean {
    if (this.destroyed) return false;
    if (slab) slab.refs++;
    if (this.mode === 'waiting') {
      this.pending.push({ chunk, slab });
      return false;
    }
    if (this.mode === 'read') return this.pushChunk(chunk, slab);
    return this.writeChunk(chunk, slab);
  }

  /** Every byte has been delivered. */
  finish(): void {
    this.complete = true;
    if (this.mode !== 'waiting') this.push(null);
  }

  private pushChunk(chunk: Buffer, slab: Slab | undefined): boolean {
    if (slab) slab.escaped = true;
    return this.push(chunk);
  }

  private writeChunk(chunk: Buffer, slab: Slab | undefined): boolean {
    return this.dest!.write(chunk, (err) => {
      if (slab) {
        slab.refs--;
        this.pool.release(slab);
      }
      if (err) this.destroy(err);
    });
  }

  override _read(): void {
    if (this.mode === 'waiting') {
      this.mode = 'read';
      for (const { chunk, slab } of this.pending.splice(0)) this.pushChunk(chunk, slab);
      if (this.complete) this.push(null);
    }
    if (this.mode === 'read') this.resumeSocket();
  }

  override pipe<T extends NodeJS.WritableStream>(dest: T, opts?: { end?: boolean }): T {
    if (this.mode !== 'waiting' || typeof (dest as unknown as Writable).write !== 'function') return super.pipe(dest, opts);
    this.mode = 'piped';
    this.dest = dest as unknown as Writable;
    this.endDest = opts?.end !== false;
    this.dest.on('drain', this.onDrain);
    this.dest.emit('pipe', this);
    let more = true;
    for (const { chunk, slab } of this.pending.splice(0)) more = this.writeChunk(chunk, slab);
    // Flowing, with no data of its own: 'end' comes once finish() pushes the end.
    this.resume();
    if (this.complete) this.push(null);
    else if (more) this.resumeSocket();
    this.once('end', () => {
      this.dest?.removeListener('drain', this.onDrain);
      if (this.endDest) this.dest?.end();
    });
    return dest;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.dest?.removeListener('drain', this.onDrain);
    for (const { slab } of this.pending.splice(0)) {
      if (slab) {
        slab.refs--;
        this.pool.release(slab);
      }
    }
    this.onDestroy();
    cb(err);
  }
}

export class S3Transport {
  private readonly idle = new Map<string, Connection[]>();
  private readonly timeoutMs: number;
  private readonly ca: string | Buffer | undefined;
  private readonly slabs = new SlabPool();
  private destroyed = false;

  constructor(opts: S3TransportOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.ca = opts.ca;
  }

  /**
   * GETs `url` (a presigned URL) with an optional Range header (`bytes=a-b`; not part of the
   * signature, as S3 allows). A 200/206 with a Content-Length is streamed; see GetOutcome.
   */
  get(url: string, range?: string): Promise<GetOutcome> {
    const u = new URL(url);
    return this.onConnection(u, (c) => this.exchange(u, range, c, false));
  }

  /** GETs `url` (a presigned URL) and reads a 200's body whole; see ContentOutcome. */
  getContent(url: string): Promise<ContentOutcome> {
    const u = new URL(url);
    return this.onConnection(u, (c) => this.exchange(u, undefined, c, true));
  }

  /** HEADs `url` (a URL presigned for HEAD). */
  head(url: string): Promise<HeadOutcome> {
    const u = new URL(url);
    return this.onConnection(u, (c) => this.headExchange(u, c));
  }

  /**
   * Runs one exchange on an idle connection to the URL's origin, else on a new one. A kept-alive
   * connection the server closed meanwhile fails before any response: once more on a new one.
   */
  private async onConnection<T extends { kind: string }>(u: URL, run: (conn: Connection) => Promise<T>): Promise<T> {
    const reused = this.takeIdle(u.origin);
    const first = await run(reused ?? this.open(u));
    return first.kind === 'failed' && reused ? run(this.open(u)) : first;
  }

  private headExchange(u: URL, conn: Connection): Promise<HeadOutcome> {
    const origin = u.origin;
    const request = `HEAD ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: stevedore\r\nConnection: keep-alive\r\n\r\n`;
    return new Promise<HeadOutcome>((resolve) => {
      let settled = false;
      const settle = (o: HeadOutcome) => {
        if (!settled) {
          settled = true;
          resolve(o);
        }
      };
      conn.start(
        {
          // A HEAD answer is its head alone, whatever its Content-Length says.
          onHead: (head) => {
            if (/close/i.test(head.headers.get('connection') ?? '')) conn.reusable = false;
            const length = head.headers.get('content-length');
            if (head.status !== 200) settle({ kind: 'status', status: head.status });
            else if (length !== undefined && /^\d+$/.test(length)) settle({ kind: 'object', size: Number(length), lastModified: head.headers.get('last-modified') });
            else settle({ kind: 'failed', error: new Error('s3 transport: HEAD answered without a Content-Length') });
            this.release(origin, conn);
          },
          onBody: (chunk) => {
            // Bytes after a HEAD's answer: the connection is out of step.
            if (chunk.length > 0) conn.socket.destroy();
            return false;
          },
          onClose: (error) => settle({ kind: 'failed', error }),
        },
        request,
        this.timeoutMs,
      );
    });
  }

  /** (Tests) Slabs allocated so far, slabs free in the pool, idle connections and how many of them hold a slab. */
  stats(): { slabsAllocated: number; freeSlabs: number; idle: number; idleHoldingSlab: number } {
    const idle = [...this.idle.values()].flat();
    return { slabsAllocated: this.slabs.allocated, freeSlabs: this.slabs.freeCount, idle: idle.length, idleHoldingSlab: idle.filter((c) => c.holdsSlab).length };
  }

  /** Closes the idle connections (those in use close when their bodies end). */
  destroy(): void {
    this.destroyed = true;
    for (const list of this.idle.values()) for (const c of list) c.socket.destroy();
    this.idle.clear();
  }

  private open(u: URL): Connection {
    return new Connection(u, this.timeoutMs, this.ca, this.slabs, (c) => this.dropIdle(u.origin, c));
  }

  private takeIdle(origin: string): Connection | undefined {
    const list = this.idle.get(origin);
    while (list?.length) {
      const c = list.pop()!;
      if (!c.closed) return c;
    }
    return undefined;
  }

  private dropIdle(origin: string, c: Connection): void {
    const list = this.idle.get(origin);
    const i = list?.indexOf(c) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }

  private release(origin: string, c: Connection): void {
    c.finish();
    c.resetHead();
    const list = this.idle.get(origin) ?? [];
    if (this.destroyed || !c.reusable || c.closed || list.length >= MAX_IDLE_PER_ORIGIN) {
      c.socket.destroy();
      return;
    }
    list.push(c);
    this.idle.set(origin, list);
    c.socket.unref();
    c.socket.setTimeout(IDLE_MS);
  }

  /** `whole`: the body is read into one buffer and the outcome settled once it is complete. */
  private exchange(u: URL, range: string | undefined, conn: Connection, whole: false): Promise<GetOutcome>;
  private exchange(u: URL, range: string | undefined, conn: Connection, whole: true): Promise<ContentOutcome>;
  private exchange(u: URL, range: string | undefined, conn: Connection, whole: boolean): Promise<GetOutcome | ContentOutcome> {
    const origin = u.origin;
    const request =
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: stevedore\r\n` +
      `${range ? `Range: ${range}\r\n` : ''}Connection: keep-alive\r\n\r\n`;
    return new Promise<GetOutcome | ContentOutcome>((resolve) => {
      let settled = false;
      const settle = (o: GetOutcome | ContentOutcome) => {
        if (!settled) {
          settled = true;
          resolve(o);
        }
      };
      let remaining = 0;
      let body: BodyStream | undefined;
      let content: Buffer | undefined;
      let filled = 0;
      let contentStatus = 0;
      let errorBody: Buffer[] | undefined;
      let errorStatus = 0;
      const done = () => {
        this.release(origin, conn);
      };
      conn.start(
        {
          onHead: (head) => {
            const length = head.headers.get('content-length');
            const framed = length !== undefined && /^\d+$/.test(length) && !head.headers.has('transfer-encoding');
            if (!framed) {
              conn.socket.destroy();
              settle({ kind: 'failed', error: new Error(`s3 transport: response ${head.status} without a Content-Length`) });
              return;
            }
            if (/close/i.test(head.headers.get('connection') ?? '')) conn.reusable = false;
            remaining = Number(length);
            if (whole && (head.status === 200 || head.status === 206)) {
              content = Buffer.allocUnsafe(remaining);
              contentStatus = head.status;
              if (remaining === 0) {
                done();
                settle({ kind: 'content', status: contentStatus, content });
              }
            } else if (head.status === 200 || head.status === 206) {
              body = new BodyStream(
                this.slabs,
                () => conn.resume(),
                () => {
                  if (remaining > 0) conn.socket.destroy(); // read no further: the connection cannot be reused
                },
              );
              settle({ kind: 'body', status: head.status, size: remaining, body });
              if (remaining === 0) {
                body.finish();
                done();
              }
            } else {
              errorStatus = head.status;
              errorBody = [];
              if (remaining > MAX_ERROR_BODY_BYTES) conn.reusable = false;
              if (remaining === 0) {
                done();
                settle({ kind: 'status', status: errorStatus, code: undefined });
              }
            }
          },
          onBody: (chunk, slab) => {
            if (settled && !body && !errorBody) return false; // given up on (see onHead), or complete
            if (chunk.length === 0) return true;
            if (chunk.length > remaining) {
              // More than the framing said: the connection is out of step.
              conn.reusable = false;
              chunk = chunk.subarray(0, remaining);
            }
            remaining -= chunk.length;
            if (content) {
              // Copied at once: the chunk's slab stays free for the connection's next reads.
              filled += chunk.copy(content, filled);
              if (remaining === 0) {
                done();
                settle({ kind: 'content', status: contentStatus, content });
              }
              return true;
            }
            if (errorBody) {
              if (errorBody.reduce((n, b) => n + b.length, 0) < MAX_ERROR_BODY_BYTES) errorBody.push(Buffer.from(chunk));
              if (remaining === 0) {
                done();
                const code = /<Code>([^<]+)<\/Code>/.exec(Buffer.concat(errorBody).toString('utf8'))?.[1];
                settle({ kind: 'status', status: errorStatus, code });
              }
              return true;
            }
            const b = body;
            if (!b || b.destroyed) return false;
            const more = b.deliver(chunk, slab);
            if (remaining === 0) {
              b.finish();
              done();
              return true;
            }
            return more;
          },
          onClose: (error) => {
            if (!settled) settle({ kind: 'failed', error });
            else if (body && remaining > 0 && !body.destroyed) body.destroy(new Error(`s3 transport: connection closed with ${remaining} bytes of the object still to come`));
          },
        },
        request,
        this.timeoutMs,
      );
    });
  }
}
