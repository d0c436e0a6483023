import { describe, expect, it } from 'vitest';
import { globToRegExp, policyFor, tagsToDelete } from './retention.js';

const hour = 3_600_000;
const now = Date.UTC(2026, 10, 23, 12);
const pushed = (hoursAgo: number) => new Date(now - hoursAgo * hour);

describe('retention globs', () => {
  it.each([
    ['team/*', 'team/app', true],
    ['team/*', 'team/app/sub', false],
    ['team/**', 'team/app/sub', true],
    ['v1.?', 'v1.2', true],
    ['v1.?', 'v1.23', false],
    ['release-*', 'release-2026.1', true],
    ['app.v1', 'appxv1', false], // the dot is literal
    ['*', 'a/b', false],
  ])('%s matches %s: %s', (glob, value, expected) => {
    expect(globToRegExp(glob).test(value)).toBe(expected);
  });

  it('takes the first policy whose repositories match', () => {
    const a = { repositories: ['team/ci-*'], keepLast: 1 };
    const b = { repositories: ['team/**'], keepLast: 5 };
    expect(policyFor([a, b], 'team/ci-cache')).toBe(a);
    expect(policyFor([a, b], 'team/web/app')).toBe(b);
    expect(policyFor([a, b], 'other/app')).toBeUndefined();
  });
});

describe('tagsToDelete', () => {
  const tags = new Map([
    ['latest', pushed(0)],
    ['v3', pushed(1)],
    ['v2', pushed(48)],
    ['v1', pushed(240)],
    ['release-1', pushed(500)],
  ]);

  it('keeps the last N pushed, protected and kept patterns', () => {
    expect(tagsToDelete({ repositories: ['*'], keepLast: 2, protect: ['release-*'] }, tags, now)).toEqual(['v1', 'v2']);
    expect(tagsToDelete({ repositories: ['*'], keepLast: 2, keepTags: ['v?'] }, tags, now)).toEqual(['release-1']);
  });

  it('deletes tags older than a duration unless something keeps them', () => {
    expect(tagsToDelete({ repositories: ['*'], deleteOlderThan: 24 * hour }, tags, now)).toEqual(['release-1', 'v1', 'v2']);
    expect(tagsToDelete({ repositories: ['*'], deleteOlderThan: 24 * hour, keepLast: 3 }, tags, now)).toEqual(['release-1', 'v1']);
    expect(tagsToDelete({ repositories: ['*'], deleteOlderThan: 24 * hour, protect: ['*'] }, tags, now)).toEqual([]);
  });

  it('deletes nothing for a policy that says nothing about what to keep', () => {
    expect(tagsToDelete({ repositories: ['*'], protect: ['latest'] }, tags, now)).toEqual([]);
  });
});
