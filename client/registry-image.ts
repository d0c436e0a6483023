// A repository in a registry as an image source and destination.
import type { Readable } from 'node:stream';
import { formatReference, referenceSelector, type Descriptor, type Digest, type ImageReference } from '../oci/index.js';
import type { ImageDestination, ImageSource, ManifestBytes } from './image-location.js';
import type { RegistryClient } from './registry-client.js';

export class RegistryImageSource implements ImageSource {
  readonly description: string;
  readonly registryRepository: { registry: string; repository: string };

  constructor(
    readonly client: RegistryClient,
    readonly ref: ImageReference,
  ) {
    this.description = formatReference(ref);
    this.registryRepository = { registry: ref.registry, repository: ref.repository };
  }

  topManifest(): Promise<ManifestBytes> {
    return this.client.getManifest(this.ref.repository, referenceSelector(this.ref));
  }

  manifest(digest: Digest): Promise<ManifestBytes> {
    return this.client.getManifest(this.ref.repository, digest);
  }

  openBlob(desc: Descriptor, offset = 0): Promise<Readable> {
    return this.client.openBlob(this.ref.repository, desc.digest, offset);
  }
}

export class RegistryImageDestination implements ImageDestination {
  readonly description: string;

  constructor(
    readonly client: RegistryClient,
    readonly ref: ImageReference,
    private readonly uploadOptions: { monolithicMax?: number; chunkSize?: number } = {},
  ) {
    this.description = formatReference(ref);
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const size = await this.client.headBlob(this.ref.repository, desc.digest);
    return size !== undefined && size === desc.size;
  }

  async putBlob(desc: Descriptor, source: ImageSource, onProgress?: (bytes: number) => void): Promise<void> {
    const file = source.blobFile && (() => source.blobFile!(desc));
    await this.client.uploadBlob(this.ref.repository, desc, { open: (offset) => source.openBlob(desc, offset), file }, { ...this.uploadOptions, onProgress });
  }

  async tryMount(desc: Descriptor, from: { registry: string; repository: string }): Promise<boolean> {
    if (from.registry !== this.ref.registry || from.repository === this.ref.repository) return false;
    return this.client.mountBlob(this.ref.repository, desc.digest, from.repository);
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    return (await this.client.headManifest(this.ref.repository, digest)) !== undefined;
  }

  async putManifest(manifest: ManifestBytes, top: boolean): Promise<void> {
    // Children go by digest; the top manifest by the destination's tag (or digest if it has none).
    const reference = top && this.ref.tag !== undefined ? this.ref.tag : manifest.digest;
    await this.client.putManifest(this.ref.repository, reference, manifest);
  }

  async commit(): Promise<void> {}
}
