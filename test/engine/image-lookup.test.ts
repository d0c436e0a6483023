// Finding local images the ways users name them.
import { describe, expect, it } from 'vitest';
import { AmbiguousImageError, lookupImage } from '../../engine/image-lookup.js';
import type { ImageRecord, StoreState } from '../../engine/store/image-store.js';
import type { Digest } from '../../oci/index.js';

const d = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}` as Digest;

function record(manifest: Digest, config: Digest, index?: Digest): ImageRecord {
  const r: ImageRecord = { manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [], diffIds: [], chainIds: [], platform: 'linux/amd64', added: '2024-01-01T00:00:00Z' };
  if (index) r.index = index;
  return r;
}

const busybox = record(d('a1'), d('c1'), d('e1'));
const app = record(d('a2'), d('c12'));
const state: StoreState = {
  version: 1,
  images: { [busybox.manifest]: busybox, [app.manifest]: app },
  refs: {
    'docker.io/library/busybox:latest': { target: d('e1'), manifest: busybox.manifest },
    'localhost:5000/app:1': { target: app.manifest, manifest: app.manifest },
  },
};

describe('lookupImage', () => {
  it('finds images by normalised name', () => {
    expect(lookupImage(state, 'busybox')).toEqual({ record: busybox, name: 'docker.io/library/busybox:latest' });
    expect(lookupImage(state, 'docker.io/library/busybox:latest')?.record).toBe(busybox);
    expect(lookupImage(state, 'localhost:5000/app:1')?.name).toBe('localhost:5000/app:1');
    expect(lookupImage(state, 'localhost:5000/app:2')).toBeUndefined();
    expect(lookupImage(state, 'app:1')).toBeUndefined();
  });

  it('finds images by manifest digest or by the digest of the index they came from', () => {
    expect(lookupImage(state, `busybox@${d('a1')}`)?.record).toBe(busybox);
    expect(lookupImage(state, `whatever/name@${d('e1')}`)?.record).toBe(busybox);
    expect(lookupImage(state, `busybox@${d('ff')}`)).toBeUndefined();
  });

  it('finds images by id (config digest) or a unique prefix, and refuses an ambiguous one', () => {
    expect(lookupImage(state, d('c1'))?.record).toBe(busybox);
    expect(lookupImage(state, 'c1c1c1c1c1c1')?.record).toBe(busybox);
    expect(lookupImage(state, 'c12c12')?.record).toBe(app);
    expect(lookupImage(state, 'c1c1')?.record).toBe(busybox); // c1c1… only, not c12c…
    expect(lookupImage(state, 'c1')).toBeUndefined(); // too short to be an id: a name, and there is none
    expect(() => lookupImage({ ...state, images: { ...state.images, x: record(d('a3'), d('c1c1ff')) } }, 'c1c1')).toThrow(AmbiguousImageError);
  });
});
