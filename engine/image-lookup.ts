// Finding a local image by what a user types: a name (`busybox`, `host:5000/app:1`), a digest
// reference (`app@sha256:…`, the index's or the platform manifest's digest), or an image id
// (the config digest, as `docker images` shows it) or a unique prefix of it.
// oci's modules themselves, not its index: `run` of a local image loads only what it uses (start-up time).
import { formatReference, InvalidReferenceError, parseReference } from '../oci/reference.js';
import type { ImageRecord, StoreState } from './store/image-store.js';
import { KindedError } from '../util/errors.js';

/** A short id that matches several images (kind \`invalid\`: give more of it). */
export class AmbiguousImageError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'AmbiguousImageError';
  }
}

export interface Found {
  record: ImageRecord;
  /** The normalised name it was found by, when found by name. */
  name?: string;
}

const ID_PREFIX = /^(?:sha256:)?([a-f0-9]{4,64})$/;

/** The short image id `docker images` prints. */
export function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

export function lookupImage(state: StoreState, text: string): Found | undefined {
  let ref;
  try {
    ref = parseReference(text);
  } catch (err) {
    if (!(err instanceof InvalidReferenceError)) throw err;
  }
  if (ref) {
    if (ref.digest) {
      const d = ref.digest;
      // By digest, the name may be anything that holds it (as Docker): the manifest or the index it came from.
      const direct = state.images[d];
      if (direct) return { record: direct };
      const fromIndex = Object.values(state.images).filter((i) => i.index === d);
      if (fromIndex.length > 0) return { record: fromIndex[0]! };
    } else {
      const name = formatReference(ref);
      const r = state.refs[name];
      if (r && state.images[r.manifest]) return { record: state.images[r.manifest]!, name };
    }
  }
  const m = ID_PREFIX.exec(text);
  if (m) {
    const prefix = m[1]!;
    const hits = new Map<string, ImageRecord>();
    for (const img of Object.values(state.images)) {
      if (img.config.slice(7).startsWith(prefix) || (text.startsWith('sha256:') && img.manifest.slice(7).startsWith(prefix))) hits.set(img.manifest, img);
    }
    if (hits.size > 1) throw new AmbiguousImageError(`${text} matches ${hits.size} images; give more of the id`);
    const only = [...hits.values()][0];
    if (only) return { record: only };
  }
  return undefined;
}

/** Names pointing at an image. */
export function namesOf(state: StoreState, manifest: string): string[] {
  return Object.entries(state.refs)
    .filter(([, r]) => r.manifest === manifest)
    .map(([n]) => n)
    .sort();
}
