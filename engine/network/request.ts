// What `run` asked of the network (kept in the container's hostConfig, so every start sets the
// same up again) and what is in effect while it runs (kept in the record's `network`).
import type { CniResult, NetConfList } from './cni.js';
import { NetworkError } from './network-error.js';
import type { PortBinding, PortRequest } from './ports.js';
import { parseIPv4 } from './subnet.js';

export type NetworkMode = 'host' | 'none' | 'container' | 'bridge';

export interface NetworkRequest {
  mode: NetworkMode;
  /** bridge mode: the networks joined, the first one (default `bridge`) on eth0. */
  networks: string[];
  /** container mode: the container whose namespace is shared (its id). */
  container?: string;
  aliases: string[];
  ip?: string;
  mac?: string;
  ports: PortRequest[];
  dns: string[];
  /** "NAME:IP" */
  addHosts: string[];
}

export interface Attachment {
  network: string;
  ifName: string;
  /** "10.90.3.5" */
  ip: string;
  prefix: number;
  gateway?: string;
  mac?: string;
  aliases: string[];
  /** The list ADD was run with and its result: DEL and CHECK need exactly these. */
  conf: NetConfList;
  result: CniResult;
}

export interface NetworkState {
  netns: string;
  attachments: Attachment[];
  ports: PortBinding[];
  /** container mode: whose namespace this is. */
  sharedWith?: string;
}

/** `--network bridge|host|none|container:NAME|NETWORK` (default bridge). */
export function parseNetworkMode(text: string | undefined): { mode: NetworkMode; network?: string; container?: string } {
  const n = text ?? 'bridge';
  if (n === 'host' || n === 'none') return { mode: n };
  if (n === 'bridge' || n === 'default') return { mode: 'bridge', network: 'bridge' };
  if (n.startsWith('container:')) {
    const c = n.slice('container:'.length);
    if (!c) throw new NetworkError('usage', '--network container: needs a container name or id');
    return { mode: 'container', container: c };
  }
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(n)) throw new NetworkError('usage', `invalid --network ${JSON.stringify(n)}: bridge, host, none, container:NAME or a network's name`);
  return { mode: 'bridge', network: n };
}

export function parseMac(text: string): string {
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(text)) throw new NetworkError('usage', `invalid --mac-address ${JSON.stringify(text)}: six hex pairs, e.g. 02:42:ac:11:00:02`);
  if (parseInt(text.slice(0, 2), 16) & 1) throw new NetworkError('usage', `invalid --mac-address ${text}: a multicast address`);
  return text.toLowerCase();
}

export function parseIpOption(text: string): string {
  if (parseIPv4(text) === undefined) throw new NetworkError('usage', `invalid --ip ${JSON.stringify(text)}: an IPv4 address`);
  return text;
}
