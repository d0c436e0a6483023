// Variable substitution as the Dockerfile reference defines it (moby's shell lexer): `$V`,
// `${V}`, `${V:-word}`, `${V-word}`, `${V:+word}`, `${V+word}`, `${V:?msg}`, with quotes removed
// (single quotes literal, double quotes expand) and the escape character taking the next character
// literally. `words()` also splits on unquoted whitespace, for instructions that take a list.
import { KindedError } from '../../util/errors.js';

/** A variable substitution the Dockerfile reference does not allow: kind `invalid` (util/errors.ts). */
export class ExpandError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'ExpandError';
  }
}

export type Vars = ReadonlyMap<string, string>;

interface Options {
  escape: string;
  /** Split into words on unquoted whitespace. */
  split: boolean;
}

function lex(text: string, vars: Vars, opts: Options): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const esc = opts.escape;

  const readName = (): string => {
    const m = /^[A-Za-z_][A-Za-z0-9_]*|^[0-9]|^[@*#?$!-]/.exec(text.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };

  /** The word of a ${V:-word} modifier, up to the closing brace, expanded. */
  const readModifierWord = (): string => {
    let depth = 0;
    let out = '';
    const startI = i;
    while (i < text.length) {
      const c = text[i]!;
      if (c === esc && i + 1 < text.length) {
        out += c + text[i + 1];
        i += 2;
        continue;
      }
      if (c === '{') depth++;
      if (c === '}') {
        if (depth === 0) break;
        depth--;
      }
      out += c;
      i++;
    }
    if (i >= text.length) throw new ExpandError(`missing '}' in ${JSON.stringify(text.slice(startI - 2))}`);
    i++; // }
    return lex(out, vars, { escape: esc, split: false }).join('');
  };

  const variable = (): string => {
    // at text[i] === '$'
    i++;
    if (text[i] === '{') {
      i++;
      const name = readName();
      if (!name) throw new ExpandError(`bad substitution in ${JSON.stringify(text)}`);
      const value = vars.get(name);
      if (text[i] === '}') {
        i++;
        return value ?? '';
      }
      let op = text[i]!;
      i++;
      let colon = false;
      if (op === ':') {
        colon = true;
        op = text[i]!;
        i++;
      }
      const w = readModifierWord();
      const set = colon ? value !== undefined && value !== '' : value !== undefined;
      if (op === '-') return set ? value! : w;
      if (op === '+') return set ? w : '';
      if (op === '?') {
        if (!set) throw new ExpandError(`${name}: ${w || 'is not allowed to be unset'}`);
        return value!;
      }
      throw new ExpandError(`unsupported modifier (${colon ? ':' : ''}${op}) in substitution of ${name}`);
    }
    const name = readName();
    if (!name) return '$';
    return vars.get(name) ?? '';
  };

  while (i < text.length) {
    const c = text[i]!;
    if (opts.split && /\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === esc) {
      if (i + 1 < text.length) word += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ExpandError(`unexpected end of statement while looking for matching single-quote in ${JSON.stringify(text)}`);
      word += text.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    if (c === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new ExpandError(`unexpected end of statement while looking for matching double-quote in ${JSON.stringify(text)}`);
        const d = text[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === esc && (text[i + 1] === '"' || text[i + 1] === '$' || text[i + 1] === esc)) {
          word += text[i + 1];
          i += 2;
          continue;
        }
        if (d === '$') {
          word += variable();
          continue;
        }
        word += d;
        i++;
      }
      continue;
    }
    if (c === '$') {
      word += variable();
      continue;
    }
    word += c;
    i++;
  }
  if (inWord) words.push(word);
  return words;
}

/** One word: variables substituted, quotes and escapes removed, whitespace kept. */
export function expand(text: string, vars: Vars, escape = '\\'): string {
  return lex(text, vars, { escape, split: false }).join('');
}

/** A list of words (split on unquoted whitespace), each expanded. */
export function expandWords(text: string, vars: Vars, escape = '\\'): string[] {
  return lex(text, vars, { escape, split: true });
}

/**
 * Splits on unquoted whitespace WITHOUT expanding or removing quotes (moby's parseWords), for
 * `KEY=VALUE` lists whose values are expanded one by one afterwards.
 */
export function rawWords(text: string, escape = '\\'): string[] {
  const out: string[] = [];
  let word = '';
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === escape && i + 1 < text.length) {
      word += c + text[++i];
      continue;
    }
    if (quote) {
      if (c === quote) quote = '';
      word += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      word += c;
      continue;
    }
    if (/\s/.test(c)) {
      if (word) out.push(word);
      word = '';
      continue;
    }
    word += c;
  }
  if (word) out.push(word);
  return out;
}

/**
 * `KEY=VALUE ...` (or the legacy `KEY VALUE` with one pair) as ENV, LABEL and ARG take them;
 * values expanded with `vars` as they were before the line (Docker's rule).
 */
export function keyValues(text: string, vars: Vars, escape = '\\', opts: { allowBare?: boolean } = {}): { key: string; value?: string }[] {
  const words = rawWords(text, escape);
  if (words.length === 0) return [];
  if (!words[0]!.includes('=') && !opts.allowBare) {
    // Legacy form: the first word is the key, the rest of the line the value.
    const key = words[0]!;
    const value = text.trim().slice(key.length).trim();
    if (value === '') throw new ExpandError(`${key}: needs a value (KEY=VALUE or KEY VALUE)`);
    return [{ key: expand(key, vars, escape), value: expand(value, vars, escape) }];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) {
      if (!opts.allowBare) throw new ExpandError(`${w}: expected KEY=VALUE`);
      return { key: expand(w, vars, escape) };
    }
    if (eq === 0) throw new ExpandError(`${w}: a name cannot be empty`);
    return { key: expand(w.slice(0, eq), vars, escape), value: expand(w.slice(eq + 1), vars, escape) };
  });
}
