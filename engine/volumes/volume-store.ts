// Named and anonymous volumes: <root>/volumes/<name>/volume.json (name, labels, created,
// anonymous) and <name>/_data, the directory containers mount (docker's layout). Creation and
// removal run under one lock, so two `run -v data:/x` create `data` once. Whether a volume is in
// use is the container side's knowledge: removal takes it as an argument.
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
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
}

export class VolumeError extends Error {
  constructor(
    message: string,
    readonly kind: 'not-found' | 'in-use' | 'exists' | 'invalid',
  ) {
    super(message);
  }
}

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
  async create(opts: { name?: string; labels?: Record<string, string>; anonymous?: boolean; reuse?: boolean } = {}): Promise<{ volume: VolumeRecord; created: boolean }> {
    const name = opts.name ?? randomHex(32);
    if (!NAME_RE.test(name)) throw new VolumeError(`invalid volume name ${JSON.stringify(name)}: letters, digits, '_', '.' and '-', starting with a letter or digit`, 'invalid');
    await mkdir(this.dir, { recursive: true, mode: 0o701 });
    return withLock(join(this.dir, '.lock'), async () => {
      const existing = await this.get(name);
      if (existing) {
        if (opts.reuse) return { volume: existing, created: false };
        throw new VolumeError(`volume ${name} already exists`, 'exists');
      }
      const volume: VolumeRecord = { name, created: new Date().toISOString(), labels: opts.labels ?? {}, anonymous: !!opts.anonymous, driver: 'local' };
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
      // The record goes first: a crash half-way leaves no volume that looks whole.
      await rm(this.recordPath(name), { force: true });
      await rm(join(this.dir, name), { recursive: true, force: true });
    });
  }

  /** Bytes under a volume's data (for `system df`). */
  size(name: string): Promise<number> {
    return dirSize(this.dataDir(name));
  }
}
