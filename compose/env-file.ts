// `.env` and `env_file` files: `KEY=VALUE` lines, `export KEY=VALUE`, `#` comments, single quotes
// (literal), double quotes (escapes \n \t \" \\ and interpolation), unquoted values (interpolation,
// an inline ` #` comment ends them). A line `KEY` alone takes KEY from the environment when set.
import { KindedError } from '../util/errors.js';
import { interpolate, type Lookup } from './interpolate.js';

export class EnvFileError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'EnvFileError';
  }
}

/** Parses an env file's text; values may refer to earlier keys of the file and then to `lookup`. */
export function parseEnvFile(text: string, lookup: Lookup = () => undefined, source = 'env file'): Map<string, string> {
  const vars = new Map<string, string>();
  const scoped: Lookup = (name) => vars.get(name) ?? lookup(name);
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trimStart();
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) throw new EnvFileError(`${source}:${n + 1}: invalid variable name ${JSON.stringify(key)}`);
    if (eq < 0) {
      const v = lookup(key);
      if (v !== undefined) vars.set(key, v);
      continue;
    }
    let raw = line.slice(eq + 1).trimStart();
    let value: string;
    const q = raw[0];
    if (q === "'" || q === '"') {
      // A quoted value may span lines until its closing quote.
      let body = raw.slice(1);
      let end = findClose(body, q);
      while (end < 0 && n + 1 < lines.length) {
        body += '\n' + lines[++n];
        end = findClose(body, q);
      }
      if (end < 0) throw new EnvFileError(`${source}:${n + 1}: unterminated quoted value for ${key}`);
      body = body.slice(0, end);
      value = q === "'" ? body : interpolate(unescapeDouble(body), scoped);
    } else {
      const hash = raw.search(/\s#/);
      if (hash >= 0) raw = raw.slice(0, hash);
      value = interpolate(raw.trimEnd(), scoped);
    }
    vars.set(key, value);
  }
  return vars;
}

function findClose(s: string, q: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && q === '"') i++;
    else if (s[i] === q) return i;
  }
  return -1;
}

function unescapeDouble(s: string): string {
  return s.replace(/\\([nrt"\\$])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? (c === '$' ? '$$' : c));
}
