// Drives the compiled `stevedore` container commands (dist/, `npm run build` first) against an
// engine root of the test's own, with the busybox test images of engine-rootfs.ts loaded into its
// image store (`stevedore load`).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeTestArchive } from './engine-rootfs.js';
import { CLI } from './stevedore-process.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface EngineEnv {
  dir: string;
  root: string;
  /** The docker-archive of the test images (loaded into root unless the env was made empty). */
  archive: string;
  env: NodeJS.ProcessEnv;
  stevedore(args: string[], opts?: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<Run>;
  /** Like stevedore() but throws unless the exit status is 0. */
  ok(args: string[], opts?: { env?: NodeJS.ProcessEnv; input?: string }): Promise<string>;
  /** The manifest digest of a local image (what container.json records). */
  imageDigest(ref: string): Promise<string>;
  spawn(args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /** Polls until check returns a value (not a fixed sleep: the machine is shared and slow at times). */
  waitFor<T>(what: string | (() => string), check: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  /** Waits until the container's process exists (its pid is known); returns the pid. */
  waitRunning(name: string): Promise<number>;
  /** Mount points under the engine root (overlay rootfs left behind would show here). */
  mountsUnderRoot(): Promise<string[]>;
  /** Removes every container and unmounts what is left under the root (after a failed test). */
  reset(): Promise<void>;
  containerDirs(): Promise<string[]>;
  close(): Promise<void>;
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('the engine tests run containers: they need root');
  execFileSync('runc', ['--version']);
}

/** An engine root of the test's own; the test images are loaded into it unless `empty`. */
export async function engineEnv(opts: { empty?: boolean } = {}): Promise<EngineEnv> {
  requireRoot();
  const dir = await mkdtemp(join(tmpdir(), 'stevedore-engine-'));
  const root = join(dir, 'root');
  const { archive } = await writeTestArchive(join(dir, 'images'));
  const env: NodeJS.ProcessEnv = { ...process.env, STEVEDORE_ROOT: root };
  const stevedore: EngineEnv['stevedore'] = (args, opts = {}) =>
    new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [CLI, ...args],
        { env: { ...env, ...opts.env }, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      if (opts.input !== undefined) child.stdin!.end(opts.input);
      else child.stdin!.end();
    });
  const self: EngineEnv = {
    dir,
    root,
    archive,
    env,
    stevedore,
    async ok(args, opts) {
      const r = await stevedore(args, opts);
      if (r.code !== 0) throw new Error(`stevedore ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
      return r.stdout;
    },
    async imageDigest(ref) {
      return (JSON.parse(await self.ok(['inspect', ref])) as { ManifestDigest: string }[])[0]!.ManifestDigest;
    },
    spawn(args, extra = {}) {
      return spawn(process.execPath, [CLI, ...args], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    },
    async waitFor(what, check, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
        const v = await check();
        if (v !== undefined && v !== false) return v as never;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
        await sleep(wait);
      }
    },
    async waitRunning(name) {
      return self.waitFor(`container ${name} to run`, async () => {
        const r = await stevedore(['container', 'inspect', name]);
        if (r.code !== 0) return undefined;
        const [c] = JSON.parse(r.stdout) as { pid?: number; state: string }[];
        if (c?.state === 'exited') throw new Error(`container ${name} exited before it was seen running`);
        return c?.pid;
      });
    },
    async mountsUnderRoot() {
      const info = await readFile('/proc/self/mountinfo', 'utf8');
      return info
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '')
        .filter((p) => p.startsWith(`${root}/`));
    },
    async containerDirs() {
      return readdir(join(root, 'containers')).then(
        (names) => names.filter((n) => /^[0-9a-f]{64}$/.test(n)),
        () => [],
      );
    },
    async reset() {
      // Whatever a failed test left running goes, then the mounts, so the next test starts clean.
      const ids = await self.containerDirs();
      if (ids.length) await stevedore(['rm', '-f', ...ids]);
      for (const m of (await self.mountsUnderRoot()).reverse()) execFileSync('umount', ['-l', m]);
    },
    async close() {
      await self.reset();
      // Bridges are host-wide and outlive the root's directory: the default network's (and any a
      // test left) go, with the CNI plugins' idle rules.
      await stevedore(['network', 'prune']);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    if (!opts.empty) await self.ok(['load', '-q', '-i', archive]);
  } catch (err) {
    await self.close();
    throw err;
  }
  return self;
}
