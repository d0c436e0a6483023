// The compose application model Stevedore runs: the merged, canonical tree checked attribute by
// attribute into typed services, networks, volumes, secrets and configs. Invalid values are errors
// naming the key path; keys the engine does not honour are warnings, once each, and are ignored
// (as docker compose does with attributes it does not implement).
import { ComposeError } from './errors.js';
import { isMapping, type Raw } from './canonical.js';
import type { PortConfig, VolumeMount } from './short-syntax.js';
import { parseDuration } from '../util/duration.js';

export type { PortConfig, VolumeMount } from './short-syntax.js';

export type DependencyCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface Dependency {
  condition: DependencyCondition;
  required: boolean;
  restart: boolean;
}

export interface Healthcheck {
  /** ["CMD", …], ["CMD-SHELL", "…"] or ["NONE"]. */
  test?: string[];
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
  start_interval?: string;
  disable?: boolean;
}

export interface BuildConfig {
  context: string;
  dockerfile?: string;
  dockerfile_inline?: string;
  args: Record<string, string>;
  target?: string;
  labels: Record<string, string>;
  secrets?: FileReference[];
  network?: string;
  no_cache?: boolean;
  pull?: boolean;
  platforms?: string[];
  tags?: string[];
}

export interface ServiceNetwork {
  aliases: string[];
  ipv4_address?: string;
  ipv6_address?: string;
}

export interface FileReference {
  source: string;
  target?: string;
  uid?: string;
  gid?: string;
  mode?: number;
}

export interface RestartPolicy {
  condition?: 'none' | 'on-failure' | 'any';
  delay?: string;
  max_attempts?: number;
  window?: string;
}

export interface ResourceLimits {
  /** CPUs as a decimal (0.5 = half a core). */
  cpus?: number;
  /** Bytes. */
  memory?: number;
  pids?: number;
}

export interface Service {
  name: string;
  image?: string;
  build?: BuildConfig;
  command?: string[] | string;
  entrypoint?: string[] | string;
  /** Resolved environment (env_file entries, then `environment`). */
  environment: Record<string, string>;
  ports: PortConfig[];
  expose: string[];
  volumes: VolumeMount[];
  tmpfs: string[];
  networks: Record<string, ServiceNetwork>;
  depends_on: Record<string, Dependency>;
  healthcheck?: Healthcheck;
  restart?: 'no' | 'always' | 'on-failure' | 'unless-stopped' | `on-failure:${number}`;
  replicas: number;
  limits: ResourceLimits;
  restart_policy?: RestartPolicy;
  user?: string;
  working_dir?: string;
  hostname?: string;
  domainname?: string;
  labels: Record<string, string>;
  stop_signal?: string;
  stop_grace_period?: string;
  init?: boolean;
  read_only?: boolean;
  cap_add: string[];
  cap_drop: string[];
  extra_hosts: Record<string, string>;
  dns: string[];
  dns_search: string[];
  secrets: FileReference[];
  configs: FileReference[];
  container_name?: string;
  profiles: string[];
  pull_policy?: 'always' | 'never' | 'missing' | 'build' | 'if_not_present';
  privileged?: boolean;
  tty?: boolean;
  stdin_open?: boolean;
  mac_address?: string;
  network_mode?: string;
}

export interface NetworkConfig {
  name: string;
  external: boolean;
  internal: boolean;
  driver?: string;
  labels: Record<string, string>;
  subnet?: string;
  gateway?: string;
}

export interface VolumeConfig {
  name: string;
  external: boolean;
  labels: Record<string, string>;
  driver?: string;
}

export interface FileObjectConfig {
  name: string;
  file?: string;
  environment?: string;
  content?: string;
  external: boolean;
}

export interface Project {
  name: string;
  workingDir: string;
  services: Record<string, Service>;
  networks: Record<string, NetworkConfig>;
  volumes: Record<string, VolumeConfig>;
  secrets: Record<string, FileObjectConfig>;
  configs: Record<string, FileObjectConfig>;
}

/** What the engine honours; any other key of a service is a warning. */
const SERVICE_KEYS = new Set([
  'image', 'build', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'expose', 'volumes', 'tmpfs', 'networks',
  'depends_on', 'healthcheck', 'restart', 'deploy', 'user', 'working_dir', 'hostname', 'domainname', 'labels', 'stop_signal',
  'stop_grace_period', 'init', 'read_only', 'cap_add', 'cap_drop', 'extra_hosts', 'dns', 'dns_search', 'secrets', 'configs',
  'container_name', 'scale', 'profiles', 'pull_policy', 'privileged', 'tty', 'stdin_open', 'mac_address', 'network_mode',
  'mem_limit', 'cpus', 'pids_limit', 'extends',
]);
const DEPLOY_KEYS = new Set(['replicas', 'resources', 'restart_policy', 'labels']);
const TOP_KEYS = new Set(['name', 'version', 'services', 'networks', 'volumes', 'secrets', 'configs', 'include']);

class Checker {
  constructor(readonly warnings: string[]) {}
  warn(path: string, message: string): void {
    const line = `${path}: ${message}`;
    if (!this.warnings.includes(line)) this.warnings.push(line);
  }
  str(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new ComposeError(path, 'must be a string');
  }
  bool(v: unknown, path: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    throw new ComposeError(path, 'must be true or false');
  }
  int(v: unknown, path: string, min = 0): number | undefined {
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min) throw new ComposeError(path, `must be an integer of at least ${min}`);
    return n;
  }
  duration(v: unknown, path: string): string | undefined {
    const s = this.str(v, path);
    if (s !== undefined && parseDuration(s) === undefined) throw new ComposeError(path, `invalid duration ${JSON.stringify(s)} (e.g. 30s, 1m30s)`);
    return s;
  }
  strings(v: unknown, path: string): string[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new ComposeError(path, 'must be a list');
    return v.map((x, i) => this.str(x, `${path}[${i}]`)!);
  }
  command(v: unknown, path: string): string[] | string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    return this.strings(v, path);
  }
  stringMap(v: unknown, path: string): Record<string, string> {
    if (v === undefined || v === null) return {};
    if (!isMapping(v)) throw new ComposeError(path, 'must be a mapping');
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = this.str(x, `${path}.${k}`)!;
    return out;
  }
}

/** Bytes from "512m", "1g", "1024", "100kb"; compose's byte units. */
export function parseBytes(v: unknown, path: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.floor(v);
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(String(v).trim());
  if (!m) throw new ComposeError(path, `invalid size ${JSON.stringify(v)} (e.g. 512m, 1g)`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()]!;
  return Math.floor(Number(m[1]) * unit);
}

function fileReferences(c: Checker, v: unknown, path: string, known: Record<string, unknown>, kind: string): FileReference[] {
  if (v === undefined) return [];
  return (v as Raw[]).map((r, i) => {
    const p = `${path}[${i}]`;
    const source = c.str(r.source, `${p}.source`)!;
    if (!(source in known)) throw new ComposeError(p, `${kind} ${JSON.stringify(source)} is not defined in the top-level ${kind}s`);
    const ref: FileReference = { source };
    const target = c.str(r.target, `${p}.target`);
    if (target) ref.target = target;
    for (const k of ['uid', 'gid'] as const) if (r[k] !== undefined) ref[k] = c.str(r[k], `${p}.${k}`);
    if (r.mode !== undefined) ref.mode = typeof r.mode === 'string' ? parseInt(r.mode, 8) : c.int(r.mode, `${p}.mode`);
    return ref;
  });
}

function healthcheck(c: Checker, v: unknown, path: string): Healthcheck | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isMapping(v)) throw new ComposeError(path, 'must be a mapping');
  const h: Healthcheck = {};
  if (v.test !== undefined) {
    const test = c.strings(v.test, `${path}.test`);
    if (!['CMD', 'CMD-SHELL', 'NONE'].includes(test[0] ?? '')) throw new ComposeError(`${path}.test`, 'must start with CMD, CMD-SHELL or NONE (or be a string)');
    h.test = test;
  }
  for (const k of ['interval', 'timeout', 'start_period', 'start_interval'] as const) {
    const d = c.duration(v[k], `${path}.${k}`);
    if (d !== undefined) h[k] = d;
  }
  const retries = c.int(v.retries, `${path}.retries`);
  if (retries !== undefined) h.retries = retries;
  if (c.bool(v.disable, `${path}.disable`)) h.disable = true;
  for (const k of Object.keys(v)) if (!['test', 'interval', 'timeout', 'start_period', 'start_interval', 'retries', 'disable'].includes(k)) c.warn(`${path}.${k}`, 'unknown key, ignored');
  return h;
}

function deploy(c: Checker, s: Service, v: unknown, path: string): void {
  if (v === undefined || v === null) return;
  if (!isMapping(v)) throw new ComposeError(path, 'must be a mapping');
  for (const k of Object.keys(v)) if (!DEPLOY_KEYS.has(k)) c.warn(`${path}.${k}`, 'not supported by a single-host engine, ignored');
  const replicas = c.int(v.replicas, `${path}.replicas`);
  if (replicas !== undefined) s.replicas = replicas;
  if (v.resources !== undefined) {
    const r = v.resources;
    if (!isMapping(r)) throw new ComposeError(`${path}.resources`, 'must be a mapping');
    for (const k of Object.keys(r)) if (k !== 'limits') c.warn(`${path}.resources.${k}`, 'not enforced, ignored');
    if (r.limits !== undefined) {
      const l = r.limits;
      if (!isMapping(l)) throw new ComposeError(`${path}.resources.limits`, 'must be a mapping');
      for (const k of Object.keys(l)) if (!['cpus', 'memory', 'pids'].includes(k)) c.warn(`${path}.resources.limits.${k}`, 'not supported, ignored');
      if (l.cpus !== undefined) {
        const cpus = Number(l.cpus);
        if (!Number.isFinite(cpus) || cpus <= 0) throw new ComposeError(`${path}.resources.limits.cpus`, 'must be a positive number');
        s.limits.cpus = cpus;
      }
      const memory = parseBytes(l.memory, `${path}.resources.limits.memory`);
      if (memory !== undefined) s.limits.memory = memory;
      const pids = c.int(l.pids, `${path}.resources.limits.pids`, 1);
      if (pids !== undefined) s.limits.pids = pids;
    }
  }
  if (v.restart_policy !== undefined) {
    const r = v.restart_policy;
    if (!isMapping(r)) throw new ComposeError(`${path}.restart_policy`, 'must be a mapping');
    const p: RestartPolicy = {};
    const condition = c.str(r.condition, `${path}.restart_policy.condition`);
    if (condition !== undefined) {
      if (!['none', 'on-failure', 'any'].includes(condition)) throw new ComposeError(`${path}.restart_policy.condition`, 'must be none, on-failure or any');
      p.condition = condition as RestartPolicy['condition'];
    }
    const delay = c.duration(r.delay, `${path}.restart_policy.delay`);
    if (delay) p.delay = delay;
    const max = c.int(r.max_attempts, `${path}.restart_policy.max_attempts`);
    if (max !== undefined) p.max_attempts = max;
    const window = c.duration(r.window, `${path}.restart_policy.window`);
    if (window) p.window = window;
    s.restart_policy = p;
  }
}

function service(c: Checker, name: string, raw: Raw, top: { networks: Record<string, unknown>; volumes: Record<string, unknown>; secrets: Raw; configs: Raw }): Service {
  const path = `services.${name}`;
  for (const k of Object.keys(raw)) if (!SERVICE_KEYS.has(k) && !k.startsWith('x-')) c.warn(`${path}.${k}`, 'unknown or unsupported key, ignored');
  const s: Service = {
    name,
    environment: {},
    ports: (raw.ports as PortConfig[] | undefined) ?? [],
    expose: c.strings(raw.expose, `${path}.expose`),
    volumes: (raw.volumes as VolumeMount[] | undefined) ?? [],
    tmpfs: c.strings(raw.tmpfs, `${path}.tmpfs`),
    networks: {},
    depends_on: {},
    replicas: 1,
    limits: {},
    labels: c.stringMap(raw.labels, `${path}.labels`),
    cap_add: c.strings(raw.cap_add, `${path}.cap_add`),
    cap_drop: c.strings(raw.cap_drop, `${path}.cap_drop`),
    extra_hosts: c.stringMap(raw.extra_hosts, `${path}.extra_hosts`),
    dns: c.strings(raw.dns, `${path}.dns`),
    dns_search: c.strings(raw.dns_search, `${path}.dns_search`),
    secrets: fileReferences(c, raw.secrets, `${path}.secrets`, top.secrets, 'secret'),
    configs: fileReferences(c, raw.configs, `${path}.configs`, top.configs, 'config'),
    profiles: c.strings(raw.profiles, `${path}.profiles`),
  };
  for (const k of ['image', 'user', 'working_dir', 'hostname', 'domainname', 'stop_signal', 'container_name', 'mac_address', 'network_mode'] as const) {
    const v = c.str(raw[k], `${path}.${k}`);
    if (v !== undefined) s[k] = v;
  }
  if (s.container_name !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(s.container_name)) throw new ComposeError(`${path}.container_name`, `invalid container name ${JSON.stringify(s.container_name)}`);
  for (const k of ['init', 'read_only', 'privileged', 'tty', 'stdin_open'] as const) {
    const v = c.bool(raw[k], `${path}.${k}`);
    if (v !== undefined) s[k] = v;
  }
  const cmd = c.command(raw.command, `${path}.command`);
  if (cmd !== undefined) s.command = cmd;
  const ep = c.command(raw.entrypoint, `${path}.entrypoint`);
  if (ep !== undefined) s.entrypoint = ep;
  const grace = c.duration(raw.stop_grace_period, `${path}.stop_grace_period`);
  if (grace) s.stop_grace_period = grace;
  if (raw.restart !== undefined) {
    const r = c.str(raw.restart, `${path}.restart`)!;
    if (!/^(no|always|unless-stopped|on-failure(:\d+)?)$/.test(r)) throw new ComposeError(`${path}.restart`, 'must be no, always, on-failure[:N] or unless-stopped');
    s.restart = r as Service['restart'];
  }
  if (raw.pull_policy !== undefined) {
    const p = c.str(raw.pull_policy, `${path}.pull_policy`)!;
    if (!['always', 'never', 'missing', 'build', 'if_not_present'].includes(p)) throw new ComposeError(`${path}.pull_policy`, 'must be always, never, missing or build');
    s.pull_policy = p as Service['pull_policy'];
  }
  if (raw.build !== undefined) {
    const b = raw.build as Raw;
    const build: BuildConfig = { context: String(b.context), args: c.stringMap(b.args, `${path}.build.args`), labels: c.stringMap(b.labels, `${path}.build.labels`) };
    for (const k of ['dockerfile', 'dockerfile_inline', 'target', 'network'] as const) {
      const v = c.str(b[k], `${path}.build.${k}`);
      if (v !== undefined) build[k] = v;
    }
    if (b.secrets !== undefined) {
      const refs = (Array.isArray(b.secrets) ? b.secrets : [b.secrets]).map((x) => (typeof x === 'string' ? { source: x } : x));
      build.secrets = fileReferences(c, refs, `${path}.build.secrets`, top.secrets, 'secret');
    }
    for (const k of ['no_cache', 'pull'] as const) {
      const v = c.bool(b[k], `${path}.build.${k}`);
      if (v !== undefined) build[k] = v;
    }
    if (b.tags !== undefined) build.tags = c.strings(b.tags, `${path}.build.tags`);
    if (b.platforms !== undefined) build.platforms = c.strings(b.platforms, `${path}.build.platforms`);
    for (const k of Object.keys(b)) {
      if (!['context', 'dockerfile', 'dockerfile_inline', 'args', 'target', 'labels', 'secrets', 'network', 'no_cache', 'pull', 'tags', 'platforms'].includes(k)) c.warn(`${path}.build.${k}`, 'not supported, ignored');
    }
    s.build = build;
  }
  if (s.image === undefined && s.build === undefined) throw new ComposeError(path, 'has neither an image nor a build');
  const hc = healthcheck(c, raw.healthcheck, `${path}.healthcheck`);
  if (hc) s.healthcheck = hc;
  // Legacy attributes that compose still accepts: they set the same limits as deploy.resources.
  if (raw.mem_limit !== undefined) s.limits.memory = parseBytes(raw.mem_limit, `${path}.mem_limit`);
  if (raw.cpus !== undefined) s.limits.cpus = Number(raw.cpus);
  if (raw.pids_limit !== undefined) s.limits.pids = c.int(raw.pids_limit, `${path}.pids_limit`, 1);
  deploy(c, s, raw.deploy, `${path}.deploy`);
  if (raw.scale !== undefined) s.replicas = c.int(raw.scale, `${path}.scale`)!;
  for (const [i, p] of s.ports.entries()) if (p.mode && p.mode !== 'ingress' && p.mode !== 'host') c.warn(`${path}.ports[${i}].mode`, `unknown mode ${JSON.stringify(p.mode)}, ignored`);
  for (const [i, v] of s.volumes.entries()) {
    if (v.type === 'volume' && v.source !== undefined && !(v.source in top.volumes)) {
      throw new ComposeError(`${path}.volumes[${i}]`, `named volume ${JSON.stringify(v.source)} is not declared in the top-level volumes`);
    }
  }
  if (s.network_mode === undefined) {
    const nets = (raw.networks as Raw | undefined) ?? { default: null };
    for (const [net, cfg] of Object.entries(nets)) {
      if (!(net in top.networks)) throw new ComposeError(`${path}.networks`, `network ${JSON.stringify(net)} is not declared in the top-level networks`);
      const np = `${path}.networks.${net}`;
      const n: ServiceNetwork = { aliases: [] };
      if (isMapping(cfg)) {
        n.aliases = c.strings(cfg.aliases, `${np}.aliases`);
        const v4 = c.str(cfg.ipv4_address, `${np}.ipv4_address`);
        if (v4) n.ipv4_address = v4;
        const v6 = c.str(cfg.ipv6_address, `${np}.ipv6_address`);
        if (v6) n.ipv6_address = v6;
        for (const k of Object.keys(cfg)) if (!['aliases', 'ipv4_address', 'ipv6_address'].includes(k)) c.warn(`${np}.${k}`, 'not supported, ignored');
      } else if (cfg !== null && cfg !== undefined) throw new ComposeError(np, 'must be a mapping');
      s.networks[net] = n;
    }
  } else if (raw.networks !== undefined) throw new ComposeError(`${path}.networks`, 'cannot be used with network_mode');
  if (raw.depends_on !== undefined) s.depends_on = raw.depends_on as Record<string, Dependency>;
  return s;
}

function topLevel<T>(c: Checker, v: unknown, key: string, project: string, make: (name: string, raw: Raw, path: string) => T): Record<string, T> {
  if (v === undefined || v === null) return {};
  if (!isMapping(v)) throw new ComposeError(key, 'must be a mapping');
  const out: Record<string, T> = {};
  for (const [name, raw] of Object.entries(v)) {
    if (raw !== null && raw !== undefined && !isMapping(raw)) throw new ComposeError(`${key}.${name}`, 'must be a mapping');
    out[name] = make(name, (raw as Raw | null) ?? {}, `${key}.${name}`);
  }
  void c;
  void project;
  return out;
}

/** Checks a merged canonical tree whose services' environments are resolved, into the model. */
export function toProject(tree: Raw, name: string, workingDir: string, warnings: string[]): Project {
  const c = new Checker(warnings);
  for (const k of Object.keys(tree)) if (!TOP_KEYS.has(k) && !k.startsWith('x-')) c.warn(k, 'unknown top-level key, ignored');
  if (tree.version !== undefined) c.warn('version', 'is obsolete, ignored');
  if (tree.include !== undefined) c.warn('include', 'is not supported, ignored');
  const external = (raw: Raw, path: string) => c.bool(isMapping(raw.external) ? true : raw.external, `${path}.external`) ?? false;
  const networks = topLevel(c, tree.networks, 'networks', name, (key, raw, path) => {
    const ext = external(raw, path);
    const ipam = isMapping(raw.ipam) ? raw.ipam : {};
    const config = Array.isArray(ipam.config) && isMapping(ipam.config[0]) ? (ipam.config[0] as Raw) : {};
    const n: NetworkConfig = {
      name: c.str(raw.name, `${path}.name`) ?? (ext ? key : `${name}_${key}`),
      external: ext,
      internal: c.bool(raw.internal, `${path}.internal`) ?? false,
      labels: c.stringMap(raw.labels, `${path}.labels`),
    };
    const driver = c.str(raw.driver, `${path}.driver`);
    if (driver) {
      if (driver !== 'bridge') c.warn(`${path}.driver`, `driver ${JSON.stringify(driver)} is not supported, a bridge is used`);
      n.driver = driver;
    }
    const subnet = c.str(config.subnet, `${path}.ipam.config[0].subnet`);
    if (subnet) n.subnet = subnet;
    const gateway = c.str(config.gateway, `${path}.ipam.config[0].gateway`);
    if (gateway) n.gateway = gateway;
    return n;
  });
  if (!('default' in networks)) networks.default = { name: `${name}_default`, external: false, internal: false, labels: {} };
  const volumes = topLevel(c, tree.volumes, 'volumes', name, (key, raw, path) => {
    const ext = external(raw, path);
    const v: VolumeConfig = { name: c.str(raw.name, `${path}.name`) ?? (ext ? key : `${name}_${key}`), external: ext, labels: c.stringMap(raw.labels, `${path}.labels`) };
    const driver = c.str(raw.driver, `${path}.driver`);
    if (driver && driver !== 'local') c.warn(`${path}.driver`, `driver ${JSON.stringify(driver)} is not supported, the local driver is used`);
    if (driver) v.driver = driver;
    return v;
  });
  const fileObject = (kind: string) => (key: string, raw: Raw, path: string): FileObjectConfig => {
    const f: FileObjectConfig = { name: c.str(raw.name, `${path}.name`) ?? `${name}_${key}`, external: external(raw, path) };
    for (const k of ['file', 'environment', 'content'] as const) {
      const v = c.str(raw[k], `${path}.${k}`);
      if (v !== undefined) f[k] = v;
    }
    if (!f.external && f.file === undefined && f.environment === undefined && f.content === undefined) throw new ComposeError(path, `a ${kind} needs a file, an environment variable or content`);
    return f;
  };
  const secrets = topLevel(c, tree.secrets, 'secrets', name, fileObject('secret'));
  const configs = topLevel(c, tree.configs, 'configs', name, fileObject('config'));
  const servicesRaw = tree.services;
  if (servicesRaw !== undefined && !isMapping(servicesRaw)) throw new ComposeError('services', 'must be a mapping');
  const services: Record<string, Service> = {};
  for (const [sname, raw] of Object.entries(servicesRaw ?? {})) {
    if (!/^[a-zA-Z0-9._-]+$/.test(sname)) throw new ComposeError(`services.${sname}`, 'invalid service name');
    services[sname] = service(c, sname, raw as Raw, { networks, volumes, secrets: secrets as unknown as Raw, configs: configs as unknown as Raw });
    services[sname]!.environment = (raw as Raw).environment as Record<string, string>;
  }
  for (const s of Object.values(services)) {
    for (const dep of Object.keys(s.depends_on)) {
      if (!(dep in services)) {
        if (s.depends_on[dep]!.required) throw new ComposeError(`services.${s.name}.depends_on`, `depends on undefined service ${JSON.stringify(dep)}`);
        delete s.depends_on[dep];
      }
    }
  }
  return { name, workingDir, services, networks, volumes, secrets, configs };
}
