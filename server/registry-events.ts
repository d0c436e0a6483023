// What happened to registry content, as the route handlers report it: counted in metrics and
// published to notification endpoints. Reporting is synchronous and cheap; nothing a listener
// does can fail or slow the request.
import type { Context } from 'koa';

export type EventAction = 'push' | 'pull' | 'delete' | 'mount';

export interface RegistryEvent {
  kind: 'blob' | 'manifest';
  action: EventAction;
  repository: string;
  digest?: string;
  mediaType?: string;
  size?: number;
  tag?: string;
  /** The source repository of a mount, when the client named one. */
  fromRepository?: string;
}

export type RegistryEventListener = (ctx: Context, event: RegistryEvent) => void;

export class RegistryEvents {
  private readonly listeners: RegistryEventListener[] = [];

  constructor(private readonly onListenerError: (err: unknown) => void = () => undefined) {}

  listen(listener: RegistryEventListener): void {
    this.listeners.push(listener);
  }

  emit(ctx: Context, event: RegistryEvent): void {
    for (const l of this.listeners) {
      try {
        l(ctx, event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}

/** Blob content as the CNCF registry labels it in events. */
export const BLOB_MEDIA_TYPE = 'application/octet-stream';
