// The container's process must not run before its network is ready, but most of the runtime's own
// start (its namespaces, mounts, cgroups: ~100 ms of `runc run` here) needs nothing of the network
// beyond the namespace file. So a bridge-mode container's config.json carries a createRuntime hook
// (run by the runtime after the container's mounts, before pivot_root and long before the
// container's process exists) that waits on a FIFO in the container's directory: the engine starts
// the runtime as soon as the namespace exists, does the CNI ADD meanwhile, and then writes `ready`
// (or `fail`: the hook exits 1 and the runtime aborts the start). Should the engine die while the
// hook waits, its end of the FIFO closes, the hook reads end-of-file and fails too; the hook's
// timeout is the last resort (the engine died before the hook opened the FIFO).
import { constants } from 'node:fs';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { NetworkError } from './network-error.js';

/** The FIFO the hook reads, in the container's directory. */
export const gatePath = (containerDir: string) => join(containerDir, 'network-ready');

/** Seconds the runtime lets the hook wait before it fails the start (a start never waits longer). */
export const GATE_TIMEOUT_S = 120;

/** The hooks of a bridge-mode container's config.json (runtime-spec config.md#posix-platform-hooks). */
export function readyHooks(containerDir: string): Record<string, unknown> {
  // $0 is the FIFO. dash's `read` takes one byte at a time from a pipe: it consumes one line only.
  // The runtime writes the container's state to a hook's stdin: it is read to its end first, or a
  // hook that exited before that write makes runc take a SIGPIPE, which `runc run` forwards to
  // the container's process once it starts (seen as exit 141 of a command that exited 3).
  return { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'cat >/dev/null; read -r s < "$0" && [ "$s" = ready ]', gatePath(containerDir)], timeout: GATE_TIMEOUT_S }] };
}

/** Whether the bundle's config.json has the gate (containers created before it have not). */
export async function hasReadyHook(bundle: string, containerDir: string): Promise<boolean> {
  const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8').catch(() => '{}')) as { hooks?: { createRuntime?: { args?: string[] }[] } };
  return spec.hooks?.createRuntime?.some((h) => h.args?.includes(gatePath(containerDir))) ?? false;
}

/**
 * The engine's end of one start's gate. A fresh FIFO per start (nothing a previous start wrote can
 * open it early: `clear` removes the last one, and the process that makes the namespace makes the
 * new one, netns.ts createNetns), held open read-write: opening never blocks, and what is written
 * stays in the pipe until the hook opens it and reads, however late. Closed once the runtime has
 * exited.
 */
export class ReadyGate {
  private constructor(private fh: FileHandle | undefined) {}

  /** Removes a previous start's FIFO, before the new one is made. */
  static async clear(containerDir: string): Promise<void> {
    await rm(gatePath(containerDir), { force: true });
  }

  /** Opens the FIFO made for this start. */
  static async open(containerDir: string): Promise<ReadyGate> {
    try {
      return new ReadyGate(await open(gatePath(containerDir), constants.O_RDWR));
    } catch (err) {
      throw new NetworkError('plugin', `the network gate ${gatePath(containerDir)} cannot be opened: ${(err as Error).message}`);
    }
  }

  /** Lets the container's process start. */
  ready(): Promise<void> {
    return this.write('ready\n');
  }

  /** Makes the runtime abort the start. */
  fail(): Promise<void> {
    return this.write('fail\n');
  }

  private async write(line: string): Promise<void> {
    await this.fh?.write(line);
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => {});
  }
}
