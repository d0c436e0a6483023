// What the route handlers share.
import type { RegistryStorage } from '../storage/index.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

export interface RegistryDeps {
  storage: RegistryStorage;
  config: Config;
  log: Logger;
}
