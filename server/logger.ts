// Structured JSON logs (pino).
import { pino, type Logger } from 'pino';

export type { Logger };

/** On shutdown, how long the last log lines may take to be written (the reader may be gone). */
export const LOG_FLUSH_TIMEOUT_MS = 1000;

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { service: 'stevedore' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (destination) return pino(options, destination);
  const stdout = pino.destination({ sync: false });
  // The reader of stdout went away (`stevedore serve | head -1`: EPIPE): lines are dropped from
  // then on; the server goes on serving and shuts down when told to.
  stdout.on('error', () => undefined);
  return pino(options, stdout);
}

/** Flushes the log, but never waits longer than LOG_FLUSH_TIMEOUT_MS (a broken pipe never drains). */
export function flushLog(log: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, LOG_FLUSH_TIMEOUT_MS);
    timer.unref();
    try {
      log.flush(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}
