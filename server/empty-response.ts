import type { Context } from 'koa';

/** A response with no body (koa would otherwise write the status text as one). */
export function emptyResponse(ctx: Context, status: number): void {
  ctx.body = null;
  ctx.status = status;
}
