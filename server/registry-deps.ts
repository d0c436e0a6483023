// What the route handlers share.
import type { RegistryStorage } from '../storage/index.js';
import type { Config } from './config.js';
import type { GcStatus } from './gc-scheduler.js';
import type { Logger } from './logger.js';
import type { PullThroughMirror } from './mirror/mirror.js';
import type { RegistryPolicy } from './policy/index.js';
import type { RegistryEvents } from './registry-events.js';

export interface RegistryDeps {
  storage: RegistryStorage;
  config: Config;
  log: Logger;
  /** Content pushed, pulled, mounted or deleted: metrics and notifications listen. */
  events: RegistryEvents;
  /** The pull-through mirror, when upstreams are configured (README "Pull-through mirror"). */
  mirror?: PullThroughMirror;
  /** The scheduled garbage collection's last and next run (absent in apps built without a scheduler). */
  gcStatus?: GcStatus;
  /** Immutable tags and quotas (server/policy); built from `config` and `storage` when absent. */
  policy?: RegistryPolicy;
}
