// Path patterns: Go's filepath.Match (COPY/ADD source wildcards: `*` and `?` never match `/`,
// `[...]` classes with `^` negation and ranges, `\` escapes) and .dockerignore (moby's
// patternmatcher: the same plus `**` for any number of directories, `!` exceptions where the last
// matching pattern wins, patterns cleaned and a leading `/` dropped; a path is excluded when it or
// one of its parent directories matches).
import { KindedError } from '../../util/errors.js';
import { posix } from 'node:path';

/** A malformed wildcard or .dockerignore pattern: kind `invalid` (util/errors.ts). */
export class PatternError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'PatternError';
  }
}

function classToRegex(pattern: string, i: number): { re: string; next: number } {
  // at pattern[i] === '['
  let j = i + 1;
  let re = '';
  let negated = false;
  if (pattern[j] === '^') {
    negated = true;
    j++;
  }
  let first = true;
  while (j < pattern.length && (pattern[j] !== ']' || first)) {
    let c = pattern[j]!;
    if (c === ']' && first) throw new PatternError(`syntax error in pattern ${JSON.stringify(pattern)}`);
    first = false;
    if (c === '\\') {
      j++;
      if (j >= pattern.length) throw new PatternError(`syntax error in pattern ${JSON.stringify(pattern)}`);
      c = pattern[j]!;
    }
    re += c === '\\' || c === ']' || c === '[' || c === '^' || c === '-' ? `\\${c}` : c;
    j++;
    if (pattern[j] === '-' && pattern[j + 1] !== ']' && j + 1 < pattern.length) {
      let hi = pattern[j + 1]!;
      j += 2;
      if (hi === '\\') hi = pattern[j++] ?? '';
      if (!hi) throw new PatternError(`syntax error in pattern ${JSON.stringify(pattern)}`);
      re += `-${/[\\\]^[-]/.test(hi) ? `\\${hi}` : hi}`;
    }
  }
  if (j >= pattern.length) throw new PatternError(`syntax error in pattern ${JSON.stringify(pattern)}`);
  return { re: negated ? `[^${re}/]` : `(?!/)[${re}]`, next: j + 1 };
}

function toRegex(pattern: string, doubleStar: boolean): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; ) {
    const c = pattern[i]!;
    if (c === '*') {
      if (doubleStar && pattern[i + 1] === '*') {
        i += 2;
        // `**/` matches zero or more directories; a trailing `**` anything.
        if (pattern[i] === '/') {
          re += '(?:.*/)?';
          i++;
        } else {
          re += '.*';
        }
        continue;
      }
      re += '[^/]*';
      i++;
    } else if (c === '?') {
      re += '[^/]';
      i++;
    } else if (c === '[') {
      const cls = classToRegex(pattern, i);
      re += cls.re;
      i = cls.next;
    } else if (c === '\\') {
      if (i + 1 >= pattern.length) throw new PatternError(`syntax error in pattern ${JSON.stringify(pattern)}`);
      re += pattern[i + 1]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      i += 2;
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      i++;
    }
  }
  return new RegExp(`^${re}$`, 's');
}

/** Go's filepath.Match(pattern, name) on slash-separated paths. */
export function goMatch(pattern: string, name: string): boolean {
  return toRegex(pattern, false).test(name);
}

/** A matcher for whole slash-separated paths with `**` for any number of directories (COPY --parents sources). */
export function pathMatcher(pattern: string): (path: string) => boolean {
  const re = toRegex(pattern, true);
  return (path) => re.test(path);
}

/** Whether a COPY source has wildcards (then it is matched against the context's paths). */
export function hasWildcards(pattern: string): boolean {
  return /[*?[]/.test(pattern.replace(/\\./g, ''));
}

interface IgnoreRule {
  re: RegExp;
  exclusion: boolean;
  dirs: number;
}

export class DockerIgnore {
  private readonly rules: IgnoreRule[];

  constructor(patterns: string[]) {
    this.rules = [];
    for (let p of patterns) {
      p = p.trim();
      if (p === '') continue;
      let exclusion = false;
      if (p.startsWith('!')) {
        exclusion = true;
        p = p.slice(1).trim();
      }
      p = posix.normalize(p);
      p = p.replace(/^\/+/, '').replace(/\/+$/, '');
      if (p === '' || p === '.') continue;
      this.rules.push({ re: toRegex(p, true), exclusion, dirs: p.split('/').length });
    }
  }

  /** The lines of a .dockerignore file: comments (`#` first) and empty lines dropped. */
  static parse(text: string): DockerIgnore {
    return new DockerIgnore(text.split(/\r?\n/).filter((l) => !l.trimStart().startsWith('#')));
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** Whether the rules have an exception (then an ignored directory may still hold kept files). */
  get hasExceptions(): boolean {
    return this.rules.some((r) => r.exclusion);
  }

  /** Whether `rel` (slash-separated, relative to the context) is excluded. */
  ignores(rel: string): boolean {
    const parts = rel.split('/');
    let matched = false;
    for (const r of this.rules) {
      if (r.exclusion !== matched) continue; // cannot change the outcome
      let hit = r.re.test(rel);
      // A pattern also matches everything under a directory it matches.
      for (let n = 1; !hit && n < parts.length; n++) hit = r.re.test(parts.slice(0, n).join('/'));
      if (hit) matched = !r.exclusion;
    }
    return matched;
  }
}
