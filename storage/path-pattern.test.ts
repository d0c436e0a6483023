import { describe, expect, it } from 'vitest';
import { digestOf } from '../oci/index.js';
import { layout } from './layout.js';
import { matchesPattern, patternRoot } from './path-pattern.js';

const a = digestOf('a');
const b = digestOf('b');

describe('path patterns', () => {
  it('match what the layout writes, for repositories of any depth', () => {
    const links = layout.repositoryLinkPatterns;
    for (const path of [
      layout.layerLink('app', a),
      layout.layerLink('team/sub/app', a),
      layout.revisionLink('team/app', a),
      layout.tagLink('a/b/c', 'v1.0'),
      layout.tagLink('app', '_underscore'),
      layout.referrerLink('app', a, b),
    ]) {
      expect(matchesPattern(links, path), path).toBe(true);
    }
    expect(matchesPattern([layout.blobDataPattern], layout.blobData(a))).toBe(true);
  });

  it('match nothing else', () => {
    const links = layout.repositoryLinkPatterns;
    for (const path of [
      layout.tagIndexLink('app', 'v1', a), // distribution's tag history: not read by GC
      `${layout.layerLink('app', a)}.tmp-1234`,
      layout.catalogEntry('app'),
      layout.blobData(a),
      '/repositories/app/_layers/sha256/link', // one level short
      '/repositories/app/_other/sha256/abc/link',
    ]) {
      expect(matchesPattern(links, path), path).toBe(false);
    }
    expect(matchesPattern([layout.blobDataPattern], layout.gcTrash(a))).toBe(false);
    expect(matchesPattern([layout.blobDataPattern], `/blobs/sha256/ab/${a.slice(7)}`)).toBe(false);
  });

  it('`**` never enters the layout\'s own directories (they begin with _)', () => {
    // A repository named like a marker cannot exist; its links are not taken for another's.
    expect(matchesPattern(['/repositories/**/_layers/*/*/link'], '/repositories/app/_manifests/_layers/sha256/x/link')).toBe(false);
    expect(matchesPattern(['/r/**/f'], '/r/f')).toBe(true);
    expect(matchesPattern(['/r/**/f'], '/r/x/y/f')).toBe(true);
  });

  it('name the directory every match lies under', () => {
    expect(patternRoot(layout.repositoryLinkPatterns)).toBe('/repositories');
    expect(patternRoot([layout.blobDataPattern])).toBe('/blobs');
    expect(patternRoot(['/a/b/c', '/a/b/d/e'])).toBe('/a/b');
    expect(patternRoot(['/a/file'])).toBe('/a');
  });
});
