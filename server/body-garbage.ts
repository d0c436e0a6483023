// Young-generation collections paced by the request-body bytes a process receives.
//
// node:http hands each socket read of a body (up to 64 KiB) to JavaScript as a Buffer of its own
// (its parser copies it out of one reused read buffer). A blob upload drops them as soon as they
// are written and hashed, but their memory is outside V8's heap: the scavenges that would free
// them come when the young generation fills with JavaScript objects, about every 10 MiB of body
// here, and before that V8 counts the buffers as external memory and starts full mark-compacts
// ("GC in old space requested", one every 7-12 MiB of a 1 GiB push, ~5 ms each). A worker's RSS
// rose by the 12-15 MiB of dead buffers in between (docs/performance.md "Memory per worker").
// A scavenge every BODY_BYTES_PER_SCAVENGE of body frees them while they are still young, for
// ~0.3 ms each, and V8 no longer needs the full collections. (Every 4 MiB: peak 80-81 MiB; every
// 2 MiB: 77-79. The chunks the storage writer gathers into 1 MiB writes live across some of them
// and wait for a full collection: copying them into a buffer of the writer's own instead saved
// ~1 MiB more but cost 1-2 ms of CPU per MB of a skopeo push, so it is not done.)
//
// It needs V8's `gc` function: `serve` runs its workers and its single process with --expose-gc
// (server/node-flags.ts); a process started without it (tests, a server embedded elsewhere, a
// Node without process.execve) gets it from exposeGc() when the upload routes are registered.
// Without the pacing, a single process spent 3.75 ms of user CPU per MB of 8 MB PATCHes, 2.40
// with it (interleaved, the same build alternately without and with --expose-gc): V8's
// concurrent marking and sweeping of the full collections were most of the difference.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Body bytes received between two young-generation collections. */
export const BODY_BYTES_PER_SCAVENGE = 2 * 1024 * 1024;

type GcFunction = (options: { type: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let gc = (globalThis as { gc?: GcFunction }).gc;
let since = 0;

/**
 * Gives this process V8's gc function if it started without --expose-gc: the flag set now holds
 * for contexts made from now on, and a new context hands its `gc` over. Once per process.
 */
export function exposeGc(): void {
  if (gc) return;
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc') as GcFunction;
}

/** Counts body bytes this process received; collects the young generation every BODY_BYTES_PER_SCAVENGE. */
export function bodyBytesReceived(n: number): void {
  if (!gc) return;
  since += n;
  if (since < BODY_BYTES_PER_SCAVENGE) return;
  since = 0;
  gc({ type: 'minor' });
}

/** Whether bodyBytesReceived collects (V8's gc function is exposed in this process). */
export function pacingBodyGarbage(): boolean {
  return gc !== undefined;
}

/** `source`, its bytes counted by bodyBytesReceived as they pass. */
export async function* pacedBody(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    bodyBytesReceived(chunk.length);
    yield chunk;
  }
}
