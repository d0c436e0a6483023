// `stats --no-stream` and `top`: from the container's cgroup through the runtime (runc events
// --stats reads cgroup v1 and v2 alike). CPU % is measured over a short interval, as docker's
// first figure is; memory is docker's "usage minus page cache".
import { totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RuntimeStats } from '../runtime/runc.js';
import type { ContainerRecord } from './container-store.js';
import type { EngineContext } from './engine-context.js';
import { ContainerStateError, findContainer } from './lifecycle.js';

export interface ContainerStats {
  id: string;
  name: string;
  cpuPercent: number;
  memoryUsage: number;
  memoryLimit: number;
  memoryPercent: number;
  blockRead: number;
  blockWrite: number;
  pids: number;
}

/** docker's memory figure: usage without the page cache (inactive_file on newer kernels' accounting). */
export function memoryUsage(s: RuntimeStats): number {
  const usage = s.memory?.usage?.usage ?? 0;
  const raw = s.memory?.raw ?? {};
  const cache = raw.total_inactive_file ?? raw.inactive_file ?? s.memory?.cache ?? 0;
  return Math.max(0, usage - cache);
}

function blockBytes(s: RuntimeStats, op: string): number {
  return (s.blkio?.ioServiceBytesRecursive ?? []).filter((e) => e.op.toLowerCase() === op).reduce((a, e) => a + e.value, 0);
}

export async function containerStats(ctx: EngineContext, r: ContainerRecord, intervalMs = 500): Promise<ContainerStats> {
  if (r.state !== 'running') throw new ContainerStateError(`container ${r.name} is not running`);
  const runtime = ctx.runtime(r.runtime);
  const t0 = process.hrtime.bigint();
  const a = await runtime.stats(r.id);
  await sleep(intervalMs);
  const b = await runtime.stats(r.id);
  const wall = Number(process.hrtime.bigint() - t0);
  const cpu = ((b.cpu?.usage?.total ?? 0) - (a.cpu?.usage?.total ?? 0)) / wall;
  const host = totalmem();
  const limit = Math.min(b.memory?.usage?.limit ?? host, host);
  const mem = memoryUsage(b);
  return {
    id: r.id,
    name: r.name,
    cpuPercent: Math.max(0, cpu * 100),
    memoryUsage: mem,
    memoryLimit: limit,
    memoryPercent: limit > 0 ? (mem / limit) * 100 : 0,
    blockRead: blockBytes(b, 'read'),
    blockWrite: blockBytes(b, 'write'),
    pids: b.pids?.current ?? 0,
  };
}

export async function containerTop(ctx: EngineContext, ref: string, psArgs: string[]): Promise<string> {
  const r = await findContainer(ctx, ref);
  if (r.state !== 'running') throw new ContainerStateError(`container ${r.name} is not running`);
  return ctx.runtime(r.runtime).processes(r.id, psArgs);
}
