// Path patterns: which files of a tree a scan wants, so a walk can skip the rest. A pattern is a
// storage path whose components are names, `*` (any one name) or `**` (any number of names that
// do not begin with `_`: repository names, which never do, while the layout's own directories
// inside a repository all do). A walk that knows the last component is a fixed name does not list
// the directories that hold it: it looks the file up (one stat instead of listing a directory with
// one entry, for every link and every blob of a registry). Dependency-free: the filesystem's bulk
// worker loads it.

export type PatternToken = { name: string } | '*' | '**';

export function parsePattern(pattern: string): PatternToken[] {
  if (!pattern.startsWith('/')) throw new RangeError(`a path pattern starts with /: ${pattern}`);
  return pattern
    .slice(1)
    .split('/')
    .map((c) => (c === '*' || c === '**' ? c : { name: c }));
}

/** A position in one pattern: the next component to match is `tokens[at]`. */
export interface PatternState {
  tokens: readonly PatternToken[];
  at: number;
}

/** The states plus, for each `**`, the state past it (it may match no component at all). */
export function closure(states: readonly PatternState[]): PatternState[] {
  const out: PatternState[] = [];
  const seen = new Set<string>();
  const add = (s: PatternState, id: number) => {
    const key = `${id}:${s.at}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(s);
    if (s.tokens[s.at] === '**') add({ tokens: s.tokens, at: s.at + 1 }, id);
  };
  const ids = new Map<readonly PatternToken[], number>();
  for (const s of states) {
    if (!ids.has(s.tokens)) ids.set(s.tokens, ids.size);
    add(s, ids.get(s.tokens)!);
  }
  return out;
}

/** Whether `name`, as the last component of a path, completes one of the states. */
export function completes(states: readonly PatternState[], name: string): boolean {
  return states.some((s) => {
    const t = s.tokens[s.at];
    return s.at === s.tokens.length - 1 && (t === '*' || (typeof t === 'object' && t.name === name));
  });
}

/** The states inside a directory named `name` (empty: nothing wanted below it). */
export function descend(states: readonly PatternState[], name: string): PatternState[] {
  const next: PatternState[] = [];
  for (const s of states) {
    const t = s.tokens[s.at];
    if (t === undefined) continue;
    if (t === '**') {
      if (!name.startsWith('_')) next.push(s);
    } else if (s.at < s.tokens.length - 1 && (t === '*' || t.name === name)) {
      next.push({ tokens: s.tokens, at: s.at + 1 });
    }
  }
  return closure(next);
}

/**
 * When every state's next component is a fixed name, those names (a walk looks them up instead
 * of listing the directory), each with whether it is wanted as a file and whether as a directory.
 */
export function fixedNames(states: readonly PatternState[]): Map<string, { file: boolean; dir: boolean }> | undefined {
  const names = new Map<string, { file: boolean; dir: boolean }>();
  for (const s of states) {
    const t = s.tokens[s.at];
    if (typeof t !== 'object') return undefined;
    const e = names.get(t.name) ?? { file: false, dir: false };
    if (s.at === s.tokens.length - 1) e.file = true;
    else e.dir = true;
    names.set(t.name, e);
  }
  return names;
}

export function startStates(patterns: readonly string[]): PatternState[] {
  return closure(patterns.map((p) => ({ tokens: parsePattern(p), at: 0 })));
}

/** Whether a storage path matches one of the patterns. */
export function matchesPattern(patterns: readonly string[], path: string): boolean {
  const parts = path.slice(1).split('/');
  let states = startStates(patterns);
  for (let i = 0; i < parts.length - 1 && states.length > 0; i++) states = descend(states, parts[i]!);
  return completes(states, parts.at(-1)!);
}

/** The directory every match lies under (the patterns' common leading names). */
export function patternRoot(patterns: readonly string[]): string {
  const parsed = patterns.map(parsePattern);
  const common: string[] = [];
  for (let i = 0; ; i++) {
    const t = parsed[0]?.[i];
    if (typeof t !== 'object' || parsed.some((p) => i >= p.length - 1 || typeof p[i] !== 'object' || (p[i] as { name: string }).name !== t.name)) break;
    common.push(t.name);
  }
  return `/${common.join('/')}`;
}
