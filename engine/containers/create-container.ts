// Creating a container: its record, its overlay root filesystem and its runtime bundle
// (config.json), from an image and the `run` options. On any failure nothing is left behind.
import { constants } from 'node:fs';
import { access, mkdir, readFile, stat } from 'node:fs/promises';
import { hostname as hostHostname } from 'node:os';
import { join } from 'node:path';
import type { LocalImage } from '../local-image.js';
import { hostsFor, resolvConfFor } from '../bundle/etc-files.js';
import { mountOverlay, overlayOptions, unmountIfMounted } from '../bundle/overlay.js';
import { resolveInRootfs } from '../bundle/rootfs-path.js';
import { buildSpec, capabilitiesFor, mergeEnv, parseNofileHard, processArgs, type Resources } from '../bundle/spec.js';
import type { MountRequest } from '../volumes/mount-options.js';
import type { ResolvedMount } from './container-mounts.js';
import { readUserFiles, resolveUserIn } from '../bundle/user.js';
import { keepImageFiles, readImageFiles } from './image-files.js';
import type { ContainerRecord } from './container-store.js';
import type { ProcessId } from '../process-info.js';
import type { EngineContext } from './engine-context.js';
import type { NetworkRequest } from '../network/request.js';
import { cleanupContainer } from './lifecycle.js';
import { UsageError } from './run-options.js';
import type { RestartPolicy } from './restart-policy.js';
import { resolveHealthcheck, type HealthFlags } from './health.js';

export interface CreateOptions {
  name?: string;
  cmd: string[];
  entrypoint?: string;
  env: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  network: 'none' | 'host';
  /** Bridge networks and container:NAME (engine/network sets them up at each start); overrides network. */
  networking?: NetworkRequest & { publishAll?: boolean };
  /** -v, --mount, --tmpfs in the order given. */
  mounts: MountRequest[];
  /** --volumes-from: the mounts of these containers (C[:ro|rw]). */
  volumesFrom: { container: string; mode?: 'ro' | 'rw' }[];
  readOnly: boolean;
  /** --init: docker's init (tini) as PID 1, forwarding signals and reaping zombies. */
  init?: boolean;
  /** --cap-add / --cap-drop (names with or without CAP_, or ALL). */
  capAdd?: string[];
  capDrop?: string[];
  resources: Resources;
  terminal: boolean;
  detached: boolean;
  autoRemove: boolean;
  /** --restart: followed by the monitor of a detached container. */
  restart?: RestartPolicy;
  runtime: string;
  /** --health-*, --no-healthcheck: merged with the image's HEALTHCHECK. */
  health?: HealthFlags;
  /** --label K=V: over the image's labels. */
  labels?: Record<string, string>;
  /**
   * The process that will run it in the foreground: the record is then created as running, owned
   * by it (one durable write less before the container starts).
   */
  owner?: ProcessId;
}

/**
 * A small host file (/etc/resolv.conf, /etc/hosts, /proc/self/limits), read synchronously: on
 * `run`'s short path each asynchronous fs call is a trip through libuv's thread pool.
 */
function readOr(path: string, fallback: string): string {
  try {
    return process.getBuiltinModule('node:fs').readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** Whether the memory controller accounts swap (cgroup v1 needs swapaccount=1 for memory.memsw.*). */
async function swapAccounting(): Promise<boolean> {
  for (const p of ['/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes', '/sys/fs/cgroup/memory.swap.max']) {
    try {
      await readFile(p, 'utf8');
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

export async function createContainer(ctx: EngineContext, image: LocalImage, opts: CreateOptions): Promise<ContainerRecord> {
  const cfg = image.config.config ?? {};
  const command = processArgs(cfg, opts.entrypoint, opts.cmd);
  const initBinary = opts.init ? await findInit() : undefined;
  // docker's --init: its init (tini) runs the command as its child, from a read-only bind.
  const args = initBinary && command.length > 0 ? [INIT_PATH, '--', ...command] : command;
  if (args.length === 0) throw new UsageError('no command specified: the image has no Entrypoint or Cmd; give one after the image name');
  const runtime = ctx.runtime(opts.runtime);
  // -P: the image's EXPOSEd ports, each to a free host port (chosen at every start).
  const networking = opts.networking && { ...opts.networking, ports: [...opts.networking.ports, ...(opts.networking.publishAll ? (await import('../network/ports.js')).exposedPorts(cfg.ExposedPorts) : [])] };
  const ownNetns = networking !== undefined && (networking.mode === 'bridge' || networking.mode === 'container');
  const healthcheck = resolveHealthcheck(cfg.Healthcheck, opts.health ?? {});
  const labels = { ...cfg.Labels, ...opts.labels };
  const from = [];
  for (const v of opts.volumesFrom) from.push({ record: await ctx.store.resolve(v.container), mode: v.mode });
  const imageVolumes = Object.keys(cfg.Volumes ?? {});
  // The volume code loads only for a container with mounts (or an image with VOLUMEs).
  const volumeCode = opts.mounts.length + from.length + imageVolumes.length > 0 ? await import('./container-mounts.js') : undefined;
  const mounts: ResolvedMount[] = volumeCode ? await volumeCode.resolveMounts(ctx.root, opts.mounts, imageVolumes, from) : [];
  let capabilities: string[] | undefined;
  if (opts.capAdd?.length || opts.capDrop?.length) {
    try {
      capabilities = capabilitiesFor(opts.capAdd, opts.capDrop);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const hostConfig = {
    network: networking?.mode ?? opts.network,
    ...(networking ? { networking } : {}),
    mounts: mounts.map(({ copyUp: _, ...m }) => m),
    readOnly: opts.readOnly,
    ...(initBinary ? { init: true } : {}),
    ...(opts.capAdd?.length ? { capAdd: opts.capAdd } : {}),
    ...(opts.capDrop?.length ? { capDrop: opts.capDrop } : {}),
    resources: opts.resources,
    terminal: opts.terminal,
    user: opts.user ?? cfg.User ?? '',
    workdir: opts.workdir ?? cfg.WorkingDir ?? '/',
    ...(opts.restart && opts.restart.name !== 'no' ? { restart: opts.restart } : {}),
  };
  let record;
  try {
    record = await ctx.store.create(
    (_id, dir) => ({
      image: { manifestDigest: image.manifestDigest, configDigest: image.configDigest, ...(image.reference ? { reference: image.reference } : {}) },
      path: args[0]!,
      args: args.slice(1),
      state: opts.owner ? 'running' : 'created',
      ...(opts.owner ? { owner: opts.owner, startedAt: new Date().toISOString() } : {}),
      runtime: runtime.name,
      bundle: join(dir, 'bundle'),
      rootfs: join(dir, 'bundle', 'rootfs'),
      upperDir: join(dir, 'upper'),
      workDir: join(dir, 'work'),
      layerDirs: image.layerDirs,
      // runc mounts the overlay itself when its options fit in one page (no short links there).
      ...(runtime.name === 'runc' && overlayOptions(image.layerDirs, join(dir, 'upper'), join(dir, 'work')) ? { rootfsInRuntime: true } : {}),
      // Every container keeps its output (also one run in the foreground): `logs` works for all.
      logPath: join(dir, 'container.log'),
      detached: opts.detached,
      autoRemove: opts.autoRemove,
      ...(cfg.StopSignal ? { stopSignal: cfg.StopSignal } : {}),
      ...(healthcheck ? { healthcheck } : {}),
      ...(Object.keys(labels).length ? { labels } : {}),
      hostConfig,
    }),
    opts.name,
  );
  } catch (err) {
    await removeAnonymous(ctx, mounts);
    throw err;
  }
  const dir = ctx.store.containerDir(record.id);
  try {
    const cwd = hostConfig.workdir || '/';
    if (!cwd.startsWith('/')) throw new UsageError(`the image's working directory ${JSON.stringify(cwd)} is not absolute`);
    // What this needs of the image's files, kept from an earlier container of the image
    // (image-files.ts): then nothing is mounted on the host at all. Volumes are filled from the
    // image (docker's copy-up) through the host mount.
    const known = record.rootfsInRuntime && mounts.length === 0 ? await readImageFiles(image.layerDirs) : undefined;
    const hostMount = !known || (cwd !== '/' && !known.dirs.includes(cwd));
    // The container's directories and files are made with synchronous calls (a few small files:
    // cheaper than the thread pool's round trips on this short path).
    const fs = process.getBuiltinModule('node:fs');
    fs.mkdirSync(record.rootfs, { recursive: true });
    fs.mkdirSync(record.upperDir);
    fs.mkdirSync(record.workDir);
    // The host files are read while the overlay is being mounted.
    const mounting = hostMount ? mountOverlay(image.layerDirs, record.upperDir, record.workDir, record.rootfs, join(dir, 'l')) : undefined;
    const hostResolv = readOr('/etc/resolv.conf', '');
    const hostHosts = readOr('/etc/hosts', '');
    const limits = readOr('/proc/self/limits', '');
    const [, swap] = await Promise.all([mounting, opts.resources.memory !== undefined ? swapAccounting() : false]);

    let user;
    if (hostMount) {
      // docker's copy-up goes into a volume's own file system (mounted for it, then let go: a tmpfs
      // volume no running container holds keeps nothing, as with docker's local driver).
      if (volumeCode && mounts.length > 0) {
        const { mountVolumes, releaseVolumes } = await import('./volume-use.js');
        await mountVolumes(ctx, mounts);
        await volumeCode.copyUpVolumes(record.rootfs, mounts);
        await releaseVolumes(ctx, record);
      }
      const files = await readUserFiles(record.rootfs);
      user = resolveUserIn(files, hostConfig.user);
      // Docker creates a missing working directory (in the container's upper layer).
      const cwdPath = await resolveInRootfs(record.rootfs, cwd);
      const inImage = (await stat(cwdPath).catch(() => undefined))?.isDirectory() ?? false;
      await mkdir(cwdPath, { recursive: true, mode: 0o755 });
      if (record.rootfsInRuntime) {
        // Read through the mount only: the runtime mounts the overlay itself at the start.
        if (mounts.length === 0) await keepImageFiles(image.layerDirs, files, inImage ? cwd : undefined);
        await unmountIfMounted(record.rootfs);
      }
    } else {
      user = resolveUserIn(known!, hostConfig.user);
    }

    const etcMode = ownNetns ? 'none' : opts.network;
    const name = opts.hostname ?? (etcMode === 'host' ? hostHostname() : record.id.slice(0, 12));
    const etc = { hosts: join(dir, 'hosts'), hostname: join(dir, 'hostname'), resolvConf: join(dir, 'resolv.conf') };
    fs.writeFileSync(etc.hosts, hostsFor(etcMode, name, hostHosts));
    fs.writeFileSync(etc.hostname, `${name}\n`);
    fs.writeFileSync(etc.resolvConf, resolvConfFor(etcMode, hostResolv));
    const resources = { ...opts.resources };
    // Like docker: memory+swap defaults to twice the memory limit where swap is accounted.
    if (resources.memory !== undefined && resources.memorySwap === undefined && swap) resources.memorySwap = resources.memory * 2;
    const spec = buildSpec({
      args,
      env: mergeEnv(cfg.Env ?? [], opts.env, { hostname: name, home: user.home, terminal: opts.terminal }),
      cwd,
      user,
      terminal: opts.terminal,
      hostname: name,
      network: ownNetns ? { path: (await import('../network/netns.js')).netnsPath(ctx.root, record.id) } : opts.network,
      // The container's process waits at this gate until its network is ready (the runtime's own start does not).
      ...(networking?.mode === 'bridge' ? { hooks: (await import('../network/ready-gate.js')).readyHooks(dir) } : {}),
      readOnly: opts.readOnly,
      ...(record.rootfsInRuntime ? { rootfsOverlay: overlayOptions(image.layerDirs, record.upperDir, record.workDir) } : {}),
      ...withInit(volumeCode ? volumeCode.specMounts(mounts) : { binds: [], tmpfs: [] }, initBinary),
      etc,
      resources,
      nofileHard: parseNofileHard(limits),
      ...(capabilities ? { capabilities } : {}),
    });
    fs.writeFileSync(join(record.bundle, 'config.json'), JSON.stringify(spec, null, 2));
    return record;
  } catch (err) {
    await cleanupContainer(ctx, record.id).catch(() => {});
    await removeAnonymous(ctx, mounts);
    throw err;
  }
}

/** A container that could not be made leaves no anonymous volume behind (named ones stay, as docker's). */
async function removeAnonymous(ctx: EngineContext, mounts: { type: string; name?: string; anonymous?: boolean }[]): Promise<void> {
  if (!mounts.some((m) => m.type === 'volume' && m.anonymous)) return;
  const volumes = new (await import('../volumes/volume-store.js')).VolumeStore(ctx.root);
  for (const m of mounts) if (m.type === 'volume' && m.anonymous && m.name) await volumes.remove(m.name, []).catch(() => {});
}

/** Where --init puts docker's init in the container (docker's own path). */
const INIT_PATH = '/sbin/docker-init';

/** A static tini (Debian's `tini` package: tini-static, or docker.io's docker-init). */
async function findInit(): Promise<string> {
  for (const p of ['/usr/bin/tini-static', '/usr/bin/docker-init']) {
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  throw new UsageError('--init needs tini on the host: apt-get install tini');
}

function withInit<T extends { binds: { source: string; destination: string; readOnly: boolean }[] }>(m: T, initBinary: string | undefined): T {
  if (initBinary) m.binds.push({ source: initBinary, destination: INIT_PATH, readOnly: true });
  return m;
}
