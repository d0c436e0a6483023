// Parsing and validation of image manifests and indexes, OCI and Docker schema 2
// (image-spec manifest.md and image-index.md; Docker "Image Manifest V 2, Schema 2").
import { digestOf, type Digest } from './digest.js';
import {
  isPlainObject,
  validateDescriptor,
  validateMediaTypeField,
  validateStringMap,
  ValidationError,
  type Descriptor,
} from './descriptor.js';
import { MediaType, MANIFEST_MEDIA_TYPES, baseMediaType, isIndexMediaType } from './media-types.js';

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type ParsedManifest =
  | { kind: 'image'; mediaType: string; document: ImageManifest; subject?: Descriptor; artifactType?: string }
  | { kind: 'index'; mediaType: string; document: ImageIndex; subject?: Descriptor; artifactType?: string };

/** Refused manifests (schema 1): a separate error so callers can explain it. */
export class UnsupportedManifestError extends ValidationError {}

/**
 * Parses a manifest as received, with the media type it was sent as (a Content-Type header, may be
 * empty). The media type is resolved from the header, the document's `mediaType` field, or its shape;
 * when header and field disagree the manifest is invalid.
 */
export function parseManifest(bytes: Uint8Array, declaredType?: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw new ValidationError('', `not valid JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(json)) throw new ValidationError('', 'manifest must be a JSON object');

  const header = declaredType ? baseMediaType(declaredType) : '';
  const field = json.mediaType;
  if (field !== undefined && typeof field !== 'string') throw new ValidationError('mediaType', 'must be a string');
  if (
    header === MediaType.DockerSchema1Manifest ||
    header === MediaType.DockerSchema1SignedManifest ||
    field === MediaType.DockerSchema1Manifest ||
    field === MediaType.DockerSchema1SignedManifest ||
    json.schemaVersion === 1
  ) {
    throw new UnsupportedManifestError('schemaVersion', 'Docker schema 1 manifests are not supported');
  }
  if (json.schemaVersion !== 2) throw new ValidationError('schemaVersion', 'must be 2');

  const headerIsManifest = MANIFEST_MEDIA_TYPES.includes(header);
  let mediaType: string;
  if (headerIsManifest) {
    if (field !== undefined && field !== header) {
      throw new ValidationError('mediaType', `${field} does not match Content-Type ${header}`);
    }
    mediaType = header;
  } else if (typeof field === 'string') {
    mediaType = field;
  } else {
    // No usable type given anywhere: infer OCI types from the shape, as clients that omit it expect.
    mediaType = Array.isArray(json.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  }
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw new ValidationError('mediaType', `unsupported manifest media type ${mediaType}`);
  }

  if (json.artifactType !== undefined) validateMediaTypeField(json.artifactType, 'artifactType');
  if (json.annotations !== undefined) validateStringMap(json.annotations, 'annotations');
  const subject = json.subject === undefined ? undefined : validateDescriptor(json.subject, 'subject');

  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(json.manifests)) throw new ValidationError('manifests', 'must be an array');
    json.manifests.forEach((d, i) => validateDescriptor(d, `manifests[${i}]`));
    if (json.config !== undefined || json.layers !== undefined) {
      throw new ValidationError('', 'an index must not have config or layers');
    }
    const document = json as unknown as ImageIndex;
    return { kind: 'index', mediaType, document, subject, artifactType: document.artifactType };
  }

  validateDescriptor(json.config, 'config');
  if (!Array.isArray(json.layers)) throw new ValidationError('layers', 'must be an array');
  json.layers.forEach((d, i) => validateDescriptor(d, `layers[${i}]`));
  if (json.manifests !== undefined) throw new ValidationError('manifests', 'an image manifest must not have manifests');
  if (mediaType === MediaType.DockerManifest && (json.subject !== undefined || json.artifactType !== undefined)) {
    throw new ValidationError('', 'Docker schema 2 manifests have no subject or artifactType');
  }
  const document = json as unknown as ImageManifest;
  // image-spec 1.1: the artifact type of a manifest without artifactType is its config's media type.
  const artifactType = document.artifactType ?? document.config.mediaType;
  return { kind: 'image', mediaType, document, subject, artifactType };
}

/** Whether a layer may live outside the registry (foreign / non-distributable with URLs). */
export function isForeignLayer(d: Descriptor): boolean {
  return (
    (d.urls?.length ?? 0) > 0 &&
    (d.mediaType === MediaType.DockerForeignLayer || d.mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.'))
  );
}

/** Blobs a manifest needs present in its repository (config and distributable layers). */
export function referencedBlobs(m: ParsedManifest): Descriptor[] {
  if (m.kind === 'index') return [];
  return [m.document.config, ...m.document.layers.filter((l) => !isForeignLayer(l))];
}

/** Manifests an index needs present in its repository. */
export function referencedManifests(m: ParsedManifest): Descriptor[] {
  return m.kind === 'index' ? m.document.manifests : [];
}

/** The descriptor of a manifest as a referrer entry (distribution-spec "Listing Referrers"). */
export function referrerDescriptor(m: ParsedManifest, digest: Digest, size: number): Descriptor {
  const d: Descriptor = { mediaType: m.mediaType, digest, size };
  if (m.artifactType) d.artifactType = m.artifactType;
  if (m.document.annotations && Object.keys(m.document.annotations).length > 0) d.annotations = m.document.annotations;
  return d;
}

export function manifestDigest(bytes: Uint8Array): Digest {
  return digestOf(bytes);
}
