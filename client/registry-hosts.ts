// How to reach a registry host: scheme, TLS settings and mirrors, as Docker and
// containers-registries.conf users configure them.
import type { BlockList } from 'node:net';
import { DEFAULT_REGISTRY, DOCKER_HUB_API_HOST } from '../oci/reference.js'; // not the index: `tags` loads this

// Node's modules from process.getBuiltinModule, not ESM imports (`tags` loads this and is timed): an
// ESM import builds a facade of the module by reading every export, and node:fs's promises getter
// loads node:fs/promises with a dozen of Node's internals.
const { existsSync, readdirSync, readFileSync } = process.getBuiltinModule('node:fs');
const { join } = process.getBuiltinModule('node:path');
// node:net the same way: its facade's BlockList getter loads the block list's modules, needed only
// for an insecure CIDR rule.
const net = process.getBuiltinModule('node:net');
const { isIP } = net;

export interface HostSettings {
  /** The host[:port] used on the wire (docker.io → registry-1.docker.io). */
  apiHost: string;
  /** `auto`: insecure registry, HTTPS without verification first, plain HTTP if it does not speak TLS (as Docker). */
  scheme: 'https' | 'http' | 'auto';
  /** Skip TLS certificate verification (only for insecure registries). */
  skipTlsVerify: boolean;
  /** Extra CA certificates (PEM) to trust for this host. */
  ca: string[];
  /** Client certificate and key (PEM) for mTLS, from certs.d. */
  cert?: string;
  key?: string;
}

export interface InsecureRule {
  /** `host`, `host:port` or a CIDR (`10.0.0.0/8`, `::1/128`). */
  match: string;
}

export interface HostResolverOptions {
  /** Registries reached over plain HTTP (and without TLS verification when they use HTTPS). */
  insecure?: string[];
  /** Treat every registry as insecure (`--insecure`). */
  allInsecure?: boolean;
  /** Use plain HTTP for every registry (`--plain-http`). */
  plainHttp?: boolean;
  /** Loopback registries are insecure unless this is false (Docker's default is true). */
  insecureLoopback?: boolean;
  /** Directories holding `<host>/ca.crt` etc.; defaults to Docker's and containers' locations. */
  certDirs?: string[];
}

export const DEFAULT_CERT_DIRS = ['/etc/docker/certs.d', '/etc/containers/certs.d'];

function splitHostPort(host: string): { hostname: string; port?: string } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(host) ?? /^([^:]+)(?::(\d+))?$/.exec(host);
  return m ? { hostname: m[1]!, port: m[2] } : { hostname: host };
}

/** Docker treats loopback registries as insecure without configuration. */
function isLoopback(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  if (isIP(hostname) === 4) return hostname.startsWith('127.');
  if (isIP(hostname) === 6) return hostname === '::1';
  return false;
}

export class HostResolver {
  private readonly exact = new Set<string>();
  /** The insecure CIDR rules, if any. */
  private cidrs?: BlockList;
  private readonly certDirs: string[];

  constructor(private readonly opts: HostResolverOptions = {}) {
    for (const rule of opts.insecure ?? []) {
      const cidr = /^(.+)\/(\d+)$/.exec(rule);
      if (cidr && isIP(cidr[1]!)) {
        (this.cidrs ??= new net.BlockList()).addSubnet(cidr[1]!, Number(cidr[2]), isIP(cidr[1]!) === 6 ? 'ipv6' : 'ipv4');
      } else {
        this.exact.add(rule.toLowerCase());
      }
    }
    // STEVEDORE_CERTS_DIRS (colon-separated) replaces Docker's and containers' locations.
    this.certDirs = opts.certDirs ?? (process.env.STEVEDORE_CERTS_DIRS ? process.env.STEVEDORE_CERTS_DIRS.split(':').filter(Boolean) : DEFAULT_CERT_DIRS);
  }

  isInsecure(host: string): boolean {
    if (this.opts.allInsecure) return true;
    const { hostname } = splitHostPort(host);
    if (this.exact.has(host.toLowerCase()) || this.exact.has(hostname.toLowerCase())) return true;
    const family = isIP(hostname);
    if (family && this.cidrs?.check(hostname, family === 6 ? 'ipv6' : 'ipv4')) return true;
    return this.opts.insecureLoopback !== false && isLoopback(hostname);
  }

  resolve(registry: string): HostSettings {
    const apiHost = registry === DEFAULT_REGISTRY ? DOCKER_HUB_API_HOST : registry;
    const insecure = this.isInsecure(registry);
    const scheme = this.opts.plainHttp ? 'http' : insecure ? 'auto' : 'https';
    const settings: HostSettings = { apiHost, scheme, skipTlsVerify: insecure, ca: [] };
    for (const dir of this.certDirs) {
      // Docker's layout: certs.d/<host[:port]>/{*.crt (CAs), *.cert + *.key (client pair)}.
      const hostDir = join(dir, registry);
      if (!existsSync(hostDir)) continue;
      for (const f of readdirSync(hostDir).sort()) {
        const path = join(hostDir, f);
        if (f.endsWith('.crt')) settings.ca.push(readFileSync(path, 'utf8'));
        else if (f.endsWith('.cert')) settings.cert = readFileSync(path, 'utf8');
        else if (f.endsWith('.key')) settings.key = readFileSync(path, 'utf8');
      }
    }
    return settings;
  }
}
