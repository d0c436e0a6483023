import { describe, expect, it } from 'vitest';
import * as base from '../routes/base.js';
import * as blobs from '../routes/blobs.js';
import * as listing from '../routes/listing.js';
import * as manifests from '../routes/manifests.js';
import * as quotas from '../routes/quotas.js';
import * as referrers from '../routes/referrers.js';
import * as uploads from '../routes/uploads.js';
import * as operations from '../ui/operations.js';
import * as ui from '../ui/ui-api.js';
import { requiredAccess, scopeString } from './route-scopes.js';

const D = `sha256:${'a'.repeat(64)}`;
// One sample path per route pattern of server/routes/*. A new pattern fails the first test until
// it is given a sample here and a required action in route-scopes.ts.
const SAMPLES: Record<string, string> = {
  BASE: '/v2/',
  BLOB: `/v2/a/b/blobs/${D}`,
  CATALOG: '/v2/_catalog',
  TAGS: '/v2/a/b/tags/list',
  MANIFEST: '/v2/a/b/manifests/v1',
  REFERRERS: `/v2/a/b/referrers/${D}`,
  UPLOADS: '/v2/a/b/blobs/uploads/',
  UPLOAD: '/v2/a/b/blobs/uploads/some-id',
  UI_REPOSITORIES: '/v2/_ui/repositories',
  UI_SUMMARY: '/v2/a/b/_ui/summary',
  UI_TAGS: '/v2/a/b/_ui/tags',
  UI_OPERATIONS: '/v2/_ui/operations',
  UI_ADMIN: '/v2/_ui/admin',
  QUOTAS: '/v2/_quotas',
};

const need = (method: string, path: string, query: Record<string, string | string[]> = {}) => scopeString(requiredAccess({ method, path, query }));

describe('route scopes', () => {
  it('every route pattern exported by server/routes/* has a sample here', () => {
    const patterns = Object.entries({ ...base, ...blobs, ...listing, ...manifests, ...referrers, ...uploads, ...ui, ...operations, ...quotas }).filter(([, v]) => v instanceof RegExp);
    for (const [name, re] of patterns) {
      expect(SAMPLES[name], `route ${name}`).toBeDefined();
      expect((re as RegExp).test(SAMPLES[name]!), name).toBe(true);
    }
  });

  it('maps each route and method to the access it needs', () => {
    expect(need('GET', SAMPLES.BASE!)).toBe('');
    expect(need('GET', SAMPLES.CATALOG!)).toBe('registry:catalog:*');
    expect(need('GET', SAMPLES.TAGS!)).toBe('repository:a/b:pull');
    for (const m of ['GET', 'HEAD']) {
      expect(need(m, SAMPLES.MANIFEST!)).toBe('repository:a/b:pull');
      expect(need(m, SAMPLES.BLOB!)).toBe('repository:a/b:pull');
    }
    expect(need('PUT', SAMPLES.MANIFEST!)).toBe('repository:a/b:pull,push');
    expect(need('DELETE', SAMPLES.MANIFEST!)).toBe('repository:a/b:delete');
    expect(need('DELETE', SAMPLES.BLOB!)).toBe('repository:a/b:delete');
    expect(need('GET', SAMPLES.REFERRERS!)).toBe('repository:a/b:pull');
    // The web UI's endpoints: the filtered catalog, and a repository's summary and tags (read only).
    expect(need('GET', SAMPLES.UI_REPOSITORIES!)).toBe('registry:catalog:*');
    expect(need('GET', SAMPLES.UI_SUMMARY!)).toBe('repository:a/b:pull');
    expect(need('GET', SAMPLES.UI_TAGS!)).toBe('repository:a/b:pull');
    expect(need('DELETE', SAMPLES.UI_TAGS!)).toBe('repository:a/b:pull');
    // The Operations view (whole-registry storage, GC, retention and mirror state): admins only.
    expect(need('GET', SAMPLES.UI_OPERATIONS!)).toBe('registry:admin:*');
    expect(need('GET', SAMPLES.UI_ADMIN!)).toBe('registry:admin:*');
    // Every quota's usage (server/routes/quotas.ts): registry-wide, admins only.
    expect(need('GET', SAMPLES.QUOTAS!)).toBe('registry:admin:*');
    // Not a repository named `_ui`: the name is invalid, and the path is not taken for one.
    expect(need('GET', '/v2/_ui/operations/manifests/v1')).toBe('');
    for (const m of ['POST', 'GET', 'PATCH', 'PUT', 'DELETE']) expect(need(m, m === 'POST' ? SAMPLES.UPLOADS! : SAMPLES.UPLOAD!)).toBe('repository:a/b:pull,push');
    expect(need('POST', SAMPLES.UPLOADS!, { mount: D, from: 'c/d' })).toBe('repository:a/b:pull,push repository:c/d:pull');
    // The source of a mount is asked for, not required: the handler mounts only when it is held.
    expect(requiredAccess({ method: 'POST', path: SAMPLES.UPLOADS!, query: { mount: D, from: 'c/d' } })[1]).toMatchObject({ name: 'c/d', action: 'pull', optional: true });
    // A repeated or bracketed parameter is refused by the handler: no second repository here.
    const scopes = (query: Record<string, string | string[]>) => scopeString(requiredAccess({ method: 'POST', path: SAMPLES.UPLOADS!, query }));
    expect(scopes({ mount: D, from: ['c/d', 'a/b'] })).toBe('repository:a/b:pull,push');
    expect(scopes({ mount: D, 'from[]': 'c/d' })).toBe('repository:a/b:pull,push');
    // Unknown methods on known routes are treated as writes.
    expect(need('POST', SAMPLES.MANIFEST!)).toBe('repository:a/b:pull,push');
    // Invalid names: authentication only (the route answers NAME_INVALID).
    expect(need('GET', '/v2/UPPER/manifests/v1')).toBe('');
  });
});
