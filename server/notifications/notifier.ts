// Fans registry events out to the configured notification endpoints, each with its own filters
// and its own queue. The endpoint set can be replaced at run time (config reload): an endpoint
// whose settings did not change keeps its queue; a changed one hands its pending events to its
// replacement; a removed one drops them (counted).
import type { Context } from 'koa';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { RegistryEvent } from '../registry-events.js';
import { EndpointQueue, redactUrl, type EndpointSettings, type NotificationMetrics } from './endpoint-queue.js';
import { notificationEvent, type EventSource, type NotificationEvent } from './events.js';

export type NotificationsConfig = Config['notifications'];
export type EndpointConfig = NotificationsConfig['endpoints'][number];
type Filter = EndpointConfig['include'];

function mediaTypeMatches(pattern: string, mediaType: string): boolean {
  return pattern.endsWith('*') ? mediaType.startsWith(pattern.slice(0, -1)) : pattern === mediaType;
}

/**
 * `include` lists what is sent (an empty list: everything), `exclude` what is not. An event
 * without a media type (deletes of unknown content) matches no media type pattern.
 */
export function passesFilters(event: NotificationEvent, include: Filter, exclude: Filter): boolean {
  const mt = event.target.mediaType;
  if (include.actions.length > 0 && !include.actions.includes(event.action)) return false;
  if (include.mediaTypes.length > 0 && !(mt !== undefined && include.mediaTypes.some((p) => mediaTypeMatches(p, mt)))) return false;
  if (exclude.actions.includes(event.action)) return false;
  if (mt !== undefined && exclude.mediaTypes.some((p) => mediaTypeMatches(p, mt))) return false;
  return true;
}

function settingsOf(e: EndpointConfig): EndpointSettings {
  return {
    name: e.name,
    url: e.url,
    headers: e.headers,
    timeoutMs: e.timeout,
    retries: e.retries,
    backoffMs: e.backoff,
    maxBackoffMs: e.maxBackoff,
    queueSize: e.queueSize,
  };
}

interface Endpoint {
  config: EndpointConfig;
  queue: EndpointQueue;
}

export class Notifier {
  private endpoints = new Map<string, Endpoint>();

  constructor(
    config: NotificationsConfig,
    private readonly source: EventSource,
    private readonly log: Logger,
    private readonly metrics?: NotificationMetrics,
  ) {
    this.update(config, false);
  }

  get endpointNames(): string[] {
    return [...this.endpoints.keys()];
  }

  /** Called for every registry event; never throws, never waits. */
  publish(ctx: Context, event: RegistryEvent): void {
    if (this.endpoints.size === 0) return;
    const ev = notificationEvent(ctx, event, this.source);
    for (const { config, queue } of this.endpoints.values()) {
      if (passesFilters(ev, config.include, config.exclude)) queue.enqueue([ev]);
    }
  }

  /** Sends an audit record (server/audit) to the named endpoints, whatever their filters; never throws. */
  publishAudit(names: string[], record: object): void {
    for (const name of names) this.endpoints.get(name)?.queue.enqueue([record as NotificationEvent]);
  }

  /** Replaces the endpoint set; returns what changed (endpoint names). */
  update(config: NotificationsConfig, logChanges = true): { added: string[]; removed: string[]; changed: string[] } {
    const next = new Map<string, Endpoint>();
    const added: string[] = [];
    const changed: string[] = [];
    for (const cfg of config.endpoints) {
      if (cfg.disabled) continue;
      const old = this.endpoints.get(cfg.name);
      if (old && JSON.stringify(old.config) === JSON.stringify(cfg)) {
        next.set(cfg.name, old);
        continue;
      }
      const queue = new EndpointQueue(settingsOf(cfg), this.log, this.metrics);
      if (old) {
        changed.push(cfg.name);
        queue.enqueueCarriedOver(old.queue.stop());
      } else {
        added.push(cfg.name);
      }
      next.set(cfg.name, { config: cfg, queue });
    }
    const removed: string[] = [];
    for (const [name, old] of this.endpoints) {
      if (next.has(name)) continue;
      removed.push(name);
      old.queue.dropped(old.queue.stop().length, 'endpoint removed');
    }
    this.endpoints = next;
    if (logChanges && added.length + removed.length + changed.length > 0) {
      this.log.info({ added, removed, changed }, 'notification endpoints updated');
    }
    if (!logChanges) {
      for (const { config: c } of next.values()) this.log.info({ endpoint: c.name, url: redactUrl(c.url) }, 'notification endpoint');
    }
    return { added, removed, changed };
  }

  /** Events queued or being delivered, over all endpoints. */
  get pending(): number {
    let n = 0;
    for (const { queue } of this.endpoints.values()) n += queue.pending;
    return n;
  }

  /**
   * Stops every endpoint, after giving pending events up to `graceMs` to be delivered;
   * what is left is counted as dropped and logged.
   */
  async close(graceMs = 0): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    let left = 0;
    for (const { queue } of this.endpoints.values()) {
      const n = queue.stop().length;
      if (n > 0) queue.dropped(n, 'server stopping');
      left += n;
    }
    if (left > 0) this.log.warn({ undelivered: left }, 'notification events not delivered before stopping');
    this.endpoints.clear();
  }
}
