import { describe, expect, it } from 'vitest';
import { healthSuffix, initialHealth, nextHealth, probeArgs, resolveHealthcheck, type HealthResult } from './health.js';

const result = (ExitCode: number): HealthResult => ({ Start: 't0', End: 't1', ExitCode, Output: '' });

describe('resolveHealthcheck', () => {
  const image = { Test: ['CMD-SHELL', 'check'], Interval: 5e9, Timeout: 2e9, StartPeriod: 1e9, Retries: 4 };
  it('takes the image\'s check with its durations in nanoseconds', () => {
    expect(resolveHealthcheck(image, {})).toEqual({ test: ['CMD-SHELL', 'check'], intervalMs: 5000, timeoutMs: 2000, startPeriodMs: 1000, retries: 4 });
  });
  it('lets each flag override its field and gives docker\'s defaults for the rest', () => {
    expect(resolveHealthcheck(image, { healthInterval: '1s', healthRetries: '2' })).toMatchObject({ test: ['CMD-SHELL', 'check'], intervalMs: 1000, timeoutMs: 2000, retries: 2 });
    expect(resolveHealthcheck(undefined, { healthCmd: 'test -f /ok' })).toEqual({ test: ['CMD-SHELL', 'test -f /ok'], intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, retries: 3 });
  });
  it('has none with --no-healthcheck, HEALTHCHECK NONE, or no check at all', () => {
    expect(resolveHealthcheck(image, { healthcheck: false })).toBeUndefined();
    expect(resolveHealthcheck({ Test: ['NONE'] }, {})).toBeUndefined();
    expect(resolveHealthcheck(undefined, { healthInterval: '1s' })).toBeUndefined();
  });
  it('refuses bad flags with the flag\'s name', () => {
    expect(() => resolveHealthcheck(undefined, { healthCmd: 'x', healthInterval: '10' })).toThrow(/--health-interval "10"/);
    expect(() => resolveHealthcheck(undefined, { healthCmd: 'x', healthRetries: 'three' })).toThrow(/--health-retries/);
    expect(() => resolveHealthcheck(undefined, { healthCmd: 'x', healthcheck: false })).toThrow(/--no-healthcheck/);
  });
});

describe('nextHealth', () => {
  it('goes starting → healthy → unhealthy after `retries` failures in a row', () => {
    let h = initialHealth();
    h = nextHealth(h, result(0), { retries: 2, inStartPeriod: false });
    expect(h).toMatchObject({ Status: 'healthy', FailingStreak: 0 });
    h = nextHealth(h, result(1), { retries: 2, inStartPeriod: false });
    expect(h).toMatchObject({ Status: 'healthy', FailingStreak: 1 });
    h = nextHealth(h, result(1), { retries: 2, inStartPeriod: false });
    expect(h).toMatchObject({ Status: 'unhealthy', FailingStreak: 2 });
    h = nextHealth(h, result(0), { retries: 2, inStartPeriod: false });
    expect(h).toMatchObject({ Status: 'healthy', FailingStreak: 0 });
  });
  it('does not count failures in the start period', () => {
    const h = nextHealth(initialHealth(), result(1), { retries: 1, inStartPeriod: true });
    expect(h).toMatchObject({ Status: 'starting', FailingStreak: 0 });
    expect(h.Log).toHaveLength(1);
  });
  it('keeps the last five results', () => {
    let h = initialHealth();
    for (let i = 0; i < 7; i++) h = nextHealth(h, { ...result(0), Output: String(i) }, { retries: 3, inStartPeriod: false });
    expect(h.Log.map((r) => r.Output)).toEqual(['2', '3', '4', '5', '6']);
  });
});

it('runs CMD-SHELL through /bin/sh -c and CMD as it is', () => {
  expect(probeArgs(['CMD-SHELL', 'test -f /x'])).toEqual(['/bin/sh', '-c', 'test -f /x']);
  expect(probeArgs(['CMD', '/bin/check', 'a'])).toEqual(['/bin/check', 'a']);
});

it('words the status as docker ps does', () => {
  expect(healthSuffix(initialHealth())).toBe(' (health: starting)');
  expect(healthSuffix({ Status: 'unhealthy', FailingStreak: 3, Log: [] })).toBe(' (unhealthy)');
  expect(healthSuffix(undefined)).toBe('');
});
