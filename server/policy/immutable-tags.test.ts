import { describe, expect, it } from 'vitest';
import { ImmutableTags, isSemverTag } from './immutable-tags.js';

describe('semantic version tags', () => {
  it.each(['1.2.3', 'v1.2.3', '0.0.0', '10.20.30', '1.0.0-rc.1', '1.0.0-alpha', '1.0.0-0.3.7', '1.0.0-x-y-z.--'])('%s is a semantic version', (t) => {
    expect(isSemverTag(t)).toBe(true);
  });
  it.each(['1.2', '1', 'latest', '01.2.3', '1.02.3', '1.2.3-01', '1.2.3-', 'V1.2.3', '1.2.3.4', 'v1.2.3_rc', 'release-1.2.3'])('%s is not', (t) => {
    expect(isSemverTag(t)).toBe(false);
  });
});

describe('immutable tag rules', () => {
  const rules = new ImmutableTags([
    { name: 'releases', repositories: ['team/**'], tags: ['release-*', 'stable'], semver: false },
    { repositories: ['**'], tags: [], semver: true },
  ]);

  it('matches repository and tag globs, first rule first', () => {
    expect(rules.ruleFor('team/web', 'release-2026.1')?.name).toBe('releases');
    expect(rules.ruleFor('team/a/b', 'stable')?.name).toBe('releases');
    expect(rules.ruleFor('other/web', 'release-1')).toBeUndefined();
    expect(rules.ruleFor('team/web', 'latest')).toBeUndefined();
    expect(rules.ruleFor('team/web', 'releases')).toBeUndefined();
  });

  it('semver rules cover semantic versions in any repository; unnamed rules by position', () => {
    expect(rules.ruleFor('other/web', 'v2.0.0')?.name).toBe('immutableTags[1]');
    expect(rules.ruleFor('other/web', '2.0')).toBeUndefined();
    expect(rules.protects('x', '1.0.0')).toBe(true);
    expect(rules.protects('x', 'main')).toBe(false);
  });

  it('knows which repositories a rule covers', () => {
    const only = new ImmutableTags([{ repositories: ['team/*'], tags: ['v*'], semver: false }]);
    expect(only.appliesTo('team/web')).toBe(true);
    expect(only.appliesTo('team/web/sub')).toBe(false);
  });

  it('describes a rule for messages', () => {
    expect(ImmutableTags.describe(rules.rules[0]!)).toBe('"releases" (repositories team/**; tags release-*, stable)');
    expect(ImmutableTags.describe(rules.rules[1]!)).toBe('"immutableTags[1]" (repositories **; semantic versions)');
  });
});
