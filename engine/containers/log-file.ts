// A container's log: JSON lines like docker's json-file driver, one per line of output, with the
// stream it came from and when: {"stream":"stdout","time":"…Z","log":"text\n"}. Written by the
// process that owns the container (the monitor, or a foreground `run`/`start -a`); read by `logs`
// with --since/--until/--tail/-t/-f, stdout and stderr kept apart.
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { parseDuration } from '../../util/duration.js';

export type LogStream = 'stdout' | 'stderr';

export interface LogEntry {
  stream: LogStream;
  time: string;
  log: string;
}

/** Appends the output of a container's streams; lines are written whole, a last partial line at end(). */
export class LogWriter {
  private readonly out: WriteStream;
  private readonly partial: Record<LogStream, string> = { stdout: '', stderr: '' };

  constructor(path: string) {
    this.out = createWriteStream(path, { flags: 'a', mode: 0o600 });
  }

  write(stream: LogStream, chunk: Buffer | string): void {
    const text = this.partial[stream] + chunk.toString();
    const lines = text.split('\n');
    this.partial[stream] = lines.pop()!;
    const time = new Date().toISOString();
    if (lines.length > 0) this.out.write(lines.map((l) => `${JSON.stringify({ stream, time, log: `${l}\n` })}\n`).join(''));
  }

  /** Follows a stream of the container: each chunk to the log (and to `echo`, a foreground caller's own output). */
  follow(stream: LogStream, from: Readable, echo?: NodeJS.WritableStream): Promise<void> {
    return new Promise((resolve) => {
      from.on('data', (chunk: Buffer) => {
        this.write(stream, chunk);
        echo?.write(chunk);
      });
      from.once('end', () => resolve());
      from.once('error', () => resolve());
    });
  }

  async end(): Promise<void> {
    const time = new Date().toISOString();
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream]) this.out.write(`${JSON.stringify({ stream, time, log: this.partial[stream] })}\n`);
      this.partial[stream] = '';
    }
    await new Promise<void>((resolve) => this.out.end(resolve));
  }
}

/** Parses log text; a line not yet complete (being written) is left for the next read. */
export function parseLogLines(text: string): { entries: LogEntry[]; rest: string } {
  const lines = text.split('\n');
  const rest = lines.pop()!;
  const entries: LogEntry[] = [];
  for (const l of lines) {
    try {
      const e = JSON.parse(l) as LogEntry;
      if ((e.stream === 'stdout' || e.stream === 'stderr') && typeof e.log === 'string') entries.push(e);
    } catch {
      /* a damaged line (a crash mid-write): skipped */
    }
  }
  return { entries, rest };
}

/**
 * `--since`/`--until`: RFC 3339 times, Unix seconds, or a duration before now (10m, 1h30m, 45s) —
 * docker's forms. Returns milliseconds since the epoch.
 */
export function parseLogTime(text: string, now = Date.now()): number {
  if (/^[0-9]+(\.[0-9]+)?$/.test(text)) return Number(text) * 1000;
  const ago = parseDuration(text);
  if (ago !== undefined) return now - ago;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`invalid time ${JSON.stringify(text)}: RFC 3339 (2024-01-02T15:04:05Z), Unix seconds, or a duration like 10m`);
  return t;
}
