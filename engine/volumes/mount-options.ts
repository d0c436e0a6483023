// `-v`, `--mount`, `--tmpfs` and `--volumes-from` as docker reads them, into mount requests the
// container's creation resolves (volumes created, host paths checked). Pure parsing: one-line
// errors naming the flag.
import { isAbsolute, resolve } from 'node:path';
import { UsageError } from '../containers/run-options.js';
import { isVolumeName } from './volume-store.js';
import { parseVolumeOptions, type VolumeOptions } from './volume-options.js';

export type MountRequest =
  | { type: 'bind'; source: string; destination: string; readOnly: boolean; /** -v creates a missing host directory; --mount refuses it */ create: boolean }
  /** name undefined: an anonymous volume. */
  /** options: the local driver's (volume-opt=), used when the volume is made here. */
  | { type: 'volume'; name?: string; destination: string; readOnly: boolean; noCopy: boolean; labels?: Record<string, string>; options?: VolumeOptions }
  | { type: 'tmpfs'; destination: string; options: string[] };

function destinationOf(flag: string, spec: string, path: string): string {
  if (!isAbsolute(path)) throw new UsageError(`${flag} ${spec}: the container path must be absolute`);
  if (path.replace(/\/+$/, '') === '') throw new UsageError(`${flag} ${spec}: cannot mount over /`);
  return path.replace(/\/+$/, '');
}

/** `-v [SOURCE:]/path[:opts]`: SOURCE a host path (absolute or ./relative) or a volume name; none: an anonymous volume. */
export function parseVolumeFlag(spec: string, cwd = process.cwd()): MountRequest {
  const parts = spec.split(':');
  if (parts.length === 1) return { type: 'volume', destination: destinationOf('-v', spec, parts[0]!), readOnly: false, noCopy: false };
  if (parts.length > 3 || !parts[0] || !parts[1]) throw new UsageError(`invalid -v ${JSON.stringify(spec)}: [HOST-PATH|VOLUME:]CONTAINER-PATH[:ro|rw][,z|Z][,nocopy]`);
  const opts = (parts[2] ?? '').split(',').filter(Boolean);
  let readOnly = false;
  let noCopy = false;
  for (const o of opts) {
    if (o === 'ro') readOnly = true;
    else if (o === 'rw') readOnly = false;
    else if (o === 'nocopy') noCopy = true;
    // SELinux relabelling: nothing to do on a host without SELinux (docker ignores it there too).
    else if (o === 'z' || o === 'Z') continue;
    else throw new UsageError(`invalid -v ${JSON.stringify(spec)}: unknown option ${JSON.stringify(o)} (ro, rw, z, Z, nocopy)`);
  }
  const [src, ctr] = parts as [string, string];
  const destination = destinationOf('-v', spec, ctr);
  if (src.startsWith('/') || src.startsWith('.')) return { type: 'bind', source: resolve(cwd, src), destination, readOnly, create: true };
  if (!isVolumeName(src)) throw new UsageError(`-v ${spec}: ${JSON.stringify(src)} is neither a host path (absolute or ./relative) nor a volume name`);
  return { type: 'volume', name: src, destination, readOnly, noCopy };
}

const TRUE = new Set(['', '1', 'true']);
const FALSE = new Set(['0', 'false']);

function bool(flag: string, key: string, v: string): boolean {
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new UsageError(`invalid ${flag} ${key}=${v}: true or false`);
}

/** `--mount type=bind|volume|tmpfs,source=…,target=…,readonly,volume-nocopy,volume-label=K=V,volume-opt=K=V,tmpfs-size=…,tmpfs-mode=…`. */
export function parseMountFlag(spec: string, cwd = process.cwd()): MountRequest {
  const fields = new Map<string, string>();
  const labels: Record<string, string> = {};
  const volumeOpts: string[] = [];
  // A volume-opt's `o=` may itself hold commas: quoted as in docker's CSV ("volume-opt=o=a,b").
  for (const f of splitFields(spec)) {
    if (!f) continue;
    const i = f.indexOf('=');
    const key = (i < 0 ? f : f.slice(0, i)).trim().toLowerCase();
    const value = i < 0 ? '' : f.slice(i + 1);
    if (key === 'volume-label') {
      const j = value.indexOf('=');
      labels[j < 0 ? value : value.slice(0, j)] = j < 0 ? '' : value.slice(j + 1);
      continue;
    }
    if (key === 'volume-opt') {
      volumeOpts.push(value);
      continue;
    }
    if (key === 'volume-driver') {
      if (value !== 'local') throw new UsageError(`--mount ${spec}: only the local volume driver exists here`);
      continue;
    }
    fields.set(key, value);
  }
  const type = fields.get('type') ?? 'volume';
  const source = fields.get('source') ?? fields.get('src');
  const target = fields.get('target') ?? fields.get('destination') ?? fields.get('dst');
  if (!target) throw new UsageError(`invalid --mount ${JSON.stringify(spec)}: target= is required`);
  const destination = destinationOf('--mount', spec, target);
  const ro = fields.has('readonly') ? bool('--mount', 'readonly', fields.get('readonly')!) : fields.has('ro') ? bool('--mount', 'ro', fields.get('ro')!) : false;
  if (type !== 'volume' && volumeOpts.length) throw new UsageError(`invalid --mount ${JSON.stringify(spec)}: volume-opt is for type=volume`);
  if (type === 'bind') {
    if (!source) throw new UsageError(`invalid --mount ${JSON.stringify(spec)}: type=bind needs source=`);
    return { type: 'bind', source: resolve(cwd, source), destination, readOnly: ro, create: false };
  }
  if (type === 'volume') {
    if (source !== undefined && !isVolumeName(source)) throw new UsageError(`invalid --mount ${JSON.stringify(spec)}: ${JSON.stringify(source)} is not a volume name`);
    const noCopy = fields.has('volume-nocopy') ? bool('--mount', 'volume-nocopy', fields.get('volume-nocopy')!) : false;
    let options: VolumeOptions | undefined;
    try {
      options = volumeOpts.length ? parseVolumeOptions(volumeOpts) : undefined;
    } catch (err) {
      throw new UsageError(`invalid --mount ${JSON.stringify(spec)}: ${(err as Error).message}`);
    }
    return { type: 'volume', ...(source ? { name: source } : {}), destination, readOnly: ro, noCopy, ...(Object.keys(labels).length ? { labels } : {}), ...(options ? { options } : {}) };
  }
  if (type === 'tmpfs') {
    if (source) throw new UsageError(`invalid --mount ${JSON.stringify(spec)}: type=tmpfs takes no source`);
    const options: string[] = [];
    const size = fields.get('tmpfs-size');
    if (size !== undefined) {
      if (!/^[0-9]+[kmgKMG]?$/.test(size)) throw new UsageError(`invalid --mount tmpfs-size=${size}: bytes, or a number with k, m or g`);
      options.push(`size=${size}`);
    }
    const mode = fields.get('tmpfs-mode');
    if (mode !== undefined) {
      if (!/^[0-7]{3,4}$/.test(mode)) throw new UsageError(`invalid --mount tmpfs-mode=${mode}: octal, e.g. 1777`);
      options.push(`mode=${mode}`);
    }
    if (ro) options.push('ro');
    return { type: 'tmpfs', destination, options };
  }
  throw new UsageError(`invalid --mount ${JSON.stringify(spec)}: type must be bind, volume or tmpfs`);
}

/**
 * docker reads --mount as one CSV record: a field in double quotes may hold commas
 * (`"volume-opt=o=size=64m,mode=1777"`). Quotes are removed; a doubled quote inside is one.
 */
function splitFields(spec: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (c === '"') {
      if (quoted && spec[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) throw new UsageError(`invalid --mount ${JSON.stringify(spec)}: an unclosed double quote`);
  out.push(cur);
  return out;
}

const TMPFS_OPTION = /^(size=[0-9]+[kmgKMG%]?|mode=[0-7]{3,4}|uid=[0-9]+|gid=[0-9]+|nr_inodes=[0-9]+[kmgKMG]?|ro|rw|exec|noexec|suid|nosuid|dev|nodev)$/;

/** `--tmpfs /path[:opt,opt]`: options as mount(8) takes them for tmpfs. */
export function parseTmpfsFlag(spec: string): MountRequest {
  const i = spec.indexOf(':');
  const path = i < 0 ? spec : spec.slice(0, i);
  const options = i < 0 ? [] : spec.slice(i + 1).split(',').filter(Boolean);
  for (const o of options) if (!TMPFS_OPTION.test(o)) throw new UsageError(`invalid --tmpfs ${JSON.stringify(spec)}: unknown option ${JSON.stringify(o)}`);
  return { type: 'tmpfs', destination: destinationOf('--tmpfs', spec, path), options };
}

/** `--volumes-from C[:ro|rw]`. */
export function parseVolumesFrom(spec: string): { container: string; mode?: 'ro' | 'rw' } {
  const [container, mode, ...rest] = spec.split(':');
  if (!container || rest.length > 0 || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) throw new UsageError(`invalid --volumes-from ${JSON.stringify(spec)}: CONTAINER[:ro|rw]`);
  return { container, ...(mode ? { mode } : {}) };
}
