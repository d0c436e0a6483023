// `run`'s and `create`'s network options (declared in engine-network-commands.ts) turned into the
// request engine/network sets up at each start. Apart from the network commands' actions: `run
// --network none` (timed against bare runc) loads none of the parsers, other modes the parsers
// only, and the network store only for a bridge network.
import type { EngineContext } from '../engine/containers/engine-context.js';
import type { NetworkRequest } from '../engine/network/request.js';
import type { NetworkRunFlags } from './engine-network-commands.js';

/** `--network none|host` and no other network option: nothing to parse (the parsers are not loaded). */
function plainMode(f: NetworkRunFlags): 'none' | 'host' | undefined {
  const noOptions = !f.publish.length && !f.publishAll && !f.networkAlias.length && f.ip === undefined && !f.dns.length && !f.addHost.length && f.macAddress === undefined;
  return noOptions && (f.network === 'none' || f.network === 'host') ? f.network : undefined;
}

/** The CreateOptions part: `network` for host/none, `networking` for bridge networks and container:NAME. */
export async function networkRequest(ctx: EngineContext, f: NetworkRunFlags): Promise<{ network: 'none' | 'host'; networking?: NetworkRequest & { publishAll?: boolean } }> {
  const plain = plainMode(f);
  if (plain) return { network: plain };
  const [{ findContainer }, { parseAddHost }, { NetworkError }, { parsePublish }, { parseIpOption, parseMac, parseNetworkMode }, { parseIPv4 }] = await Promise.all([
    import('../engine/containers/container-state.js'),
    import('../engine/network/etc-files.js'),
    import('../engine/network/network-error.js'),
    import('../engine/network/ports.js'),
    import('../engine/network/request.js'),
    import('../engine/network/subnet.js'),
  ]);
  const m = parseNetworkMode(f.network);
  const ports = f.publish.flatMap(parsePublish);
  f.addHost.forEach(parseAddHost);
  for (const d of f.dns) if (parseIPv4(d) === undefined) throw new NetworkError('usage', `invalid --dns ${JSON.stringify(d)}: an IPv4 address`);
  if (m.mode !== 'bridge') {
    const conflicting = [ports.length || f.publishAll ? '-p/-P' : '', f.networkAlias.length ? '--network-alias' : '', f.ip ? '--ip' : '', f.macAddress ? '--mac-address' : ''].filter(Boolean);
    if (conflicting.length) throw new NetworkError('usage', `${conflicting.join(', ')} need a bridge network; --network ${f.network} has none`);
  }
  if (m.mode === 'host' || m.mode === 'none') {
    if (f.dns.length || f.addHost.length) throw new NetworkError('usage', `--dns and --add-host need a network of the container's own (not --network ${m.mode})`);
    return { network: m.mode };
  }
  let container: string | undefined;
  if (m.mode === 'container') container = (await findContainer(ctx, m.container!)).id;
  else {
    const { NetworkStore } = await import('../engine/network/network-store.js');
    const nets = new NetworkStore(ctx.root);
    await nets.locked(() => nets.resolve(m.network!)); // an unknown network is an error before anything is made
  }
  return {
    network: 'none',
    networking: {
      mode: m.mode,
      networks: m.mode === 'bridge' ? [m.network!] : [],
      ...(container ? { container } : {}),
      aliases: f.networkAlias,
      ...(f.ip ? { ip: parseIpOption(f.ip) } : {}),
      ...(f.macAddress ? { mac: parseMac(f.macAddress) } : {}),
      ports,
      dns: f.dns,
      addHosts: f.addHost,
      publishAll: !!f.publishAll,
    },
  };
}
