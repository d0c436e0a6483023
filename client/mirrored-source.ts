// Pulling through mirrors: each configured mirror is tried in order before the registry itself,
// falling back when a mirror is down or lacks the image (as containers-registries.conf mirrors
// and Docker's registry-mirrors behave). Which endpoint served the pull is reported.
import type { Readable } from 'node:stream';
import { formatReference, referenceSelector, type Descriptor, type Digest, type ImageReference } from '../oci/index.js';
import type { Mirror } from './client-config.js';
import { ClientError } from './errors.js';
import type { ImageSource, ManifestBytes } from './image-location.js';
import type { RegistryClient } from './registry-client.js';

export interface Endpoint {
  registry: string;
  repository: string;
  /** `mirror mirror.internal:5000` or `registry docker.io`. */
  description: string;
  mirror: boolean;
}

/** The endpoints to try for a reference: allowed mirrors in order, then the registry. */
export function endpointsFor(ref: ImageReference, mirrors: Mirror[]): Endpoint[] {
  const byDigest = ref.digest !== undefined;
  const out: Endpoint[] = [];
  for (const m of mirrors) {
    if ((m.pullFromMirror === 'digest-only' && !byDigest) || (m.pullFromMirror === 'tag-only' && byDigest)) continue;
    const slash = m.location.indexOf('/');
    const registry = slash < 0 ? m.location : m.location.slice(0, slash);
    const prefix = slash < 0 ? '' : `${m.location.slice(slash + 1)}/`;
    out.push({ registry, repository: `${prefix}${ref.repository}`, description: `mirror ${m.location}`, mirror: true });
  }
  out.push({ registry: ref.registry, repository: ref.repository, description: `registry ${ref.registry}`, mirror: false });
  return out;
}

export class MirroredRegistrySource implements ImageSource {
  readonly description: string;
  /** The endpoint that served the top manifest. */
  servedBy?: Endpoint;
  private order: Endpoint[];

  constructor(
    private readonly clientFor: (registry: string) => RegistryClient,
    readonly ref: ImageReference,
    readonly endpoints: Endpoint[],
    private readonly onFallback?: (endpoint: Endpoint, error: Error) => void,
  ) {
    this.description = formatReference(ref);
    this.order = endpoints;
  }

  get registryRepository(): { registry: string; repository: string } | undefined {
    const e = this.servedBy ?? this.endpoints[this.endpoints.length - 1];
    return e && { registry: e.registry, repository: e.repository };
  }

  /** Runs `fn` on each endpoint in order until one succeeds. */
  private async attempt<T>(what: string, endpoints: Endpoint[], fn: (c: RegistryClient, e: Endpoint) => Promise<T>): Promise<{ value: T; endpoint: Endpoint }> {
    const failures: string[] = [];
    let last: unknown;
    for (const e of endpoints) {
      try {
        return { value: await fn(this.clientFor(e.registry), e), endpoint: e };
      } catch (err) {
        last = err;
        failures.push(`${e.description}: ${(err as Error).message}`);
        if (e !== endpoints[endpoints.length - 1]) this.onFallback?.(e, err as Error);
      }
    }
    if (failures.length === 1) throw last;
    throw new ClientError(`${this.description}: ${what} failed on every endpoint (${failures.join('; ')})`);
  }

  async topManifest(): Promise<ManifestBytes> {
    const { value, endpoint } = await this.attempt('pull', this.endpoints, (c, e) => c.getManifest(e.repository, referenceSelector(this.ref)));
    this.servedBy = endpoint;
    // Content comes from the endpoint that served the manifest first, then the others.
    this.order = [endpoint, ...this.endpoints.filter((e) => e !== endpoint)];
    return value;
  }

  async manifest(digest: Digest): Promise<ManifestBytes> {
    return (await this.attempt(`manifest ${digest}`, this.order, (c, e) => c.getManifest(e.repository, digest))).value;
  }

  async openBlob(desc: Descriptor, offset = 0): Promise<Readable> {
    return (await this.attempt(`blob ${desc.digest}`, this.order, (c, e) => c.openBlob(e.repository, desc.digest, offset))).value;
  }
}
