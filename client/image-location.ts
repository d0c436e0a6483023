// Where images are read from and written to: a registry, an OCI image layout, a docker archive,
// (later) the engine's store. Copying works between any source and destination.
import type { Readable } from 'node:stream';
import type { Descriptor, Digest, ManifestBytes } from '../oci/index.js';

/** Defined in oci/descriptor.ts; re-exported because every image location speaks it. */
export type { ManifestBytes };

export interface ImageSource {
  /** For messages: `localhost:5000/app:1`, `oci:/tmp/layout:1`. */
  readonly description: string;
  /** The manifest or index the location names. */
  topManifest(): Promise<ManifestBytes>;
  manifest(digest: Digest): Promise<ManifestBytes>;
  /** The blob's bytes from `offset`. */
  openBlob(desc: Descriptor, offset?: number): Promise<Readable>;
  /** The blob's local file, where the source keeps it as one (uploads read it into reused buffers); else undefined: openBlob. */
  blobFile?(desc: Descriptor): Promise<string | undefined>;
  /** The registry host and repository, when the source is a registry (for cross-repository mounts). */
  readonly registryRepository?: { registry: string; repository: string };
  /** After topManifest(): which endpoint served it, when the source has several (mirrors). */
  readonly servedBy?: { description: string };
  /** Releases the source and removes its temporary files (e.g. a docker archive's compressed layers). */
  close?(): Promise<void>;
}

export interface ImageDestination {
  readonly description: string;
  hasBlob(desc: Descriptor): Promise<boolean>;
  /** Stores a blob from `source`; the content is verified against the descriptor before it is kept. */
  putBlob(desc: Descriptor, source: ImageSource, onProgress?: (bytes: number) => void): Promise<void>;
  /** Mounts a blob from another repository of the same registry, if possible. */
  tryMount?(desc: Descriptor, from: { registry: string; repository: string }): Promise<boolean>;
  hasManifest(digest: Digest): Promise<boolean>;
  /** Stores a manifest; `top` is the one the destination's name or tag should point at. */
  putManifest(manifest: ManifestBytes, top: boolean): Promise<void>;
  /** Makes everything written visible (e.g. rewrites an OCI layout's index.json). */
  commit(): Promise<void>;
  /** Releases the destination; whatever was written but not committed is discarded (e.g. a partial docker archive). */
  close?(): Promise<void>;
}
