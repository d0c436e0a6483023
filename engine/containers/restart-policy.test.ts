import { describe, expect, it } from 'vitest';
import { nextRestartDelay, parseRestartPolicy, shouldRestart } from './restart-policy.js';

describe('restart policies', () => {
  it('parses docker\'s forms and refuses others', () => {
    expect(parseRestartPolicy('on-failure:3')).toEqual({ name: 'on-failure', maxRetries: 3 });
    expect(parseRestartPolicy('always')).toEqual({ name: 'always' });
    expect(() => parseRestartPolicy('always:3')).toThrow(/invalid --restart/);
    expect(() => parseRestartPolicy('sometimes')).toThrow(/invalid --restart/);
  });
  it('on-failure:3 restarts three failures, never a success; manual stops win', () => {
    const p = parseRestartPolicy('on-failure:3');
    expect([0, 1, 2, 3].map((n) => shouldRestart(p, 1, n, false))).toEqual([true, true, true, false]);
    expect(shouldRestart(p, 0, 0, false)).toBe(false);
    expect(shouldRestart(parseRestartPolicy('always'), 0, 100, false)).toBe(true);
    expect(shouldRestart(parseRestartPolicy('unless-stopped'), 1, 0, true)).toBe(false);
    expect(shouldRestart(parseRestartPolicy('no'), 1, 0, false)).toBe(false);
  });
  it('backoff doubles from 100 ms up to a minute, and starts over after a run of 10 s', () => {
    const seq: number[] = [];
    let d = 0;
    for (let i = 0; i < 12; i++) seq.push((d = nextRestartDelay(d, 50)));
    expect(seq.slice(0, 4)).toEqual([100, 200, 400, 800]);
    expect(seq.at(-1)).toBe(60_000);
    expect(nextRestartDelay(60_000, 10_000)).toBe(100);
  });
});
