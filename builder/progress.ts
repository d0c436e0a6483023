// Build progress for the user: BuildKit's plain format (`#3 [2/5] RUN make`, the command's output
// as `#3 0.412 line`, then `#3 CACHED` or `#3 DONE 1.2s` or `#3 ERROR: …`), JSON events one per
// line (`--progress json`), or nothing (`-q`).

export type ProgressMode = 'plain' | 'json' | 'quiet';

export interface Vertex {
  output(line: string): void;
  cached(): void;
  done(): void;
  error(message: string): void;
}

export interface Progress {
  vertex(name: string): Vertex;
  /** A note outside any step (warnings). */
  note(line: string): void;
}

export function makeProgress(mode: ProgressMode, write: (text: string) => void): Progress {
  let next = 1;
  if (mode === 'quiet') {
    const none: Vertex = { output: () => {}, cached: () => {}, done: () => {}, error: () => {} };
    return { vertex: () => none, note: () => {} };
  }
  if (mode === 'json') {
    const emit = (e: Record<string, unknown>) => write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`);
    return {
      vertex(name) {
        const id = next++;
        const started = performance.now();
        emit({ vertex: id, name, status: 'started' });
        const secs = () => Math.round(performance.now() - started) / 1000;
        return {
          output: (line) => emit({ vertex: id, output: line, elapsed: secs() }),
          cached: () => emit({ vertex: id, name, status: 'cached' }),
          done: () => emit({ vertex: id, name, status: 'done', duration: secs() }),
          error: (message) => emit({ vertex: id, name, status: 'error', error: message, duration: secs() }),
        };
      },
      note: (line) => emit({ note: line }),
    };
  }
  return {
    vertex(name) {
      const id = next++;
      const started = performance.now();
      write(`#${id} ${name}\n`);
      const secs = () => ((performance.now() - started) / 1000).toFixed(1);
      return {
        output: (line) => write(`#${id} ${((performance.now() - started) / 1000).toFixed(3)} ${line}\n`),
        cached: () => write(`#${id} CACHED\n\n`),
        done: () => write(`#${id} DONE ${secs()}s\n\n`),
        error: (message) => write(`#${id} ERROR: ${message}\n\n`),
      };
    },
    note: (line) => write(`${line}\n`),
  };
}
