import type { Config } from '../config.js';
import { RegistryError } from '../errors.js';

/** Deletion can be switched off (storage.delete.enabled: false): 405 UNSUPPORTED then. */
export function requireDeleteEnabled(config: Config): void {
  if (!config.storage.delete.enabled) throw new RegistryError('UNSUPPORTED', 'deletion is disabled on this registry');
}
