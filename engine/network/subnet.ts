// IPv4 subnets: parsing, overlap, the host's routes, and choosing a private subnet no route and no
// other network uses (a bridge on a routed subnet would hijack the host's traffic to it).
import { NetworkError } from './network-error.js';

export interface Subnet {
  /** Network address as a 32-bit unsigned number. */
  base: number;
  prefix: number;
}

export function parseIPv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const mask = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

export function parseSubnet(text: string): Subnet {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text.trim());
  const addr = m ? parseIPv4(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (addr === undefined || !(prefix >= 8 && prefix <= 30)) throw new NetworkError('usage', `invalid subnet ${JSON.stringify(text)}: an IPv4 CIDR with a prefix from /8 to /30, e.g. 10.99.0.0/24`);
  if ((addr & ~mask(prefix)) >>> 0 !== 0) throw new NetworkError('usage', `invalid subnet ${text}: host bits are set (did you mean ${formatIPv4((addr & mask(prefix)) >>> 0)}/${prefix}?)`);
  return { base: addr, prefix };
}

export const formatSubnet = (s: Subnet) => `${formatIPv4(s.base)}/${s.prefix}`;

export function contains(s: Subnet, ip: number): boolean {
  return ((ip & mask(s.prefix)) >>> 0) === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** The gateway (first host address) of a subnet. */
export const firstHost = (s: Subnet) => s.base + 1;
/** The last usable address (before broadcast). */
export const lastHost = (s: Subnet) => s.base + 2 ** (32 - s.prefix) - 2;

/**
 * The destinations of /proc/net/route (hex, little-endian), default routes left out: those are the
 * subnets a new bridge must not shadow.
 */
export function parseRouteTable(text: string): Subnet[] {
  const out: Subnet[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dest = Buffer.from(f[1]!, 'hex').readUInt32LE(0);
    const m = Buffer.from(f[7]!, 'hex').readUInt32LE(0);
    const prefix = m.toString(2).replace(/0/g, '').length;
    if (prefix === 0) continue;
    out.push({ base: (dest & mask(prefix)) >>> 0, prefix });
  }
  return out;
}

/**
 * The first /24 of 10.90.0.0/16 (from a starting offset, so engines with different roots rarely
 * race for the same one) that overlaps nothing in `taken`.
 */
export function chooseSubnet(taken: Subnet[], start = 0): Subnet {
  for (let i = 0; i < 256; i++) {
    const s = { base: (parseIPv4('10.90.0.0')! + (((start + i) % 256) << 8)) >>> 0, prefix: 24 };
    if (!taken.some((t) => overlaps(t, s))) return s;
  }
  throw new NetworkError('conflict', 'no free subnet left in 10.90.0.0/16: give one with --subnet');
}
