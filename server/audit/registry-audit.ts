// What the registry changes, for the audit log: successful changes through the API come from the
// route handlers' events (registry-events.ts: what was stored, with digests and sizes), refused
// and failed ones from the middleware here, which sees every request's outcome. A manifest pushed
// by tag is looked up first, so that moving a tag to another manifest is recorded as such.
// Garbage collection and retention report what each scheduled run deleted.
import type { Context, Middleware } from 'koa';
import { RegistryError } from '../errors.js';
import type { RegistryStorage } from '../../storage/index.js';
import type { GcRunResult } from '../gc-scheduler.js';
import type { RegistryEvent } from '../registry-events.js';
import { BLOB } from '../routes/blobs.js';
import { MANIFEST } from '../routes/manifests.js';
import { UPLOAD, UPLOADS } from '../routes/uploads.js';
import { ROBOT_TOKEN, ROBOT_TOKENS } from '../auth/robot-api.js';
import type { AuditAction, AuditLog } from './audit-log.js';

const PREVIOUS_TAG = 'auditPreviousTagDigest';

function decode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The change a /v2 request asks for, or undefined for reads and other paths. */
export function requestedChange(method: string, path: string): { action: AuditAction; target: Record<string, unknown> } | undefined {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return undefined;
  if (ROBOT_TOKENS.test(path)) return { action: 'token.create', target: {} };
  let m = ROBOT_TOKEN.exec(path);
  if (m) return { action: 'token.revoke', target: { robot: decode(m[1]!) } };
  m = MANIFEST.exec(path);
  if (m) {
    const reference = decode(m[2]!);
    const byTag = !reference.includes(':');
    const target = { repository: decode(m[1]!), ...(byTag ? { tag: reference } : { digest: reference }) };
    if (method === 'DELETE') return { action: byTag ? 'tag.delete' : 'manifest.delete', target };
    return { action: 'manifest.push', target };
  }
  m = UPLOADS.exec(path) ?? UPLOAD.exec(path);
  if (m) return { action: 'upload', target: { repository: decode(m[1]!) } };
  m = BLOB.exec(path);
  if (m && method === 'DELETE') return { action: 'blob.delete', target: { repository: decode(m[1]!), digest: decode(m[2]!) } };
  return undefined;
}

/** Records refused and failed changes; notes a tag's manifest before a push by tag. */
export function auditMiddleware(audit: AuditLog, storage: RegistryStorage): Middleware {
  return async (ctx, next) => {
    if (!audit.enabled || !ctx.path.startsWith('/v2/')) return next();
    const change = requestedChange(ctx.method, ctx.path);
    if (!change) return next();
    if (change.action === 'manifest.push' && typeof change.target.tag === 'string') {
      // Resolved now, before the handler moves it; a failed lookup only loses "from".
      ctx.state[PREVIOUS_TAG] = await storage.manifests.resolveTag(String(change.target.repository), String(change.target.tag)).catch(() => undefined);
    }
    try {
      await next();
    } catch (err) {
      const re = err instanceof RegistryError ? err : undefined;
      // A 401 to a request without credentials is the challenge every client gets first: not a refusal.
      if (re?.status === 401 && !ctx.get('Authorization')) throw err;
      void audit.record(
        {
          action: change.action,
          outcome: 'failure',
          target: change.target,
          reason: re ? re.message : 'internal error',
          detail: { status: re?.status ?? 500, ...(re ? { code: re.code } : {}) },
        },
        ctx,
      );
      throw err;
    }
  };
}

/** The audit record of a route's event (registry-events.ts). */
export function auditRegistryEvent(audit: AuditLog, ctx: Context, e: RegistryEvent): void {
  if (!audit.enabled) return;
  const target: Record<string, unknown> = { repository: e.repository };
  if (e.digest) target.digest = e.digest;
  if (e.tag) target.tag = e.tag;
  if (e.mediaType) target.mediaType = e.mediaType;
  if (e.size !== undefined) target.size = e.size;
  if (e.fromRepository) target.fromRepository = e.fromRepository;
  if (e.action === 'pull') {
    if (audit.reads) void audit.record({ action: e.kind === 'blob' ? 'blob.pull' : 'manifest.pull', outcome: 'success', target }, ctx);
    return;
  }
  if (e.action === 'mount') return void audit.record({ action: 'blob.mount', outcome: 'success', target }, ctx);
  if (e.action === 'delete') {
    const action: AuditAction = e.kind === 'blob' ? 'blob.delete' : e.tag ? 'tag.delete' : 'manifest.delete';
    return void audit.record({ action, outcome: 'success', target }, ctx);
  }
  if (e.kind === 'blob') return void audit.record({ action: 'blob.push', outcome: 'success', target }, ctx);
  void audit.record({ action: 'manifest.push', outcome: 'success', target }, ctx);
  if (e.tag) {
    const previous = ctx.state[PREVIOUS_TAG] as string | undefined;
    if (previous !== e.digest) void audit.record({ action: 'tag.move', outcome: 'success', target: { repository: e.repository, tag: e.tag, digest: e.digest, ...(previous ? { from: previous } : {}) } }, ctx);
  }
}

/**
 * One record per tag retention deleted and per manifest, referrer and blob GC deleted (layer links
 * are implied). `runner` names who ran it: the server's scheduler (`gc`) or the `stevedore gc` command.
 */
export function auditGcRun(audit: AuditLog, result: GcRunResult, runner = 'gc'): void {
  if (!audit.enabled || result.gc.dryRun) return;
  const actor = { kind: 'system' as const, name: runner };
  for (const t of result.tags) {
    void audit.record({ action: 'retention.delete', outcome: 'success', actor, target: { repository: t.repository, tag: t.tag, ...(t.digest ? { digest: t.digest } : {}) } });
  }
  for (const d of result.gc.deleted) {
    if (d.kind === 'link') continue;
    void audit.record({
      action: 'gc.delete',
      outcome: 'success',
      actor,
      target: { kind: d.kind, digest: d.digest, ...(d.repository ? { repository: d.repository } : {}), ...(d.subject ? { subject: d.subject } : {}), ...(d.size ? { size: d.size } : {}) },
    });
  }
}
