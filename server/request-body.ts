// Reading small request bodies (manifests, token forms) whole, with a hard size limit.
//
// A body refused as too large is answered at once, but the client is usually still sending it:
// closing the connection now would reset it before the client reads the 413 (curl then reports
// "connection reset", not the error). So the rest of the body is read and discarded after the
// answer, within a byte and time budget; a client that keeps sending past it is cut off.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'koa';
import { RegistryError } from './errors.js';

/** After an early answer: how much more of the refused body is read before the connection is cut. */
export const LINGER_BYTES = 64 * 1024 * 1024;
export const LINGER_MS = 5000;

function manifestTooLarge(limit: number): Error {
  return new RegistryError('SIZE_INVALID', `manifest is larger than the ${limit}-byte limit`, { limit }, 413);
}

/**
 * The body, at most `limit` bytes; otherwise `tooLarge()` is thrown and the rest of the body is
 * discarded once the answer is out (see discardRestOfBody).
 */
export async function readBoundedBody(ctx: Context, limit: number, tooLarge: () => Error = () => manifestTooLarge(limit)): Promise<Buffer> {
  const declared = ctx.get('Content-Length');
  if (declared !== '' && Number(declared) > limit) {
    discardRestOfBody(ctx.req, ctx.res);
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  // Not `for await (… of ctx.req)`: leaving that loop early destroys the request and with it the
  // socket, so the answer below could never be sent.
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      discardRestOfBody(ctx.req, ctx.res);
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/**
 * For a request answered before its body was read: once the response is written, reads and
 * drops what is left of the body (the connection then stays usable); past LINGER_BYTES or
 * LINGER_MS the socket is closed. Never throws.
 */
export function discardRestOfBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete || req.destroyed) return;
  const socket = req.socket;
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const cut = () => {
    cleanup();
    socket?.destroy();
  };
  const onData = (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > LINGER_BYTES) cut();
  };
  const cleanup = () => {
    if (timer) clearTimeout(timer);
    req.off('data', onData);
    req.off('end', cleanup);
    req.off('close', cleanup);
    req.off('error', cleanup);
  };
  req.on('data', onData);
  req.once('end', cleanup);
  req.once('close', cleanup);
  req.once('error', cleanup);
  // An iterator that stopped early paused the stream: let it flow into the void.
  req.resume();
  res.once('finish', () => {
    if (req.complete) return cleanup();
    timer = setTimeout(cut, LINGER_MS);
    timer.unref();
  });
}
