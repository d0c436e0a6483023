// The compose file's short forms, turned into the long forms the rest of the loader works on:
// ports ("127.0.0.1:8080:80/udp", ranges), volumes ("name:/path:ro", "./dir:/path", "/anon"),
// and the list-or-mapping attributes (environment, labels, extra_hosts, build args).
import { isAbsolute, resolve } from 'node:path';
import { homedir } from 'node:os';
import { ComposeError } from './errors.js';

export interface PortConfig {
  target: number;
  published?: string;
  host_ip?: string;
  protocol: 'tcp' | 'udp';
  mode?: string;
  name?: string;
  app_protocol?: string;
}

export interface VolumeMount {
  type: 'bind' | 'volume' | 'tmpfs';
  /** Host path (bind), volume name (volume), absent for anonymous volumes and tmpfs. */
  source?: string;
  target: string;
  read_only?: boolean;
  bind?: { create_host_path?: boolean; propagation?: string; selinux?: string };
  volume?: { nocopy?: boolean; subpath?: string };
  tmpfs?: { size?: number | string; mode?: number };
}

function portNumber(s: string, path: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > 65535) throw new ComposeError(path, `invalid port ${JSON.stringify(s)}`);
  return n;
}

function portRange(s: string, path: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new ComposeError(path, `invalid port ${JSON.stringify(s)}`);
  const lo = portNumber(m[1]!, path);
  const hi = m[2] ? portNumber(m[2], path) : lo;
  if (hi < lo) throw new ComposeError(path, `invalid port range ${JSON.stringify(s)}`);
  return [lo, hi];
}

/**
 * Parses a short port entry, `[[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL]` with ranges on either side;
 * one entry per container port (a range of N container ports is N entries).
 */
export function parseShortPort(value: string | number, path: string): PortConfig[] {
  let s = String(value).trim();
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = s.lastIndexOf('/');
  if (slash >= 0) {
    const p = s.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') throw new ComposeError(path, `invalid protocol ${JSON.stringify(p)} (tcp or udp)`);
    protocol = p;
    s = s.slice(0, slash);
  }
  let hostIp: string | undefined;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(s);
  if (v6) {
    hostIp = v6[1];
    s = v6[2]!;
  }
  const parts = s.split(':');
  if (parts.length > 3 || (v6 && parts.length > 2)) throw new ComposeError(path, `invalid port ${JSON.stringify(String(value))}`);
  const targetPart = parts[parts.length - 1]!;
  const publishedPart = parts.length >= 2 ? parts[parts.length - 2]! : '';
  if (parts.length === 3) hostIp = parts[0] || undefined;
  if (hostIp !== undefined && !/^[0-9.]+$|^[0-9a-fA-F:]+$/.test(hostIp)) throw new ComposeError(path, `invalid host IP ${JSON.stringify(hostIp)}`);
  const [tlo, thi] = portRange(targetPart, path);
  const count = thi - tlo + 1;
  let published: [number, number] | undefined;
  if (publishedPart !== '') published = portRange(publishedPart, path);
  const out: PortConfig[] = [];
  for (let i = 0; i < count; i++) {
    let pub: string | undefined;
    if (published) {
      const [plo, phi] = published;
      if (phi - plo + 1 === count) pub = String(plo + i);
      else if (count === 1) pub = plo === phi ? String(plo) : `${plo}-${phi}`;
      else throw new ComposeError(path, `port ranges ${publishedPart} and ${targetPart} differ in size`);
    }
    out.push({ target: tlo + i, ...(pub !== undefined ? { published: pub } : {}), ...(hostIp ? { host_ip: hostIp } : {}), protocol });
  }
  return out;
}

/** Resolves a bind source: `~` is the home directory, relative paths are from `baseDir`. */
export function resolveHostPath(p: string, baseDir: string): string {
  if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

/** Parses a short volume entry: `TARGET`, `SOURCE:TARGET[:MODE]` (MODE: ro, rw, z, Z, nocopy, …). */
export function parseShortVolume(spec: string, baseDir: string, path: string): VolumeMount {
  const parts = spec.split(':');
  if (parts.length === 1) {
    if (!parts[0]!.startsWith('/')) throw new ComposeError(path, `invalid volume ${JSON.stringify(spec)}: the container path must be absolute`);
    return { type: 'volume', target: parts[0]! };
  }
  if (parts.length > 3) throw new ComposeError(path, `invalid volume ${JSON.stringify(spec)}`);
  const [source, target, mode = ''] = parts as [string, string, string?];
  if (!target.startsWith('/')) throw new ComposeError(path, `invalid volume ${JSON.stringify(spec)}: the container path must be absolute`);
  const modes = mode ? mode.split(',') : [];
  for (const m of modes) {
    if (!['ro', 'rw', 'z', 'Z', 'nocopy', 'cached', 'delegated', 'consistent', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate'].includes(m)) {
      throw new ComposeError(path, `invalid volume mode ${JSON.stringify(m)} in ${JSON.stringify(spec)}`);
    }
  }
  const isPath = source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
  const mount: VolumeMount = isPath
    ? { type: 'bind', source: resolveHostPath(source, baseDir), target, bind: { create_host_path: true } }
    : { type: 'volume', source, target };
  if (modes.includes('ro')) mount.read_only = true;
  if (modes.includes('nocopy') && mount.type === 'volume') mount.volume = { nocopy: true };
  const propagation = modes.find((m) => /^r?(shared|slave|private)$/.test(m));
  if (propagation && mount.bind) mount.bind.propagation = propagation;
  const selinux = modes.find((m) => m === 'z' || m === 'Z');
  if (selinux && mount.bind) mount.bind.selinux = selinux;
  return mount;
}

/**
 * A list-or-mapping attribute (`environment`, `labels`, `extra_hosts`, build `args`) as a mapping.
 * In list form an entry without `sep` has no value (null: environment takes it from the shell).
 */
export function listOrMapping(v: unknown, path: string, sep = '='): Record<string, string | null> {
  if (v === undefined || v === null) return {};
  const out: Record<string, string | null> = {};
  if (Array.isArray(v)) {
    v.forEach((item, i) => {
      if (typeof item !== 'string') throw new ComposeError(`${path}[${i}]`, 'must be a string');
      const at = item.indexOf(sep);
      if (at < 0) out[item] = null;
      else out[item.slice(0, at)] = item.slice(at + sep.length);
    });
    return out;
  }
  if (typeof v === 'object') {
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      if (val === null || val === undefined) out[k] = null;
      else if (Array.isArray(val) && sep === ':') out[k] = val.map(String).join(',');
      else if (typeof val === 'object') throw new ComposeError(`${path}.${k}`, 'must be a string, number or boolean');
      else out[k] = String(val);
    }
    return out;
  }
  throw new ComposeError(path, 'must be a list or a mapping');
}
