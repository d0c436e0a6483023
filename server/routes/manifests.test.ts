import { describe, expect, it } from 'vitest';
import { digestOf, type Descriptor } from '../../oci/index.js';
import { distinctReferences } from './manifests.js';

const d = (content: string, size: number): Descriptor => ({ mediaType: 'application/octet-stream', digest: digestOf(content), size });

describe('distinctReferences', () => {
  it('keeps each digest once, with every size it was declared with', () => {
    const refs = distinctReferences([d('a', 1), ...Array.from({ length: 1000 }, () => d('b', 1)), d('b', 2), d('a', 1)]);
    expect(refs.size).toBe(2);
    expect([...refs.get(digestOf('a'))!]).toEqual([1]);
    expect([...refs.get(digestOf('b'))!].sort()).toEqual([1, 2]);
  });
});
