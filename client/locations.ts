// Opening skopeo-style locations (parsed in location-parse.ts) as image sources and destinations.
export { looksLikePath, parseLocation, type Location } from './location-parse.js';
import type { Location } from './location-parse.js';
import { ClientError } from './errors.js';
import { DockerArchiveDestination, DockerArchiveSource, type ArchiveLayerEvent } from './docker-archive.js';
import type { Mirror } from './client-config.js';
import type { ImageDestination, ImageSource } from './image-location.js';
import { endpointsFor, MirroredRegistrySource, type Endpoint } from './mirrored-source.js';
import { OciLayoutDestination, OciLayoutSource } from './oci-layout.js';
import type { RegistryClient } from './registry-client.js';
import { RegistryImageDestination, RegistryImageSource } from './registry-image.js';

export interface LocationOpener {
  registryClient(registry: string): RegistryClient;
  /** Mirrors configured for a registry, tried before it when pulling. */
  mirrorsFor?(registry: string): Mirror[];
  /** Told when a mirror fails and the next endpoint is tried. */
  onMirrorFallback?(endpoint: Endpoint, error: Error): void;
  /** Told as a docker archive's layers are checked or compressed, before the copy can start. */
  onArchiveLayer?(e: ArchiveLayerEvent): void;
}

export function openSource(loc: Location, ctx: LocationOpener): ImageSource {
  if (loc.kind === 'oci') return new OciLayoutSource(loc.dir, loc.tag);
  if (loc.kind === 'docker-archive') return new DockerArchiveSource(loc.file, { ref: loc.ref, index: loc.index }, { onLayer: ctx.onArchiveLayer?.bind(ctx) });
  const mirrors = ctx.mirrorsFor?.(loc.ref.registry) ?? [];
  const endpoints = endpointsFor(loc.ref, mirrors);
  if (endpoints.length > 1) {
    return new MirroredRegistrySource((r) => ctx.registryClient(r), loc.ref, endpoints, ctx.onMirrorFallback?.bind(ctx));
  }
  return new RegistryImageSource(ctx.registryClient(loc.ref.registry), loc.ref);
}

export function openDestination(loc: Location, ctx: LocationOpener): ImageDestination {
  if (loc.kind === 'oci') return new OciLayoutDestination(loc.dir, loc.tag);
  if (loc.kind === 'docker-archive') {
    if (loc.index !== undefined) throw new ClientError(`docker-archive:${loc.file}:@${loc.index}: @N only selects an image to read; name the image to write with docker-archive:FILE:NAME[:TAG]`);
    return new DockerArchiveDestination(loc.file, loc.ref);
  }
  return new RegistryImageDestination(ctx.registryClient(loc.ref.registry), loc.ref);
}
