// Variable interpolation in compose files (the Compose Specification's "Interpolation"): `$VAR`,
// `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`,
// `${VAR+alt}`, nested operands, and `$$` for a literal `$`. Applied to values, never to keys, per
// file before files are merged.
import { KindedError } from '../util/errors.js';

/** Reads a variable; undefined when it is not set (an empty string is set). */
export type Lookup = (name: string) => string | undefined;

/** A variable the file requires (`${VAR:?message}`) is missing, or an expression is malformed. */
export class InterpolationError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'InterpolationError';
  }
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

/** Index of the `}` that closes the `${` opened just before `start`, honouring nested `${…}`. */
function closingBrace(s: string, start: number): number {
  let depth = 1;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (c === '$' && s[i + 1] === '$') i++;
    else if (c === '$' && s[i + 1] === '{') {
      depth++;
      i++;
    } else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

/**
 * Interpolates one string. `onUnset` is told of each plain reference to an unset variable (the
 * spec's warning; the reference becomes empty).
 */
export function interpolate(s: string, lookup: Lookup, onUnset?: (name: string) => void): string {
  if (!s.includes('$')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '$') {
      out += c;
      continue;
    }
    const next = s[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '{') {
      const end = closingBrace(s, i + 2);
      if (end < 0) throw new InterpolationError(`invalid interpolation format in ${JSON.stringify(s)}: missing "}"`);
      out += braced(s.slice(i + 2, end), lookup, onUnset, s);
      i = end;
    } else if (next !== undefined && NAME_START.test(next)) {
      let j = i + 1;
      while (j < s.length && NAME_CHAR.test(s[j]!)) j++;
      const name = s.slice(i + 1, j);
      const v = lookup(name);
      if (v === undefined) onUnset?.(name);
      out += v ?? '';
      i = j - 1;
    } else {
      // Not a variable reference ("$", "$1", "$-"): kept as written.
      out += '$';
    }
  }
  return out;
}

function braced(expr: string, lookup: Lookup, onUnset: ((name: string) => void) | undefined, whole: string): string {
  let j = 0;
  while (j < expr.length && NAME_CHAR.test(expr[j]!)) j++;
  const name = expr.slice(0, j);
  if (!name || !NAME_START.test(name[0]!)) throw new InterpolationError(`invalid interpolation format in ${JSON.stringify(whole)}: "\${${expr}}"`);
  const rest = expr.slice(j);
  const value = lookup(name);
  if (rest === '') {
    if (value === undefined) onUnset?.(name);
    return value ?? '';
  }
  const m = /^(:?)([-?+])/.exec(rest);
  if (!m) throw new InterpolationError(`invalid interpolation format in ${JSON.stringify(whole)}: "\${${expr}}"`);
  const colon = m[1] === ':';
  const op = m[2];
  const operand = () => interpolate(rest.slice(m[0].length), lookup, onUnset);
  // With ":" an empty value counts as missing; without it only an unset one does.
  const missing = value === undefined || (colon && value === '');
  switch (op) {
    case '-':
      return missing ? operand() : value!;
    case '+':
      return missing ? '' : operand();
    default: {
      if (!missing) return value!;
      const message = operand();
      throw new InterpolationError(`required variable ${name} is missing a value${message ? `: ${message}` : ''}`);
    }
  }
}

/**
 * Interpolates every string value of a parsed YAML tree (keys are left alone). Errors name the key
 * path, e.g. `services.web.image: required variable TAG is missing a value`.
 */
export function interpolateTree(value: unknown, lookup: Lookup, onUnset?: (name: string, path: string) => void, path = ''): unknown {
  if (typeof value === 'string') {
    try {
      return interpolate(value, lookup, onUnset && ((name) => onUnset(name, path)));
    } catch (err) {
      if (err instanceof InterpolationError) throw new InterpolationError(`${path || '(top level)'}: ${err.message}`);
      throw err;
    }
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateTree(v, lookup, onUnset, `${path}[${i}]`));
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateTree(v, lookup, onUnset, path ? `${path}.${k}` : k);
    return out;
  }
  return value;
}
