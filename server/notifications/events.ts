// Notification events in the CNCF registry's format (distribution's notifications package):
// POSTed as `{"events":[…]}` with Content-Type application/vnd.docker.distribution.events.v1+json,
// so receivers written for the CNCF registry (and Harbor, zot) understand them.
import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import type { EventAction, RegistryEvent } from '../registry-events.js';
import { requestUser } from '../request-user.js';

export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';

export interface NotificationEvent {
  id: string;
  timestamp: string;
  action: EventAction;
  target: {
    mediaType?: string;
    digest?: string;
    size?: number;
    /** Same as size (deprecated in distribution, still sent). */
    length?: number;
    repository: string;
    fromRepository?: string;
    url?: string;
    tag?: string;
  };
  request: { id: string; addr: string; host: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr: string; instanceID: string };
}

export interface Envelope {
  events: NotificationEvent[];
}

export interface EventSource {
  /** host:port of this registry as its operator knows it. */
  addr: string;
  instanceID: string;
}

export function notificationEvent(ctx: Context, e: RegistryEvent, source: EventSource): NotificationEvent {
  const target: NotificationEvent['target'] = { repository: e.repository };
  if (e.mediaType !== undefined) target.mediaType = e.mediaType;
  if (e.digest !== undefined) target.digest = e.digest;
  if (e.size !== undefined) {
    target.size = e.size;
    target.length = e.size;
  }
  if (e.fromRepository !== undefined) target.fromRepository = e.fromRepository;
  if (e.digest !== undefined) target.url = `${ctx.protocol}://${ctx.host}/v2/${e.repository}/${e.kind === 'blob' ? 'blobs' : 'manifests'}/${e.digest}`;
  if (e.tag !== undefined) target.tag = e.tag;
  const user = requestUser(ctx);
  return {
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    action: e.action,
    target,
    request: {
      id: String(ctx.state.requestId ?? ''),
      addr: remoteAddr(ctx),
      host: ctx.host,
      method: ctx.method,
      useragent: ctx.get('User-Agent'),
    },
    actor: user ? { name: user } : {},
    source: { addr: source.addr, instanceID: source.instanceID },
  };
}

/** `ip:port` of the client, as distribution reports it. */
function remoteAddr(ctx: Context): string {
  // The socket is gone once a response sent while the client was still sending is over.
  const { remoteAddress, remotePort } = ctx.req.socket ?? {};
  if (!remoteAddress) return ctx.ip;
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}
