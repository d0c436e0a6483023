// The image store's record of images and names (<root>/images.json) and reading it. Apart from
// image-store.ts so `stevedore images` (timed against `node -e 0`) reads it without loading the
// store's writing side (locks, content, snapshots). A small file read synchronously: the first
// asynchronous fs call starts libuv's thread pool, 8 ms of an `images` profile (more than the
// rest of the listing). node:fs comes from process.getBuiltinModule: an ESM import of it builds
// its export facade by reading every export, and the `promises` getter among them loads
// node:fs/promises and with it a dozen of Node's internal modules (readline's among them).
import { join } from 'node:path';
import type { Descriptor, Digest } from '../../oci/index.js';
import { KindedError } from '../../util/errors.js';

export interface ImageRecord {
  /** The platform image manifest. */
  manifest: Digest;
  mediaType: string;
  config: Digest;
  layers: Descriptor[];
  diffIds: Digest[];
  chainIds: Digest[];
  /** The index the manifest was chosen from, when it came from a multi-platform image. */
  index?: Digest;
  platform: string;
  /** When it was pulled or loaded (ISO 8601). */
  added: string;
}

export interface RefRecord {
  /** What the name points at in its registry: the index for a multi-platform image, else the manifest. */
  target: Digest;
  /** The platform manifest used here. */
  manifest: Digest;
}

export interface StoreState {
  version: 1;
  images: Record<string, ImageRecord>;
  /** Normalised names (`docker.io/library/busybox:latest`, `host/app@sha256:…`). */
  refs: Record<string, RefRecord>;
}

export const emptyState = (): StoreState => ({ version: 1, images: {}, refs: {} });

/** The store's own state is damaged (kind \`corrupt\`). */
export class StoreError extends KindedError {
  constructor(message: string) {
    super('corrupt', message);
    this.name = 'StoreError';
  }
}

/** Where the store under `root` keeps its state. */
export function statePath(root: string): string {
  return join(root, 'images.json');
}

/** The store's state (empty when there is none yet); StoreError when the file is damaged. */
export async function readStoreState(root: string): Promise<StoreState> {
  const path = statePath(root);
  let text: string;
  try {
    text = process.getBuiltinModule('node:fs').readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw err;
  }
  try {
    const s = JSON.parse(text) as StoreState;
    if (s.version !== 1 || typeof s.images !== 'object' || typeof s.refs !== 'object') throw new Error('unknown format');
    return s;
  } catch (err) {
    throw new StoreError(`${path} is damaged (${(err as Error).message}); move it away to start an empty store`);
  }
}
