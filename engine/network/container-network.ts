// A container's network, set up where its runtime starts and torn down where it stops (so a later
// start sets it up again: the same request, the same published ports). Bridge mode: a namespace
// file with lo up (netns.ts), then per network the CNI list bridge (+host-local IPAM, hairpin)
// [+tuning for --mac-address] [+portmap for -p]; the hosts files of everyone on a user network are
// rewritten (etc-files.ts). What serves a whole network (its bridge, masquerade, forwarding and
// isolation rules: network-rules.ts) is made when it is first used and stays until `network rm` or
// `network prune`, so a start and a stop pay only for what is the container's own.
// Everything here runs under the networks lock (network-store.ts).
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerRecord, ContainerStore } from '../containers/container-store.js';
import { isAlive } from '../process-info.js';
import { addList, CNI_VERSION, checkList, delList, type NetConfList, type PluginConf } from './cni.js';
import { hostsFile, parseAddHost, resolvConf, rewriteInPlace, type HostEntry } from './etc-files.js';
import { NetworkError } from './network-error.js';
import { DEFAULT_NETWORK, NetworkStore, type NetworkRecord } from './network-store.js';
import { bindNetns, createNetns, netnsDir, netnsPath, removeNetns } from './netns.js';
import { ensureNetworkRules, removeNetworkRules } from './network-rules.js';
import { dropPluginLeftovers } from './plugin-leftovers.js';
import { allocatePorts, type PortBinding } from './ports.js';
import { gatePath, hasReadyHook, ReadyGate } from './ready-gate.js';
import { detachable, releaseDetached } from './detached-release.js';
import type { Attachment, NetworkRequest, NetworkState } from './request.js';

export interface NetworkContext {
  root: string;
  store: ContainerStore;
}

export function requestOf(r: ContainerRecord): NetworkRequest | undefined {
  return r.hostConfig.networking as NetworkRequest | undefined;
}

const isLive = (r: ContainerRecord) => r.state === 'running' && isAlive(r.owner);

function ipLink(args: string[]): Promise<void> {
  return new Promise((resolve) => execFile('ip', args, () => resolve()));
}

/** The CNI list of one container on one network. */
export function conflist(net: NetworkRecord, ipamDir: string, o: { mac?: string; ports: PortBinding[] }): NetConfList {
  const plugins: PluginConf[] = [
    {
      type: 'bridge',
      bridge: net.bridge,
      // An internal network has no gateway address on the bridge and no default route. Masquerade
      // is the network's rule (network-rules.ts), not a chain per container.
      isGateway: !net.internal,
      ipMasq: false,
      hairpinMode: true,
      ipam: {
        type: 'host-local',
        ranges: [[{ subnet: net.subnet, gateway: net.gateway }]],
        routes: net.internal ? [] : [{ dst: '0.0.0.0/0' }],
        dataDir: join(ipamDir),
      },
    },
  ];
  if (o.mac) plugins.push({ type: 'tuning', mac: o.mac });
  if (o.ports.length > 0 && !net.internal) {
    plugins.push({
      type: 'portmap',
      // snat: answers to 127.0.0.1 and hairpin (container to its own published port) need masquerade.
      snat: true,
      capabilities: { portMappings: true },
      runtimeConfig: { portMappings: o.ports.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol, ...(p.hostIP ? { hostIP: p.hostIP } : {}) })) },
    });
  }
  return { cniVersion: CNI_VERSION, name: net.name, plugins };
}

function attachmentFrom(net: NetworkRecord, ifName: string, aliases: string[], conf: NetConfList, result: Attachment['result']): Attachment {
  const ifaces = result.interfaces ?? [];
  const idx = ifaces.findIndex((i) => i.name === ifName && i.sandbox);
  const ip = (result.ips ?? []).find((i) => i.interface === idx) ?? result.ips?.[0];
  if (!ip) throw new NetworkError('plugin', `CNI network ${net.name} gave ${ifName} no address`);
  const [addr, prefix] = ip.address.split('/');
  return { network: net.name, ifName, ip: addr!, prefix: Number(prefix), ...(ip.gateway && !net.internal ? { gateway: ip.gateway } : {}), ...(ifaces[idx]?.mac ? { mac: ifaces[idx]!.mac } : {}), aliases, conf, result };
}

async function attach(nets: NetworkStore, id: string, netns: string, net: NetworkRecord, o: { ifName: string; aliases: string[]; ip?: string; mac?: string; ports: PortBinding[] }): Promise<Attachment> {
  await ensureNetworkRules(net);
  const conf = conflist(net, nets.ipamDir, o);
  const result = await addList(conf, { containerId: id, netns, ifName: o.ifName, ...(o.ip ? { args: `IgnoreUnknown=1;IP=${o.ip}` } : {}) });
  return attachmentFrom(net, o.ifName, o.aliases, conf, result);
}

async function detach(id: string, netns: string, a: Attachment): Promise<void> {
  await delList(a.conf, { containerId: id, netns, ifName: a.ifName }, a.result);
}

/** Deletes bridges and their network's rules (network-rules.ts), and what the plugins left for them. */
async function dropBridges(bridges: string[]): Promise<void> {
  if (bridges.length === 0) return;
  await Promise.all(bridges.map((b) => (existsSync(`/sys/class/net/${b}`) ? ipLink(['link', 'del', b]) : undefined)));
  await removeNetworkRules(bridges);
  await dropPluginLeftovers(bridges);
}

/**
 * The bridges (and rules) of networks no running container is on: only `network prune` deletes
 * them (and `network rm` its network's), never the exit of a network's last container. Like
 * docker0 they stay between containers, so a start does not pay for re-creating them (~300 ms of
 * bridge, masquerade and firewall set-up here). The price: an engine root deleted without a
 * `network prune` leaves its bridges and rules on the host (tests prune when they close).
 */
async function dropIdleBridges(ctx: NetworkContext, nets: NetworkStore): Promise<void> {
  const inUse = new Set((await ctx.store.list()).flatMap((r) => r.network?.attachments.map((a) => a.network) ?? []));
  await dropBridges((await nets.list()).filter((n) => !inUse.has(n.name)).map((n) => n.bridge));
}

/** Plugins whose DEL needs nothing inside the namespace (tuning's DEL restores the MAC it kept there). */
const NS_FREE_DEL = new Set(['bridge', 'portmap', 'firewall']);

/**
 * Undoes a state: CNI DEL of every attachment (reverse order), then the namespace file. When
 * nothing else holds the namespace (`alone`: the container's processes are gone, no container
 * shares it), its veths die with it, so the DELs are run with no namespace (the spec's way to say
 * it is gone: they release the address and port rules only) at the same time as the unmount.
 */
async function releaseState(id: string, state: NetworkState, alone = false): Promise<void> {
  if (alone && state.attachments.every((a) => a.conf.plugins.every((p) => NS_FREE_DEL.has(p.type)))) {
    const settled = await Promise.allSettled([removeNetns(state.netns), ...state.attachments.map((a) => delList(a.conf, { containerId: id, netns: '', ifName: a.ifName }, a.result))]);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return;
  }
  let first: unknown;
  for (const a of [...state.attachments].reverse()) await detach(id, state.netns, a).catch((e) => (first ??= e));
  await removeNetns(state.netns);
  if (first) throw first;
}

// ---- /etc files -----------------------------------------------------------------------------

const etcPath = (ctx: NetworkContext, id: string, file: string) => join(ctx.store.containerDir(id), file);

async function hostnameOf(ctx: NetworkContext, r: ContainerRecord): Promise<string> {
  return (await readFile(etcPath(ctx, r.id, 'hostname'), 'utf8').catch(() => r.id.slice(0, 12))).trim();
}

/** Writes a bridge-mode container's /etc/hosts from the records (its peers on user networks). */
async function writeHosts(ctx: NetworkContext, r: ContainerRecord, all: ContainerRecord[]): Promise<void> {
  const state = r.network;
  const req = requestOf(r);
  if (!state || !req || req.mode !== 'bridge') return;
  const hostname = await hostnameOf(ctx, r);
  const self: HostEntry[] = state.attachments.map((a) => ({ ip: a.ip, names: [hostname, r.name, ...a.aliases] }));
  const peers: HostEntry[] = [];
  for (const a of state.attachments) {
    if (a.network === DEFAULT_NETWORK) continue; // like docker: names resolve on user networks only
    for (const o of all) {
      if (o.id === r.id) continue;
      for (const oa of o.network?.attachments ?? []) if (oa.network === a.network) peers.push({ ip: oa.ip, names: [o.name, ...oa.aliases] });
    }
  }
  await rewriteInPlace(etcPath(ctx, r.id, 'hosts'), hostsFile(self, peers, req.addHosts.map(parseAddHost)));
}

async function refreshPeers(ctx: NetworkContext, networks: string[], except: string): Promise<void> {
  const touched = new Set(networks.filter((n) => n !== DEFAULT_NETWORK));
  if (touched.size === 0) return;
  const all = await ctx.store.list();
  for (const r of all) {
    if (r.id === except || !r.network?.attachments.some((a) => touched.has(a.network))) continue;
    await writeHosts(ctx, r, all).catch(() => {}); // a container being removed right now
  }
}

// ---- set-up and tear-down -------------------------------------------------------------------

/**
 * Sets up the network a container asked for, before its runtime starts; returns what is in effect
 * (also written to its record as `network`), undefined for host and none (the runtime's own).
 */
export async function setUpContainerNetwork(ctx: NetworkContext, record: ContainerRecord, runtime: RuntimeAround = {}): Promise<NetworkState | undefined> {
  const req = requestOf(record);
  if (!req || req.mode === 'host' || req.mode === 'none') return undefined;
  const nets = new NetworkStore(ctx.root);
  const path = netnsPath(ctx.root, record.id);
  // The namespace (a process start, the longest step before the runtime can start) is the
  // container's own: it is made while the lock is taken and the repair runs (which never touches
  // a running container's, and this one is marked running). Waited for before anything else.
  const netnsMade = req.mode === 'bridge' ? createNetns(path, runtime.gateFifo) : undefined;
  netnsMade?.catch(() => {});
  let entered = false;
  const undoUnentered = async (err: unknown) => {
    // The lock could not be taken: the namespace made meanwhile goes (inside, the roll-back does it).
    if (!entered) await netnsMade?.then(() => removeNetns(path)).catch(() => {});
    throw err;
  };
  return nets.locked(async () => {
    entered = true;
    const state: NetworkState = { netns: path, attachments: [], ports: [] };
    let started = false;
    try {
      await repairLocked(ctx, nets, record.id);
      if (req.mode === 'container') {
        const target = await ctx.store.read(req.container ?? '');
        if (!target || !isLive(target)) throw new NetworkError('conflict', `--network container:${target?.name ?? req.container}: that container is not running`);
        const pid = Number((await readFile(join(target.bundle, 'init.pid'), 'utf8').catch(() => '')).trim());
        const source = target.network?.netns ?? (pid > 0 ? `/proc/${pid}/ns/net` : undefined);
        if (!source || (requestOf(target)?.mode ?? 'host') === 'host') throw new NetworkError('conflict', `--network container:${target.name}: it has no network namespace of its own (use --network host)`);
        await bindNetns(source, path);
        state.sharedWith = target.id;
        for (const f of ['hosts', 'resolv.conf']) await rewriteInPlace(etcPath(ctx, record.id, f), await readFile(etcPath(ctx, target.id, f), 'utf8'));
      } else {
        const [all, first] = await Promise.all([ctx.store.list(), nets.resolve(req.networks[0] ?? DEFAULT_NETWORK)]);
        await netnsMade;
        const held = all.filter((r) => r.id !== record.id).flatMap((r) => r.network?.ports ?? []);
        state.ports = first.internal ? [] : await allocatePorts(req.ports, held);
        // The namespace exists and the ports are ours: the runtime may start (held at its gate).
        if (runtime.start) {
          await runtime.start();
          started = true;
        }
        const resolvWritten = (async () => rewriteInPlace(etcPath(ctx, record.id, 'resolv.conf'), resolvConf(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''), req.dns)))();
        resolvWritten.catch(() => {});
        const endpoints = (req as NetworkRequest & { endpoints?: Record<string, { aliases: string[]; ip?: string }> }).endpoints ?? {};
        for (const [i, name] of req.networks.entries()) {
          const net = i === 0 ? first : await nets.resolve(name);
          const o = i === 0 ? { aliases: req.aliases, ip: req.ip, mac: req.mac, ports: state.ports } : { aliases: endpoints[name]?.aliases ?? [], ip: endpoints[name]?.ip, ports: [] };
          state.attachments.push(await attach(nets, record.id, path, net, { ifName: `eth${i}`, ...o }));
        }
        await resolvWritten;
      }
      const updated = await ctx.store.update(record.id, (cur) => {
        cur.network = state;
      });
      if (!updated) throw new NetworkError('not-found', `container ${record.name} was removed while its network was set up`);
      const all = await ctx.store.list();
      await writeHosts(ctx, updated, all);
      await refreshPeers(ctx, req.networks, record.id);
      return state;
    } catch (err) {
      if (started) await runtime.abort?.().catch(() => {});
      await netnsMade?.catch(() => {}); // a roll-back never races the namespace's creation
      await releaseState(record.id, state).catch(() => {});
      throw err;
    }
  }).catch(undoUnentered);
}

/** What the set-up does with a runtime started while it runs (startWithNetwork). */
export interface RuntimeAround {
  /** The ready gate's FIFO, made with the namespace (one process chain for both). */
  gateFifo?: string;
  /** Called once the namespace exists and the ports are allocated. */
  start?: () => Promise<void>;
  /** The set-up failed after start: make the runtime give up, and wait until it has. */
  abort?: () => Promise<void>;
}

/**
 * Starts a container's runtime with its network set up around it. The set-up runs alongside
 * `prepare` (the root filesystem's mount and volumes: neither needs the other). With the ready
 * gate in the bundle (ready-gate.ts), the runtime is spawned as soon as the namespace exists and
 * does its own start while the CNI ADD runs, its container held at the gate until the network is
 * ready; without (host, none, container:, a container created before the gate) it is spawned
 * after both. A failure of either is thrown once both have settled (nothing is left half-done
 * while the caller releases what was made).
 */
export async function startWithNetwork(ctx: NetworkContext, record: ContainerRecord, prepare: Promise<void>, spawnRuntime: () => ChildProcess): Promise<ChildProcess> {
  // Its failure is thrown below, once everything settled; until then it must not count as unhandled.
  prepare.catch(() => {});
  const dir = ctx.store.containerDir(record.id);
  const gated = requestOf(record)?.mode === 'bridge' && (await hasReadyHook(record.bundle, dir));
  // The gate's FIFO is made by the process that makes the namespace (createNetns), and opened
  // once that has run: the runtime is started only then anyway.
  if (gated) await ReadyGate.clear(dir);
  let gate: ReadyGate | undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  const around: RuntimeAround = {
    gateFifo: gatePath(dir),
    start: async () => {
      await prepare;
      const opened = (gate = await ReadyGate.open(dir));
      child = spawnRuntime();
      exited = new Promise((resolve) => {
        child!.once('exit', resolve);
        child!.once('error', resolve);
      }).finally(() => opened.close());
    },
    abort: async () => {
      await gate?.fail();
      await exited;
    },
  };
  const settled = await Promise.allSettled([prepare, setUpContainerNetwork(ctx, record, gated ? around : {})]);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed || !child) {
    if (!child) await gate?.close();
    if (failed) throw failed.reason;
    // A gated runtime spawned now would wait at a gate nobody opens (the set-up always starts it).
    if (gated) throw new NetworkError('plugin', `the network of ${record.name} was set up without starting its runtime`);
    return spawnRuntime();
  }
  await gate!.ready();
  return child;
}

/** Releases a container's network (veth, address, port rules, namespace); idempotent. */
export async function tearDownContainerNetwork(ctx: NetworkContext, record: ContainerRecord): Promise<void> {
  const path = netnsPath(ctx.root, record.id);
  const cur = (await ctx.store.read(record.id)) ?? record;
  if (!cur.network && !existsSync(path)) return; // host, none, or already done: no lock taken
  const nets = new NetworkStore(ctx.root);
  await nets.locked(() => tearDownLocked(ctx, nets, record.id, record, true));
}

/** exited: the caller knows the container's processes are gone (the runtime's stop or exit). */
async function tearDownLocked(ctx: NetworkContext, nets: NetworkStore, id: string, fallback?: ContainerRecord, exited = false): Promise<void> {
  const cur = (await ctx.store.read(id)) ?? fallback;
  const state = cur?.network;
  if (state) {
    try {
      const shared = exited && (await ctx.store.list()).some((r) => r.id !== id && r.network?.sharedWith === id && isLive(r));
      // A --rm container's address and namespace are released after the command has ended.
      if (exited && !shared && cur.autoRemove && detachable(state)) releaseDetached(id, state);
      else await releaseState(id, state, exited && !shared);
    } finally {
      await ctx.store.update(id, (r) => {
        delete r.network;
      });
      await refreshPeers(ctx, state.attachments.map((a) => a.network), id);
    }
  } else {
    await releaseOrphan(nets, id);
  }
}

/**
 * A namespace file whose container left no state (a crash between ADD and writing the record):
 * DEL on every network by container id alone; host-local and portmap find their leases and rules
 * by it, and the veth goes with the namespace.
 */
async function releaseOrphan(nets: NetworkStore, id: string): Promise<void> {
  const path = netnsPath(nets.root, id);
  for (const net of await nets.list()) {
    const conf = conflist(net, nets.ipamDir, { ports: [{ hostIP: '', hostPort: 1, containerPort: 1, protocol: 'tcp' }] });
    await delList(conf, { containerId: id, netns: existsSync(path) ? path : '', ifName: 'eth0' }).catch(() => {});
  }
  await removeNetns(path);
}

/**
 * What crashed processes left: namespace files of containers that no longer run (or no longer
 * exist) are released. Runs before every set-up and from `container prune`.
 */
async function repairLocked(ctx: NetworkContext, nets: NetworkStore, except?: string): Promise<void> {
  let ids: string[];
  try {
    ids = await readdir(netnsDir(ctx.root));
  } catch {
    return;
  }
  for (const id of ids) {
    if (id === except || !/^[0-9a-f]{64}$/.test(id)) continue;
    const r = await ctx.store.read(id);
    if (r && (isLive(r) || r.state === 'created')) continue;
    await tearDownLocked(ctx, nets, id).catch(() => {});
  }
}

/** `container prune`: what crashed containers left (namespaces, veths, leases, port rules). */
export async function repairNetworks(ctx: NetworkContext): Promise<void> {
  const nets = new NetworkStore(ctx.root);
  if (!existsSync(nets.dir)) return;
  await nets.locked(() => repairLocked(ctx, nets));
}

/**
 * `network prune`: user networks no container names go, then crash leftovers, then every bridge
 * no running container is on (the default network's too: it comes back at the next start) with
 * its rules. After all containers are removed, this leaves the host's links and rules as they
 * were before the engine's first container.
 */
export async function pruneNetworks(ctx: NetworkContext): Promise<NetworkRecord[]> {
  const removed: NetworkRecord[] = [];
  for (const n of await new NetworkStore(ctx.root).list()) {
    if (n.name === DEFAULT_NETWORK || (await networkUsers(ctx, n.name)).length) continue;
    await removeNetwork(ctx, n.name).then(() => removed.push(n), () => {});
  }
  const nets = new NetworkStore(ctx.root);
  if (!existsSync(nets.dir)) return removed;
  await nets.locked(async () => {
    await repairLocked(ctx, nets);
    await dropIdleBridges(ctx, nets);
  });
  return removed;
}

/** CNI CHECK of every attachment of a running container: throws what a plugin finds missing. */
export async function checkContainerNetwork(ctx: NetworkContext, record: ContainerRecord): Promise<void> {
  const state = (await ctx.store.read(record.id))?.network;
  for (const a of state?.attachments ?? []) await checkList(a.conf, { containerId: record.id, netns: state!.netns, ifName: a.ifName }, a.result);
}

// ---- connect / disconnect -------------------------------------------------------------------

type Endpoints = Record<string, { aliases: string[]; ip?: string }>;

/** `network connect`: joins now when running (next free ethN), and on every later start. */
export async function connectContainer(ctx: NetworkContext, record: ContainerRecord, netRef: string, o: { aliases: string[]; ip?: string }): Promise<void> {
  const nets = new NetworkStore(ctx.root);
  await nets.locked(async () => {
    const net = await nets.resolve(netRef);
    const cur = await ctx.store.read(record.id);
    const req = cur && requestOf(cur);
    if (!cur || !req) throw new NetworkError('not-found', `no such container: ${record.name}`);
    if (req.mode !== 'bridge') throw new NetworkError('conflict', `container ${cur.name} uses --network ${req.mode}: it cannot join a network`);
    if (req.networks.includes(net.name)) throw new NetworkError('conflict', `container ${cur.name} is already on network ${net.name}`);
    let added: Attachment | undefined;
    if (cur.network && isLive(cur)) {
      const used = new Set(cur.network.attachments.map((a) => a.ifName));
      let n = 0;
      while (used.has(`eth${n}`)) n++;
      added = await attach(nets, cur.id, cur.network.netns, net, { ifName: `eth${n}`, aliases: o.aliases, ip: o.ip, ports: [] });
    }
    const updated = await ctx.store.update(cur.id, (r) => {
      const q = requestOf(r)!;
      q.networks.push(net.name);
      const eps = ((q as NetworkRequest & { endpoints?: Endpoints }).endpoints ??= {});
      eps[net.name] = { aliases: o.aliases, ...(o.ip ? { ip: o.ip } : {}) };
      if (added && r.network) r.network.attachments.push(added);
    });
    if (updated) await writeHosts(ctx, updated, await ctx.store.list());
    await refreshPeers(ctx, [net.name], cur.id);
  });
}

/** `network disconnect`: leaves now when running, and is not joined on later starts. */
export async function disconnectContainer(ctx: NetworkContext, record: ContainerRecord, netRef: string): Promise<void> {
  const nets = new NetworkStore(ctx.root);
  await nets.locked(async () => {
    const net = await nets.resolve(netRef);
    const cur = await ctx.store.read(record.id);
    const req = cur && requestOf(cur);
    if (!cur || !req) throw new NetworkError('not-found', `no such container: ${record.name}`);
    if (req.mode !== 'bridge' || !req.networks.includes(net.name)) throw new NetworkError('conflict', `container ${cur.name} is not on network ${net.name}`);
    const a = cur.network?.attachments.find((x) => x.network === net.name);
    if (a) await detach(cur.id, cur.network!.netns, a);
    const updated = await ctx.store.update(cur.id, (r) => {
      const q = requestOf(r)!;
      q.networks = q.networks.filter((n) => n !== net.name);
      if (r.network) r.network.attachments = r.network.attachments.filter((x) => x.network !== net.name);
    });
    if (updated) await writeHosts(ctx, updated, await ctx.store.list());
    await refreshPeers(ctx, [net.name], cur.id);
  });
}

// ---- networks -------------------------------------------------------------------------------

/** Containers (any state) whose request names the network. */
export async function networkUsers(ctx: NetworkContext, name: string): Promise<ContainerRecord[]> {
  return (await ctx.store.list()).filter((r) => requestOf(r)?.mode === 'bridge' && requestOf(r)!.networks.includes(name));
}

/** `network rm`: refused while a container is on it (running or not, like docker's endpoints). */
export async function removeNetwork(ctx: NetworkContext, ref: string): Promise<NetworkRecord> {
  const nets = new NetworkStore(ctx.root);
  return nets.locked(async () => {
    const net = await nets.resolve(ref);
    if (net.name === DEFAULT_NETWORK) throw new NetworkError('conflict', `${net.name} is the default network and cannot be removed`);
    const users = await networkUsers(ctx, net.name);
    if (users.length) throw new NetworkError('conflict', `network ${net.name} is in use by container ${users.map((u) => u.name).join(', ')}: remove or disconnect it first`);
    await dropBridges([net.bridge]);
    await nets.remove(net.name);
    return net;
  });
}

/**
 * Before a container is even created: its fixed host ports are free (nothing on the host listens,
 * no running container publishes them), so `run -p` in use fails with nothing left behind. The
 * set-up checks again under the lock (another process may take the port in between).
 */
export async function checkHostPorts(ctx: NetworkContext, req: NetworkRequest): Promise<void> {
  const fixed = req.ports.filter((p) => p.hostPort !== 0);
  if (fixed.length === 0) return;
  const held = (await ctx.store.list()).filter(isLive).flatMap((r) => r.network?.ports ?? []);
  await allocatePorts(fixed, held);
}
