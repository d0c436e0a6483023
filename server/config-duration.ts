// Durations in the server configuration, one syntax for every section: seconds as a number, or
// "90s", "30m", "168h", "1h30m", "500ms", "7d"; parsed into milliseconds.
import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "90s", "30m", "168h", "1h30m", "500ms" into milliseconds; undefined when malformed. */
export function parseDuration(v: string): number | undefined {
  if (!/^(\d+(?:\.\d+)?(ms|s|m|h|d))+$/.test(v)) return undefined;
  let total = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * UNITS[m[2]!]!;
  return total;
}

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
