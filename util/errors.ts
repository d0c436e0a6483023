// What kind of failure an error is, so callers branch on a kind instead of on classes or message
// text, and the CLI maps each kind to an exit code and a hint. Dependency-free: every part may
// import it (the server keeps its spec error codes in server/errors.ts).

export const ERROR_KINDS = ['not-found', 'invalid', 'unauthorized', 'denied', 'unavailable', 'corrupt', 'conflict', 'unsupported'] as const;

/**
 * - `not-found`: what was named does not exist (image, blob, tag, container, path).
 * - `invalid`: the input is wrong (a name, a flag, a file's content); trying again will not help.
 * - `unauthorized`: credentials are missing or were refused.
 * - `denied`: the credentials are good but do not allow this.
 * - `unavailable`: temporary: a peer is unreachable, overloaded or rate limiting; try again later.
 * - `corrupt`: content does not match its digest or size.
 * - `conflict`: the state changed underneath or something is in use.
 * - `unsupported`: the operation is not supported by this peer, driver or platform.
 */
export type ErrorKind = (typeof ERROR_KINDS)[number];

export interface KindedErrorOptions {
  cause?: unknown;
  /** What the user can do about it, one short sentence (the CLI prints it after the message). */
  hint?: string;
}

/** An error with a kind. Subclasses fix the kind or take it per instance. */
export class KindedError extends Error {
  readonly hint?: string;
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options: KindedErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KindedError';
    if (options.hint) this.hint = options.hint;
  }
}

export function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && (ERROR_KINDS as readonly string[]).includes(value);
}

/** The kind of an error: its own `kind` when it has one (any class may carry one), else undefined. */
export function kindOf(err: unknown): ErrorKind | undefined {
  const kind = (err as { kind?: unknown } | null | undefined)?.kind;
  return isErrorKind(kind) ? kind : undefined;
}

/** Content that does not match its descriptor (digest or size). Never a reason to retry the same bytes or to serve stale content. */
export class ContentMismatchError extends KindedError {
  constructor(message: string, options?: KindedErrorOptions) {
    super('corrupt', message, options);
    this.name = 'ContentMismatchError';
  }
}

/** An operation a driver, peer or platform does not support (distribution's ErrUnsupportedMethod). */
export class UnsupportedError extends KindedError {
  constructor(message: string, options?: KindedErrorOptions) {
    super('unsupported', message, options);
    this.name = 'UnsupportedError';
  }
}
