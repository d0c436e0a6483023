// `logs [-f] [--since] [--until] [--tail N] [-t]`: a container's log (log-file.ts), stdout to
// stdout and stderr to stderr; -f follows it until the container has exited and all is read.
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Writable } from 'node:stream';
import type { EngineContext } from './engine-context.js';
import { ContainerStateError, findContainer, refresh, waitRunEnded } from './lifecycle.js';
import type { ContainerRecord } from './container-store.js';
import { parseLogLines, type LogEntry } from './log-file.js';

export interface LogOptions {
  follow: boolean;
  /** Milliseconds since the epoch. */
  since?: number;
  until?: number;
  /** The last N lines only. */
  tail?: number;
  timestamps: boolean;
  /** With follow: go on while this holds of the record (default: while the container runs). */
  following?: (r: ContainerRecord) => boolean;
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await new Promise((res) => out.once('drain', res));
}

export async function writeLogs(ctx: EngineContext, ref: string, out: { stdout: Writable; stderr: Writable }, opts: LogOptions): Promise<void> {
  const r = await findContainer(ctx, ref);
  if (!r.logPath) throw new ContainerStateError(`container ${r.name} was made by an older stevedore that kept no log for it`);
  let fh;
  try {
    fh = await open(r.logPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // not started yet: nothing written
    throw err;
  }
  const show = async (entries: LogEntry[]) => {
    for (const e of entries) {
      const t = Date.parse(e.time);
      if (opts.since !== undefined && t < opts.since) continue;
      if (opts.until !== undefined && t > opts.until) continue;
      await write(e.stream === 'stderr' ? out.stderr : out.stdout, opts.timestamps ? `${e.time} ${e.log}` : e.log);
    }
  };
  try {
    const buf = Buffer.alloc(256 * 1024);
    let pos = 0;
    let rest = '';
    // What is there now: read whole, so --tail counts from the end.
    const first: LogEntry[] = [];
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const parsed = parseLogLines(rest + buf.subarray(0, bytesRead).toString('utf8'));
      rest = parsed.rest;
      first.push(...parsed.entries);
    }
    await show(opts.tail !== undefined ? (opts.tail === 0 ? [] : first.slice(-opts.tail)) : first);
    if (!opts.follow) return;
    let idle = 10;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead > 0) {
        pos += bytesRead;
        idle = 10;
        const parsed = parseLogLines(rest + buf.subarray(0, bytesRead).toString('utf8'));
        rest = parsed.rest;
        await show(parsed.entries);
        continue;
      }
      if (opts.until !== undefined && Date.now() > opts.until) return;
      // At the end: done once the container has exited (its last output is then in the file).
      const cur = await ctx.store.read(r.id);
      const fresh = cur && (await refresh(ctx, cur));
      if (!fresh || !(opts.following ? opts.following(fresh) : fresh.state === 'running')) {
        const { bytesRead: more } = await fh.read(buf, 0, buf.length, pos);
        if (more === 0) return;
        continue;
      }
      await sleep(idle);
      idle = Math.min(idle * 2, 200);
    }
  } finally {
    await fh.close();
  }
}

/**
 * docker's `attach` to a container without a terminal: its output (stdout and stderr apart) from
 * now until this run of it ends, also when its restart policy starts it again; the run's exit status.
 */
export async function attachOutput(ctx: EngineContext, r: ContainerRecord, out: { stdout: Writable; stderr: Writable }): Promise<number> {
  const startedAt = r.startedAt;
  await writeLogs(ctx, r.id, out, { follow: true, tail: 0, timestamps: false, following: (c) => c.state === 'running' && !c.hostConfig.restarting && c.startedAt === startedAt });
  return waitRunEnded(ctx, r);
}
