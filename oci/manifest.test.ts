import { describe, expect, it } from 'vitest';
import { ValidationError } from './descriptor.js';
import { digestOf } from './digest.js';
import { isForeignLayer, parseManifest, referencedBlobs, referencedManifests, referrerDescriptor, UnsupportedManifestError } from './manifest.js';
import { MediaType } from './media-types.js';

const cfg = { mediaType: MediaType.OciConfig, digest: digestOf('{}'), size: 2 };
const layer = { mediaType: MediaType.OciLayerGzip, digest: digestOf('layer'), size: 5 };
const enc = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('parseManifest', () => {
  it('parses an OCI image manifest and lists the blobs it references', () => {
    const m = parseManifest(enc({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg, layers: [layer] }), MediaType.OciManifest);
    expect(m.kind).toBe('image');
    expect(m.artifactType).toBe(MediaType.OciConfig);
    expect(referencedBlobs(m).map((d) => d.digest)).toEqual([cfg.digest, layer.digest]);
  });

  it('takes the media type from the document when the header is generic, and infers it when absent', () => {
    expect(parseManifest(enc({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config: cfg, layers: [] }), 'application/json').mediaType).toBe(
      MediaType.DockerManifest,
    );
    expect(parseManifest(enc({ schemaVersion: 2, manifests: [] })).mediaType).toBe(MediaType.OciIndex);
    expect(parseManifest(enc({ schemaVersion: 2, config: cfg, layers: [] })).mediaType).toBe(MediaType.OciManifest);
  });

  it('parses indexes and lists their child manifests', () => {
    const child = { mediaType: MediaType.OciManifest, digest: digestOf('m'), size: 1, platform: { os: 'linux', architecture: 'amd64' } };
    const m = parseManifest(enc({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [child] }), MediaType.OciIndex);
    expect(m.kind).toBe('index');
    expect(referencedManifests(m)).toHaveLength(1);
    expect(referencedBlobs(m)).toEqual([]);
  });

  it('keeps subject and artifactType for referrers', () => {
    const subject = { mediaType: MediaType.OciManifest, digest: digestOf('s'), size: 1 };
    const doc = { schemaVersion: 2, mediaType: MediaType.OciManifest, artifactType: 'application/vnd.example.sbom', config: cfg, layers: [], subject, annotations: { a: 'b' } };
    const m = parseManifest(enc(doc), MediaType.OciManifest);
    expect(m.subject?.digest).toBe(subject.digest);
    expect(referrerDescriptor(m, digestOf('x'), 10)).toEqual({
      mediaType: MediaType.OciManifest,
      digest: digestOf('x'),
      size: 10,
      artifactType: 'application/vnd.example.sbom',
      annotations: { a: 'b' },
    });
  });

  it('does not require foreign layers to be in the registry', () => {
    const foreign = { mediaType: MediaType.DockerForeignLayer, digest: digestOf('f'), size: 1, urls: ['https://example.com/f'] };
    expect(isForeignLayer(foreign)).toBe(true);
    const m = parseManifest(enc({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config: cfg, layers: [foreign] }));
    expect(referencedBlobs(m).map((d) => d.digest)).toEqual([cfg.digest]);
  });

  it.each([
    ['not JSON', '{', ''],
    ['an array', '[]', ''],
    ['schemaVersion 3', JSON.stringify({ schemaVersion: 3, config: cfg, layers: [] }), 'schemaVersion'],
    ['a bad config digest', JSON.stringify({ schemaVersion: 2, config: { ...cfg, digest: 'sha256:xyz' }, layers: [] }), 'config.digest'],
    ['a negative size', JSON.stringify({ schemaVersion: 2, config: cfg, layers: [{ ...layer, size: -1 }] }), 'layers[0].size'],
    ['a fractional size', JSON.stringify({ schemaVersion: 2, config: cfg, layers: [{ ...layer, size: 1.5 }] }), 'layers[0].size'],
    ['layers not an array', JSON.stringify({ schemaVersion: 2, config: cfg, layers: {} }), 'layers'],
    ['a missing config', JSON.stringify({ schemaVersion: 2, layers: [] }), 'config'],
    ['a bad media type', JSON.stringify({ schemaVersion: 2, config: { ...cfg, mediaType: 'nope' }, layers: [] }), 'config.mediaType'],
    ['non-string annotations', JSON.stringify({ schemaVersion: 2, config: cfg, layers: [], annotations: { a: 1 } }), 'annotations.a'],
    ['an unknown manifest type', JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.example+json', config: cfg, layers: [] }), 'mediaType'],
  ])('rejects a manifest with %s', (_what, text, path) => {
    let err: unknown;
    try {
      parseManifest(Buffer.from(text));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).path).toBe(path);
  });

  it('rejects a Content-Type that contradicts the mediaType field', () => {
    expect(() => parseManifest(enc({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfg, layers: [] }), MediaType.DockerManifest)).toThrow(
      /does not match Content-Type/,
    );
  });

  it('takes descriptor fields written as null (as some Go clients do) as absent', () => {
    const nulls = { data: null, urls: null, annotations: null, platform: null, artifactType: null };
    const m = parseManifest(enc({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { ...cfg, ...nulls }, layers: [{ ...layer, data: null }] }), MediaType.OciManifest);
    expect(referencedBlobs(m)).toEqual([cfg, layer]);
    // Still refused: a data field that is there and wrong.
    expect(() => parseManifest(enc({ schemaVersion: 2, config: { ...cfg, data: 5 }, layers: [] }), MediaType.OciManifest)).toThrow(ValidationError);
  });

  it('refuses Docker schema 1', () => {
    expect(() => parseManifest(enc({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), MediaType.DockerSchema1SignedManifest)).toThrow(
      UnsupportedManifestError,
    );
  });
});
