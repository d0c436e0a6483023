// The OCI runtime's (runc's, crun's) failures, classified in one place. The runtime says what went
// wrong only in text (stderr, or its JSON log); this is the one module that reads that text, and
// everything else branches on the failure it names, its kind (util/errors) and the exit status
// docker gives it: 127 the command was not found, 126 it cannot be invoked, 125 anything else.
import { KindedError, type ErrorKind } from '../../util/errors.js';

export type RuntimeFailure =
  /** The container's command (or an exec'd one) does not exist: docker's 127. */
  | 'command-not-found'
  /** It exists but cannot be run (permission denied, not an executable, a directory): docker's 126. */
  | 'command-not-invokable'
  /** The runtime does not know the container (never created, or deleted). */
  | 'no-such-container'
  /** The runtime binary is not installed. */
  | 'not-installed'
  /** Any other failure of the runtime (its message says which). */
  | 'runtime';

const KINDS: Record<RuntimeFailure, ErrorKind> = {
  'command-not-found': 'not-found',
  'command-not-invokable': 'invalid',
  'no-such-container': 'not-found',
  'not-installed': 'unsupported',
  // Mostly a container in the wrong state for the command (not running, already stopped).
  runtime: 'conflict',
};

/** docker's exit status for a container or exec whose command could not be started. */
const START_STATUS: Record<RuntimeFailure, number> = {
  'command-not-found': 127,
  'command-not-invokable': 126,
  'no-such-container': 125,
  'not-installed': 125,
  runtime: 125,
};

export class RuntimeError extends KindedError {
  constructor(
    message: string,
    readonly failure: RuntimeFailure = 'runtime',
    hint?: string,
  ) {
    super(KINDS[failure], message, hint ? { hint } : {});
    this.name = 'RuntimeError';
  }

  /** The exit status docker gives a `run` or `exec` that failed this way (127, 126, else 125). */
  get exitStatus(): number {
    return START_STATUS[this.failure];
  }
}

/** The runtime binary could not be spawned (ENOENT). */
export function notInstalled(runtime: string): RuntimeError {
  return new RuntimeError(`${runtime} is not installed (Debian package ${runtime})`, 'not-installed', `install it (apt-get install ${runtime}) or choose another with --runtime`);
}

/** Why the runtime could not start a process (`run`, `exec`), from its message. */
export function startFailureOf(message: string): RuntimeFailure {
  if (/executable file not found|no such file or directory/i.test(message)) return 'command-not-found';
  if (/permission denied|exec format error|is a directory/i.test(message)) return 'command-not-invokable';
  return 'runtime';
}

/** Why a runtime command on an existing container (`state`, `kill`, `delete`, …) failed, from its message. */
export function commandFailureOf(message: string): RuntimeFailure {
  // runc: "container does not exist"; crun: "…/status: No such file or directory".
  if (/does not exist|not found|no such/i.test(message)) return 'no-such-container';
  return 'runtime';
}

/** The error of a runtime command (`runc state ID`, …) that exited non-zero with this stderr. */
export function commandError(runtime: string, command: string, stderr: string, fallback: string): RuntimeError {
  const message = runtimeMessage(stderr) || fallback;
  return new RuntimeError(`${runtime} ${command}: ${message}`, commandFailureOf(message));
}

/**
 * The error the runtime logged (JSON lines, `--log-format json`) when it failed to start a
 * container or an exec'd command, or undefined when it logged none (the command itself failed).
 */
export function startError(logText: string): RuntimeError | undefined {
  for (const line of logText.split('\n').reverse()) {
    let entry: { level?: string; msg?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if ((entry.level !== 'error' && entry.level !== 'fatal') || !entry.msg) continue;
    const message = entry.msg.replace(/^(runc|crun) (run|exec|create|start) failed: /, '');
    return new RuntimeError(message, startFailureOf(message));
  }
  return undefined;
}

/** startError as the callers that record a container's or an exec's end use it: the message and docker's status. */
export function startFailure(logText: string): { message: string; status: number; error: RuntimeError } | undefined {
  const error = startError(logText);
  return error && { message: error.message, status: error.exitStatus, error };
}

/**
 * Whether output on a container's or exec'd command's stderr is the runtime's own report that it
 * could not start the command (`runc run failed: …`, `exec failed: …`), not the command's output:
 * held back, the one-line error is the CLI's.
 */
export function isStartFailureOutput(chunk: Buffer): boolean {
  return /^(runc )?(run|exec) failed: /.test(chunk.toString('utf8', 0, 40));
}

/** runc logs as `time=… level=error msg="…"`: keep the message (else the last line). */
export function runtimeMessage(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const last = lines[lines.length - 1] ?? '';
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(last);
  return m ? m[1]!.replace(/\\"/g, '"') : last;
}
