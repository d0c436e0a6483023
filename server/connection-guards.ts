// What happens on a connection before (or besides) a request reaches koa: requests Node's HTTP
// parser refuses, timeouts for slow clients, socket errors, and plain HTTP sent to a TLS
// listener. Each bad connection is answered in the spec's JSON error format where the socket
// still allows it and logged in one line; none can throw out of an event handler.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { safeCallback } from './safe-callback.js';

/** Headers have to arrive within this time (Node's default, said here so it is not forgotten). */
const HEADERS_TIMEOUT_MS = 60_000;

/** Whether the bytes that failed to parse as HTTP are a TLS handshake record (a ClientHello). */
export function isTlsHandshake(raw: unknown): boolean {
  return Buffer.isBuffer(raw) && raw.length >= 2 && raw[0] === 0x16 && raw[1] === 0x03;
}

/** Status and message for an error of Node's HTTP parser (`clientError`). */
export function clientErrorAnswer(code: string | undefined): { status: number; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, message: 'request headers are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, message: 'the request did not arrive in time' };
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return { status: 400, message: 'malformed request: invalid Content-Length' };
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return { status: 400, message: 'malformed request: invalid Transfer-Encoding' };
    case 'HPE_INVALID_URL':
      return { status: 400, message: 'malformed request: invalid request target' };
    case 'HPE_INVALID_METHOD':
      return { status: 400, message: 'malformed request: invalid method' };
    default:
      return { status: 400, message: 'malformed HTTP request' };
  }
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** A complete HTTP/1.1 response with a spec-format error body, closing the connection. */
export function rawErrorResponse(status: number, message: string, code = 'UNSUPPORTED'): string {
  const body = JSON.stringify({ errors: [{ code, message, detail: {} }] });
  return (
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Docker-Distribution-API-Version: registry/2.0\r\n' +
    'Connection: close\r\n\r\n' +
    body
  );
}

function remoteOf(socket: Socket): string | undefined {
  try {
    return socket.remoteAddress;
  } catch {
    return undefined;
  }
}

/** Sets the timeouts and installs the handlers on the main listener (HTTP or HTTPS). */
export function guardConnections(server: Server, config: Config, log: Logger, tls: boolean): void {
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = config.http.requestTimeout;
  // Idle sockets (nothing sent or received): closed, whatever state the request is in.
  server.timeout = config.http.idleTimeout;
  // A request without Host is answered by the app (JSON body), not by Node's empty 400.
  (server as Server & { requireHostHeader?: boolean }).requireHostHeader = false;

  server.on(
    'clientError',
    safeCallback(log, 'clientError handler', (err: NodeJS.ErrnoException, socket: Socket) => {
      const code = err.code;
      // The client closed or reset the connection mid-request: nobody to answer.
      if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
        socket.destroy();
        return;
      }
      const { status, message } = clientErrorAnswer(code);
      // Clients probe an insecure registry for HTTPS before using plain HTTP (docker, skopeo, and
      // Stevedore's own client sniff): an expected event on every pull, not a problem to warn of.
      if (isTlsHandshake((err as { rawPacket?: unknown }).rawPacket)) log.debug({ remote: remoteOf(socket), status }, 'TLS handshake on the plain-HTTP listener (a client probing for HTTPS)');
      else log.warn({ remote: remoteOf(socket), code, status }, `bad request: ${message}`);
      // A response already under way on this connection cannot be followed by another one.
      const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (inFlight?.headersSent) {
        socket.destroy();
        return;
      }
      socket.end(rawErrorResponse(status, message));
    }),
  );
  // Node destroys the socket on 'timeout' only when nobody listens; listening here just logs it.
  server.on(
    'timeout',
    safeCallback(log, 'timeout handler', (socket: Socket) => {
      log.debug({ remote: remoteOf(socket) }, 'idle connection closed');
      socket.destroy();
    }),
  );
  if (tls) {
    server.on(
      'tlsClientError',
      safeCallback(log, 'tlsClientError handler', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
        answerPlainHttp(err, socket, log);
      }),
    );
  }
}

/**
 * A plain HTTP request on the TLS listener: OpenSSL recognises it (ERR_SSL_HTTP_REQUEST) and the
 * handshake fails. Answered in plain text on the raw connection as Go's servers do, so clients
 * say what went wrong instead of "EOF".
 */
function answerPlainHttp(err: NodeJS.ErrnoException, socket: TLSSocket, log: Logger): void {
  const raw = (socket as TLSSocket & { _parent?: Socket })._parent;
  const plain = err.code === 'ERR_SSL_HTTP_REQUEST' || /http request/i.test(err.message);
  log.warn({ remote: remoteOf(raw ?? socket), code: err.code }, plain ? 'plain HTTP request on the TLS listener' : 'TLS handshake failed');
  if (!plain || !raw || raw.destroyed) {
    socket.destroy();
    return;
  }
  try {
    raw.end(rawErrorResponse(400, 'client sent an HTTP request to an HTTPS server'));
  } catch {
    raw.destroy();
  }
}
