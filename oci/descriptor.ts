// Content descriptors (image-spec descriptor.md) and the platform object (image-index.md).
import { parseDigest, type Digest } from './digest.js';
import { isValidMediaType } from './media-types.js';
import { KindedError } from '../util/errors.js';

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  features?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  artifactType?: string;
  platform?: Platform;
}

/** A manifest's bytes with the digest and media type they were fetched, read or stored under. */
export interface ManifestBytes {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

/** A document that is not a valid OCI structure; `path` says where (e.g. `layers[2].digest`). */
export class ValidationError extends KindedError {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super('invalid', path ? `${path}: ${reason}` : reason);
    this.name = 'ValidationError';
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function validateStringMap(value: unknown, path: string): Record<string, string> {
  if (!isPlainObject(value)) throw new ValidationError(path, 'must be an object of strings');
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new ValidationError(`${path}.${k}`, 'must be a string');
  }
  return value as Record<string, string>;
}

function validateStringArray(value: unknown, path: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new ValidationError(path, 'must be an array of strings');
  }
  return value as string[];
}

export function validateMediaTypeField(value: unknown, path: string): string {
  if (typeof value !== 'string' || !isValidMediaType(value)) throw new ValidationError(path, 'must be a valid media type');
  return value;
}

export function validatePlatform(value: unknown, path: string): Platform {
  if (!isPlainObject(value)) throw new ValidationError(path, 'must be an object');
  if (typeof value.architecture !== 'string') throw new ValidationError(`${path}.architecture`, 'must be a string');
  if (typeof value.os !== 'string') throw new ValidationError(`${path}.os`, 'must be a string');
  if (value['os.version'] !== undefined && typeof value['os.version'] !== 'string') {
    throw new ValidationError(`${path}.os.version`, 'must be a string');
  }
  if (value.variant !== undefined && typeof value.variant !== 'string') throw new ValidationError(`${path}.variant`, 'must be a string');
  if (value['os.features'] !== undefined) validateStringArray(value['os.features'], `${path}.os.features`);
  if (value.features !== undefined) validateStringArray(value.features, `${path}.features`);
  return value as unknown as Platform;
}

/** Optional descriptor fields that some Go clients write as `null` rather than leave out. */
const NULLABLE_FIELDS = ['data', 'urls', 'annotations', 'platform', 'artifactType'] as const;

export function validateDescriptor(value: unknown, path: string): Descriptor {
  if (!isPlainObject(value)) throw new ValidationError(path, 'must be a descriptor object');
  // null is absent: dropped from the parsed object (the document's bytes stay as they were pushed).
  for (const f of NULLABLE_FIELDS) if (value[f] === null) delete value[f];
  validateMediaTypeField(value.mediaType, `${path}.mediaType`);
  if (typeof value.digest !== 'string') throw new ValidationError(`${path}.digest`, 'must be a string');
  try {
    parseDigest(value.digest);
  } catch (err) {
    throw new ValidationError(`${path}.digest`, (err as Error).message);
  }
  const size = value.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new ValidationError(`${path}.size`, 'must be a non-negative integer');
  }
  if (value.urls !== undefined) validateStringArray(value.urls, `${path}.urls`);
  if (value.annotations !== undefined) validateStringMap(value.annotations, `${path}.annotations`);
  if (value.artifactType !== undefined) validateMediaTypeField(value.artifactType, `${path}.artifactType`);
  if (value.platform !== undefined) validatePlatform(value.platform, `${path}.platform`);
  if (value.data !== undefined) {
    if (typeof value.data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value.data)) {
      throw new ValidationError(`${path}.data`, 'must be base64');
    }
    if (Buffer.from(value.data, 'base64').length !== size) throw new ValidationError(`${path}.data`, 'length does not match size');
  }
  return value as unknown as Descriptor;
}
