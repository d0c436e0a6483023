// The one error type of engine networking. Its `kind` is the project's (util/errors.ts), which
// callers and the CLI branch on; `reason` says what went wrong in networking terms.
import { KindedError, type ErrorKind } from '../../util/errors.js';

export type NetworkErrorReason = 'usage' | 'not-found' | 'conflict' | 'port-in-use' | 'plugin' | 'missing-plugin';

const KIND: Record<NetworkErrorReason, ErrorKind> = {
  usage: 'invalid',
  'not-found': 'not-found',
  conflict: 'conflict',
  'port-in-use': 'conflict',
  // A CNI plugin or iptables failed: the host's state, not the request; trying again may work.
  plugin: 'unavailable',
  // containernetworking-plugins is not installed: this host cannot do it until it is.
  'missing-plugin': 'unsupported',
};

export class NetworkError extends KindedError {
  constructor(
    readonly reason: NetworkErrorReason,
    message: string,
  ) {
    super(KIND[reason], message);
    this.name = 'NetworkError';
  }
}
