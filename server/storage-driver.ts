// Picks and configures the storage driver named in the configuration.
import { resolve } from 'node:path';
import { FilesystemDriver, type StorageDriver } from '../storage/index.js';
import type { Config } from './config.js';

export function createStorageDriver(config: Config): StorageDriver {
  switch (config.storage.driver) {
    case 'filesystem':
      return new FilesystemDriver({ rootDirectory: resolve(config.storage.filesystem.rootDirectory) });
  }
}

/** What to log about the storage at start (no secrets). */
export function describeStorage(config: Config): Record<string, unknown> {
  switch (config.storage.driver) {
    case 'filesystem':
      return { storage: 'filesystem', root: resolve(config.storage.filesystem.rootDirectory) };
  }
}
