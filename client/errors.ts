// Errors the client reports: one line each, saying what failed where.

export class ClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
  }
}

/** A registry answered with an error status; `code` is the spec error code when the body had one. */
export class RegistryResponseError extends ClientError {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly code: string | undefined,
    readonly registryMessage: string | undefined,
  ) {
    super(`${method} ${url}: ${status}${code ? ` ${code}` : ''}${registryMessage ? `: ${registryMessage}` : ''}`);
    this.name = 'RegistryResponseError';
  }
}

export { ContentMismatchError } from '../util/errors.js';

/** Parses a spec error body (`{"errors":[{"code","message"}]}`) if it is one. */
export function parseErrorBody(text: string): { code?: string; message?: string } {
  try {
    const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = body.errors?.[0];
    if (first) {
      return {
        code: typeof first.code === 'string' ? first.code : undefined,
        message: typeof first.message === 'string' ? first.message : undefined,
      };
    }
  } catch {
    /* not JSON */
  }
  const line = text.trim().split('\n')[0];
  return { message: line ? line.slice(0, 200) : undefined };
}
