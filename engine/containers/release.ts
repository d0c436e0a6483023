// Releasing what a container holds while it runs (its counterpart is lifecycle's startProcess).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { unmountIfMounted } from '../bundle/overlay.js';
import type { ContainerRecord } from './container-store.js';
import { hasOwnNetwork, mountsOf } from './container-state.js';
import type { EngineContext } from './engine-context.js';

/** Unmounts the rootfs and makes the runtime forget the container; idempotent. */
export async function releaseResources(ctx: EngineContext, r: ContainerRecord): Promise<void> {
  const runtime = ctx.runtime(r.runtime);
  // The rootfs unmount and the network's release need nothing of each other: they run together
  // (the network's plugins then cost a container's exit little more than the unmount does).
  const settled = await Promise.allSettled([
    unmountIfMounted(r.rootfs),
    (async () => {
      // `run` deletes its container on exit; only a failed start or a lost owner leaves state behind.
      if (existsSync(join(runtime.stateRoot, r.id))) await runtime.delete(r.id, true);
      // engine/network: veth, address, port rules, namespace file (none for host and none, whose
      // records have no network request: the network code is not even loaded for them).
      if (hasOwnNetwork(r)) await (await import('../network/container-network.js')).tearDownContainerNetwork(ctx, r);
    })(),
  ]);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  if (mountsOf(r).length > 0) await (await import('./volume-use.js')).releaseVolumes(ctx, r);
}
