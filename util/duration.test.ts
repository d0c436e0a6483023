import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it('reads Go durations into milliseconds', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('7d')).toBe(7 * 86_400_000);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('250us')).toBeCloseTo(0.25);
    expect(parseDuration('1ns')! * 1e6).toBeCloseTo(1);
  });
  it('refuses what is not one', () => {
    for (const bad of ['', '10', 's', '5x', '1h 30m', '-5s', '5s ']) expect(parseDuration(bad)).toBeUndefined();
  });
});
