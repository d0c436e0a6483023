// `logs [-f]`: the log file a detached container's runtime writes (stdout and stderr together,
// in the order written); -f follows it until the container has exited and everything is read.
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Writable } from 'node:stream';
import type { EngineContext } from './engine-context.js';
import { ContainerStateError, findContainer, refresh } from './lifecycle.js';

export async function writeLogs(ctx: EngineContext, ref: string, out: Writable, follow: boolean): Promise<void> {
  const r = await findContainer(ctx, ref);
  if (!r.logPath) throw new ContainerStateError(`container ${r.name} ran in the foreground: its output went to the terminal and no log was kept`);
  let fh;
  try {
    fh = await open(r.logPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // not started yet: nothing written
    throw err;
  }
  try {
    const buf = Buffer.alloc(64 * 1024);
    let pos = 0;
    let idle = 10;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead > 0) {
        pos += bytesRead;
        idle = 10;
        if (!out.write(buf.subarray(0, bytesRead))) await new Promise((res) => out.once('drain', res));
        continue;
      }
      if (!follow) return;
      // At the end: done once the container has exited (its last output is then in the file).
      const cur = await ctx.store.read(r.id);
      if (!cur || (await refresh(ctx, cur)).state !== 'running') {
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
