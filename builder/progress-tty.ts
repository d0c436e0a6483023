// The terminal view of a build (`--progress auto` on a TTY, or `--progress tty`), like BuildKit's:
// one line per step, redrawn in place as steps start, run and finish, with the last lines of
// each running step's output under it, and a header with the elapsed time and steps done:
//
//   [+] Building 3.4s (4/6)
//    => CACHED [build 2/4] COPY src/ /src/                              0.0s
//    => [build 3/4] RUN make                                            2.1s
//    => => # cc -o app main.c
//
// A frame is drawn over the previous one (cursor up, clear to the end of the screen), at most every
// REDRAW_MS while anything runs and once more at the end, fitted to the terminal's width and
// height. Steps from stages built at the same time show side by side.
import type { Progress, Vertex } from './progress.js';

const REDRAW_MS = 100;
/** Output lines shown under a running step. */
const TAIL_LINES = 6;

type State = 'running' | 'cached' | 'done' | 'error';

interface Step {
  name: string;
  started: number;
  ended?: number;
  state: State;
  tail: string[];
  error?: string;
}

export interface TtyOptions {
  columns(): number;
  rows(): number;
}

const ESC = '\x1b[';

function clock(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

/** Cuts `text` to `width` columns (the view's text is what Dockerfile lines and output are: mostly single-width). */
function fit(text: string, width: number): string {
  const clean = text.replace(/[\x00-\x08\x0b-\x1f\x7f]|\x1b\[[0-9;?]*[A-Za-z]/g, '');
  return clean.length <= width ? clean : `${clean.slice(0, Math.max(0, width - 1))}…`;
}

export function makeTtyProgress(write: (text: string) => void, term: TtyOptions): Progress {
  const steps: Step[] = [];
  const notes: string[] = [];
  const start = performance.now();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const frame = (final: boolean): string[] => {
    const width = Math.max(20, term.columns());
    const now = performance.now();
    const finished = steps.filter((s) => s.state !== 'running').length;
    const failed = steps.some((s) => s.state === 'error');
    const head = `[+] Building ${clock(now - start)} (${finished}/${steps.length})${final ? (failed ? ' ERROR' : ' FINISHED') : ''}`;
    const body: string[] = [];
    for (const s of steps) {
      const time = clock((s.ended ?? now) - s.started);
      const label = `${s.state === 'cached' ? 'CACHED ' : s.state === 'error' ? 'ERROR ' : ''}${s.name}`;
      const room = width - time.length - 6; // a line one short of the width: a full one leaves some terminals in a pending wrap that miscounts the redraw
      const text = fit(label, room);
      body.push(` => ${text}${' '.repeat(Math.max(1, room - text.length + 1))}${time}`);
      if (s.state === 'running' || s.state === 'error') for (const l of s.tail) body.push(fit(` => => # ${l}`, width - 1));
      if (s.error) body.push(fit(` => => # ERROR: ${s.error}`, width - 1));
    }
    // Only what fits: the header and the latest lines (BuildKit drops the oldest first too).
    const room = Math.max(1, term.rows() - 2);
    return [fit(head, width - 1), ...(body.length > room ? body.slice(body.length - room) : body)];
  };

  const draw = (final = false) => {
    const lines = frame(final);
    // Cursor up (CUU) to the previous frame's first line, then clear to the end: CUU is what every
    // terminal has (tmux ignores the shorter CPL, `ESC[nF`).
    write(`${drawn ? `\r${ESC}${drawn}A` : ''}${ESC}J${lines.join('\n')}\n`);
    drawn = lines.length;
  };

  const schedule = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (closed) return;
      draw();
      if (steps.some((s) => s.state === 'running')) schedule();
    }, REDRAW_MS);
    timer.unref();
  };

  return {
    concurrent: true,
    vertex(name: string, at = performance.now()): Vertex {
      const s: Step = { name, started: at, state: 'running', tail: [] };
      steps.push(s);
      schedule();
      const end = (state: State, when: number) => {
        s.state = state;
        s.ended = when;
        schedule();
      };
      return {
        output(line) {
          s.tail.push(line);
          if (s.tail.length > TAIL_LINES) s.tail.shift();
          schedule();
        },
        cached: (at2 = performance.now()) => end('cached', at2),
        done: (at2 = performance.now()) => end('done', at2),
        error(message, at2 = performance.now()) {
          s.error = message.split('\n')[0]!;
          end('error', at2);
        },
      };
    },
    note(line) {
      notes.push(line);
    },
    close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      for (const s of steps) if (s.state === 'running') s.ended = performance.now();
      draw(true);
      for (const n of notes) write(`${n}\n`);
    },
  };
}
