import { expect, it } from 'vitest';
import { parseLogTime } from './log-file.js';

it('reads --since/--until as Unix seconds, a Go duration before now, or RFC 3339', () => {
  const now = 1_700_000_000_000;
  expect(parseLogTime('1700000000', now)).toBe(now);
  expect(parseLogTime('10m', now)).toBe(now - 600_000);
  expect(parseLogTime('1h30m', now)).toBe(now - 5_400_000);
  expect(parseLogTime('1.5s', now)).toBe(now - 1500);
  expect(parseLogTime('2024-01-02T15:04:05Z', now)).toBe(Date.parse('2024-01-02T15:04:05Z'));
  expect(() => parseLogTime('soon', now)).toThrow(/invalid time "soon"/);
  expect(() => parseLogTime('', now)).toThrow(/invalid time/);
});
