// Errors the client reports: one line each, saying what failed where, with a kind (util/errors.ts)
// that callers branch on and the CLI maps to an exit code.
import { KindedError, type ErrorKind } from '../util/errors.js';

export { ContentMismatchError } from '../util/errors.js';

export interface ClientErrorOptions {
  cause?: unknown;
  /** Default `invalid`: most client errors are about what was asked for. */
  kind?: ErrorKind;
  hint?: string;
}

export class ClientError extends KindedError {
  constructor(message: string, options: ClientErrorOptions = {}) {
    super(options.kind ?? 'invalid', message, options);
    this.name = 'ClientError';
  }
}

/** One entry of a registry's error body (distribution-spec "Error codes"). */
export interface RegistryDiagnostic {
  code?: string;
  message?: string;
  detail?: unknown;
}

/** The kind of an HTTP error answer: by the spec code when the registry gave one, else by status. */
export function kindOfResponse(status: number, code?: string): ErrorKind {
  switch (code) {
    case 'BLOB_UNKNOWN':
    case 'MANIFEST_UNKNOWN':
    case 'NAME_UNKNOWN':
    case 'BLOB_UPLOAD_UNKNOWN':
      return 'not-found';
    case 'UNAUTHORIZED':
      return 'unauthorized';
    case 'DENIED':
      return 'denied';
    case 'UNSUPPORTED':
      return 'unsupported';
    case 'TOOMANYREQUESTS':
      return 'unavailable';
    case 'DIGEST_INVALID':
    case 'SIZE_INVALID':
      return 'corrupt';
  }
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'denied';
  if (status === 404) return 'not-found';
  if (status === 405 || status === 501) return 'unsupported';
  if (status === 409) return 'conflict';
  if (status === 429 || status >= 500) return 'unavailable';
  return 'invalid';
}

/**
 * A registry answered with an error status. `errors` keeps every diagnostic of the body; `code`
 * and `registryMessage` are the first one's.
 */
export class RegistryResponseError extends ClientError {
  readonly errors: RegistryDiagnostic[];
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly code: string | undefined,
    readonly registryMessage: string | undefined,
    errors?: RegistryDiagnostic[],
  ) {
    const all = errors && errors.length > 0 ? errors : code || registryMessage ? [{ code, message: registryMessage }] : [];
    const text = all.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    const hint = responseHint(url, status, all);
    super(`${method} ${url}: ${status}${text ? ` ${text}` : ''}`, { kind: kindOfResponse(status, code), ...(hint ? { hint } : {}) });
    this.name = 'RegistryResponseError';
    this.errors = all;
  }
}

/**
 * A hint for an error answer caused by how the registry was spoken to rather than by what was
 * asked: plain HTTP sent to a TLS listener is answered 400 "Client sent an HTTP request to an
 * HTTPS server" (Go's net/http, and Stevedore), not refused at the connection.
 */
export function responseHint(url: string, status: number, diagnostics: readonly RegistryDiagnostic[]): string | undefined {
  if (status !== 400 || !url.startsWith('http:')) return undefined;
  if (!diagnostics.some((d) => /HTTP request to an HTTPS server/i.test(d.message ?? ''))) return undefined;
  let host: string;
  try {
    host = new URL(url).host;
  } catch {
    return undefined;
  }
  return `the registry at ${host} speaks HTTPS only: drop it from insecure-registries (and --plain-http)`;
}

/** Parses a spec error body (`{"errors":[{"code","message","detail"}]}`): every diagnostic, and the first's code and message. */
export function parseErrorBody(text: string): { code?: string; message?: string; errors: RegistryDiagnostic[] } {
  try {
    const body = JSON.parse(text) as { errors?: unknown };
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      const errors = body.errors.map((e: { code?: unknown; message?: unknown; detail?: unknown }) => {
        const d: RegistryDiagnostic = {};
        if (typeof e?.code === 'string') d.code = e.code;
        if (typeof e?.message === 'string') d.message = e.message;
        if (e?.detail !== undefined) d.detail = e.detail;
        return d;
      });
      return { code: errors[0]!.code, message: errors[0]!.message, errors };
    }
  } catch {
    /* not JSON */
  }
  const line = text.trim().split('\n')[0];
  const message = line ? line.slice(0, 200) : undefined;
  return { message, errors: message ? [{ message }] : [] };
}
