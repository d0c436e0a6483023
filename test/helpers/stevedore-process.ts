// Runs the real `stevedore serve` CLI as a child process (the compiled build in dist/),
// for tests that need a separate process: crash safety, interop with external tools.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const CLI = join(REPO_ROOT, 'bin', 'stevedore.js');

export interface StevedoreProcess {
  url: string;
  host: string; // host:port, for skopeo and other tools
  dataDir: string;
  child: ChildProcess;
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  addr?: string;
}

// What startStevedore made in this test file: the data directories it created (suites restart a
// server on the same directory, so one outlives its server's stop()) and the servers themselves.
const madeDirs: string[] = [];
const children = new Set<ChildProcess>();

/**
 * Kills the servers startStevedore started that still run and removes the data directories it
 * made. test/setup-file.ts runs it after each test file.
 */
export async function cleanUpStevedores(): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    }),
  );
  children.clear();
  for (const dir of madeDirs.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** Starts `stevedore serve` on a free loopback port and waits until it logs that it listens. */
export async function startStevedore(opts: StartOptions = {}): Promise<StevedoreProcess> {
  let dataDir = opts.dataDir;
  if (dataDir === undefined) madeDirs.push((dataDir = await mkdtemp(join(tmpdir(), 'stevedore-data-'))));
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--addr', opts.addr ?? '127.0.0.1:0', '--data-dir', dataDir, ...(opts.args ?? [])],
    { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  const logs: string[] = [];
  const exited = once(child, 'exit');
  const listening = new Promise<string>((resolveUrl, reject) => {
    const onLine = (line: string) => {
      logs.push(line);
      try {
        const rec = JSON.parse(line) as { msg?: string; url?: string };
        if (rec.msg === 'listening' && rec.url) resolveUrl(rec.url);
      } catch {
        /* not JSON: keep it in logs */
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', (l) => logs.push(l));
    exited.then(([code]) => reject(new Error(`stevedore exited with ${code} before listening:\n${logs.join('\n')}`)));
    // It logs `listening` at level info; a server started with a quieter level never does.
    setTimeout(() => reject(new Error(`stevedore did not log "listening" within 60 s:\n${logs.join('\n')}`)), 60_000).unref();
  });
  let url: string;
  try {
    url = await listening;
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); // never leave it behind
    throw err;
  }
  return {
    url,
    host: new URL(url).host,
    dataDir,
    child,
    logs,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = await exited;
      return code as number | null;
    },
  };
}
