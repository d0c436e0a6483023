// Callbacks run by event emitters and timers (a response's 'close', a socket's 'error', a
// timer) are outside every request's promise chain: an exception there is not caught by koa's
// error handling and ends the process. Request paths register such callbacks through this.
import type { Logger } from './logger.js';

/** `fn`, except that an exception is logged (once per call) instead of thrown. */
export function safeCallback<A extends unknown[]>(log: Logger, what: string, fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      try {
        log.error({ err }, `${what} failed`);
      } catch {
        /* logging itself failed: nothing more to do */
      }
    }
  };
}
