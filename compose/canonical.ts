// One service definition of one file in its canonical form: every attribute that has a short and
// a long form in its long form, lists that are mappings as mappings, relative paths resolved. The
// merge rules (several files, `extends`) work on this form.
import { isAbsolute, resolve } from 'node:path';
import { ComposeError } from './errors.js';
import { listOrMapping, parseShortPort, parseShortVolume, resolveHostPath, type PortConfig, type VolumeMount } from './short-syntax.js';
import { isTag, MergeTag } from './yaml-tags.js';

export type Raw = Record<string, unknown>;

export function isMapping(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isTag(v);
}

function stringList(v: unknown, path: string): string[] {
  if (typeof v === 'string' || typeof v === 'number') return [String(v)];
  if (Array.isArray(v)) {
    return v.map((x, i) => {
      if (typeof x !== 'string' && typeof x !== 'number') throw new ComposeError(`${path}[${i}]`, 'must be a string');
      return String(x);
    });
  }
  throw new ComposeError(path, 'must be a string or a list of strings');
}

function port(v: unknown, path: string): PortConfig[] {
  if (typeof v === 'string' || typeof v === 'number') return parseShortPort(v, path);
  if (!isMapping(v)) throw new ComposeError(path, 'must be a string, a number or a mapping');
  const target = Number(v.target);
  if (!Number.isInteger(target) || target < 1 || target > 65535) throw new ComposeError(`${path}.target`, 'must be a port number');
  const protocol = String(v.protocol ?? 'tcp').toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp') throw new ComposeError(`${path}.protocol`, 'must be tcp or udp');
  const out: PortConfig = { target, protocol };
  if (v.published !== undefined && v.published !== null && v.published !== '') {
    if (!/^\d+(-\d+)?$/.test(String(v.published))) throw new ComposeError(`${path}.published`, `invalid port ${JSON.stringify(v.published)}`);
    out.published = String(v.published);
  }
  for (const k of ['host_ip', 'mode', 'name', 'app_protocol'] as const) if (v[k] !== undefined) out[k] = String(v[k]);
  return [out];
}

function volume(v: unknown, baseDir: string, path: string): VolumeMount {
  if (typeof v === 'string') return parseShortVolume(v, baseDir, path);
  if (!isMapping(v)) throw new ComposeError(path, 'must be a string or a mapping');
  const type = String(v.type ?? 'volume');
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') throw new ComposeError(`${path}.type`, `unsupported volume type ${JSON.stringify(type)} (bind, volume or tmpfs)`);
  if (typeof v.target !== 'string' || !v.target.startsWith('/')) throw new ComposeError(`${path}.target`, 'must be an absolute path');
  const out: VolumeMount = { type, target: v.target };
  if (v.source !== undefined && v.source !== null && v.source !== '') {
    if (typeof v.source !== 'string') throw new ComposeError(`${path}.source`, 'must be a string');
    out.source = type === 'bind' ? resolveHostPath(v.source, baseDir) : v.source;
  } else if (type === 'bind') throw new ComposeError(`${path}.source`, 'a bind mount needs a source');
  if (v.read_only !== undefined) out.read_only = v.read_only === true || v.read_only === 'true';
  if (isMapping(v.bind)) out.bind = { ...(v.bind as VolumeMount['bind']) };
  else if (type === 'bind') out.bind = { create_host_path: true };
  if (isMapping(v.volume)) out.volume = { ...(v.volume as VolumeMount['volume']) };
  if (isMapping(v.tmpfs)) out.tmpfs = { ...(v.tmpfs as VolumeMount['tmpfs']) };
  return out;
}

const CONDITIONS = ['service_started', 'service_healthy', 'service_completed_successfully'];

function dependsOn(v: unknown, path: string): Raw {
  const out: Raw = {};
  if (Array.isArray(v)) {
    for (const [i, name] of v.entries()) {
      if (typeof name !== 'string') throw new ComposeError(`${path}[${i}]`, 'must be a service name');
      out[name] = { condition: 'service_started', required: true, restart: false };
    }
    return out;
  }
  if (!isMapping(v)) throw new ComposeError(path, 'must be a list or a mapping');
  for (const [name, d] of Object.entries(v)) {
    const dep = isMapping(d) ? d : {};
    const condition = String(dep.condition ?? 'service_started');
    if (!CONDITIONS.includes(condition)) throw new ComposeError(`${path}.${name}.condition`, `must be one of ${CONDITIONS.join(', ')}`);
    out[name] = { condition, required: dep.required !== false, restart: dep.restart === true };
  }
  return out;
}

function fileReferences(v: unknown, path: string): Raw[] {
  return (Array.isArray(v) ? v : [v]).map((x, i) => {
    if (typeof x === 'string' || typeof x === 'number') return { source: String(x) };
    if (isMapping(x) && typeof x.source === 'string') return { ...x };
    throw new ComposeError(`${path}[${i}]`, 'must be a name or a mapping with a source');
  });
}

/** Canonical form of `services.NAME` of a file whose relative paths are from `baseDir`. */
export function canonicalService(raw: unknown, baseDir: string, path: string): Raw {
  if (raw === null || raw === undefined) return {};
  if (!isMapping(raw)) throw new ComposeError(path, 'must be a mapping');
  const s: Raw = { ...raw };
  const at = (k: string) => `${path}.${k}`;
  // `!override` values replace what earlier files set, in the same canonical form.
  for (const [k, v] of Object.entries(s)) {
    if (isTag(v) && v.tag === 'override') s[k] = new MergeTag('override', canonicalService({ [k]: v.value }, baseDir, path)[k]);
  }
  for (const k of ['environment', 'labels', 'annotations', 'sysctls'] as const) if (s[k] !== undefined && !isTag(s[k])) s[k] = listOrMapping(s[k], at(k));
  if (s.extra_hosts !== undefined && !isTag(s.extra_hosts)) {
    const hosts = Array.isArray(s.extra_hosts) ? s.extra_hosts.map((h) => (typeof h === 'string' ? h.replace(/^([^=:]+)[:=]/, '$1=') : h)) : s.extra_hosts;
    s.extra_hosts = listOrMapping(hosts, at('extra_hosts'));
  }
  if (s.build !== undefined && !isTag(s.build)) {
    const b: Raw = typeof s.build === 'string' ? { context: s.build } : isMapping(s.build) ? { ...s.build } : {};
    if (!isMapping(s.build) && typeof s.build !== 'string') throw new ComposeError(at('build'), 'must be a path or a mapping');
    const ctx = String(b.context ?? '.');
    b.context = /^[a-z]+:\/\//i.test(ctx) || isAbsolute(ctx) ? ctx : resolve(baseDir, ctx);
    if (b.args !== undefined) b.args = listOrMapping(b.args, `${at('build')}.args`);
    if (b.labels !== undefined) b.labels = listOrMapping(b.labels, `${at('build')}.labels`);
    s.build = b;
  }
  if (s.ports !== undefined && !isTag(s.ports)) {
    if (!Array.isArray(s.ports)) throw new ComposeError(at('ports'), 'must be a list');
    s.ports = s.ports.flatMap((p, i) => port(p, `${at('ports')}[${i}]`));
  }
  if (s.volumes !== undefined && !isTag(s.volumes)) {
    if (!Array.isArray(s.volumes)) throw new ComposeError(at('volumes'), 'must be a list');
    s.volumes = s.volumes.map((v, i) => volume(v, baseDir, `${at('volumes')}[${i}]`));
  }
  if (s.depends_on !== undefined && !isTag(s.depends_on)) s.depends_on = dependsOn(s.depends_on, at('depends_on'));
  if (s.networks !== undefined && !isTag(s.networks)) {
    if (Array.isArray(s.networks)) s.networks = Object.fromEntries(stringList(s.networks, at('networks')).map((n) => [n, null]));
    else if (!isMapping(s.networks)) throw new ComposeError(at('networks'), 'must be a list or a mapping');
  }
  if (s.env_file !== undefined && !isTag(s.env_file)) {
    s.env_file = (Array.isArray(s.env_file) ? s.env_file : [s.env_file]).map((f, i) => {
      const p = `${at('env_file')}[${i}]`;
      const entry = typeof f === 'string' ? { path: f, required: true } : isMapping(f) && typeof f.path === 'string' ? { path: f.path, required: f.required !== false } : undefined;
      if (!entry) throw new ComposeError(p, 'must be a path or a mapping with a path');
      return { ...entry, path: resolveHostPath(entry.path, baseDir) };
    });
  }
  for (const k of ['dns', 'dns_search', 'tmpfs', 'cap_add', 'cap_drop', 'profiles', 'expose', 'security_opt', 'volumes_from']) {
    if (s[k] !== undefined && !isTag(s[k])) s[k] = stringList(s[k], at(k));
  }
  for (const k of ['secrets', 'configs'] as const) if (s[k] !== undefined && !isTag(s[k])) s[k] = fileReferences(s[k], at(k));
  if (isMapping(s.healthcheck) && typeof s.healthcheck.test === 'string') {
    s.healthcheck = { ...s.healthcheck, test: ['CMD-SHELL', s.healthcheck.test] };
  }
  return s;
}

/** `extends` in its long form, or undefined. */
export function extendsOf(raw: Raw, path: string): { service: string; file?: string } | undefined {
  const e = raw.extends;
  if (e === undefined) return undefined;
  if (typeof e === 'string') return { service: e };
  if (isMapping(e) && typeof e.service === 'string') return { service: e.service, ...(typeof e.file === 'string' ? { file: e.file } : {}) };
  throw new ComposeError(`${path}.extends`, 'must be a service name or a mapping with a service');
}
