// Networks on disk: <root>/networks/<name>.json, one file per network, written atomically; every
// change to networks and to which container holds what (addresses, ports, namespaces) happens
// under one lock, <root>/networks/.lock, so concurrent `stevedore` processes never hand out the
// same subnet, address or host port. host-local keeps its address leases in <root>/networks/ipam.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { withLock } from '../file-lock.js';
import { DEFAULT_ROOT } from '../root.js';
import { NetworkError } from './network-error.js';
import { chooseSubnet, firstHost, formatIPv4, formatSubnet, parseIPv4, parseRouteTable, parseSubnet, contains, overlaps, type Subnet } from './subnet.js';

export const DEFAULT_NETWORK = 'bridge';
/** Names `--network` gives a meaning of its own; no user network may take them. */
export const RESERVED = new Set(['bridge', 'host', 'none', 'default']);

export interface NetworkRecord {
  name: string;
  id: string;
  driver: 'bridge';
  /** The Linux bridge (at most 15 characters). */
  bridge: string;
  subnet: string;
  gateway: string;
  internal: boolean;
  created: string;
  /** Who made it for what (compose's com.docker.compose.* labels); absent when none. */
  labels?: Record<string, string>;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/**
 * The default network's bridge: `stevedore0` for the default root; another root (tests, a second
 * engine) gets its own name, since bridges are host-wide and two engines sharing one would hand
 * out the same addresses from their separate leases.
 */
export function defaultBridgeName(root: string): string {
  return root === DEFAULT_ROOT ? 'stevedore0' : `stvd${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
}

export class NetworkStore {
  readonly dir: string;
  constructor(readonly root: string) {
    this.dir = join(root, 'networks');
  }

  get ipamDir(): string {
    return join(this.dir, 'ipam');
  }

  /** Runs fn holding the networks lock (see the module comment). */
  async locked<T>(fn: () => Promise<T>): Promise<T> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    return withLock(join(this.dir, '.lock'), fn);
  }

  private path(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  async read(name: string): Promise<NetworkRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.path(name), 'utf8')) as NetworkRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }

  async list(): Promise<NetworkRecord[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const all = await Promise.all(names.map((n) => this.read(n)));
    return all.filter((n): n is NetworkRecord => n !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A network by name, id or unambiguous id prefix; the default one is made on first use. Call locked. */
  async resolve(ref: string): Promise<NetworkRecord> {
    if (ref === DEFAULT_NETWORK || ref === 'default') return this.ensureDefault();
    const all = await this.list();
    const byPrefix = /^[0-9a-f]{3,}$/.test(ref) ? all.filter((n) => n.id.startsWith(ref)) : [];
    const hit = all.find((n) => n.name === ref || n.id === ref) ?? (byPrefix.length === 1 ? byPrefix[0] : undefined);
    if (!hit) throw new NetworkError('not-found', `no such network: ${ref} (see stevedore network ls)`);
    return hit;
  }

  private async taken(): Promise<Subnet[]> {
    const routes = parseRouteTable(await readFile('/proc/net/route', 'utf8').catch(() => ''));
    return [...routes, ...(await this.list()).map((n) => parseSubnet(n.subnet))];
  }

  /** Call locked. */
  async ensureDefault(): Promise<NetworkRecord> {
    const existing = await this.read(DEFAULT_NETWORK);
    if (existing) return existing;
    const start = createHash('sha256').update(this.root).digest()[0]!;
    const subnet = chooseSubnet(await this.taken(), this.root === DEFAULT_ROOT ? 0 : start);
    return this.write({ name: DEFAULT_NETWORK, bridge: defaultBridgeName(this.root), subnet, internal: false });
  }

  private async write(n: { name: string; bridge?: string; subnet: Subnet; gateway?: number; internal: boolean; labels?: Record<string, string> }): Promise<NetworkRecord> {
    const id = randomBytes(32).toString('hex');
    const rec: NetworkRecord = {
      name: n.name,
      id,
      driver: 'bridge',
      bridge: n.bridge ?? `stv-${id.slice(0, 11)}`,
      subnet: formatSubnet(n.subnet),
      gateway: formatIPv4(n.gateway ?? firstHost(n.subnet)),
      internal: n.internal,
      created: new Date().toISOString(),
      ...(n.labels && Object.keys(n.labels).length ? { labels: n.labels } : {}),
    };
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.path(n.name), JSON.stringify(rec, null, 2), { mode: 0o600 });
    return rec;
  }

  /** `network create`. Call locked. */
  async create(name: string, opts: { subnet?: string; gateway?: string; internal?: boolean; labels?: Record<string, string> }): Promise<NetworkRecord> {
    if (!NAME_RE.test(name)) throw new NetworkError('usage', `invalid network name ${JSON.stringify(name)}: letters, digits, '_', '.' and '-', starting with a letter or digit`);
    if (RESERVED.has(name)) throw new NetworkError('conflict', `${name} is a predefined network mode: choose another name`);
    if (await this.read(name)) throw new NetworkError('conflict', `network ${name} already exists`);
    const taken = await this.taken();
    let subnet: Subnet;
    if (opts.subnet !== undefined) {
      subnet = parseSubnet(opts.subnet);
      const clash = taken.find((t) => overlaps(t, subnet));
      if (clash) throw new NetworkError('conflict', `subnet ${opts.subnet} overlaps ${formatSubnet(clash)}, already routed on this host or used by another network`);
    } else {
      if (opts.gateway !== undefined) throw new NetworkError('usage', '--gateway needs --subnet');
      subnet = chooseSubnet(taken);
    }
    let gateway: number | undefined;
    if (opts.gateway !== undefined) {
      gateway = parseIPv4(opts.gateway);
      if (gateway === undefined || !contains(subnet, gateway) || gateway === subnet.base) throw new NetworkError('usage', `invalid --gateway ${opts.gateway}: an address inside ${formatSubnet(subnet)}`);
    }
    return this.write({ name, subnet, gateway, internal: !!opts.internal, ...(opts.labels ? { labels: opts.labels } : {}) });
  }

  /** Removes the record (the caller has checked it is unused and removed its bridge). */
  async remove(name: string): Promise<void> {
    await rm(this.path(name), { force: true });
    await rm(join(this.ipamDir, name), { recursive: true, force: true });
  }
}
