// How many worker processes `stevedore serve` runs (config http.workers).
import { availableParallelism } from 'node:os';
import type { Config } from '../config.js';

/**
 * Whether processes can share the configured storage: every piece of registry state lives in
 * it (uploads, their digest state, links, tags, quotas), so workers see one registry. True of the
 * filesystem (one directory, local to all of them) and of S3 (one bucket); a driver kept in a
 * process's memory would not be.
 */
export function storageAllowsWorkers(config: Pick<Config, 'storage'>): boolean {
  return config.storage.driver === 'filesystem' || config.storage.driver === 's3';
}

/** http.workers, or for 0 (the default) one per core when the storage allows it, else 1. */
export function workerCount(config: Pick<Config, 'http' | 'storage'>, cores = availableParallelism()): number {
  if (config.http.workers > 0) return config.http.workers;
  return storageAllowsWorkers(config) ? Math.max(1, cores) : 1;
}
