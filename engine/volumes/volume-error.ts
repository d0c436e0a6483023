// The one error of the volume side. Its `kind` is the project's (util/errors.ts), which callers
// and the CLI branch on; `reason` says which volume rule was broken (in use, exists, a mount).
import { KindedError, type ErrorKind } from '../../util/errors.js';

export type VolumeErrorReason = 'not-found' | 'in-use' | 'exists' | 'invalid' | 'mount';

const KIND: Record<VolumeErrorReason, ErrorKind> = {
  'not-found': 'not-found',
  'in-use': 'conflict',
  exists: 'conflict',
  invalid: 'invalid',
  // A volume's filesystem that cannot be mounted: its options (type, device, o) are wrong.
  mount: 'invalid',
};

export class VolumeError extends KindedError {
  constructor(
    message: string,
    readonly reason: VolumeErrorReason,
  ) {
    super(KIND[reason], message);
    this.name = 'VolumeError';
  }
}
