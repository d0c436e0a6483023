// A command line parsed the way commander parses it, for the few commands that are timed against
// `node -e 0` or runc (`images`, `ps`, `tags`: cli/light-commands.ts; `run`: cli/engine-run-flags.ts)
// and so run without loading commander
// (its CommonJS files and the declarations cost about as much as Node's own start-up). Only the
// forms commander accepts without complaint are recognised here; for anything else — an unknown
// option, a missing value, `--help`, `--`, too many or too few arguments — the parser answers
// `undefined` and the caller hands the whole line to commander, so usage errors, their wording
// and exit status, and help stay commander's own. Never a second opinion on an error: an
// unrecognised line is never an error here.

/** One option as commander declares it (`-q, --quiet`, `-f, --filter <v>`, `--no-trunc`). */
export interface LightOption {
  /** `-q` (one letter), if any. */
  short?: string;
  /** `--quiet`; for a negated flag `--no-trunc`. */
  long: string;
  /**
   * `flag`: true when given; `negated`: a `--no-x` flag, x true unless given; `value`: takes one
   * value (`<v>`); `repeated`: a value collected into an array each time it is given.
   */
  kind: 'flag' | 'negated' | 'value' | 'repeated';
  /** A repeated option's value when not given (commander's default): `[]`, or absent. */
  emptyList?: boolean;
  /** A value option's value when not given (commander's default), if any. */
  initial?: string;
}

export interface LightCommand {
  options: LightOption[];
  /**
   * How many arguments (operands) the command takes, exactly; or `rest`: one or more, and the
   * options come before the first of them (commander's passThroughOptions, as `run IMAGE
   * COMMAND...` declares it): from the first operand, or after `--`, every word is an operand.
   */
  operands: number | 'rest';
}

export interface LightParse {
  /** The options as commander's `opts()` holds them (camelCase keys, defaults included). */
  opts: Record<string, unknown>;
  operands: string[];
}

/** commander's attribute name: `--no-trunc` → `trunc`, `--plain-http` → `plainHttp`. */
export function attributeName(long: string): string {
  return long
    .replace(/^--(no-)?/, '')
    .replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/**
 * Words that commander may read otherwise than as this command's option, value or argument: its
 * help flags, `--`, and the program's own --root (without positional options commander reads the
 * program's options anywhere on the line, before the command sees it: even where the command
 * expects a value).
 */
const PROGRAM_WORD = /^(-h|--help|--|--root(=.*)?)$/;

/** Parses a command's arguments (after its name) as commander would, or `undefined` to leave it to commander. */
export function parseLight(args: readonly string[], spec: LightCommand): LightParse | undefined {
  const opts: Record<string, unknown> = {};
  for (const o of spec.options) {
    if (o.kind === 'negated') opts[attributeName(o.long)] = true;
    else if (o.kind === 'repeated' && o.emptyList) opts[attributeName(o.long)] = [];
    else if (o.kind === 'value' && o.initial !== undefined) opts[attributeName(o.long)] = o.initial;
  }
  const operands: string[] = [];
  const set = (o: LightOption, value?: string): boolean => {
    if (value !== undefined && PROGRAM_WORD.test(value)) return false;
    const name = attributeName(o.long);
    if (o.kind === 'flag') opts[name] = true;
    else if (o.kind === 'negated') opts[name] = false;
    else if (o.kind === 'value') opts[name] = value;
    else opts[name] = [...((opts[name] as string[] | undefined) ?? []), value];
    return true;
  };
  const takesValue = (o: LightOption) => o.kind === 'value' || o.kind === 'repeated';
  const rest = spec.operands === 'rest';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (rest && (arg === '--' || arg.length < 2 || arg[0] !== '-')) {
      operands.push(...args.slice(arg === '--' ? i + 1 : i));
      break;
    }
    if (PROGRAM_WORD.test(arg)) return undefined;
    if (arg.length < 2 || arg[0] !== '-') {
      operands.push(arg);
      continue;
    }
    if (arg.startsWith('--')) {
      // --name, or --name=value for an option that takes one.
      const eq = arg.indexOf('=');
      const o = spec.options.find((x) => x.long === (eq < 0 ? arg : arg.slice(0, eq)));
      if (!o) return undefined;
      if (eq >= 0) {
        if (!takesValue(o) || !set(o, arg.slice(eq + 1))) return undefined;
      } else if (takesValue(o)) {
        // commander takes the next word as the value whatever it looks like.
        if (i + 1 >= args.length || !set(o, args[++i]!)) return undefined;
      } else set(o);
      continue;
    }
    // -x, -xVALUE, or a group of one-letter flags (-aq), each letter as commander reads it.
    for (let j = 1; j < arg.length; j++) {
      const o = spec.options.find((x) => x.short === `-${arg[j]}`);
      if (!o) return undefined;
      if (!takesValue(o)) {
        set(o);
        continue;
      }
      const rest = arg.slice(j + 1);
      if (rest) {
        if (!set(o, rest)) return undefined;
      } else if (i + 1 >= args.length || !set(o, args[++i]!)) return undefined;
      break;
    }
  }
  const enough = rest ? operands.length > 0 : operands.length === spec.operands;
  return enough ? { opts, operands } : undefined;
}
