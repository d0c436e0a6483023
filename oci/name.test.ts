import { describe, expect, it } from 'vitest';
import { isValidRepositoryName, isValidTag, repositoryNameProblem } from './name.js';

describe('repository names', () => {
  it.each(['busybox', 'library/busybox', 'a/b/c', 'my-org/my_repo', 'a__b', 'a.b-c/d--e', 'x'.repeat(255)])('accepts %s', (n) => {
    expect(isValidRepositoryName(n)).toBe(true);
  });
  it.each(['', 'Busybox', 'a/../b', '..', 'a//b', '/a', 'a/', '-a', 'a-', 'a_', 'a___b', 'a b', 'x'.repeat(256), 'a/_layers'])(
    'rejects %j',
    (n) => {
      expect(isValidRepositoryName(n)).toBe(false);
      expect(repositoryNameProblem(n)).toBeTruthy();
    },
  );
});

describe('tags', () => {
  it.each(['latest', 'v1.2.3', '_x', 'A-b_c.d', 'x'.repeat(128)])('accepts %s', (t) => expect(isValidTag(t)).toBe(true));
  it.each(['', '.hidden', '-x', 'a/b', 'a:b', 'x'.repeat(129), '..'])('rejects %j', (t) => expect(isValidTag(t)).toBe(false));
});
