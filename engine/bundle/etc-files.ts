// /etc/hosts, /etc/hostname and /etc/resolv.conf of a container, written into its directory and
// bind-mounted over the image's.

/** Loopback nameservers (a resolver on the host) are unreachable from a separate network namespace. */
export function resolvConfFor(network: 'none' | 'host', hostResolvConf: string): string {
  if (network === 'host') return hostResolvConf;
  const lines = hostResolvConf.split('\n').filter((line) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    return !m || !isLoopback(m[1]!);
  });
  return `${lines.join('\n').trimEnd()}\n`;
}

export function isLoopback(address: string): boolean {
  const a = address.replace(/%.*$/, '');
  return /^127\./.test(a) || a === '::1' || /^0*:(0*:)*0*1$/.test(a) || a === '0:0:0:0:0:0:0:1';
}

export function hostsFor(network: 'none' | 'host', hostname: string, hostHosts: string): string {
  if (network === 'host') return hostHosts;
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    `127.0.1.1\t${hostname}`,
    '',
  ].join('\n');
}
