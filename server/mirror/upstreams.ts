// Which upstream a repository name belongs to, and talking to it with the client's transport and
// authentication (per-upstream credentials from the configuration, insecure upstreams).
import type { Readable } from 'node:stream';
import { Client, ClientError, RegistryResponseError, type CredentialSource, type Credentials } from '../../client/index.js';
import { parseErrorBody } from '../../client/errors.js';
import { kindOf } from '../../util/errors.js';
import type { Digest } from '../../oci/index.js';
import type { MirrorConfig, UpstreamConfig } from './mirror-config.js';

export interface Upstream {
  readonly prefix: string;
  readonly registry: string;
  readonly config: UpstreamConfig;
}

/** A request's repository on this server, mapped to its upstream. */
export interface ProxiedName {
  upstream: Upstream;
  /** The repository on the upstream (library/busybox). */
  remote: string;
  /** The repository in this server's storage, always `<prefix>/<remote>` (dockerhub/library/busybox). */
  local: string;
}

/** Credentials from the mirror configuration, per upstream registry. */
class ConfiguredCredentials implements CredentialSource {
  readonly description = 'the mirror configuration';
  constructor(private readonly byRegistry: Map<string, Credentials>) {}
  async get(registry: string): Promise<Credentials | undefined> {
    return this.byRegistry.get(registry);
  }
}

const isDockerHub = (registry: string) => registry === 'docker.io' || registry === 'index.docker.io' || registry === 'registry-1.docker.io';

export class Upstreams {
  readonly list: Upstream[];
  readonly client: Client;
  private readonly defaultUpstream: Upstream | undefined;

  constructor(private readonly config: MirrorConfig) {
    this.list = config.upstreams.map((u) => ({ prefix: u.prefix, registry: u.registry, config: u }));
    this.defaultUpstream = this.list.find((u) => u.prefix === config.defaultUpstream);
    const creds = new Map<string, Credentials>();
    for (const u of config.upstreams) {
      if (u.username || u.identityToken) {
        creds.set(u.registry, { username: u.username || undefined, password: u.password || undefined, identityToken: u.identityToken || undefined });
      }
    }
    this.client = new Client({
      credentials: new ConfiguredCredentials(creds),
      insecure: config.upstreams.filter((u) => u.insecure).map((u) => u.registry),
      // Loopback upstreams are not insecure unless configured (the client's Docker-like default would make them so).
      insecureLoopback: false,
      // Few retries: a down upstream must turn into a stale answer (or an error) quickly.
      retry: { retries: config.upstreamRetries, minDelayMs: 200, maxDelayMs: 1000, maxRetryAfterMs: 2000 },
    });
  }

  /**
   * The upstream of a request's repository name, or undefined for a local repository. `ns` is
   * containerd's `?ns=<registry>` parameter: the name is then the upstream's own.
   */
  resolve(name: string, ns: string | undefined): ProxiedName | undefined {
    if (ns) {
      const u = this.list.find((x) => x.registry === ns || x.config.aliases.includes(ns) || (isDockerHub(ns) && isDockerHub(x.registry)));
      if (u) return this.named(u, name);
      // An unknown ns: the name may still carry a prefix, but it is not the default upstream's.
    }
    for (const u of this.list) {
      if (name.startsWith(`${u.prefix}/`)) return this.named(u, name.slice(u.prefix.length + 1));
    }
    if (this.defaultUpstream && !ns && !this.isLocal(name)) return this.named(this.defaultUpstream, name);
    return undefined;
  }

  /** Whether pushes to `name` (outside every upstream prefix) are allowed. */
  isLocal(name: string): boolean {
    const local = this.config.localNamespaces;
    if (local.length === 0) return !this.defaultUpstream;
    return local.some((ns) => name === ns || name.startsWith(`${ns}/`));
  }

  private named(upstream: Upstream, remote: string): ProxiedName {
    // Docker Hub's official images: `busybox` is `library/busybox`.
    if ((upstream.config.officialImages ?? isDockerHub(upstream.registry)) && !remote.includes('/')) remote = `library/${remote}`;
    return { upstream, remote, local: `${upstream.prefix}/${remote}` };
  }

  /**
   * GET a blob from the upstream, following a redirect to its storage (Docker Hub's CDN) without
   * our credentials. Returns the body and its length when the upstream says.
   */
  async openBlob(p: ProxiedName, digest: Digest, signal?: AbortSignal): Promise<{ body: Readable; size: number | undefined }> {
    const rc = this.client.registryClient(p.upstream.registry);
    const path = `/v2/${p.remote}/blobs/${digest}`;
    let res = await rc.call({ method: 'GET', path, signal, retry: true }, [`repository:${p.remote}:pull`]);
    for (let hops = 0; [301, 302, 303, 307, 308].includes(res.status) && hops < 5; hops++) {
      const location = res.headers.location;
      await res.body.dump();
      const loc = Array.isArray(location) ? location[0] : location;
      if (!loc) throw new ClientError(`GET ${res.url}: redirect without a Location`);
      const url = new URL(loc, res.url).toString();
      res = await this.client.transport.send(p.upstream.registry, { method: 'GET', path: url, signal });
    }
    if (res.status !== 200) {
      const { code, message, errors } = parseErrorBody(await res.body.text().catch(() => ''));
      throw new RegistryResponseError('GET', res.url, res.status, code, message, errors);
    }
    const len = res.headers['content-length'];
    const size = len === undefined ? undefined : Number(Array.isArray(len) ? len[0] : len);
    return { body: res.body, size: Number.isSafeInteger(size) ? size : undefined };
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/**
 * An upstream failure that is an outage (unreachable, rate limited, 5xx), where stale content may
 * be served. Content that does not match its digest is not one: serving the cached tag would hide it.
 */
export function isOutage(err: unknown): boolean {
  return kindOf(err) === 'unavailable';
}

/** The upstream said the content does not exist (a client error: not, say, a local storage path gone missing). */
export function isUpstreamNotFound(err: unknown): boolean {
  return err instanceof ClientError && kindOf(err) === 'not-found';
}
