// Published ports: parsing `-p [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]` (with ranges) and `-P`,
// and finding host ports that are free (nothing listens, no other container publishes them).
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { NetworkError } from './network-error.js';
import { parseIPv4 } from './subnet.js';

export type Protocol = 'tcp' | 'udp';

/** One requested mapping; hostPort 0 means "a free port". */
export interface PortRequest {
  hostIP: string;
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
}

/** One mapping in effect (what `port` and `inspect` show, and what portmap is given). */
export interface PortBinding {
  hostIP: string;
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
}

function port(text: string, spec: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new NetworkError('usage', `invalid -p ${JSON.stringify(spec)}: ports are numbers from 1 to 65535`);
  return n;
}

function range(text: string, spec: string): [number, number] {
  const [a, b] = text.split('-');
  const lo = port(a!, spec);
  const hi = b === undefined ? lo : port(b, spec);
  if (hi < lo) throw new NetworkError('usage', `invalid -p ${JSON.stringify(spec)}: range ${text} runs backwards`);
  return [lo, hi];
}

/** `-p` as docker reads it; a range maps one to one (a host range may also be given for one container port: its first free port is taken, docker-like, here its first). */
export function parsePublish(spec: string): PortRequest[] {
  const usage = `invalid -p ${JSON.stringify(spec)}: [IP:][HOST-PORT:]CONTAINER-PORT[/tcp|udp], e.g. 8080:80`;
  let rest = spec.trim();
  let protocol: Protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') throw new NetworkError('usage', `invalid -p ${JSON.stringify(spec)}: the protocol is tcp or udp`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  const parts = rest.split(':');
  if (parts.length > 3 || parts.some((p, i) => p === '' && !(parts.length === 3 && i === 1))) throw new NetworkError('usage', usage);
  const ctr = parts.pop()!;
  const host = parts.pop();
  const ip = parts.pop() ?? '';
  if (ip !== '' && parseIPv4(ip) === undefined) throw new NetworkError('usage', `invalid -p ${JSON.stringify(spec)}: ${ip} is not an IPv4 address`);
  const [c0, c1] = range(ctr, spec);
  if (host === undefined || host === '') {
    const out: PortRequest[] = [];
    for (let c = c0; c <= c1; c++) out.push({ hostIP: ip, hostPort: 0, containerPort: c, protocol });
    return out;
  }
  const [h0, h1] = range(host, spec);
  if (h1 - h0 !== c1 - c0) throw new NetworkError('usage', `invalid -p ${JSON.stringify(spec)}: the host and container ranges differ in length`);
  const out: PortRequest[] = [];
  for (let i = 0; i <= c1 - c0; i++) out.push({ hostIP: ip, hostPort: h0 + i, containerPort: c0 + i, protocol });
  return out;
}

/** `-P`: the image's ExposedPorts ("80/tcp", "53/udp", "8000-8002/tcp") to free host ports. */
export function exposedPorts(exposed: Record<string, unknown> | undefined | null): PortRequest[] {
  const out: PortRequest[] = [];
  for (const key of Object.keys(exposed ?? {})) {
    try {
      out.push(...parsePublish(key));
    } catch {
      /* an image's odd ExposedPorts entry is skipped, like docker */
    }
  }
  return out;
}

/** "80/tcp -> 0.0.0.0:4000", as `docker port` prints. */
export function formatBinding(b: PortBinding): string {
  return `${b.containerPort}/${b.protocol} -> ${b.hostIP || '0.0.0.0'}:${b.hostPort}`;
}

/** For `ps`: "0.0.0.0:4000->80/tcp, …". */
export function formatBindings(bs: PortBinding[]): string {
  return bs.map((b) => `${b.hostIP || '0.0.0.0'}:${b.hostPort}->${b.containerPort}/${b.protocol}`).join(', ');
}

/**
 * Binds the port for a moment: a program on the host that listens there would lose its traffic to
 * the container's DNAT rule without ever knowing, so that is refused up front. Port 0: the kernel
 * picks a free one, which is returned.
 */
export async function probeHostPort(hostIP: string, hostPort: number, protocol: Protocol): Promise<number> {
  const host = hostIP || '0.0.0.0';
  if (protocol === 'udp') {
    return new Promise((resolve, reject) => {
      const s = createSocket('udp4');
      s.once('error', (err) => {
        s.close();
        reject(err);
      });
      s.bind({ address: host, port: hostPort, exclusive: true }, () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host, port: hostPort, exclusive: true }, () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

const key = (b: { hostIP: string; hostPort: number; protocol: Protocol }) => `${b.protocol}:${b.hostPort}`;

/**
 * Host ports for the requests: fixed ones checked (free on the host, not held by another
 * container), 0 replaced by a free port. `held` are the bindings of the other running containers.
 */
export async function allocatePorts(requests: PortRequest[], held: PortBinding[]): Promise<PortBinding[]> {
  const used = new Set(held.map(key));
  const out: PortBinding[] = [];
  for (const r of requests) {
    let hostPort = r.hostPort;
    if (hostPort !== 0) {
      const taken = used.has(key(r)) ? 'another container publishes it' : await probeHostPort(r.hostIP, hostPort, r.protocol).then(() => undefined, (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? 'a program on the host listens on it' : e.message));
      if (taken) throw new NetworkError('port-in-use', `host port ${r.hostIP ? `${r.hostIP}:` : ''}${hostPort}/${r.protocol} is already in use (${taken}): publish another one, e.g. -p ${hostPort + 1}:${r.containerPort}${r.protocol === 'udp' ? '/udp' : ''}`);
    } else {
      for (let tries = 0; ; tries++) {
        hostPort = await probeHostPort(r.hostIP, 0, r.protocol);
        if (!used.has(key({ ...r, hostPort }))) break;
        if (tries > 20) throw new NetworkError('port-in-use', 'no free host port found');
      }
    }
    const b = { hostIP: r.hostIP, hostPort, containerPort: r.containerPort, protocol: r.protocol };
    used.add(key(b));
    out.push(b);
  }
  return out;
}
