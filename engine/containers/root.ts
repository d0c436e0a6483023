// Where the engine keeps its state: `--root DIR`, else STEVEDORE_ROOT, else /var/lib/stevedore.
// Shared with the image side (content store, snapshots); containers live under <root>/containers.
import { resolve } from 'node:path';

export const DEFAULT_ENGINE_ROOT = '/var/lib/stevedore';

export function engineRoot(flag?: string): string {
  return resolve(flag || process.env.STEVEDORE_ROOT || DEFAULT_ENGINE_ROOT);
}
