// Delivery to one notification endpoint: a bounded in-memory queue and one worker that POSTs
// batches of events, with a timeout per attempt and retries with exponential backoff. Enqueueing
// is synchronous and O(1), so a slow, hanging or failing endpoint never slows a registry request;
// when the queue is full the oldest event is dropped. Dropped events and batches given up after
// the last retry are counted and logged (throttled). Endpoints are independent of each other.
import type { Logger } from '../logger.js';
import { EVENTS_MEDIA_TYPE, type Envelope, type NotificationEvent } from './events.js';

export interface NotificationMetrics {
  notificationOutcome(endpoint: string, outcome: 'queued' | 'delivered' | 'failed' | 'dropped', count: number): void;
  notificationAttempt(endpoint: string, ok: boolean, seconds: number): void;
  notificationPendingCount(endpoint: string, pending: number): void;
}

export interface EndpointSettings {
  name: string;
  url: string;
  headers: Record<string, string | string[]>;
  timeoutMs: number;
  /** Attempts after the first one before a batch is given up. */
  retries: number;
  backoffMs: number;
  maxBackoffMs: number;
  queueSize: number;
}

/** Events sent in one POST at most (a backlog is caught up in batches). */
export const MAX_BATCH = 100;
const DROP_LOG_INTERVAL_MS = 10_000;

export class EndpointQueue {
  private queue: NotificationEvent[] = [];
  private batch: NotificationEvent[] = [];
  private running = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private droppedSinceLog = 0;
  private lastDropLog = 0;

  constructor(
    readonly settings: EndpointSettings,
    private readonly log: Logger,
    private readonly metrics?: NotificationMetrics,
  ) {
    this.reportPending();
  }

  get name(): string {
    return this.settings.name;
  }

  /** Queued and in-delivery events. */
  get pending(): number {
    return this.queue.length + this.batch.length;
  }

  enqueue(events: NotificationEvent[]): void {
    this.add(events, true);
  }

  /** Takes over the pending events of the queue this one replaces (already counted as queued). */
  enqueueCarriedOver(events: NotificationEvent[]): void {
    this.add(events, false);
  }

  private add(events: NotificationEvent[], count: boolean): void {
    if (this.stopped || events.length === 0) return;
    this.queue.push(...events);
    if (count) this.metrics?.notificationOutcome(this.name, 'queued', events.length);
    const excess = this.queue.length - this.settings.queueSize;
    if (excess > 0) {
      this.queue.splice(0, excess);
      this.dropped(excess, 'queue full');
    }
    this.reportPending();
    if (!this.running) void this.run();
  }

  /**
   * Stops delivery (aborting an attempt in flight) and returns the undelivered events, oldest
   * first, for a replacement queue; the caller counts them as dropped if nobody takes them.
   */
  stop(): NotificationEvent[] {
    if (this.stopped) return [];
    this.stopped = true;
    this.abort.abort();
    const left = [...this.batch, ...this.queue];
    this.batch = [];
    this.queue = [];
    this.reportPending();
    return left;
  }

  /** Counts (and logs, throttled) events that will never be delivered. */
  dropped(count: number, reason: string): void {
    if (count <= 0) return;
    this.metrics?.notificationOutcome(this.name, 'dropped', count);
    this.droppedSinceLog += count;
    const now = Date.now();
    if (now - this.lastDropLog >= DROP_LOG_INTERVAL_MS) {
      this.log.warn({ endpoint: this.name, dropped: this.droppedSinceLog, reason }, 'notification events dropped');
      this.droppedSinceLog = 0;
      this.lastDropLog = now;
    }
  }

  private reportPending(): void {
    this.metrics?.notificationPendingCount(this.name, this.pending);
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.stopped && this.queue.length > 0) {
        this.batch = this.queue.splice(0, MAX_BATCH);
        const batch = this.batch;
        const error = await this.deliver(batch);
        if (this.stopped) return; // stop() took the batch
        this.batch = [];
        if (error === undefined) {
          this.metrics?.notificationOutcome(this.name, 'delivered', batch.length);
        } else {
          this.metrics?.notificationOutcome(this.name, 'failed', batch.length);
          this.log.warn(
            { endpoint: this.name, url: redactUrl(this.settings.url), events: batch.length, attempts: this.settings.retries + 1, error },
            'notification delivery failed; events discarded',
          );
        }
        this.reportPending();
      }
    } finally {
      this.running = false;
    }
  }

  /** Tries the batch until it is accepted or the retries are used up; the last error, or undefined. */
  private async deliver(batch: NotificationEvent[]): Promise<string | undefined> {
    const { retries, backoffMs, maxBackoffMs } = this.settings;
    let lastError = '';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        await this.sleep(Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1)));
        if (this.stopped) return 'stopped';
      }
      const started = process.hrtime.bigint();
      try {
        await this.post({ events: batch });
        this.metrics?.notificationAttempt(this.name, true, Number(process.hrtime.bigint() - started) / 1e9);
        return undefined;
      } catch (err) {
        this.metrics?.notificationAttempt(this.name, false, Number(process.hrtime.bigint() - started) / 1e9);
        if (this.stopped) return 'stopped';
        lastError = (err as Error).message;
        this.log.debug({ endpoint: this.name, attempt: attempt + 1, error: lastError }, 'notification delivery attempt failed');
      }
    }
    return lastError;
  }

  private async post(envelope: Envelope): Promise<void> {
    const headers = new Headers();
    for (const [k, v] of Object.entries(this.settings.headers)) {
      for (const value of Array.isArray(v) ? v : [v]) headers.append(k, value);
    }
    headers.set('Content-Type', EVENTS_MEDIA_TYPE);
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.settings.timeoutMs)]);
    let res: Response;
    try {
      res = await fetch(this.settings.url, { method: 'POST', headers, body: JSON.stringify(envelope), signal, redirect: 'manual' });
    } catch (err) {
      const e = err as Error & { cause?: Error };
      if (e.name === 'TimeoutError') throw new Error(`no answer within ${this.settings.timeoutMs} ms`);
      throw new Error(e.cause?.message ?? e.message);
    }
    // The body is of no interest; release the connection.
    await res.body?.cancel().catch(() => undefined);
    // As in the CNCF registry: any 2xx or 3xx answer is a delivery.
    if (res.status < 200 || res.status >= 400) throw new Error(`endpoint answered ${res.status}`);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.abort.signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** The URL without credentials or query (which may carry tokens), for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}
