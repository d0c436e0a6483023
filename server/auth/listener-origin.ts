// The origin a client reached this listener at (own module: the web UI's session needs it
// without loading the registry's auth and its JWT library).
import type { Context } from 'koa';

/**
 * The built-in token service as this connection reached it: the listener's own address (loopback;
 * a listener elsewhere needs auth.token.realm, see auth-config.ts), https on TLS. Never the
 * request's Host header: `Host: evil.example` would send clients' passwords there.
 */
export function listenerOrigin(ctx: Context): string {
  const socket = ctx.req.socket;
  let host = (socket.localAddress ?? '127.0.0.1').replace(/^::ffff:(?=\d+\.)/, '');
  if (host.includes(':')) host = `[${host}]`;
  return `${ctx.protocol}://${host}:${socket.localPort}`;
}
