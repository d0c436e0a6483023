// The one error type of engine networking; `kind` is what callers branch on (the CLI prints the
// message as one line either way).
export type NetworkErrorKind = 'usage' | 'not-found' | 'conflict' | 'port-in-use' | 'plugin' | 'missing-plugin';

export class NetworkError extends Error {
  constructor(
    readonly kind: NetworkErrorKind,
    message: string,
  ) {
    super(message);
  }
}
