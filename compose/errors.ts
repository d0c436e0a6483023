// A compose file that cannot be used: the message names the key path (`services.web.ports[0]`).
import { KindedError } from '../util/errors.js';

export class ComposeError extends KindedError {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super('invalid', path ? `${path}: ${message}` : message);
    this.name = 'ComposeError';
  }
}
