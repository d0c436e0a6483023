// Containers on disk: <root>/containers/<id>/container.json, one record per container, updated
// under a per-container file lock with atomic writes (temporary file, fsync, rename), so
// concurrent `stevedore` processes and crashes never leave a half-written record.
import { join } from 'node:path';
import type { Digest } from '../../oci/index.js';
import type { ProcessId } from '../process-info.js';
import type { NetworkState } from '../network/request.js';
import { randomHex } from './random-id.js';
import type { HealthConfig, HealthState } from './health.js';
import { KindedError } from '../../util/errors.js';

/**
 * node:fs/promises when first used, not with this module: `ps` lists the records with synchronous
 * reads (list()), and importing it costs ~10 ms of `ps` (a dozen of Node's internal modules come
 * with it, readline's among them).
 */
const fsp = () => process.getBuiltinModule('node:fs/promises');

/**
 * The write side (locks, atomic writes, and node:crypto under them) loads on the first write:
 * `ps` and `inspect` only read records, and are timed against `node -e 0`.
 */
async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  return (await import('../file-lock.js')).withLock(path, fn);
}

async function writeFileAtomic(path: string, data: string, opts: import('../../util/atomic-file.js').AtomicWriteOptions): Promise<void> {
  return (await import('../../util/atomic-file.js')).writeFileAtomic(path, data, opts);
}

export type ContainerState = 'created' | 'running' | 'exited';

export interface ContainerRecord {
  id: string;
  name: string;
  /** RFC 3339. */
  created: string;
  /** What the image side's rmi/prune read: an image is in use while a container names it. */
  image: { manifestDigest: Digest; configDigest: Digest; reference?: string };
  /** The process as given to the runtime. */
  path: string;
  args: string[];
  state: ContainerState;
  startedAt?: string;
  finishedAt?: string;
  /** Exit status (128+signal when killed); null when it could not be known (its owner died). */
  exitCode?: number | null;
  /** Why it stopped when not by itself: "killed by SIGKILL", "runtime failed", "owner lost". */
  error?: string;
  /** The container's init process, as the host sees it. */
  pid?: number;
  /** The process that waits on the runtime and records the exit: `stevedore run` or the monitor. */
  owner?: ProcessId;
  runtime: string;
  bundle: string;
  rootfs: string;
  /** Overlay directories: upper and work sit next to the bundle. */
  upperDir: string;
  workDir: string;
  /** The image's unpacked layers, lowest first: the rootfs is mounted again when it starts again. */
  layerDirs?: string[];
  /**
   * The runtime mounts the overlay itself, at / in the container's own mount namespace (config.json's
   * first mount): `rootfs` stays an empty directory on the host, with nothing to mount before a
   * start or unmount after the exit, and nothing left mounted by a crash. While it runs, the host
   * reaches its files through /proc/PID/root (container-state.ts rootfsOf). Containers made before
   * this (or whose mount options do not fit in one page) have the overlay mounted on the host.
   */
  rootfsInRuntime?: boolean;
  /** How many times the monitor restarted it (--restart). */
  restartCount?: number;
  logPath?: string;
  detached: boolean;
  autoRemove: boolean;
  stopSignal?: string;
  hostConfig: Record<string, unknown>;
  /** The health check it was made with (image HEALTHCHECK or --health-*); none: no check. */
  healthcheck?: HealthConfig;
  /** Docker's State.Health, kept by the monitor's probes; "starting" again at every start. */
  health?: HealthState;
  /** --label K=V over the image's labels (docker's Config.Labels). */
  labels?: Record<string, string>;
  /** While it runs on a bridge network: namespace, addresses, published ports (engine/network). */
  network?: NetworkState;
}

export class ContainerNotFoundError extends KindedError {
  constructor(message: string) {
    super('not-found', message);
    this.name = 'ContainerNotFoundError';
  }
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** A record that failed to read this way is no container: gone, or never written completely. */
function noRecord(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || err instanceof SyntaxError;
}

export class ContainerStore {
  readonly dir: string;
  constructor(readonly root: string) {
    this.dir = join(root, 'containers');
  }

  containerDir(id: string): string {
    return join(this.dir, id);
  }

  private recordPath(id: string): string {
    return join(this.dir, id, 'container.json');
  }

  async read(id: string): Promise<ContainerRecord | undefined> {
    try {
      return JSON.parse(await fsp().readFile(this.recordPath(id), 'utf8')) as ContainerRecord;
    } catch (err) {
      if (noRecord(err)) return undefined;
      throw err;
    }
  }

  /**
   * Every record, newest first. Read synchronously (small files, one per container, read once):
   * the first asynchronous fs call starts libuv's thread pool, which costs `ps` (timed against
   * `node -e 0`) more than reading the records.
   */
  async list(): Promise<ContainerRecord[]> {
    const { readdirSync, readFileSync } = process.getBuiltinModule('node:fs');
    let ids: string[];
    try {
      ids = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const records: ContainerRecord[] = [];
    for (const id of ids) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      try {
        records.push(JSON.parse(readFileSync(this.recordPath(id), 'utf8')) as ContainerRecord);
      } catch (err) {
        if (!noRecord(err)) throw err;
      }
    }
    return records.sort((a, b) => b.created.localeCompare(a.created));
  }

  /**
   * Container directories without a record: left by a crash while a container was being created or
   * removed. Only those older than minAgeMs (a creation in progress has no record for a moment).
   */
  async orphanDirs(minAgeMs: number): Promise<string[]> {
    let ids: string[];
    try {
      ids = (await fsp().readdir(this.dir)).filter((id) => /^[0-9a-f]{64}$/.test(id));
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const id of ids) {
      if (await this.read(id)) continue;
      const st = await fsp().stat(this.containerDir(id)).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs >= minAgeMs) out.push(id);
    }
    return out;
  }

  /** A container by full id, name, or unambiguous id prefix (like docker). */
  async resolve(ref: string): Promise<ContainerRecord> {
    const all = await this.list();
    const exact = all.find((c) => c.id === ref || c.name === ref || c.name === ref.replace(/^\//, ''));
    if (exact) return exact;
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = all.filter((c) => c.id.startsWith(ref));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new ContainerNotFoundError(`container id prefix ${ref} is ambiguous (${matches.length} containers)`);
    }
    throw new ContainerNotFoundError(`no such container: ${ref}`);
  }

  /**
   * Creates the record of a new container (and its directory) with a unique name, under the store
   * lock so two processes never take the same name.
   */
  async create(init: (id: string, dir: string) => Omit<ContainerRecord, 'id' | 'name' | 'created'>, name?: string): Promise<ContainerRecord> {
    if (name !== undefined && !NAME_RE.test(name)) throw new Error(`invalid container name ${JSON.stringify(name)}: letters, digits, '_', '.' and '-', starting with a letter or digit`);
    const fs = process.getBuiltinModule('node:fs');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    return withLock(join(this.dir, '.names.lock'), async () => {
      const taken = new Set((await this.list()).map((c) => c.name));
      if (name !== undefined && taken.has(name)) throw new Error(`the container name ${name} is already in use`);
      let chosen = name;
      for (let i = 0; chosen === undefined; i++) {
        const candidate = randomName(i > 20);
        if (!taken.has(candidate)) chosen = candidate;
      }
      const id = randomHex(32);
      const dir = this.containerDir(id);
      fs.mkdirSync(dir, { mode: 0o700 });
      const record: ContainerRecord = { id, name: chosen, created: new Date().toISOString(), ...init(id, dir) };
      if (record.autoRemove) {
        // A --rm container's record lives only as long as this process needs it: after a power cut
        // its mount is gone too, and `container prune` removes a directory left without a record.
        // Written in place, synchronously: the directory is new, so no reader ever sees an older
        // record, and one being written is no container yet to ps/inspect (a torn JSON reads as
        // none, as a directory without a record does).
        fs.writeFileSync(this.recordPath(id), JSON.stringify(record, null, 2), { mode: 0o600, flag: 'wx' });
      } else {
        await writeFileAtomic(this.recordPath(id), JSON.stringify(record, null, 2), { durable: true, mode: 0o600 });
      }
      return record;
    });
  }

  /** Gives a container another name, under the names lock (like create: never two of one name). */
  async rename(id: string, name: string): Promise<void> {
    if (!NAME_RE.test(name)) throw new Error(`invalid container name ${JSON.stringify(name)}: letters, digits, '_', '.' and '-', starting with a letter or digit`);
    await withLock(join(this.dir, '.names.lock'), async () => {
      const holder = (await this.list()).find((c) => c.name === name);
      if (holder && holder.id !== id) throw new Error(`the container name ${name} is already in use by ${holder.id.slice(0, 12)}`);
      if (!(await this.update(id, (r) => void (r.name = name)))) throw new ContainerNotFoundError(`no such container: ${id}`);
    });
  }

  /** Read-modify-write of one record under its lock; undefined when the container is gone. */
  async update(id: string, fn: (r: ContainerRecord) => ContainerRecord | void): Promise<ContainerRecord | undefined> {
    try {
      return await withLock(join(this.containerDir(id), 'container.lock'), async () => {
        const current = await this.read(id);
        if (!current) return undefined;
        const next = fn(current) ?? current;
        await writeFileAtomic(this.recordPath(id), JSON.stringify(next, null, 2), { durable: !next.autoRemove, mode: 0o600 });
        return next;
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // directory removed
      throw err;
    }
  }

  /** Removes the record and everything in the container's directory (mounts must be gone first). */
  async remove(id: string): Promise<void> {
    await withLock(join(this.containerDir(id), 'container.lock'), async () => {
      // The record goes first, so a crash half-way leaves a directory no command mistakes for a container.
      // Synchronous: rmSync's recursive walk is native, where fs/promises' walks the directory in
      // JavaScript, one thread-pool request per entry (~60 for a container's directory).
      const { rmSync } = process.getBuiltinModule('node:fs');
      rmSync(this.recordPath(id), { force: true });
      rmSync(this.containerDir(id), { recursive: true, force: true });
    }).catch((err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    });
  }
}

// Like docker's names: adjective_surname, with a number when the short form is exhausted.
const ADJECTIVES = ['brave', 'calm', 'eager', 'fancy', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nifty', 'proud', 'quiet', 'sharp', 'tender', 'vivid', 'witty', 'zealous'];
const NAMES = ['babbage', 'curie', 'darwin', 'euler', 'fermi', 'gauss', 'hopper', 'kepler', 'lovelace', 'noether', 'pascal', 'ritchie', 'shannon', 'thompson', 'turing', 'wozniak'];

function randomName(withNumber: boolean): string {
  const [a, b, c] = Buffer.from(randomHex(3), 'hex');
  return `${ADJECTIVES[a! % ADJECTIVES.length]}_${NAMES[b! % NAMES.length]}${withNumber ? c : ''}`;
}
