// A containerd of a test's own, for `ctr`: root, state and socket in the test's directory, and
// `-c /dev/null` (containerd's defaults, nothing from the machine's /etc/containerd). A Docker
// Engine's containerd is docker-engine.ts's.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export interface CtrResult {
  code: number;
  out: string;
}

export interface PrivateContainerd {
  /** `ctr` against this containerd: exit code and stdout + stderr. */
  ctr(args: string[]): Promise<CtrResult>;
  /** Stops it (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts containerd under `dir` and waits until `ctr version` answers. */
export async function startContainerd(dir: string, opts: { readyMs?: number; ctrTimeoutMs?: number } = {}): Promise<PrivateContainerd> {
  // Short socket paths: a unix socket path has at most 108 bytes.
  const sock = join(dir, 'containerd.sock');
  const child = spawn('containerd', ['--root', join(dir, 'ctr-root'), '--state', join(dir, 'ctr-state'), '--address', sock, '-c', '/dev/null'], { stdio: 'ignore' });
  const ctr = (args: string[]) =>
    new Promise<CtrResult>((resolve) => {
      execFile('ctr', ['-a', sock, ...args], { timeout: opts.ctrTimeoutMs ?? 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
    });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  };
  const deadline = Date.now() + (opts.readyMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`containerd exited (${child.exitCode ?? child.signalCode}) while starting`);
    if ((await ctr(['version'])).code === 0) return { ctr, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`containerd: not answering ctr within ${opts.readyMs ?? 60_000} ms`);
    }
    await delay(100);
  }
}
