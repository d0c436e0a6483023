// The runtime-spec config.json (opencontainers/runtime-spec config.md) of a container, with
// Docker's defaults: capabilities, masked and read-only paths, the standard mounts.
import type { ResolvedUser } from './user.js';

export interface BindMount {
  source: string;
  destination: string;
  readOnly: boolean;
}

/** A tmpfs at destination (--tmpfs, --mount type=tmpfs), with mount(8) options. */
export interface TmpfsMount {
  destination: string;
  options: string[];
}

export interface Resources {
  /** Bytes. */
  memory?: number;
  /** Also limit memory+swap (needs the memory controller's swap accounting). */
  memorySwap?: number;
  /** CPUs, fractional. */
  cpus?: number;
  pidsLimit?: number;
}

export interface SpecInput {
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
  terminal: boolean;
  hostname: string;
  /** none: a new namespace (runc's, lo only); host: the host's; { path }: join that namespace file. */
  network: 'none' | 'host' | { path: string };
  /** runtime-spec hooks (engine/network/ready-gate.ts's, for a bridge-mode container). */
  hooks?: Record<string, unknown>;
  readOnly: boolean;
  /**
   * The root filesystem's overlay options (overlay.ts overlayOptions) when the runtime mounts it
   * itself, as the first mount, at / in the container's own mount namespace (root.path is then an
   * empty directory): nothing on the host to mount before a start or unmount after the exit.
   * Absent: root.path is the overlay already mounted on the host.
   */
  rootfsOverlay?: string[];
  binds: BindMount[];
  tmpfs?: TmpfsMount[];
  /** Host files bind-mounted over /etc/hosts, /etc/hostname, /etc/resolv.conf. */
  etc: { hosts: string; hostname: string; resolvConf: string };
  resources: Resources;
  /** The caller's hard RLIMIT_NOFILE: a runtime may not raise a limit above it. */
  nofileHard: number;
  /** The process's capabilities (capabilitiesFor); default docker's set. */
  capabilities?: string[];
}

// Docker's default capability set (moby oci/caps/defaults.go).
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

// Every capability runc knows (capability(7) up to CAP_CHECKPOINT_RESTORE): what `ALL` means.
const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** `NET_ADMIN`, `cap_net_admin` or `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; `ALL` stays. Unknown names are refused. */
function capabilityName(text: string): string {
  const up = text.trim().toUpperCase();
  if (up === 'ALL') return up;
  const name = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!ALL_CAPABILITIES.includes(name)) throw new Error(`unknown capability: ${JSON.stringify(text)}`);
  return name;
}

/**
 * docker's --cap-add/--cap-drop on its default set: drops first (ALL drops every default), then
 * additions (ALL adds every capability). Throws on an unknown name.
 */
export function capabilitiesFor(add: readonly string[] = [], drop: readonly string[] = []): string[] {
  const adds = add.map(capabilityName);
  const drops = drop.map(capabilityName);
  let caps = drops.includes('ALL') ? [] : DEFAULT_CAPABILITIES.filter((c) => !drops.includes(c));
  if (adds.includes('ALL')) caps = [...ALL_CAPABILITIES];
  else for (const c of adds) if (!caps.includes(c)) caps.push(c);
  return caps;
}

// moby oci/defaults.go
export const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const CPU_PERIOD = 100_000;
/** Docker's file descriptor limit for containers, lowered to what the caller may grant. */
const NOFILE = 1_048_576;

export function buildSpec(input: SpecInput): Record<string, unknown> {
  const nofile = Math.min(NOFILE, input.nofileHard);
  const mounts: Record<string, unknown>[] = [
    ...(input.rootfsOverlay ? [{ destination: '/', type: 'overlay', source: 'overlay', options: input.rootfsOverlay }] : []),
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: input.etc.resolvConf, options: ['rbind', 'rprivate'] },
    { destination: '/etc/hostname', type: 'bind', source: input.etc.hostname, options: ['rbind', 'rprivate'] },
    { destination: '/etc/hosts', type: 'bind', source: input.etc.hosts, options: ['rbind', 'rprivate'] },
    ...[
      ...input.binds.map((b) => ({ destination: b.destination, type: 'bind', source: b.source, options: ['rbind', 'rprivate', ...(b.readOnly ? ['ro'] : [])] })),
      ...(input.tmpfs ?? []).map((t) => ({ destination: t.destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', ...t.options.filter((o) => !['exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev'].includes(o)), ...t.options.filter((o) => ['exec', 'suid', 'dev'].includes(o))] })),
    ].sort((a, b) => a.destination.split('/').length - b.destination.split('/').length),
  ];
  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, ...(input.network === 'host' ? [] : [input.network === 'none' ? { type: 'network' } : { type: 'network', path: input.network.path }])];
  const resources: Record<string, unknown> = { devices: [{ allow: false, access: 'rwm' }] };
  if (input.resources.memory !== undefined) {
    resources.memory = { limit: input.resources.memory, ...(input.resources.memorySwap !== undefined ? { swap: input.resources.memorySwap } : {}) };
  }
  if (input.resources.cpus !== undefined) resources.cpu = { quota: Math.round(input.resources.cpus * CPU_PERIOD), period: CPU_PERIOD };
  if (input.resources.pidsLimit !== undefined) resources.pids = { limit: input.resources.pidsLimit };
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: input.terminal,
      user: { uid: input.user.uid, gid: input.user.gid, ...(input.user.additionalGids.length ? { additionalGids: input.user.additionalGids } : {}) },
      args: input.args,
      env: input.env,
      cwd: input.cwd,
      capabilities: {
        bounding: input.capabilities ?? DEFAULT_CAPABILITIES,
        effective: input.capabilities ?? DEFAULT_CAPABILITIES,
        permitted: input.capabilities ?? DEFAULT_CAPABILITIES,
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }],
      noNewPrivileges: false,
    },
    root: { path: 'rootfs', readonly: input.readOnly },
    ...(input.hooks ? { hooks: input.hooks } : {}),
    hostname: input.hostname,
    mounts,
    linux: {
      resources,
      namespaces,
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}

/** The process environment: the image's, then the user's, PATH and HOME defaulted like Docker. */
export function mergeEnv(imageEnv: string[], userEnv: string[], defaults: { hostname: string; home: string; terminal: boolean }): string[] {
  const env = new Map<string, string>();
  const put = (kv: string) => {
    const i = kv.indexOf('=');
    if (i > 0) env.set(kv.slice(0, i), kv);
  };
  put(`PATH=${DEFAULT_PATH}`);
  put(`HOSTNAME=${defaults.hostname}`);
  if (defaults.terminal) put('TERM=xterm');
  imageEnv.forEach(put);
  userEnv.forEach(put);
  if (!env.has('HOME')) put(`HOME=${defaults.home}`);
  return [...env.values()];
}

/** Docker's rules: --entrypoint replaces the image's Entrypoint and drops its Cmd; arguments after IMAGE replace Cmd. */
export function processArgs(image: { Entrypoint?: string[] | null; Cmd?: string[] | null }, entrypoint: string | undefined, cmd: string[]): string[] {
  const ep = entrypoint !== undefined ? (entrypoint === '' ? [] : [entrypoint]) : (image.Entrypoint ?? []);
  const args = cmd.length > 0 ? cmd : entrypoint !== undefined ? [] : (image.Cmd ?? []);
  return [...ep, ...args];
}

/** The caller's hard limit on open files, from /proc/self/limits (Node has no getrlimit). */
export function parseNofileHard(limits: string): number {
  const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
  const hard = line?.trim().split(/\s+/)[4];
  if (!hard || hard === 'unlimited') return NOFILE;
  const n = Number(hard);
  return Number.isFinite(n) && n > 0 ? n : 1024;
}
