import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { accessForClaims, compileRules, Federation, FederatedAccess } from './federation.js';

const rules = compileRules([
  { issuer: '', claims: { repository: 'acme/*', ref: ['refs/heads/main', 'refs/tags/v*'] }, repositories: ['${repository}/**'], actions: ['pull', 'push'] },
  { issuer: 'https://gitlab.example', claims: { namespace_path: 'ops' }, repositories: ['ops/**'], actions: ['pull'] },
]);

function allowed(issuer: string, claims: Record<string, unknown>, repo: string): string[] {
  return [...new FederatedAccess(accessForClaims(rules, issuer, claims)).allowed(undefined, repo)].sort();
}

describe('federation rules', () => {
  it('match every listed claim (globs, lists) and fill ${claim} into repositories', () => {
    const gh = 'https://token.actions.githubusercontent.com';
    expect(allowed(gh, { repository: 'acme/web', ref: 'refs/heads/main' }, 'acme/web/app')).toEqual(['pull', 'push']);
    expect(allowed(gh, { repository: 'acme/web', ref: 'refs/tags/v1.2' }, 'acme/web/app')).toEqual(['pull', 'push']);
    expect(allowed(gh, { repository: 'acme/web', ref: 'refs/heads/feature' }, 'acme/web/app')).toEqual([]);
    expect(allowed(gh, { repository: 'acme/web', ref: 'refs/heads/main' }, 'acme/api/app')).toEqual([]);
    expect(allowed(gh, { repository: 'acme/web' }, 'acme/web/app')).toEqual([]); // a missing claim never matches
  });

  it('a rule for one issuer ignores the others', () => {
    expect(allowed('https://gitlab.example', { namespace_path: 'ops' }, 'ops/tool')).toEqual(['pull']);
    expect(allowed('https://elsewhere.example', { namespace_path: 'ops' }, 'ops/tool')).toEqual([]);
  });

  it('claim values cannot widen a glob', () => {
    const wide = compileRules([{ issuer: '', claims: {}, repositories: ['ci/${project}'], actions: ['push'] }]);
    expect(accessForClaims(wide, 'x', { project: '**' })).toEqual([]);
    expect(accessForClaims(wide, 'x', { project: 'a b' })).toEqual([]);
    expect(accessForClaims(wide, 'x', { project: { nested: 1 } })).toEqual([]);
    expect(accessForClaims(wide, 'x', { project: 'web' })).toHaveLength(1);
  });
});

describe('Federation.exchange refusals before any key is fetched', () => {
  const fed = new Federation(
    { username: 'oidc', issuers: [{ issuer: 'http://127.0.0.1:9/never', audience: 'a', jwksUrl: '' }], rules: [], algorithms: ['RS256'], leeway: 30_000, discoveryCacheFor: 3_600_000 },
    createLogger('silent'),
  );
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

  it('not a JWT, alg none, HMAC, unknown issuer', async () => {
    await expect(fed.exchange('not-a-jwt')).rejects.toMatchObject({ kind: 'malformed' });
    await expect(fed.exchange(`${b64({ alg: 'none' })}.${b64({ iss: 'http://127.0.0.1:9/never', sub: 's' })}.`)).rejects.toMatchObject({ kind: 'unsigned' });
    await expect(fed.exchange(`${b64({ alg: 'HS256' })}.${b64({ iss: 'http://127.0.0.1:9/never', sub: 's' })}.eA`)).rejects.toMatchObject({ kind: 'unsigned' });
    await expect(fed.exchange(`${b64({ alg: 'RS256' })}.${b64({ iss: 'https://evil.example', sub: 's' })}.eA`)).rejects.toMatchObject({
      kind: 'unknown-issuer',
      claimed: { issuer: 'https://evil.example', subject: 's' },
    });
  });
});
