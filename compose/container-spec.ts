// One replica of a service as the engine's CreateOptions: the compose attributes mapped onto what
// `stevedore run` would be given, plus the compose labels. Pure: names of networks and volumes
// come from the model, the container a `network_mode: service:X` joins from the caller.
import { resolve } from 'node:path';
import type { CreateOptions } from '../engine/containers/create-container.js';
import type { HealthFlags } from '../engine/containers/health.js';
import { parseRestartPolicy, type RestartPolicy } from '../engine/containers/restart-policy.js';
import type { MountRequest } from '../engine/volumes/mount-options.js';
import { parseTmpfsFlag } from '../engine/volumes/mount-options.js';
import type { PortRequest } from '../engine/network/ports.js';
import { digestOf } from '../oci/index.js';
import { ComposeError } from './errors.js';
import { LABEL } from './labels.js';
import type { Project, Service } from './model.js';
import { shellQuote, shellWords } from './shell-words.js';
import { parseDuration } from '../util/duration.js';

/** `PROJECT-SERVICE-N`, or the service's container_name. */
export function containerName(project: Project, service: Service, number: number): string {
  return service.container_name ?? `${project.name}-${service.name}-${number}`;
}

/** The image a service runs: its `image`, else the name compose gives what it builds. */
export function imageName(project: Project, service: Service): string {
  return service.image ?? `${project.name}-${service.name}`;
}

/** The service's definition as it matters for its containers; a change means "recreate". */
export function configHash(service: Service): string {
  // replicas only changes how many there are, profiles only whether it runs: neither recreates.
  const { replicas: _r, profiles: _p, ...rest } = service;
  void _r;
  void _p;
  return digestOf(stableJson(rest)).slice('sha256:'.length);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export interface ContainerSpec {
  name: string;
  image: string;
  create: CreateOptions;
  /** The stop signal and grace period `stop`/`down` use. */
  stopSignal?: string;
  stopTimeoutSeconds: number;
}

function restartPolicy(s: Service): RestartPolicy | undefined {
  if (s.restart !== undefined) return parseRestartPolicy(s.restart);
  const p = s.restart_policy;
  if (!p) return undefined;
  if (p.condition === 'none') return { name: 'no' };
  if (p.condition === 'on-failure') return { name: 'on-failure', ...(p.max_attempts !== undefined ? { maxRetries: p.max_attempts } : {}) };
  return { name: 'always' };
}

function ports(s: Service): PortRequest[] {
  const out: PortRequest[] = [];
  for (const p of s.ports) {
    // A published range for one container port: its first port (as `run -p` does).
    const lo = Number((p.published ?? '0').split('-')[0]);
    out.push({ hostIP: p.host_ip ?? '', hostPort: lo, containerPort: p.target, protocol: p.protocol });
  }
  return out;
}

function mounts(project: Project, s: Service, path: string): MountRequest[] {
  const out: MountRequest[] = [];
  for (const [i, v] of s.volumes.entries()) {
    const dest = v.target.replace(/\/+$/, '') || '/';
    if (v.type === 'bind') out.push({ type: 'bind', source: v.source!, destination: dest, readOnly: !!v.read_only, create: v.bind?.create_host_path !== false });
    else if (v.type === 'tmpfs') {
      const opts = [v.tmpfs?.size !== undefined ? `size=${v.tmpfs.size}` : '', v.tmpfs?.mode !== undefined ? `mode=${v.tmpfs.mode.toString(8)}` : ''].filter(Boolean);
      out.push(parseTmpfsFlag(`${dest}${opts.length ? `:${opts.join(',')}` : ''}`));
    } else if (v.source === undefined) out.push({ type: 'volume', destination: dest, readOnly: !!v.read_only, noCopy: !!v.volume?.nocopy });
    else {
      const vol = project.volumes[v.source];
      if (!vol) throw new ComposeError(`${path}.volumes[${i}]`, `named volume ${JSON.stringify(v.source)} is not declared in the top-level volumes`);
      out.push({ type: 'volume', name: vol.name, destination: dest, readOnly: !!v.read_only, noCopy: !!v.volume?.nocopy });
    }
  }
  for (const t of s.tmpfs) out.push(parseTmpfsFlag(t));
  // secrets and configs with a file source: that file, read-only, where compose puts it.
  for (const [refs, objects, dir] of [
    [s.secrets, project.secrets, '/run/secrets/'],
    [s.configs, project.configs, '/'],
  ] as const) {
    for (const r of refs) {
      const o = objects[r.source];
      if (!o?.file) continue;
      const target = r.target ? (r.target.startsWith('/') ? r.target : `${dir}${r.target}`) : `${dir}${r.source}`;
      out.push({ type: 'bind', source: resolve(project.workingDir, o.file), destination: target, readOnly: true, create: false });
    }
  }
  return out;
}

function health(s: Service): HealthFlags | undefined {
  const h = s.healthcheck;
  if (!h) return undefined;
  if (h.disable || h.test?.[0] === 'NONE') return { healthcheck: false };
  const flags: HealthFlags = {};
  if (h.test) flags.healthCmd = h.test[0] === 'CMD-SHELL' ? h.test.slice(1).join(' ') : shellQuote(h.test.slice(1));
  if (h.interval) flags.healthInterval = h.interval;
  if (h.timeout) flags.healthTimeout = h.timeout;
  if (h.retries !== undefined) flags.healthRetries = String(h.retries);
  if (h.start_period) flags.healthStartPeriod = h.start_period;
  return flags;
}

function words(v: string[] | string, path: string): string[] {
  return typeof v === 'string' ? shellWords(v, path) : v;
}

/**
 * The service's attributes the engine cannot honour when it makes its containers: one line each,
 * naming the key path (printed as `WARN` lines, like the model's ignored keys, and then ignored).
 */
export function engineWarnings(project: Project, s: Service): string[] {
  const path = `services.${s.name}`;
  const warnings: string[] = [];
  const warn = (key: string, what = 'is not supported by the engine, ignored') => warnings.push(`${path}.${key}: ${what}`);
  for (const k of ['dns_search'] as const) if (s[k].length) warn(k);
  for (const k of ['privileged', 'stdin_open', 'domainname'] as const) if (s[k]) warn(k);
  if (s.healthcheck?.start_interval) warn('healthcheck.start_interval');
  if (s.restart_policy?.delay || s.restart_policy?.window) warn('deploy.restart_policy', "delay and window are not supported (docker's backoff is used)");
  for (const [k, refs, defs] of [['secrets', s.secrets, project.secrets], ['configs', s.configs, project.configs]] as const) {
    for (const r of refs) {
      if (!defs[r.source]?.file) warn(k, `${r.source}: only file sources are supported, ignored`);
      else if (r.uid || r.gid || r.mode !== undefined) warn(k, `${r.source}: uid, gid and mode are not supported (the file is mounted read-only as it is)`);
    }
  }
  for (const [h, ip] of Object.entries(s.extra_hosts)) if (ip.split(',').includes('host-gateway')) warn(`extra_hosts.${h}`, 'host-gateway is not supported, ignored');
  if ((s.network_mode === 'host' || s.network_mode === 'none') && s.ports.length) warn('ports', `ignored with network_mode ${s.network_mode}`);
  for (const [k, n] of Object.entries(s.networks)) if (n.ipv6_address) warn(`networks.${k}.ipv6_address`);
  if (s.replicas > 1 && s.ports.some((p) => p.published && !p.published.includes('-'))) warn('ports', 'a fixed host port can be published by one replica only; the others will fail to start');
  return warnings;
}

/**
 * The container of replica `number` of a service. `containerOf` names the container a
 * `network_mode: service:X` or `container:X` joins (its id).
 */
export function containerSpec(project: Project, service: Service, number: number, opts: { containerOf?: (ref: string) => string | undefined; oneoff?: { name: string; command?: string[] } } = {}): ContainerSpec {
  const s = service;
  const path = `services.${s.name}`;
  // Entrypoint: the engine takes one program (docker's --entrypoint) and the rest as arguments.
  let entrypoint: string | undefined;
  let cmd: string[] = [];
  const command = opts.oneoff?.command ?? (s.command !== undefined ? words(s.command, `${path}.command`) : undefined);
  if (s.entrypoint !== undefined) {
    const ep = words(s.entrypoint, `${path}.entrypoint`);
    entrypoint = ep[0] ?? '';
    cmd = [...ep.slice(1), ...(command ?? [])];
  } else if (command !== undefined) cmd = command;

  const name = opts.oneoff?.name ?? containerName(project, s, number);
  let network: 'none' | 'host' = 'none';
  let networking: CreateOptions['networking'];
  const mode = s.network_mode;
  const addHosts: string[] = [];
  for (const [h, ip] of Object.entries(s.extra_hosts)) {
    for (const one of ip.split(',')) if (one !== 'host-gateway') addHosts.push(`${h}:${one}`);
  }
  if (mode === 'host' || mode === 'none') {
    network = mode;
  } else if (mode && (mode.startsWith('service:') || mode.startsWith('container:'))) {
    const ref = mode.slice(mode.indexOf(':') + 1);
    const id = opts.containerOf?.(mode.startsWith('service:') ? `service:${ref}` : ref);
    if (!id) throw new ComposeError(`${path}.network_mode`, `${mode}: no such container is running`);
    networking = { mode: 'container', networks: [], container: id, aliases: [], ports: [], dns: [], addHosts: [] };
  } else if (mode !== undefined && mode !== 'bridge' && mode !== 'default') {
    throw new ComposeError(`${path}.network_mode`, `unsupported network_mode ${JSON.stringify(mode)} (host, none, bridge, service:NAME or container:NAME)`);
  } else {
    const keys = mode ? [] : Object.keys(s.networks);
    const first = keys[0];
    const netName = (k: string) => project.networks[k]?.name ?? k;
    // Every replica answers to the service name (and its own container name) on each network.
    const aliasesOn = (k: string) => [...new Set([s.name, ...(s.networks[k]?.aliases ?? [])])];
    const endpoints: Record<string, { aliases: string[]; ip?: string }> = {};
    for (const k of keys.slice(1)) endpoints[netName(k)] = { aliases: aliasesOn(k), ...(s.networks[k]?.ipv4_address ? { ip: s.networks[k]!.ipv4_address } : {}) };
    networking = {
      mode: 'bridge',
      networks: first ? keys.map(netName) : ['bridge'],
      aliases: first ? aliasesOn(first) : [],
      ...(first && s.networks[first]?.ipv4_address ? { ip: s.networks[first]!.ipv4_address } : {}),
      ...(s.mac_address ? { mac: s.mac_address.toLowerCase() } : {}),
      // A one-off `run` container publishes nothing (docker compose run without --service-ports).
      ports: opts.oneoff ? [] : ports(s),
      dns: s.dns,
      addHosts,
      ...(Object.keys(endpoints).length ? { endpoints } : {}),
    } as CreateOptions['networking'];
  }
  const restart = opts.oneoff ? undefined : restartPolicy(s);
  const labels: Record<string, string> = {
    ...s.labels,
    [LABEL.project]: project.name,
    [LABEL.service]: s.name,
    [LABEL.number]: String(number),
    [LABEL.oneoff]: opts.oneoff ? 'True' : 'False',
    [LABEL.configHash]: configHash(s),
    [LABEL.workingDir]: project.workingDir,
  };
  const grace = Math.ceil((parseDuration(s.stop_grace_period ?? '10s') ?? 10_000) / 1000);
  const create: CreateOptions = {
    name,
    cmd,
    ...(entrypoint !== undefined ? { entrypoint } : {}),
    env: Object.entries(s.environment).map(([k, v]) => `${k}=${v}`),
    ...(s.working_dir ? { workdir: s.working_dir } : {}),
    ...(s.user ? { user: s.user } : {}),
    ...(s.hostname ? { hostname: s.hostname } : {}),
    network,
    ...(networking ? { networking } : {}),
    mounts: mounts(project, s, path),
    volumesFrom: [],
    readOnly: !!s.read_only,
    ...(s.init ? { init: true } : {}),
    ...(s.cap_add.length ? { capAdd: s.cap_add } : {}),
    ...(s.cap_drop.length ? { capDrop: s.cap_drop } : {}),
    resources: {
      ...(s.limits.memory !== undefined ? { memory: s.limits.memory } : {}),
      ...(s.limits.cpus !== undefined ? { cpus: s.limits.cpus } : {}),
      ...(s.limits.pids !== undefined ? { pidsLimit: s.limits.pids } : {}),
    },
    terminal: !!s.tty,
    detached: !opts.oneoff,
    autoRemove: false,
    ...(restart ? { restart } : {}),
    runtime: 'runc',
    ...(health(s) ? { health: health(s)! } : {}),
    labels,
  };
  return { name, image: imageName(project, s), create, ...(s.stop_signal ? { stopSignal: s.stop_signal } : {}), stopTimeoutSeconds: grace };
}
