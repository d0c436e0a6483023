// What every container operation needs: the store and a runtime for a given record.
import { join } from 'node:path';
import { OciRuntime, RUNTIMES, type RuntimeName } from '../runtime/runc.js';
import { ContainerStore } from './container-store.js';
import { UsageError } from './run-options.js';

export class EngineContext {
  readonly store: ContainerStore;
  constructor(readonly root: string) {
    this.store = new ContainerStore(root);
  }

  /** The runtime with its state directory under the engine root (<root>/runc, <root>/crun). */
  runtime(name: string): OciRuntime {
    if (!(RUNTIMES as readonly string[]).includes(name)) throw new UsageError(`unknown --runtime ${JSON.stringify(name)}: ${RUNTIMES.join(' or ')}`);
    return new OciRuntime(name as RuntimeName, join(this.root, name));
  }
}
