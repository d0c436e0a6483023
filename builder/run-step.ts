// RUN: the command in a container (runc) on the step's workspace, as `docker build` runs it: the
// image's user, environment (build args first, the image's ENV winning over an ARG of the same
// name) and working directory (created when missing), Docker's default capabilities, the host's
// network unless told otherwise, and the step's --mount binds. Mount points runc had to create
// (/proc, /etc/hosts, a secret's file, …) are removed again afterwards, with the times of their
// directories restored, so they never show up in the layer.
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rm, rmdir, utimes, writeFile } from 'node:fs/promises';
import { hostname as hostHostname } from 'node:os';
import { dirname, join } from 'node:path';
import { hostsFor, resolvConfFor } from '../engine/bundle/etc-files.js';
import { resolveInRootfs } from '../engine/bundle/rootfs-path.js';
import { buildSpec, mergeEnv, parseNofileHard, type BindMount } from '../engine/bundle/spec.js';
import { resolveUserInRootfs } from '../engine/bundle/user.js';
import { OciRuntime, startFailure } from '../engine/runtime/runc.js';
import type { Workspace } from './layer/workspace.js';

export class RunStepError extends Error {
  readonly kind = 'run-failed';
  constructor(
    message: string,
    readonly exitCode: number,
    readonly lastLines: string[],
  ) {
    super(message);
    this.name = 'RunStepError';
  }
}

export interface RunInput {
  args: string[];
  /** Build args visible to the step, as KEY=VALUE. */
  argEnv: string[];
  imageEnv: string[];
  user: string;
  workdir: string;
  network: 'host' | 'none';
  binds: BindMount[];
  /** Each output line of the command (stdout and stderr). */
  onOutput: (line: string) => void;
}

const BASE_MOUNTS = ['/proc', '/dev', '/sys', '/etc/resolv.conf', '/etc/hostname', '/etc/hosts'];
const KEEP_LINES = 20;

async function readOr(path: string, fallback: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => fallback);
}

interface Stub {
  /** The first missing component of the mount point, in the rootfs (what runc creates). */
  rel: string;
  parentRel: string;
  parent: { atime: Date; mtime: Date; mode: number; uid: number; gid: number } | undefined;
}

/** The mount points missing from the rootfs, found before the container runs. */
async function findStubs(rootfs: string, destinations: string[]): Promise<Stub[]> {
  const stubs: Stub[] = [];
  for (const dest of destinations) {
    const parts = dest.split('/').filter(Boolean);
    for (let n = 1; n <= parts.length; n++) {
      const rel = parts.slice(0, n).join('/');
      const st = await lstat(join(rootfs, rel)).catch(() => undefined);
      if (st) continue;
      const parentRel = parts.slice(0, n - 1).join('/');
      const p = await lstat(join(rootfs, parentRel)).catch(() => undefined);
      if (!stubs.some((s) => s.rel === rel)) {
        stubs.push({ rel, parentRel, parent: p && { atime: p.atime, mtime: p.mtime, mode: p.mode, uid: p.uid, gid: p.gid } });
      }
      break;
    }
  }
  return stubs;
}

/** After the run, in the mounted rootfs: the stubs go, their directories get their times back. */
async function removeStubs(rootfs: string, stubs: Stub[]): Promise<void> {
  for (const s of stubs) {
    await rm(join(rootfs, s.rel), { recursive: true, force: true });
    if (s.parent) await utimes(join(rootfs, s.parentRel), s.parent.atime, s.parent.mtime).catch(() => undefined);
  }
}

/**
 * After unmounting: a directory copied up only to hold a stub (empty now, same metadata as below)
 * is not a change; it leaves the upper directory.
 */
async function pruneCopyUps(upper: string, stubs: Stub[]): Promise<void> {
  for (const s of stubs) {
    let rel = s.parentRel;
    let below = s.parent;
    while (rel && below) {
      const dir = join(upper, rel);
      const st = await lstat(dir).catch(() => undefined);
      if (!st?.isDirectory() || (await readdir(dir)).length > 0) break;
      if (st.mode !== below.mode || st.uid !== below.uid || st.gid !== below.gid || st.mtime.getTime() !== below.mtime.getTime()) break;
      await rmdir(dir);
      // Its own parent was copied up too only if it is now empty as well; its times are unknown here, so stop.
      rel = dirname(rel) === '.' ? '' : dirname(rel);
      below = undefined;
    }
  }
}

const running = new Map<string, { runtime: OciRuntime; exited: Promise<unknown> }>();

/**
 * Kills and forgets every container a build of this process runs (Ctrl-C): once `runc run` has
 * exited (it removes its own state then), so nothing of it is left when we exit.
 */
export async function killRunning(): Promise<void> {
  for (const [id, r] of running) {
    await r.runtime.kill(id, 'KILL', true).catch(() => undefined);
    await Promise.race([r.exited, new Promise((res) => setTimeout(res, 5_000).unref())]);
    await r.runtime.delete(id, true).catch(() => undefined);
  }
  running.clear();
}

export async function runStep(engineRoot: string, ws: Workspace, input: RunInput): Promise<void> {
  const runtime = new OciRuntime('runc', join(engineRoot, 'runc'));
  const user = await resolveUserInRootfs(ws.rootfs, input.user);
  const cwd = input.workdir || '/';
  const destinations = [...BASE_MOUNTS, ...input.binds.map((b) => b.destination)];
  if (cwd !== '/') destinations.push(cwd);
  const stubs = (await findStubs(ws.rootfs, destinations)).filter((s) => s.rel !== cwd.replace(/^\/+/, ''));
  // Docker creates a missing working directory, and it stays in the layer.
  await mkdir(await resolveInRootfs(ws.rootfs, cwd), { recursive: true, mode: 0o755 });
  const name = input.network === 'host' ? hostHostname() : 'buildkitsandbox';
  const etc = { hosts: join(ws.dir, 'hosts'), hostname: join(ws.dir, 'hostname'), resolvConf: join(ws.dir, 'resolv.conf') };
  const [hostResolv, hostHosts, limits] = await Promise.all([readOr('/etc/resolv.conf', ''), readOr('/etc/hosts', ''), readOr('/proc/self/limits', '')]);
  await Promise.all([
    writeFile(etc.hosts, hostsFor(input.network, name, hostHosts)),
    writeFile(etc.hostname, `${name}\n`),
    writeFile(etc.resolvConf, resolvConfFor(input.network, hostResolv)),
  ]);
  const spec = buildSpec({
    args: input.args,
    env: mergeEnv([...input.argEnv, ...input.imageEnv], [], { hostname: name, home: user.home, terminal: false }),
    cwd,
    user,
    terminal: false,
    hostname: name,
    network: input.network,
    readOnly: false,
    binds: input.binds,
    etc,
    resources: {},
    nofileHard: parseNofileHard(limits),
  });
  await writeFile(join(ws.bundle, 'config.json'), JSON.stringify(spec));
  const id = `build-${randomUUID()}`;
  const logFile = join(ws.dir, 'runtime.log');
  const last: string[] = [];
  let status: number;
  try {
    const child = runtime.run(id, ws.bundle, { pidFile: join(ws.dir, 'init.pid'), logFile, stdio: ['ignore', 'pipe', 'pipe'] });
    running.set(id, { runtime, exited: new Promise((res) => child.once('exit', res)) });
    const lines = (stream: NodeJS.ReadableStream) => {
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        pending += d;
        const parts = pending.split('\n');
        pending = parts.pop()!;
        for (const l of parts) {
          input.onOutput(l);
          last.push(l);
          if (last.length > KEEP_LINES) last.shift();
        }
      });
      return new Promise<void>((resolve) =>
        stream.on('end', () => {
          if (pending) {
            input.onOutput(pending);
            last.push(pending);
            if (last.length > KEEP_LINES) last.shift();
          }
          resolve();
        }),
      );
    };
    const outputs = Promise.all([lines(child.stdout!), lines(child.stderr!)]);
    status = await new Promise<number>((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new RunStepError('runc is not installed (Debian package runc)', 125, []) : err));
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
    });
    await outputs;
  } finally {
    running.delete(id);
    await runtime.delete(id, true).catch(() => undefined);
  }
  if (status !== 0) {
    const failure = startFailure(await readOr(logFile, ''));
    const what = failure ? failure.message : `exit code: ${status}`;
    throw new RunStepError(`process "${input.args.join(' ')}" did not complete successfully: ${what}`, failure?.status ?? status, last);
  }
  await removeStubs(ws.rootfs, stubs);
  await rm(join(ws.bundle, 'config.json'), { force: true });
  await ws.unmount();
  await pruneCopyUps(ws.upper, stubs);
}
