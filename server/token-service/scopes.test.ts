import { describe, expect, it } from 'vitest';
import { AccessRules } from '../auth/access-rules.js';
import { AuthConfigSchema } from '../auth/auth-config.js';
import { grantScopes, parseScope } from './scopes.js';

const rules = (input: unknown) => new AccessRules(AuthConfigSchema.parse(input));
const RULES = {
  admins: ['root'],
  access: [
    { repositories: ['${user}/**'], users: ['*'], actions: ['pull', 'push', 'delete'] },
    { repositories: ['team/*'], users: ['alice'], actions: ['pull'] },
    { repositories: ['public/*'], anonymous: true, actions: ['pull'] },
  ],
};

describe('token scopes', () => {
  it('parses scope strings, with a resource class and colons in the name', () => {
    expect(parseScope('repository:a/b:pull,push')).toEqual({ type: 'repository', name: 'a/b', actions: ['pull', 'push'] });
    expect(parseScope('repository(plugin):a/b:pull')).toEqual({ type: 'repository', name: 'a/b', actions: ['pull'] });
    expect(parseScope('registry:catalog:*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
    expect(parseScope('nonsense')).toBeUndefined();
  });

  it('grants the held subset; `*` is every action the caller holds, by name', () => {
    const r = rules(RULES);
    expect(grantScopes(r, 'alice', ['repository:alice/app:*'])).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull', 'push', 'delete'] }]);
    expect(grantScopes(r, 'alice', ['repository:team/tools:*'])).toEqual([{ type: 'repository', name: 'team/tools', actions: ['pull'] }]);
    expect(grantScopes(r, 'alice', ['repository:bob/app:*'])).toEqual([]);
    expect(grantScopes(r, 'alice', ['repository:alice/app:pull,push repository:bob/x:pull'])).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
  });

  it('grants the catalog to logged-in callers, to anonymous ones only through a rule with catalog: true', () => {
    const r = rules(RULES);
    expect(grantScopes(r, undefined, ['registry:catalog:*'])).toEqual([]);
    expect(grantScopes(r, 'alice', ['registry:catalog:*'])).toEqual([{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    const open = rules({ ...RULES, access: [...RULES.access, { repositories: ['public/*'], anonymous: true, actions: ['pull'], catalog: true }] });
    expect(grantScopes(open, undefined, ['registry:catalog:*'])).toEqual([{ type: 'registry', name: 'catalog', actions: ['*'] }]);
  });

  it('grants registry:admin:* to auth.admins only (users and @groups), never to anonymous callers', () => {
    const r = rules(RULES);
    expect(grantScopes(r, 'root', ['registry:admin:*'])).toEqual([{ type: 'registry', name: 'admin', actions: ['*'] }]);
    expect(grantScopes(r, 'alice', ['registry:admin:*'])).toEqual([]);
    expect(grantScopes(r, undefined, ['registry:admin:*'])).toEqual([]);
    // An anonymous rule with catalog: true opens the catalog, not the administration.
    const open = rules({ ...RULES, access: [...RULES.access, { repositories: ['**'], anonymous: true, actions: ['pull'], catalog: true }] });
    expect(grantScopes(open, undefined, ['registry:admin:*'])).toEqual([]);
    const byGroup = rules({ ...RULES, groups: { ops: ['carol'] }, admins: ['@ops'] });
    expect(grantScopes(byGroup, 'carol', ['registry:admin:*', 'registry:catalog:*'])).toEqual([
      { type: 'registry', name: 'admin', actions: ['*'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    expect(grantScopes(byGroup, 'root', ['registry:admin:*'])).toEqual([]);
    // Without access rules every logged-in caller may do anything to repositories, but is no admin.
    expect(grantScopes(rules({}), 'alice', ['registry:admin:*'])).toEqual([]);
  });
});
