// The filesystem driver's BulkSession: the operations of storage/fs-bulk-ops.ts, run as plain
// synchronous calls on a worker thread of the session's own, so the main thread (serving requests
// when GC runs inside `serve`) only sends a batch and receives its answer. Without the compiled
// worker (tests running the TypeScript sources) the same operations run on the calling thread.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { checkPath, type BulkOutcome, type BulkSession, type FileInfo, type FindOptions } from './driver.js';
import { runBulkOp, type BulkRequest, type WalkedFiles } from './fs-bulk-ops.js';

const WORKER = new URL('./fs-bulk-worker.js', import.meta.url);
const workerExists = existsSync(fileURLToPath(WORKER));

/** A bulk thread started ahead of its session (prestartBulkThread), for the next session to take. */
let spare: Worker | undefined;

/**
 * Starts a bulk thread now, for the next session to take. A thread (a Node isolate) takes 60-80 ms
 * to start, which `stevedore gc` would otherwise wait for after loading its configuration; started
 * first, it comes up on another core while the configuration loads. Unused, it never keeps the
 * process alive.
 */
export function prestartBulkThread(): void {
  if (spare || !workerExists) return;
  const w = new Worker(WORKER);
  w.unref();
  const drop = () => {
    if (spare === w) spare = undefined;
  };
  w.once('error', drop);
  w.once('exit', drop);
  spare = w;
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; message: string; code?: string };

export class FsBulkSession implements BulkSession {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closed = false;

  private readonly inPlace: boolean;
  private readonly workerUrl: URL;

  constructor(
    private readonly root: string,
    private readonly durable: boolean,
    /** Tests: `inPlace` runs on the calling thread; `worker` names the compiled worker (the sources have none). */
    opts: { inPlace?: boolean; worker?: URL } = {},
  ) {
    this.workerUrl = opts.worker ?? WORKER;
    this.inPlace = opts.inPlace ?? (opts.worker ? false : !workerExists);
  }

  private call(req: BulkRequest): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('filesystem: this bulk session is closed'));
    if (this.inPlace) return Promise.resolve().then(() => runBulkOp(req));
    const worker = this.startWorker();
    const id = this.nextId++;
    // Referenced only while it has work: an idle session never keeps the process alive.
    if (this.pending.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ ...req, id });
    });
  }

  private startWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = spare && this.workerUrl === WORKER ? spare : new Worker(this.workerUrl);
    if (worker === spare) spare = undefined;
    const settle = (id: number) => {
      const p = this.pending.get(id);
      this.pending.delete(id);
      if (this.pending.size === 0) worker.unref();
      return p;
    };
    worker.on('message', (reply: Reply) => {
      const p = settle(reply.id);
      if (reply.ok) p?.resolve(reply.result);
      else p?.reject(Object.assign(new Error(reply.message), reply.code ? { code: reply.code } : {}));
    });
    const failAll = (err: Error) => {
      for (const id of [...this.pending.keys()]) settle(id)?.reject(err);
      this.worker = undefined;
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`the filesystem bulk thread stopped (exit ${code})`)));
    this.worker = worker;
    return worker;
  }

  async find(patterns: readonly string[], opts: FindOptions = {}): Promise<FileInfo[]> {
    for (const p of patterns) if (!p.startsWith('/') || p.includes('..')) throw new RangeError(`not a path pattern: ${p}`);
    const w = (await this.call({ op: 'find', root: this.root, patterns, stat: opts.stat ?? true })) as WalkedFiles;
    return w.paths.map((p, i) => ({ path: p, size: w.sizes[i]!, modTime: new Date(w.mtimes[i]!), isDir: false }));
  }

  async getContents(paths: readonly string[]): Promise<(Buffer | undefined)[]> {
    for (const p of paths) checkPath(p);
    const out = (await this.call({ op: 'read', root: this.root, paths })) as (Uint8Array | null)[];
    return out.map((b) => (b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : undefined));
  }

  async deleteMany(items: readonly { path: string; check?: string }[], olderThan = Infinity): Promise<BulkOutcome[]> {
    for (const i of items) {
      checkPath(i.path);
      if (i.check !== undefined) checkPath(i.check);
    }
    return (await this.call({ op: 'delete', root: this.root, items, olderThan, durable: this.durable })) as BulkOutcome[];
  }

  async moveMany(items: readonly { from: string; to: string; check?: string }[], opts: { olderThan?: number; durable: boolean }): Promise<BulkOutcome[]> {
    for (const i of items) {
      checkPath(i.from);
      checkPath(i.to);
      if (i.check !== undefined) checkPath(i.check);
    }
    const req = { op: 'move' as const, root: this.root, items, olderThan: opts.olderThan ?? Infinity, durable: opts.durable && this.durable };
    return (await this.call(req)) as BulkOutcome[];
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
