// A compose file that cannot be used: the message names the key path (`services.web.ports[0]`).
export class ComposeError extends Error {
  override name = 'ComposeError';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(path ? `${path}: ${message}` : message);
  }
}
