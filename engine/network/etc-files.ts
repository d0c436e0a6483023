// /etc/hosts and /etc/resolv.conf of a container on a bridge network.
//
// Name resolution between containers is done with kept-up-to-date hosts files, not an embedded
// DNS server: each container's /etc/hosts lists every container (name and aliases) on its user
// networks, rewritten whenever one joins or leaves. Why: no resolver process to keep alive per
// network namespace (nothing runs when no container runs, nothing to crash, nothing to start
// before the container), busybox/musl/glibc all read /etc/hosts first, and a hosts file is what
// `cat` shows when debugging. The price: names appear only in the files we rewrite (a container
// that caches lookups sees changes late), and there is no round-robin for several containers with
// one alias. Everything else goes to the host's resolvers (loopback ones dropped: unreachable from
// the container's namespace).
import { writeFile } from 'node:fs/promises';
import { resolvConfFor } from '../bundle/etc-files.js';
import { NetworkError } from './network-error.js';
import { parseIPv4 } from './subnet.js';

export interface HostEntry {
  ip: string;
  names: string[];
}

export function hostsFile(self: HostEntry[], peers: HostEntry[], extra: HostEntry[]): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const e of [...self, ...peers, ...extra]) if (e.names.length) lines.push(`${e.ip}\t${[...new Set(e.names)].join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** The host's resolv.conf without loopback nameservers; --dns replaces the nameservers. */
export function resolvConf(hostResolvConf: string, dns: string[]): string {
  const base = resolvConfFor('none', hostResolvConf);
  if (dns.length === 0) return base;
  const kept = base.split('\n').filter((l) => !/^\s*nameserver\s/.test(l) && l.trim() !== '');
  return `${[...dns.map((d) => `nameserver ${d}`), ...kept].join('\n')}\n`;
}

/** `--add-host NAME:IP`. */
export function parseAddHost(spec: string): HostEntry {
  const i = spec.lastIndexOf(':');
  const name = spec.slice(0, i);
  const ip = spec.slice(i + 1);
  if (i <= 0 || !/^[a-zA-Z0-9][a-zA-Z0-9.-]*$/.test(name) || parseIPv4(ip) === undefined) throw new NetworkError('usage', `invalid --add-host ${JSON.stringify(spec)}: NAME:IPv4, e.g. db:10.0.0.5`);
  return { ip, names: [name] };
}

/**
 * Rewrites a bind-mounted file in place. Not the atomic rename of atomic-file.ts on purpose: the
 * container's /etc/hosts is a bind mount of this inode, and a rename would leave the container
 * reading the old file for ever. A reader may see it half-written for a moment.
 */
export async function rewriteInPlace(path: string, content: string): Promise<void> {
  await writeFile(path, content, { flag: 'w' });
}
