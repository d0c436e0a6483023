import { describe, expect, it } from 'vitest';
import { guessManifestMediaType, isImageConfigMediaType, isImageManifestMediaType, isLayerMediaType, MediaType } from './media-types.js';

describe('media-type questions', () => {
  it('guesses a manifest type from its JSON: its own field, else index by `manifests`, else image', () => {
    expect(guessManifestMediaType(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [] }))).toBe(MediaType.DockerManifestList);
    expect(guessManifestMediaType(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })))).toBe(MediaType.OciIndex);
    expect(guessManifestMediaType(JSON.stringify({ schemaVersion: 2, config: {}, layers: [] }))).toBe(MediaType.OciManifest);
  });

  it('guesses nothing for bytes that are not a JSON object', () => {
    expect(guessManifestMediaType('not json')).toBeUndefined();
    expect(guessManifestMediaType('[1,2]')).toBeUndefined();
    expect(guessManifestMediaType('null')).toBeUndefined();
  });

  it('tells configs, image manifests and layers apart', () => {
    expect(isImageConfigMediaType(MediaType.DockerConfig)).toBe(true);
    expect(isImageConfigMediaType(MediaType.OciConfig)).toBe(true);
    expect(isImageConfigMediaType(MediaType.DockerPluginConfig)).toBe(false);
    expect(isImageManifestMediaType(MediaType.DockerManifest)).toBe(true);
    expect(isImageManifestMediaType(MediaType.OciIndex)).toBe(false);
    expect(isLayerMediaType(MediaType.OciLayerZstd)).toBe(true);
    expect(isLayerMediaType(MediaType.OciConfig)).toBe(false);
  });
});
