// How the CLI reports a failure: one line (never a stack trace) with the error's hint, and an exit
// status as docker's CLI has them: 125 when the command line itself is wrong (the CLI's own error),
// 1 for a command that ran and failed; `run` and `exec` have their own (containerCommandStatus). Kept free of heavy imports: container commands load it.
import { kindOf, type ErrorKind } from '../util/errors.js';

/** docker: the command line could not be used (unknown flag, missing argument). */
export const EXIT_USAGE = 125;
/** docker: the command ran and failed. */
export const EXIT_FAILURE = 1;

/** docker `run`/`exec`: the engine failed before or around the container's command. */
export const EXIT_ENGINE = 125;
/** docker `run`/`exec`: the command cannot be invoked (permission denied, not an executable). */
export const EXIT_CANNOT_INVOKE = 126;
/** docker `run`/`exec`: the command was not found. */
export const EXIT_COMMAND_NOT_FOUND = 127;

/**
 * The exit status of a `run` or `exec` that failed before the container's command ran, as
 * docker's: the status the runtime's failure carries (engine/runtime/runtime-errors.ts: 127 not
 * found, 126 cannot be invoked), else 125 (the engine's own error: no such container or image,
 * not running, a bad option, a mount or runtime failure). Otherwise the command's own status is
 * the exit status.
 */
export function containerCommandStatus(err: unknown): number {
  const status = (err as { exitStatus?: unknown } | null | undefined)?.exitStatus;
  return status === EXIT_COMMAND_NOT_FOUND || status === EXIT_CANNOT_INVOKE ? status : EXIT_ENGINE;
}

/** The exit status of a failure of each kind (docker's CLI uses 1 for all of them). */
export const EXIT_BY_KIND: Record<ErrorKind, number> = {
  'not-found': EXIT_FAILURE,
  invalid: EXIT_FAILURE,
  unauthorized: EXIT_FAILURE,
  denied: EXIT_FAILURE,
  unavailable: EXIT_FAILURE,
  corrupt: EXIT_FAILURE,
  conflict: EXIT_FAILURE,
  unsupported: EXIT_FAILURE,
};

export interface ErrorReport {
  /** Without the `stevedore: ` prefix. */
  line: string;
  code: number;
}

/**
 * One line for an error: its message's first line and, for an error with a kind, its hint. An
 * error without a kind is unexpected (a bug, or a failure nobody classified): its class name is
 * kept so a bug report says what it was, unless `plain`.
 */
export function errorReport(err: unknown, opts: { plain?: boolean } = {}): ErrorReport {
  const e = err as { message?: unknown; name?: unknown; hint?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const first = message.split('\n')[0] ?? '';
  const kind = kindOf(err);
  if (kind) {
    const hint = typeof e?.hint === 'string' && e.hint ? `: ${e.hint}` : '';
    return { line: `${first}${hint}`, code: EXIT_BY_KIND[kind] };
  }
  const name = typeof e?.name === 'string' && e.name !== 'Error' && !opts.plain ? `${e.name}: ` : '';
  return { line: `${name}${first}`, code: EXIT_FAILURE };
}

/**
 * Ends a command that failed: its one line on stderr (the stack too with STEVEDORE_DEBUG=1, for
 * bug reports) and its exit status. `plain`: as errorReport's.
 */
export function failCommand(err: unknown, plain: boolean): never {
  const report = errorReport(err, { plain });
  console.error(`stevedore: ${report.line}`);
  if (process.env.STEVEDORE_DEBUG) console.error((err as Error)?.stack);
  process.exit(report.code);
}

/**
 * A usage error as commander words it (`error: unknown option '--x'`, possibly with a suggestion
 * on a second line) as one line with the `--help` hint.
 */
export function usageLine(commanderMessage: string, command: string): string {
  const text = commanderMessage
    .replace(/^error: /, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
  return `${text}; see '${command} --help'`;
}
