// The one error of the volume side, with a kind callers branch on (the CLI's one line, rm -f).
export class VolumeError extends Error {
  constructor(
    message: string,
    readonly kind: 'not-found' | 'in-use' | 'exists' | 'invalid' | 'mount',
  ) {
    super(message);
  }
}
