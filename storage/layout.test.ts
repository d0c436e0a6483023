import { describe, expect, it } from 'vitest';
import { digestOf } from '../oci/index.js';
import { layout, parsePath, TOP_LEVEL_DIRS } from './layout.js';

const a = digestOf('a');
const b = digestOf('b');

describe('storage layout', () => {
  it('reads back every path it builds', () => {
    expect(parsePath(layout.blobData(a))).toEqual({ kind: 'blob-data', digest: a });
    expect(parsePath(layout.layerLink('team/app', a))).toEqual({ kind: 'layer-link', repo: 'team/app', digest: a });
    expect(parsePath(layout.revisionLink('app', a))).toEqual({ kind: 'revision-link', repo: 'app', digest: a });
    expect(parsePath(layout.tagLink('a/b/c', 'v1.0'))).toEqual({ kind: 'tag-link', repo: 'a/b/c', tag: 'v1.0' });
    expect(parsePath(layout.tagIndexLink('app', 'v1', a))).toEqual({ kind: 'tag-index-link', repo: 'app', tag: 'v1', digest: a });
    expect(parsePath(layout.referrerLink('app', a, b))).toEqual({ kind: 'referrer-link', repo: 'app', subject: a, referrer: b });
    expect(parsePath(layout.gcTrash(a))).toEqual({ kind: 'gc-trash', digest: a });
    // Trash as versions before 2026-12 left it (a directory per blob): still read, so it is restored.
    expect(parsePath(`/_gc/trash/sha256/${a.slice('sha256:'.length)}/data`)).toEqual({ kind: 'gc-trash', digest: a });
    expect(parsePath(layout.quarantine(b))).toEqual({ kind: 'quarantine', digest: b });
    expect(parsePath(layout.catalogEntry('team/app'))).toEqual({ kind: 'catalog-entry', repo: 'team/app' });
    expect(parsePath(layout.quotaMarker('ns1', a, 1234))).toEqual({ kind: 'quota-marker', key: 'ns1', digest: a, size: 1234 });
    expect(parsePath(layout.uploadInfo('u1'))).toEqual({ kind: 'upload', id: 'u1', file: 'info' });
  });

  it('reads nothing into what the layout does not write', () => {
    const hex = a.slice('sha256:'.length);
    for (const p of [
      `/blobs/sha256/zz/${hex}/data`, // wrong fan-out directory
      `/blobs/sha256/${hex.slice(0, 2)}/${hex}`, // no data file
      `/blobs/md5/00/${hex}/data`,
      '/repositories/app/_layers/sha256/abc/link',
      `/repositories/_layers/sha256/${hex}/link`, // no repository name
      `/repositories/app/_manifests/tags/v1/previous/link`,
      `/repositories/app/_manifests/revisions/sha256/${hex}/data`,
      '/_mirror/last-pulled.json',
      '/_gc/last-run.json',
      layout.quotaTotal('ns1'),
      `/_quota/ns1/sha256/${hex}/-1`,
      `/_quota/ns1/sha256/${hex}`,
      'relative/path',
    ]) {
      expect(parsePath(p), p).toBeUndefined();
    }
  });

  it('names its top-level directories once', () => {
    expect([...TOP_LEVEL_DIRS].sort()).toEqual(['_gc', '_mirror', '_quota', '_stevedore', 'blobs', 'catalog', 'quarantine', 'repositories', 'uploads']);
  });
});
