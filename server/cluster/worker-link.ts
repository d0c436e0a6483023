// A worker's side of the cluster: requests to the primary (locks, rate limits, login counters,
// metrics of every worker) and the requests and broadcasts the primary sends here. Only in a
// process that node:cluster forked (`stevedore serve` with http.workers > 1).
import { KeyedLock } from '../../storage/keyed-lock.js';
import { isClusterMessage, WORKER_SLOT_VARIABLE, type ClusterMessage } from './protocol.js';

/** How long a request to the primary may take before it fails (a lock waits as long as it must). */
const REQUEST_TIMEOUT_MS = 10_000;

export class ClusterRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterRequestError';
  }
}

/** The slot (0-based) and number of workers of this process, when the primary forked it. */
export function workerSlot(env: NodeJS.ProcessEnv = process.env): { slot: number; count: number } | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(env[WORKER_SLOT_VARIABLE] ?? '');
  return m ? { slot: Number(m[1]), count: Number(m[2]) } : undefined;
}

export class WorkerLink {
  /** 0-based; the worker in slot 0 is the leader (and so is the one that replaces it). */
  readonly slot: number;
  readonly count: number;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout }>();
  private readonly handlers = new Map<string, (msg: ClusterMessage) => unknown>();
  private readonly topics = new Map<string, ((data: unknown) => void)[]>();
  /** Serialises a key within this process first, so the primary sees one request per key per worker. */
  private readonly local = new KeyedLock();

  constructor(slot: { slot: number; count: number }) {
    this.slot = slot.slot;
    this.count = slot.count;
    process.on('message', (m: unknown) => {
      if (isClusterMessage(m)) this.receive(m);
    });
    process.once('disconnect', () => {
      for (const w of this.waiting.values()) w.reject(new ClusterRequestError('the primary process is gone'));
      this.waiting.clear();
    });
  }

  /** The worker that runs what must run once per registry: GC, upload purging, the mirror's schedule. */
  get leader(): boolean {
    return this.slot === 0;
  }

  /** The name a response header and the logs give this worker. */
  get name(): string {
    return String(this.slot + 1);
  }

  private receive(m: ClusterMessage): void {
    if (m.reply !== undefined) {
      const w = this.waiting.get(m.reply);
      if (!w) return;
      this.waiting.delete(m.reply);
      clearTimeout(w.timer);
      if (m.error !== undefined) w.reject(new ClusterRequestError(m.error));
      else w.resolve(m.result);
      return;
    }
    if (m.op === 'broadcast') {
      for (const fn of this.topics.get(String(m.topic)) ?? []) fn(m.data);
      return;
    }
    const handler = m.op ? this.handlers.get(m.op) : undefined;
    // A message without an id is a notification (the configuration): handled, not answered.
    if (m.id === undefined) {
      handler?.(m);
      return;
    }
    const id = m.id;
    void (async () => {
      try {
        if (!handler) throw new Error(`no handler for ${m.op}`);
        this.send({ reply: id, result: await handler(m) });
      } catch (err) {
        this.send({ reply: id, error: (err as Error).message });
      }
    })();
  }

  send(m: Omit<ClusterMessage, 'stevedore'>): void {
    if (!process.connected || !process.send) return;
    process.send({ stevedore: 1, ...m });
  }

  /** A request to the primary; `timeoutMs` 0: no timeout (a lock waits for its turn). */
  request<T>(op: string, payload: Record<string, unknown> = {}, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    if (!process.connected || !process.send) return Promise.reject(new ClusterRequestError('the primary process is gone'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const entry: { resolve: (v: unknown) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout } = { resolve: resolve as (v: unknown) => void, reject };
      if (timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          this.waiting.delete(id);
          reject(new ClusterRequestError(`the primary process did not answer ${op} within ${timeoutMs} ms`));
        }, timeoutMs);
        entry.timer.unref();
      }
      this.waiting.set(id, entry);
      this.send({ op, id, ...payload });
    });
  }

  /** Answers requests of this kind from the primary. */
  handle(op: string, fn: (msg: ClusterMessage) => unknown): void {
    this.handlers.set(op, fn);
  }

  /**
   * Tells every other worker (e.g. that a cached record changed). `sticky`: the primary keeps the
   * last one of the topic and gives it to workers that start later.
   */
  broadcast(topic: string, data: unknown, sticky = false): void {
    this.send({ op: 'broadcast', topic, data, ...(sticky ? { sticky: true } : {}) });
  }

  onBroadcast(topic: string, fn: (data: unknown) => void): void {
    const list = this.topics.get(topic) ?? [];
    list.push(fn);
    this.topics.set(topic, list);
  }

  /** Runs `fn` holding `key` across all workers (and within this one): the cross-process KeyedLock. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.local.run(key, async () => {
      await this.request('lock', { key, wait: true }, 0);
      try {
        return await fn();
      } finally {
        this.send({ op: 'unlock', key });
      }
    });
  }

  /** Takes `key` if no worker holds it: its release, or undefined when another worker (or this one) holds it. */
  async tryAcquire(key: string): Promise<(() => void) | undefined> {
    const ok = await this.request<boolean>('lock', { key, wait: false });
    if (!ok) return undefined;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.send({ op: 'unlock', key });
    };
  }

  /** Resolves once `key` is free (whoever held it released it, or died). */
  async waitFree(key: string): Promise<void> {
    await this.request('lock', { key, wait: true }, 0);
    this.send({ op: 'unlock', key });
  }
}
