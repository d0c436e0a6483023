import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { AuditLog, type AuditRecord } from './audit-log.js';
import { requestedChange } from './registry-audit.js';

describe('AuditLog', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stevedore-audit-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('appends one JSON line per record to what the file held, with a time and a system actor by default', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, '{"earlier":true}\n');
    const forwarded: [string[], AuditRecord][] = [];
    const audit = new AuditLog({ file: path, stdout: false, endpoints: ['siem'], reads: false }, createLogger('silent'), (n, r) => forwarded.push([n, r]));
    await audit.ready();
    const writes = Array.from({ length: 50 }, (_, i) => audit.record({ action: 'gc.delete', outcome: 'success', target: { digest: `sha256:${i}` } }));
    await Promise.all(writes);
    await audit.record({ action: 'config.reload', outcome: 'success', actor: { kind: 'user', name: 'root' } });
    await audit.close();
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(52);
    expect(JSON.parse(lines[0]!)).toEqual({ earlier: true });
    const recs = lines.slice(1).map((l) => JSON.parse(l) as AuditRecord);
    expect(recs.slice(0, 50).map((r) => r.target?.digest)).toEqual(Array.from({ length: 50 }, (_, i) => `sha256:${i}`));
    expect(recs[0]).toMatchObject({ action: 'gc.delete', outcome: 'success', actor: { kind: 'system' } });
    expect(Date.parse(recs[0]!.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(recs[50]!.actor).toEqual({ kind: 'user', name: 'root' });
    expect(forwarded).toHaveLength(51);
    expect(forwarded[0]![0]).toEqual(['siem']);
  });

  it('an audit file that cannot be opened fails at start', async () => {
    const audit = new AuditLog({ file: join(dir, 'missing', 'audit.log'), stdout: false, endpoints: [], reads: false }, createLogger('silent'));
    await expect(audit.ready()).rejects.toThrow(/ENOENT/);
  });

  it('is off without outputs', async () => {
    const audit = new AuditLog({ file: '', stdout: false, endpoints: [], reads: false }, createLogger('silent'));
    expect(audit.enabled).toBe(false);
    await audit.record({ action: 'token.create', outcome: 'success' });
  });
});

describe('requestedChange', () => {
  it('names the change of each mutating registry request', () => {
    expect(requestedChange('PUT', '/v2/a/b/manifests/v1')).toEqual({ action: 'manifest.push', target: { repository: 'a/b', tag: 'v1' } });
    expect(requestedChange('DELETE', '/v2/a/manifests/v1')).toEqual({ action: 'tag.delete', target: { repository: 'a', tag: 'v1' } });
    expect(requestedChange('DELETE', '/v2/a/manifests/sha256:ab')).toEqual({ action: 'manifest.delete', target: { repository: 'a', digest: 'sha256:ab' } });
    expect(requestedChange('POST', '/v2/a/blobs/uploads/')).toEqual({ action: 'upload', target: { repository: 'a' } });
    expect(requestedChange('PATCH', '/v2/a/blobs/uploads/123')).toEqual({ action: 'upload', target: { repository: 'a' } });
    expect(requestedChange('DELETE', '/v2/a/blobs/sha256:ab')).toEqual({ action: 'blob.delete', target: { repository: 'a', digest: 'sha256:ab' } });
    expect(requestedChange('POST', '/v2/_stevedore/tokens')).toEqual({ action: 'token.create', target: {} });
    expect(requestedChange('DELETE', '/v2/_stevedore/tokens/ci')).toEqual({ action: 'token.revoke', target: { robot: 'ci' } });
    expect(requestedChange('GET', '/v2/a/manifests/v1')).toBeUndefined();
    expect(requestedChange('HEAD', '/v2/a/blobs/sha256:ab')).toBeUndefined();
  });
});

describe('audit configuration', () => {
  it('endpoints must be notification endpoints', () => {
    expect(() => loadConfig({ env: { STEVEDORE_AUDIT_ENDPOINTS: '[siem]' } })).toThrow(/audit.endpoints: "siem" is not among notifications.endpoints/);
  });
});
