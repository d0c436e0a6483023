// Blob uploads: POST (session, monolithic, mount), PATCH chunks, PUT to finish, GET status, DELETE.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { repositoryNameProblem, type Digest } from '../../oci/index.js';
import { DigestMismatchError, UploadOffsetError, UploadUnknownError, type BlobInfo, type UploadStatus } from '../../storage/index.js';
import { emptyResponse } from '../empty-response.js';
import { RegistryError } from '../errors.js';
import { parseContentRange } from '../http-range.js';
import { exposeGc, pacedBody, pacingBodyGarbage } from '../body-garbage.js';
import { discardRestOfBody } from '../request-body.js';
import type { RegistryDeps } from '../registry-deps.js';
import { BLOB_MEDIA_TYPE } from '../registry-events.js';
import { accessControlled, mayPull } from '../auth/request-access.js';
import { capture, digestParam, queryString, repositoryName } from '../route-params.js';
import { uploadQuery } from './upload-query.js';
import { policyOf, QuotaExceededError } from '../policy/index.js';

export const UPLOADS = /^\/v2\/(.+)\/blobs\/uploads\/?$/;
export const UPLOAD = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/;

function uploadLocation(name: string, id: string): string {
  return `/v2/${name}/blobs/uploads/${id}`;
}

/** `Range: 0-<last byte>` as the CNCF registry sends it (0-0 for an empty upload). */
function rangeHeader(size: number): string {
  return `0-${Math.max(0, size - 1)}`;
}

function acceptedUpload(ctx: Context, name: string, status: Pick<UploadStatus, 'id' | 'size'>): void {
  emptyResponse(ctx, 202);
  ctx.set('Location', uploadLocation(name, status.id));
  ctx.set('Range', rangeHeader(status.size));
  ctx.set('Docker-Upload-UUID', status.id);
}

function created(ctx: Context, name: string, digest: Digest): void {
  emptyResponse(ctx, 201);
  ctx.set('Location', `/v2/${name}/blobs/${digest}`);
  ctx.set('Docker-Content-Digest', digest);
}

function declaredLength(ctx: Context): number | undefined {
  const raw = ctx.get('Content-Length');
  if (raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new RegistryError('SIZE_INVALID', 'invalid Content-Length');
  return n;
}

function mapUploadError(err: unknown, id: string): never {
  if (err instanceof UploadUnknownError) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { uuid: id });
  if (err instanceof UploadOffsetError) {
    throw new RegistryError('RANGE_INVALID', err.message, { expected: err.size }, 416)
      .withHeader('Range', rangeHeader(err.size));
  }
  if (err instanceof DigestMismatchError) throw new RegistryError('DIGEST_INVALID', err.message, { expected: err.expected, actual: err.actual });
  throw err;
}

/**
 * The request body for storage to consume. Not the request itself: a consumer that stops early
 * (a storage error, a wrong length) would destroy it and with it the socket, and the client would
 * see a reset instead of the error.
 */
function requestBody(ctx: Context): AsyncIterable<Uint8Array> {
  const body = ctx.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
  // Its chunks' memory freed while they are young (server/body-garbage.ts), where V8 lets us.
  return pacingBodyGarbage() ? pacedBody(body) : body;
}

/** A chunk body longer or shorter than its Content-Range says. */
class BodyLengthError extends Error {
  constructor(
    readonly expected: number,
    readonly received: number,
  ) {
    super(`Content-Range announces ${expected} bytes but the body ${received > expected ? 'is longer' : `has ${received}`}`);
    this.name = 'BodyLengthError';
  }
}

/** `source`, which must be exactly `length` bytes: the bytes past it are never passed on. */
async function* exactly(source: AsyncIterable<Uint8Array>, length: number): AsyncGenerator<Uint8Array> {
  let received = 0;
  for await (const chunk of source) {
    received += chunk.length;
    if (received > length) throw new BodyLengthError(length, received);
    yield chunk;
  }
  if (received !== length) throw new BodyLengthError(length, received);
}

/** An upload streamed (no announced size) past the bytes its quota has left. */
class QuotaStreamError extends Error {
  constructor(readonly total: number) {
    super(`upload reached ${total} bytes, more than its quota allows`);
    this.name = 'QuotaStreamError';
  }
}

/** `source`, refused with QuotaStreamError once the upload (`before` bytes already) would pass `max`. */
async function* withinQuota(source: AsyncIterable<Uint8Array>, before: number, max: number): AsyncGenerator<Uint8Array> {
  let total = before;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > max) throw new QuotaStreamError(total);
    yield chunk;
  }
}

export function registerUploads(router: Router, deps: RegistryDeps): void {
  exposeGc(); // upload bodies pace young-generation collections (server/body-garbage.ts)
  const { storage, events } = deps;
  const { uploads, blobs } = storage;
  const { quotas } = policyOf(deps);

  /**
   * A quota refusal ends the upload: its data is deleted (nothing partial stays in storage) and
   * the rest of the request body is discarded once the answer is out.
   */
  async function refuseUpload(ctx: Context, name: string, id: string, err: unknown): Promise<never> {
    discardRestOfBody(ctx.req, ctx.res);
    await uploads.cancel(name, id).catch(() => undefined);
    throw err;
  }

  /**
   * The body, checked against the repository's quotas: refused before anything is written when
   * the upload's new size (`before` + the announced `length`) would exceed one, else limited while
   * it streams. `digest` when known: a blob the quota already counts adds nothing.
   */
  async function quotaChecked(ctx: Context, name: string, id: string, body: AsyncIterable<Uint8Array>, before: number, length: number | undefined, digest?: Digest): Promise<AsyncIterable<Uint8Array>> {
    if (!quotas.enabled) return body;
    if (length !== undefined) {
      await quotas.admit(name, digest, before + length).catch((err: unknown) => refused(ctx, name, id, err));
      return body;
    }
    const left = await quotas.remaining(name, digest);
    return left.bytes === Infinity ? body : withinQuota(body, before, left.bytes);
  }

  /** A quota refusal ends the upload (refuseUpload); any other failure (storage) leaves it to be retried. */
  async function refused(ctx: Context, name: string, id: string, err: unknown): Promise<never> {
    if (err instanceof QuotaExceededError) return refuseUpload(ctx, name, id, err);
    discardRestOfBody(ctx.req, ctx.res);
    throw err;
  }

  /** A body stopped by withinQuota: the refusal, with the quota's numbers. */
  async function streamedPastQuota(ctx: Context, name: string, id: string, err: QuotaStreamError): Promise<never> {
    const left = await quotas.remaining(name);
    const refusal = left.rule ? quotas.exceeded(left.rule, left.used ?? 0, err.total) : err;
    return refuseUpload(ctx, name, id, refusal);
  }

  function pushed(ctx: Context, name: string, digest: Digest, size: number): void {
    events.emit(ctx, { kind: 'blob', action: 'push', repository: name, digest, mediaType: BLOB_MEDIA_TYPE, size });
  }

  /**
   * Appends the request body (if any) to the upload, checking Content-Range when given. The
   * upload's new size, or undefined when the request had no body.
   */
  async function appendBody(ctx: Context, name: string, id: string, before: number, digest?: Digest): Promise<number | undefined> {
    const body = await checkedBody(ctx, name, id, before, digest);
    if (!body) return undefined;
    try {
      return await uploads.append(name, id, body.source, body.offset);
    } catch (err) {
      return bodyFailed(ctx, name, id, err);
    }
  }

  /**
   * A PUT's body (if any) appended and the upload committed as `digest` in one step (see
   * UploadStore.appendAndCommit: an empty upload, a small blob's usual case, takes about half the
   * file operations). Undefined when the request had no body.
   */
  async function appendBodyAndCommit(ctx: Context, name: string, id: string, before: number, digest: Digest): Promise<BlobInfo | undefined> {
    const body = await checkedBody(ctx, name, id, before, digest);
    if (!body) return undefined;
    try {
      // At the latest once the size is known, with the digest: a blob the quotas already count adds nothing.
      return await uploads.appendAndCommit(name, id, body.source, digest, (size) => quotas.admit(name, digest, size), body.offset);
    } catch (err) {
      if (err instanceof QuotaExceededError) return refuseUpload(ctx, name, id, err);
      return bodyFailed(ctx, name, id, err);
    }
  }

  /** The request body to append, after the Content-Range and quota checks; undefined when there is none. */
  async function checkedBody(ctx: Context, name: string, id: string, before: number, digest?: Digest): Promise<{ source: AsyncIterable<Uint8Array>; offset?: number } | undefined> {
    const length = declaredLength(ctx);
    const chunked = ctx.get('Transfer-Encoding') !== '';
    const range = parseContentRange(ctx.get('Content-Range'));
    if (range === 'invalid') throw new RegistryError('RANGE_INVALID', 'malformed Content-Range', undefined, 416);
    if (range && length !== undefined && range.end - range.start + 1 !== length) {
      throw new RegistryError('SIZE_INVALID', 'Content-Range does not match Content-Length', {
        contentRange: ctx.get('Content-Range'),
        contentLength: length,
      }, 416);
    }
    if (!chunked && (length ?? 0) === 0) return undefined; // no body
    const expected = range ? range.end - range.start + 1 : undefined;
    const announced = expected ?? (chunked ? undefined : length);
    const body = await quotaChecked(ctx, name, id, requestBody(ctx), range?.start ?? before, announced, digest);
    return { source: expected === undefined ? body : exactly(body, expected), offset: range?.start };
  }

  /** A failed append: the registry's error for it (a quota refusal, a wrong length, an unknown upload, ...). */
  async function bodyFailed(ctx: Context, name: string, id: string, err: unknown): Promise<never> {
    if (err instanceof QuotaStreamError) return streamedPastQuota(ctx, name, id, err);
    discardRestOfBody(ctx.req, ctx.res);
    if (err instanceof BodyLengthError) {
      // Bytes of the chunk before the mismatch may have been kept: the Range header says where to go on.
      const size = await uploads.status(name, id).then((st) => st.size, () => undefined);
      const re = new RegistryError('RANGE_INVALID', err.message, { contentRange: ctx.get('Content-Range'), bodyBytes: err.received }, 416);
      throw size === undefined ? re : re.withHeader('Range', rangeHeader(size));
    }
    mapUploadError(err, id);
  }

  /**
   * The blob a mount may take: from `source` only when the caller may pull it there; without a
   * source, from any repository only when no access control restricts what the caller reads
   * (else only a blob the target repository already has: the caller may read that).
   */
  async function mountable(ctx: Context, name: string, digest: Digest, source: string | undefined): Promise<BlobInfo | undefined> {
    if (source !== undefined) return mayPull(ctx, source) ? blobs.stat(source, digest) : undefined;
    if (!accessControlled(ctx)) return blobs.statGlobal(digest);
    return mayPull(ctx, name) ? blobs.stat(name, digest) : undefined;
  }

  router.post(UPLOADS, async (ctx) => {
    const name = repositoryName(ctx);
    const q = uploadQuery(ctx.query);
    if (!q.ok) {
      const code = q.param === 'from' ? 'NAME_INVALID' : 'DIGEST_INVALID';
      throw new RegistryError(code, `query parameter ${q.param} must be given once, as ${q.param}=VALUE`, { parameter: q.param });
    }
    const { mount, from, digest: digestQuery } = q;

    if (mount !== undefined) {
      const digest = digestParam(mount);
      let source: string | undefined;
      if (from !== undefined) {
        const problem = repositoryNameProblem(from);
        if (problem) throw new RegistryError('NAME_INVALID', problem, { name: from.slice(0, 300) });
        source = from;
      }
      const present = await mountable(ctx, name, digest, source);
      if (present) {
        // A mount adds the blob to this repository's quotas (nothing when they count it already).
        await quotas.admit(name, digest, present.size);
        await blobs.link(name, digest, present.size);
        created(ctx, name, digest);
        events.emit(ctx, {
          kind: 'blob',
          action: 'mount',
          repository: name,
          digest,
          mediaType: BLOB_MEDIA_TYPE,
          size: present.size,
          ...(source ? { fromRepository: source } : {}),
        });
        return;
      }
      // Unknown blob, or one the caller may not read: a regular upload session, as the spec allows.
    }

    if (digestQuery !== undefined) {
      const digest = digestParam(digestQuery);
      const length = ctx.get('Transfer-Encoding') !== '' ? undefined : declaredLength(ctx);
      if (length !== undefined) {
        try {
          await quotas.admit(name, digest, length); // before an upload exists: nothing to clean up
        } catch (err) {
          discardRestOfBody(ctx.req, ctx.res);
          throw err;
        }
      }
      const status = await uploads.create(name);
      let info: BlobInfo;
      try {
        // (Admitted above when its length is known; else limited while it streams.)
        const body = length === undefined ? await quotaChecked(ctx, name, status.id, requestBody(ctx), 0, undefined, digest) : requestBody(ctx);
        info = await uploads.appendAndCommit(name, status.id, body, digest, (size) => quotas.admit(name, digest, size));
      } catch (err) {
        if (err instanceof QuotaStreamError) return streamedPastQuota(ctx, name, status.id, err);
        if (err instanceof QuotaExceededError) return refuseUpload(ctx, name, status.id, err);
        discardRestOfBody(ctx.req, ctx.res);
        await uploads.cancel(name, status.id).catch(() => undefined);
        mapUploadError(err, status.id);
      }
      created(ctx, name, digest);
      pushed(ctx, name, digest, info.size);
      return;
    }

    const status = await uploads.create(name);
    acceptedUpload(ctx, name, status);
  });

  /** The upload's status (its size before this request's bytes), or BLOB_UPLOAD_UNKNOWN. */
  async function statusOf(name: string, id: string): Promise<UploadStatus> {
    try {
      return await uploads.status(name, id);
    } catch (err) {
      mapUploadError(err, id);
    }
  }

  // PATCH and PUT read the upload's status first only for the quotas (its size before the body);
  // without quotas the storage's append and commit find the upload (and refuse an unknown one)
  // themselves: two file operations fewer (a read of the record, a stat) per request.

  router.get(UPLOAD, async (ctx) => {
    const name = repositoryName(ctx);
    const id = capture(ctx, 1);
    acceptedUpload(ctx, name, await statusOf(name, id));
    emptyResponse(ctx, 204);
  });

  router.patch(UPLOAD, async (ctx) => {
    const name = repositoryName(ctx);
    const id = capture(ctx, 1);
    const before = quotas.enabled ? (await statusOf(name, id)).size : 0;
    // append() returns the new size: no second status read (3 requests on S3).
    const size = await appendBody(ctx, name, id, before);
    acceptedUpload(ctx, name, { id, size: size ?? (await statusOf(name, id)).size });
  });

  router.put(UPLOAD, async (ctx) => {
    const name = repositoryName(ctx);
    const id = capture(ctx, 1);
    const before = quotas.enabled ? (await statusOf(name, id)).size : 0;
    const digest = digestParam(queryString(ctx, 'digest'));
    let info = await appendBodyAndCommit(ctx, name, id, before, digest);
    if (!info) {
      // No body: the upload's bytes are all there. At the latest here, with the digest known: a
      // blob the quotas already count adds nothing.
      if (quotas.enabled) await quotas.admit(name, digest, before).catch((err: unknown) => refused(ctx, name, id, err));
      try {
        info = await uploads.commit(name, id, digest);
      } catch (err) {
        mapUploadError(err, id);
      }
    }
    created(ctx, name, digest);
    pushed(ctx, name, digest, info.size);
  });

  router.delete(UPLOAD, async (ctx) => {
    const name = repositoryName(ctx);
    const id = capture(ctx, 1);
    try {
      await uploads.cancel(name, id);
    } catch (err) {
      mapUploadError(err, id);
    }
    emptyResponse(ctx, 204);
  });
}
