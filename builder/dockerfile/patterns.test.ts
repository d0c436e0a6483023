import { describe, expect, it } from 'vitest';
import { DockerIgnore, goMatch, hasWildcards, pathMatcher } from './patterns.js';

describe('goMatch (filepath.Match)', () => {
  it.each([
    ['*.txt', 'a.txt', true],
    ['*.txt', 'dir/a.txt', false],
    ['dir/*', 'dir/a', true],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['[a-c]x', 'bx', true],
    ['[^a-c]x', 'bx', false],
    ['[^a-c]x', 'dx', true],
    ['[^a]', '/', false],
    ['\\*', '*', true],
    ['\\*', 'a', false],
    ['f[.]go', 'f.go', true],
    ['a.b', 'axb', false],
  ])('%s ~ %s = %s', (p, n, want) => {
    expect(goMatch(p, n)).toBe(want);
  });
  it('rejects a malformed pattern', () => {
    expect(() => goMatch('[a-', 'a')).toThrow(/syntax error/);
  });
  it('tells wildcards', () => {
    expect(hasWildcards('src/*.ts')).toBe(true);
    expect(hasWildcards('src/a.ts')).toBe(false);
    expect(hasWildcards('src/\\*')).toBe(false);
  });
});

describe('DockerIgnore', () => {
  it('excludes a directory and everything under it', () => {
    const ig = DockerIgnore.parse('# comment\nnode_modules\n/build/\n');
    expect(ig.ignores('node_modules')).toBe(true);
    expect(ig.ignores('node_modules/x/y.js')).toBe(true);
    expect(ig.ignores('build/out')).toBe(true);
    expect(ig.ignores('src/node_modules')).toBe(false);
  });
  it('** matches any number of directories', () => {
    const ig = new DockerIgnore(['**/*.log', 'a/**/z']);
    expect(ig.ignores('x.log')).toBe(true);
    expect(ig.ignores('deep/er/x.log')).toBe(true);
    expect(ig.ignores('a/z')).toBe(true);
    expect(ig.ignores('a/b/c/z')).toBe(true);
    expect(ig.ignores('b/z')).toBe(false);
  });
  it('! exceptions: the last matching pattern wins', () => {
    const ig = new DockerIgnore(['*.md', '!README.md', 'README.md', '!docs', 'docs/secret*']);
    expect(ig.ignores('a.md')).toBe(true);
    expect(ig.ignores('README.md')).toBe(true);
    const ig2 = new DockerIgnore(['*.md', '!README.md']);
    expect(ig2.ignores('README.md')).toBe(false);
    expect(ig.ignores('docs/secret.txt')).toBe(true);
    expect(ig.ignores('docs/public.txt')).toBe(false);
  });
  it('cleans patterns (./, .., trailing slash)', () => {
    const ig = new DockerIgnore(['./a/../b/', 'c//d']);
    expect(ig.ignores('b/x')).toBe(true);
    expect(ig.ignores('c/d')).toBe(true);
  });
});

describe('pathMatcher (COPY --parents sources)', () => {
  it('matches whole paths: * within a name, ** any number of directories (none too)', () => {
    const m = pathMatcher('src/**/*.txt');
    expect(['src/a.txt', 'src/x/b.txt', 'src/x/y/c.txt'].map(m)).toEqual([true, true, true]);
    expect(['src/a.md', 'other/a.txt', 'src'].map(m)).toEqual([false, false, false]);
    const one = pathMatcher('y/*.txt');
    expect(['y/a.txt', 'y/z/a.txt'].map(one)).toEqual([true, false]);
  });
});
