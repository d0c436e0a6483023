import { describe, expect, it } from 'vitest';
import { AccessRules, globToRegExp } from './access-rules.js';
import { AuthConfigSchema } from './auth-config.js';

const rules = (input: unknown) => new AccessRules(AuthConfigSchema.parse(input));

describe('access rules', () => {
  it('globs: * stays within a path component, ** crosses them, other characters are literal', () => {
    expect(globToRegExp('team/*').test('team/app')).toBe(true);
    expect(globToRegExp('team/*').test('team/a/b')).toBe(false);
    expect(globToRegExp('team/**').test('team/a/b')).toBe(true);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
  });

  it('personal namespaces, groups, anonymous rules and admins', () => {
    const r = rules({
      groups: { ci: ['bob'], ops: ['olga'] },
      admins: ['root', '@ops'],
      access: [
        { repositories: ['${user}/**'], users: ['*'], actions: ['pull', 'push', 'delete'] },
        { repositories: ['team/*'], groups: ['ci'], actions: ['pull', 'push'] },
        { repositories: ['public/*'], anonymous: true, actions: ['pull'] },
      ],
    });
    expect([...r.allowed('alice', 'alice/x/y')]).toEqual(['pull', 'push', 'delete']);
    expect([...r.allowed('alice', 'bob/x')]).toEqual([]);
    expect([...r.allowed('bob', 'team/tools')]).toEqual(['pull', 'push']);
    expect([...r.allowed('alice', 'team/tools')]).toEqual([]);
    expect([...r.allowed(undefined, 'public/base')]).toEqual(['pull']);
    expect([...r.allowed(undefined, 'alice/x')]).toEqual([]);
    expect(r.allowed('root', 'anything/at/all').size).toBe(3);
    expect(r.allowed('olga', 'anything').size).toBe(3);
    // A user name cannot widen its own namespace pattern.
    expect([...r.allowed('*', 'alice/x')]).toEqual([]);
    expect(r.mayListCatalog(undefined)).toBe(true);
  });

  it('without rules: every authenticated user may do everything, anonymous callers nothing', () => {
    const r = rules({});
    expect(r.allowed('anyone', 'x/y').size).toBe(3);
    expect(r.allowed(undefined, 'x/y').size).toBe(0);
    expect(r.mayListCatalog(undefined)).toBe(false);
  });
});
