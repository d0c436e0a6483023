// Build progress for the user: BuildKit's plain format (`#3 [2/5] RUN make`, the command's output
// as `#3 0.412 line`, then `#3 CACHED` or `#3 DONE 1.2s` or `#3 ERROR: …`), JSON events one per
// line (`--progress json`), or nothing (`-q`). The terminal view (`--progress auto` on a TTY) is
// in progress-tty.ts.
//
// Every call takes an optional time (performance.now()) of when it happened: stages built at the
// same time write through lanes (orderedLanes) that hold a later stage's events until the stages
// before it are done, and replay them with their own times, so the log reads in stage order and
// its durations stay true.

import { KindedError } from '../util/errors.js';

export type ProgressMode = 'plain' | 'json' | 'quiet' | 'tty';

export interface Vertex {
  output(line: string, at?: number): void;
  cached(at?: number): void;
  done(at?: number): void;
  error(message: string, at?: number): void;
}

export interface Progress {
  vertex(name: string, at?: number): Vertex;
  /** A note outside any step (warnings). */
  note(line: string): void;
  /** Ends the output (the terminal view draws its last frame); plain and json have nothing to do. */
  close?(): void;
  /** Shows concurrent steps side by side (the terminal view): lanes need not hold events back. */
  concurrent?: boolean;
}

const now = () => performance.now();

/** `--progress`: auto is the terminal view when standard error is a terminal (not a dumb one), else plain. */
export function progressMode(quiet: boolean, flag: string, stderr: { isTTY?: boolean }, term: string | undefined): ProgressMode {
  if (quiet) return 'quiet';
  if (flag === 'json' || flag === 'plain' || flag === 'tty') return flag;
  if (flag === 'auto') return stderr.isTTY && term !== 'dumb' ? 'tty' : 'plain';
  throw new KindedError('invalid', `--progress ${flag}: auto, plain, tty or json`);
}

export function makeProgress(mode: Exclude<ProgressMode, 'tty'>, write: (text: string) => void): Progress {
  let next = 1;
  if (mode === 'quiet') {
    const none: Vertex = { output: () => {}, cached: () => {}, done: () => {}, error: () => {} };
    return { vertex: () => none, note: () => {} };
  }
  if (mode === 'json') {
    const emit = (at: number, e: Record<string, unknown>) => write(`${JSON.stringify({ time: new Date(performance.timeOrigin + at).toISOString(), ...e })}\n`);
    return {
      vertex(name, started = now()) {
        const id = next++;
        emit(started, { vertex: id, name, status: 'started' });
        const secs = (at: number) => Math.round(at - started) / 1000;
        return {
          output: (line, at = now()) => emit(at, { vertex: id, output: line, elapsed: secs(at) }),
          cached: (at = now()) => emit(at, { vertex: id, name, status: 'cached' }),
          done: (at = now()) => emit(at, { vertex: id, name, status: 'done', duration: secs(at) }),
          error: (message, at = now()) => emit(at, { vertex: id, name, status: 'error', error: message, duration: secs(at) }),
        };
      },
      note: (line) => emit(now(), { note: line }),
    };
  }
  return {
    vertex(name, started = now()) {
      const id = next++;
      write(`#${id} ${name}\n`);
      const secs = (at: number) => ((at - started) / 1000).toFixed(1);
      return {
        output: (line, at = now()) => write(`#${id} ${((at - started) / 1000).toFixed(3)} ${line}\n`),
        cached: () => write(`#${id} CACHED\n\n`),
        done: (at = now()) => write(`#${id} DONE ${secs(at)}s\n\n`),
        error: (message) => write(`#${id} ERROR: ${message}\n\n`),
      };
    },
    note: (line) => write(`${line}\n`),
  };
}

export interface Lane extends Progress {
  /** This lane has no more events: the next lane's held events are written. */
  finish(): void;
}

/**
 * Lanes over `out`, written in the order they were made: the first unfinished lane writes
 * through, the others hold their events (with their times) until every lane before them has
 * finished. `flushAll` writes whatever is held, in lane order (a failed build shows it all).
 * A progress that shows concurrent steps side by side (the terminal view) gets every event at once;
 * so does everything after flushAll.
 */
export function orderedLanes(out: Progress): { lane(): Lane; flushAll(): void } {
  type Held = (() => void)[];
  const lanes: { held: Held; finished: boolean }[] = [];
  let head = 0;
  let open = !!out.concurrent;
  const advance = () => {
    while (head < lanes.length && lanes[head]!.finished) {
      head++;
      const l = lanes[head];
      if (l) for (const e of l.held.splice(0)) e();
    }
  };
  return {
    lane() {
      const me = { held: [] as Held, finished: false };
      const index = lanes.push(me) - 1;
      const live = () => open || index === head;
      const run = (e: () => void) => (live() ? e() : me.held.push(e));
      return {
        vertex(name, at = now()) {
          let v: Vertex | undefined;
          run(() => (v = out.vertex(name, at)));
          return {
            output: (line, t = now()) => run(() => v!.output(line, t)),
            cached: (t = now()) => run(() => v!.cached(t)),
            done: (t = now()) => run(() => v!.done(t)),
            error: (message, t = now()) => run(() => v!.error(message, t)),
          };
        },
        note: (line) => run(() => out.note(line)),
        finish() {
          me.finished = true;
          advance();
        },
      };
    },
    flushAll() {
      for (const l of lanes) {
        for (const e of l.held.splice(0)) e();
        l.finished = true;
      }
      head = lanes.length;
      open = true;
    },
  };
}
