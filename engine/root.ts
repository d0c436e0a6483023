// Where the engine keeps its state: `--root DIR`, else $STEVEDORE_ROOT, else /var/lib/stevedore.
// The image store and the containers live under it; both resolve it here so they always agree.
import { resolve } from 'node:path';

export const DEFAULT_ROOT = '/var/lib/stevedore';

export function resolveRoot(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag || env.STEVEDORE_ROOT || DEFAULT_ROOT);
}
