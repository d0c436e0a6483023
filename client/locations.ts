// Parsing skopeo-style locations and opening them: a bare reference (or docker://REF) is a
// registry; `oci:DIR[:TAG]` is an OCI image layout.
import { InvalidReferenceError, parseReference, type ImageReference } from '../oci/index.js';
import { ClientError } from './errors.js';
import type { Mirror } from './client-config.js';
import type { ImageDestination, ImageSource } from './image-location.js';
import { endpointsFor, MirroredRegistrySource, type Endpoint } from './mirrored-source.js';
import { OciLayoutDestination, OciLayoutSource } from './oci-layout.js';
import type { RegistryClient } from './registry-client.js';
import { RegistryImageDestination, RegistryImageSource } from './registry-image.js';

const UNSUPPORTED_TRANSPORTS = ['docker-archive', 'dir', 'containers-storage', 'docker-daemon', 'oci-archive'];

export type Location = { kind: 'registry'; ref: ImageReference } | { kind: 'oci'; dir: string; tag?: string };

export function parseLocation(text: string): Location {
  if (text.startsWith('oci:')) {
    const rest = text.slice(4);
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/') && colon > 0) return { kind: 'oci', dir: rest.slice(0, colon), tag: rest.slice(colon + 1) || undefined };
    if (!rest) throw new ClientError('oci: needs a directory: oci:DIR[:TAG]');
    return { kind: 'oci', dir: rest };
  }
  const transport = /^([a-z-]+):/.exec(text)?.[1];
  if (transport && UNSUPPORTED_TRANSPORTS.includes(transport)) {
    throw new ClientError(`${transport}: locations are not supported yet (use a registry reference or oci:DIR[:TAG])`);
  }
  const ref = text.startsWith('docker://') ? text.slice('docker://'.length) : text;
  try {
    return { kind: 'registry', ref: parseReference(ref) };
  } catch (err) {
    if (err instanceof InvalidReferenceError) throw new ClientError(err.message);
    throw err;
  }
}

export interface LocationOpener {
  registryClient(registry: string): RegistryClient;
  /** Mirrors configured for a registry, tried before it when pulling. */
  mirrorsFor?(registry: string): Mirror[];
  /** Told when a mirror fails and the next endpoint is tried. */
  onMirrorFallback?(endpoint: Endpoint, error: Error): void;
}

export function openSource(loc: Location, ctx: LocationOpener): ImageSource {
  if (loc.kind === 'oci') return new OciLayoutSource(loc.dir, loc.tag);
  const mirrors = ctx.mirrorsFor?.(loc.ref.registry) ?? [];
  const endpoints = endpointsFor(loc.ref, mirrors);
  if (endpoints.length > 1) {
    return new MirroredRegistrySource((r) => ctx.registryClient(r), loc.ref, endpoints, ctx.onMirrorFallback?.bind(ctx));
  }
  return new RegistryImageSource(ctx.registryClient(loc.ref.registry), loc.ref);
}

export function openDestination(loc: Location, ctx: LocationOpener): ImageDestination {
  if (loc.kind === 'oci') return new OciLayoutDestination(loc.dir, loc.tag);
  return new RegistryImageDestination(ctx.registryClient(loc.ref.registry), loc.ref);
}
