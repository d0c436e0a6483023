// Named and anonymous volumes: <root>/volumes/<name>/volume.json (name, labels, created,
// anonymous, driver options) and <name>/_data, the directory containers mount (docker's layout).
// Creation, removal and the mounting of a volume with options (a tmpfs, a bind of a host
// directory: volume-options.ts) run under one lock, so two `run -v data:/x` create `data` once and
// never mount it twice. Whether a volume is in use is the container side's knowledge: removal and
// unmounting take it as an argument.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { isMountPoint, unmountIfMounted } from '../bundle/overlay.js';
import { VolumeError } from './volume-error.js';
import { checkVolumeOptions, mountArgs, needsMount, type VolumeOptions } from './volume-options.js';
import { dirSize } from '../dir-size.js';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { withLock } from '../file-lock.js';
import { randomHex } from '../containers/random-id.js';

export interface VolumeRecord {
  name: string;
  /** RFC 3339. */
  created: string;
  labels: Record<string, string>;
  /** Made for an image's VOLUME or `-v /path`: removed with `rm -v` and by `volume prune`. */
  anonymous: boolean;
  driver: 'local';
  /** The local driver's type/device/o: a file system mounted at _data while in use. */
  options?: VolumeOptions;
}

export { VolumeError };

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Whether `-v X:/path` names a volume (else X is a host path). */
export function isVolumeName(text: string): boolean {
  return NAME_RE.test(text);
}

export class VolumeStore {
  readonly dir: string;
  constructor(readonly root: string) {
    this.dir = join(root, 'volumes');
  }

  dataDir(name: string): string {
    return join(this.dir, name, '_data');
  }

  private recordPath(name: string): string {
    return join(this.dir, name, 'volume.json');
  }

  async get(name: string): Promise<VolumeRecord | undefined> {
    if (!NAME_RE.test(name)) return undefined;
    try {
      return JSON.parse(await readFile(this.recordPath(name), 'utf8')) as VolumeRecord;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }

  async list(): Promise<VolumeRecord[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const all = await Promise.all(names.map((n) => this.get(n)));
    return all.filter((v): v is VolumeRecord => v !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Creates a volume (a random name when none is given); with `reuse`, an existing volume of that
   * name is returned as it is (`-v name:/path` creates on first use). `created` says whether it is new.
   */
  async create(opts: { name?: string; labels?: Record<string, string>; anonymous?: boolean; reuse?: boolean; options?: VolumeOptions } = {}): Promise<{ volume: VolumeRecord; created: boolean }> {
    const name = opts.name ?? randomHex(32);
    if (!NAME_RE.test(name)) throw new VolumeError(`invalid volume name ${JSON.stringify(name)}: letters, digits, '_', '.' and '-', starting with a letter or digit`, 'invalid');
    const options = opts.options && Object.keys(opts.options).length ? opts.options : undefined;
    if (options) checkVolumeOptions(options);
    await mkdir(this.dir, { recursive: true, mode: 0o701 });
    return withLock(join(this.dir, '.lock'), async () => {
      const existing = await this.get(name);
      if (existing) {
        if (opts.reuse) return { volume: existing, created: false };
        throw new VolumeError(`volume ${name} already exists`, 'exists');
      }
      // An existing volume keeps its options (docker returns it as it is, whatever was asked).
      const volume: VolumeRecord = { name, created: new Date().toISOString(), labels: opts.labels ?? {}, anonymous: !!opts.anonymous, driver: 'local', ...(options ? { options } : {}) };
      // Made aside and renamed into place: a crash never leaves a volume without its record.
      const tmp = join(this.dir, `.tmp-${randomHex(8)}`);
      await mkdir(join(tmp, '_data'), { recursive: true, mode: 0o755 });
      await writeFileAtomic(join(tmp, 'volume.json'), JSON.stringify(volume, null, 2));
      await rm(join(this.dir, name), { recursive: true, force: true }); // a half-removed one
      await rename(tmp, join(this.dir, name));
      return { volume, created: true };
    });
  }

  /** Removes a volume and its data; `inUse` names the containers using it (then it is refused). */
  async remove(name: string, inUse: string[]): Promise<void> {
    await withLock(join(this.dir, '.lock'), async () => {
      if (!(await this.get(name))) throw new VolumeError(`no such volume: ${name}`, 'not-found');
      if (inUse.length > 0) throw new VolumeError(`volume ${name} is in use by container ${inUse.join(', ')}: remove the container first`, 'in-use');
      // A file system still mounted at _data (a crash, a lost container) is unmounted first: the
      // recursive removal below must never reach into a bound host directory.
      const data = this.dataDir(name);
      await unmountIfMounted(data);
      if (await isMountPoint(data)) throw new VolumeError(`volume ${name}: ${data} is still mounted; unmount it first`, 'in-use');
      // The record goes first: a crash half-way leaves no volume that looks whole.
      await rm(this.recordPath(name), { force: true });
      await rm(join(this.dir, name), { recursive: true, force: true });
    });
  }

  /**
   * Mounts a volume's file system at its _data (a volume with options; others need nothing), once:
   * a volume already mounted (another container uses it) is left as it is.
   */
  async mount(name: string): Promise<void> {
    const v = await this.get(name);
    if (!v || !needsMount(v.options)) return;
    const data = this.dataDir(name);
    await withLock(join(this.dir, '.lock'), async () => {
      if (await isMountPoint(data)) return;
      await mkdir(data, { recursive: true, mode: 0o755 });
      await new Promise<void>((resolve, reject) =>
        execFile('mount', mountArgs(v.options as Parameters<typeof mountArgs>[0], data), (err, _o, stderr) =>
          err ? reject(new VolumeError(`error while mounting volume ${name}: ${(stderr.trim().split('\n')[0] || err.message).replace(/^mount: /, '')}`, 'mount')) : resolve(),
        ),
      );
    });
  }

  /**
   * Unmounts a volume's file system unless `inUse` (asked under the lock, so a container starting
   * meanwhile either sees it mounted or mounts it again after) says a container still needs it.
   */
  async unmount(name: string, inUse: () => Promise<boolean>): Promise<void> {
    const v = await this.get(name);
    if (!v || !needsMount(v.options)) return;
    await withLock(join(this.dir, '.lock'), async () => {
      if (await inUse()) return;
      await unmountIfMounted(this.dataDir(name));
    });
  }

  /** Bytes under a volume's data (for `system df`). */
  size(name: string): Promise<number> {
    return dirSize(this.dataDir(name));
  }
}
