// The Dockerfile parser (Dockerfile reference, frontend syntax 1.x): parser directives (`escape`,
// `syntax`), comments, line continuations with the escape character, case-insensitive
// instructions, `--flag=value` options, JSON (exec) and shell forms, and heredocs (`<<EOF`,
// `<<-EOF`, quoted delimiters that turn expansion off). Variable substitution is not done here:
// it depends on the build state (dockerfile/expand.ts does it when a step runs).
import { KindedError } from '../../util/errors.js';

export class DockerfileParseError extends KindedError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    reason: string,
  ) {
    super('invalid', `${file}:${line}:${column}: ${reason}`);
    this.name = 'DockerfileParseError';
  }
}

export interface Heredoc {
  /** The delimiter word. */
  name: string;
  content: string;
  /** false when the delimiter was quoted: no variable expansion in the body. */
  expand: boolean;
}

export interface Instruction {
  /** Upper case: RUN, COPY, … */
  cmd: string;
  /** `--name=value` options before the arguments, in order (a flag without `=` has value ''). */
  flags: { name: string; value: string }[];
  /** The arguments after the options, continuation lines joined, comments removed. */
  args: string;
  /** The exec form, when the arguments are a JSON array of strings. */
  json?: string[];
  heredocs: Heredoc[];
  /** 1-based line of the instruction's first line. */
  line: number;
  /** The instruction as written (continuations joined), for messages and history. */
  original: string;
}

export interface Dockerfile {
  escape: string;
  /** `# syntax=` value, accepted and ignored. */
  syntax?: string;
  instructions: Instruction[];
}

const INSTRUCTIONS = new Set([
  'FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL',
]);
/** Instructions whose arguments may start heredocs. */
const HEREDOC_INSTRUCTIONS = new Set(['RUN', 'COPY', 'ADD']);
/** Instructions that take `--flags` before their arguments. */
const FLAG_INSTRUCTIONS = new Set(['FROM', 'RUN', 'COPY', 'ADD', 'HEALTHCHECK']);

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;

/** Leading `--name[=value]` options of an argument string; the rest is returned. */
export function splitFlags(args: string): { flags: { name: string; value: string }[]; rest: string } {
  const flags: { name: string; value: string }[] = [];
  let rest = args.trimStart();
  for (;;) {
    const m = /^--([A-Za-z][A-Za-z0-9-]*)(?:=((?:"[^"]*"|'[^']*'|[^\s"'])*))?(?:\s+|$)/.exec(rest);
    if (!m) break;
    flags.push({ name: m[1]!, value: m[2] ?? '' });
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/** The exec form: a JSON array of strings, else undefined (then it is the shell form). */
export function parseJsonForm(args: string): string[] | undefined {
  const t = args.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    /* shell form */
  }
  return undefined;
}

const HEREDOC = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

export function parseDockerfile(text: string, file = 'Dockerfile'): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape = '\\';
  let syntax: string | undefined;
  let i = 0;
  // Parser directives: only at the very top, before any comment that is not one, blank line or instruction.
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (key !== 'escape' && key !== 'syntax' && key !== 'check') break;
    if (seen.has(key)) throw new DockerfileParseError(file, i + 1, 1, `only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw new DockerfileParseError(file, i + 1, 1, `invalid escape token '${m[2]}': only \\ and \` are allowed`);
      escape = m[2]!;
    } else if (key === 'syntax') {
      syntax = m[2];
    }
  }
  const instructions: Instruction[] = [];
  const isComment = (l: string) => /^\s*#/.test(l);
  const continues = (l: string) => {
    const t = l.replace(/\s+$/, '');
    return t.endsWith(escape) ? t.slice(0, -1) : undefined;
  };
  while (i < lines.length) {
    const first = lines[i]!;
    if (first.trim() === '' || isComment(first)) {
      i++;
      continue;
    }
    const start = i;
    let logical = '';
    let cur: string | undefined = first;
    i++;
    for (;;) {
      const head = continues(cur);
      if (head === undefined) {
        logical += cur;
        break;
      }
      logical += head;
      // Comment lines and empty lines inside a continuation are skipped.
      while (i < lines.length && (isComment(lines[i]!) || lines[i]!.trim() === '')) i++;
      if (i >= lines.length) break;
      cur = lines[i++]!;
    }
    const m = /^\s*([A-Za-z]+)(\s+|$)/.exec(logical);
    if (!m) throw new DockerfileParseError(file, start + 1, (/\S/.exec(first)?.index ?? 0) + 1, `unknown instruction: ${logical.trim().split(/\s+/)[0]}`);
    const cmd = m[1]!.toUpperCase();
    if (!INSTRUCTIONS.has(cmd)) throw new DockerfileParseError(file, start + 1, (m.index ?? 0) + 1 + (/\S/.exec(first)?.index ?? 0), `unknown instruction: ${m[1]}`);
    let rest = logical.slice(m[0].length).trim();
    let flags: Instruction['flags'] = [];
    if (FLAG_INSTRUCTIONS.has(cmd)) ({ flags, rest } = splitFlags(rest));
    const heredocs: Heredoc[] = [];
    if (HEREDOC_INSTRUCTIONS.has(cmd)) {
      for (const h of rest.matchAll(HEREDOC)) {
        const chomp = h[1] === '-';
        const body: string[] = [];
        let closed = false;
        while (i < lines.length) {
          const l = lines[i++]!;
          const cmp = chomp ? l.replace(/^\t+/, '') : l;
          if (cmp === h[3]) {
            closed = true;
            break;
          }
          body.push(chomp ? l.replace(/^\t+/, '') : l);
        }
        if (!closed) throw new DockerfileParseError(file, start + 1, 1, `unterminated heredoc <<${h[3]}`);
        heredocs.push({ name: h[3]!, content: body.length ? `${body.join('\n')}\n` : '', expand: h[2] === '' });
      }
    }
    if (rest === '') {
      throw new DockerfileParseError(file, start + 1, 1, `${cmd} requires at least one argument`);
    }
    const ins: Instruction = { cmd, flags, args: rest, heredocs, line: start + 1, original: logical.trim() };
    const json = heredocs.length ? undefined : parseJsonForm(rest);
    if (json) ins.json = json;
    instructions.push(ins);
  }
  return { escape, ...(syntax ? { syntax } : {}), instructions };
}
