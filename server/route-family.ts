// A fixed classification of request paths into route families, for metric labels and the access
// log. The label values are a closed set: repository names, digests, tags and upload ids never
// become label values, whatever a client sends.
import { BASE } from './routes/base.js';
import { BLOB } from './routes/blobs.js';
import { CATALOG, TAGS } from './routes/listing.js';
import { MANIFEST } from './routes/manifests.js';
import { REFERRERS } from './routes/referrers.js';
import { UPLOAD, UPLOADS } from './routes/uploads.js';

export const HEALTHZ_PATH = '/healthz';
export const READYZ_PATH = '/readyz';

export type RouteFamily =
  | 'base'
  | 'catalog'
  | 'tags'
  | 'manifests'
  | 'blobs'
  | 'blob_uploads'
  | 'referrers'
  | 'healthz'
  | 'readyz'
  | 'metrics'
  | 'other';

// Order matters as in the router: /blobs/uploads/… is not a blob digest.
const FAMILIES: [RegExp, RouteFamily][] = [
  [BASE, 'base'],
  [CATALOG, 'catalog'],
  [UPLOADS, 'blob_uploads'],
  [UPLOAD, 'blob_uploads'],
  [BLOB, 'blobs'],
  [MANIFEST, 'manifests'],
  [REFERRERS, 'referrers'],
  [TAGS, 'tags'],
];

export function routeFamily(path: string, metricsPath?: string): RouteFamily {
  if (path === HEALTHZ_PATH) return 'healthz';
  if (path === READYZ_PATH) return 'readyz';
  if (metricsPath !== undefined && path === metricsPath) return 'metrics';
  if (!path.startsWith('/v2')) return 'other';
  for (const [re, family] of FAMILIES) if (re.test(path)) return family;
  return 'other';
}

/** Health checks and metrics scrapes: quiet in the access log, never rate limited. */
export function isOperationalFamily(family: RouteFamily): boolean {
  return family === 'healthz' || family === 'readyz' || family === 'metrics';
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The request method as a bounded label value. */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : 'other';
}
