// Durations in the server configuration, one syntax for every section: seconds as a number, or
// "90s", "30m", "168h", "1h30m", "500ms", "7d"; parsed into milliseconds.
import { z } from 'zod';
import { parseDuration } from '../util/duration.js';

// The parser lives in util/ (the engine's --health-* flags and the builder's HEALTHCHECK use it too).
export { parseDuration };

/** A configuration duration in milliseconds (`.prefault('5m')` for a default in the same syntax). */
export const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v * 1000;
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)} (use e.g. 90s, 30m, 168h)` });
    return z.NEVER;
  }
  return ms;
});
