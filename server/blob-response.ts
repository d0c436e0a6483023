// The headers and byte range of a blob answer, the same whether the blob is local or streamed
// through the pull-through mirror: Docker-Content-Digest, ETag (the digest), Accept-Ranges,
// Cache-Control (content by digest never changes), If-None-Match, and RFC 9110 single ranges
// including suffix ranges (`bytes=-N`).
import type { Context } from 'koa';
import type { Digest } from '../oci/index.js';
import { RegistryError } from './errors.js';
import { parseRangeHeader } from './http-range.js';

/** Sets the headers every blob answer carries; true when the client's copy is current (304 set: send nothing more). */
export function blobHeaders(ctx: Context, digest: Digest): boolean {
  const etag = `"${digest}"`;
  ctx.set('Docker-Content-Digest', digest);
  ctx.set('ETag', etag);
  ctx.set('Accept-Ranges', 'bytes');
  ctx.set('Cache-Control', 'max-age=31536000');
  ctx.type = 'application/octet-stream';
  if (ctx.get('If-None-Match') === etag) {
    ctx.status = 304;
    return true;
  }
  return false;
}

/** The request's Range against a blob of `size` (undefined: whole blob); throws RANGE_INVALID (416) when unsatisfiable. */
export function requestedRange(ctx: Context, size: number): { start: number; end: number } | undefined {
  const range = parseRangeHeader(ctx.get('Range') || undefined, size);
  if (range === 'unsatisfiable') {
    throw new RegistryError('RANGE_INVALID', 'requested range not satisfiable', { size }).withHeader('Content-Range', `bytes */${size}`);
  }
  return range;
}

/** Sets status (200 or 206), Content-Range and Content-Length for sending `start..end` of a blob of `size`; returns the length. */
export function rangeResponse(ctx: Context, size: number, range: { start: number; end: number } | undefined): { start: number; end: number; length: number } {
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  if (range) {
    ctx.status = 206;
    ctx.set('Content-Range', `bytes ${start}-${end}/${size}`);
  } else {
    ctx.status = 200;
  }
  const length = size === 0 ? 0 : end - start + 1;
  ctx.set('Content-Length', String(length));
  return { start, end, length };
}
