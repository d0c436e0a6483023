// The audit trail: one JSON line per change to the registry (who, what, from where, when, with
// what outcome), appended to a file, standard output and/or notification endpoints. Everything
// that changes something calls `record()` here, and only here: the route events (audit-
// middleware.ts), robot tokens, login failures, federation refusals, GC, retention and config
// reloads. The file is opened for appending only (O_APPEND: a line is never overwritten) and
// each batch of lines is fsynced before the next is written; a record never fails a request.
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Context } from 'koa';
import { syncDir } from '../../util/atomic-file.js';
import type { Logger } from '../logger.js';
import { requestUser } from '../request-user.js';
import type { AuditConfig } from './audit-config.js';

export type AuditAction =
  | 'blob.push'
  | 'blob.mount'
  | 'blob.delete'
  | 'blob.pull'
  | 'manifest.push'
  | 'manifest.delete'
  | 'manifest.pull'
  | 'tag.move'
  | 'tag.delete'
  | 'upload'
  | 'token.create'
  | 'token.revoke'
  | 'token.exchange'
  | 'login.failure'
  | 'gc.delete'
  | 'retention.delete'
  | 'config.reload';

export interface AuditActor {
  kind: 'user' | 'robot' | 'federated' | 'anonymous' | 'system';
  name?: string;
  /** Federated identities: the ID token's issuer and claims. */
  issuer?: string;
  claims?: Record<string, unknown>;
}

export interface AuditSource {
  addr?: string;
  userAgent?: string;
  requestId?: string;
}

export interface AuditEvent {
  action: AuditAction;
  outcome: 'success' | 'failure';
  actor?: AuditActor;
  source?: AuditSource;
  /** What was changed: repository, digest, tag, robot name, … */
  target?: Record<string, unknown>;
  /** Why it failed (failures). */
  reason?: string;
  detail?: Record<string, unknown>;
}

export interface AuditRecord extends AuditEvent {
  time: string;
  actor: AuditActor;
}

/** Where the federated identity of a request is kept (set by the token service and the token check). */
export const FEDERATED_STATE = 'federatedIdentity';

export interface FederatedIdentity {
  issuer: string;
  subject: string;
  claims: Record<string, unknown>;
}

/** The caller as the audit names it. */
export function actorOf(ctx: Context): AuditActor {
  const fed = ctx.state[FEDERATED_STATE] as FederatedIdentity | undefined;
  const name = requestUser(ctx);
  if (fed) return { kind: 'federated', name: name ?? `oidc:${fed.subject}`, issuer: fed.issuer, claims: fed.claims };
  if (name === undefined) return { kind: 'anonymous' };
  return { kind: name.startsWith('robot+') ? 'robot' : 'user', name };
}

export function sourceOf(ctx: Context): AuditSource {
  const ua = ctx.get('User-Agent');
  return { addr: ctx.ip, ...(ua ? { userAgent: ua.slice(0, 200) } : {}), ...(ctx.state.requestId ? { requestId: String(ctx.state.requestId) } : {}) };
}

/** Sends records to notification endpoints (the Notifier, when endpoints are configured). */
export type AuditForwarder = (endpoints: string[], record: AuditRecord) => void;

export class AuditLog {
  private file?: Promise<FileHandle>;
  private pending: string[] = [];
  private flushing?: Promise<void>;
  private failedAt = 0;

  constructor(
    private config: AuditConfig,
    private readonly log: Logger,
    private readonly forward?: AuditForwarder,
  ) {
    if (config.file) this.file = this.openFile(config.file);
  }

  get enabled(): boolean {
    return this.config.file !== '' || this.config.stdout || this.config.endpoints.length > 0;
  }

  get reads(): boolean {
    return this.config.reads;
  }

  private async openFile(path: string): Promise<FileHandle> {
    const fh = await open(path, 'a', 0o640);
    await syncDir(dirname(path)); // the file's name is durable too
    return fh;
  }

  /** Checks the file can be opened (at start: a wrong path stops the server instead of losing the trail). */
  async ready(): Promise<void> {
    await this.file;
  }

  /** Records one event; returns when it is durable in the file (callers need not wait). */
  record(event: AuditEvent, ctx?: Context): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const source = event.source ?? (ctx ? sourceOf(ctx) : undefined);
    const rec: AuditRecord = {
      time: new Date().toISOString(),
      ...event,
      actor: event.actor ?? (ctx ? actorOf(ctx) : { kind: 'system' }),
      ...(source ? { source } : {}),
    };
    const line = JSON.stringify(rec) + '\n';
    if (this.config.stdout) process.stdout.write(line);
    if (this.config.endpoints.length > 0) {
      try {
        this.forward?.(this.config.endpoints, rec);
      } catch (err) {
        this.log.error({ err }, 'audit: forwarding to notification endpoints failed');
      }
    }
    if (!this.file) return Promise.resolve();
    this.pending.push(line);
    return this.flush();
  }

  /** Writes what is pending, one batch at a time, each made durable before the next. */
  private flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => (this.pending.length > 0 ? this.flush() : undefined));
    const run = async () => {
      while (this.pending.length > 0) {
        const batch = this.pending.join('');
        const lines = this.pending.length;
        this.pending = [];
        try {
          const fh = await this.file!;
          await fh.write(batch);
          await fh.datasync();
        } catch (err) {
          // Logged (at most every 10 s) with the lines, so the trail survives in the server log.
          const now = Date.now();
          if (now - this.failedAt > 10_000) this.log.error({ err, path: this.config.file }, 'audit: writing the audit file failed');
          this.failedAt = now;
          this.log.warn({ audit: batch.trimEnd().split('\n'), lines }, 'audit records not written to the audit file');
        }
      }
    };
    this.flushing = run().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Writes what is pending and closes the file. */
  async close(): Promise<void> {
    await this.flushing;
    if (this.pending.length > 0) await this.flush();
    const fh = await this.file?.catch(() => undefined);
    this.file = undefined;
    await fh?.close();
  }
}
