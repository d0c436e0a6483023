import { describe, expect, it } from 'vitest';
import { median, quartiles } from './stats.js';

describe('bench statistics', () => {
  it('takes the middle value, or the mean of the middle two, whatever the order', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('interpolates quartiles between order statistics', () => {
    expect(quartiles([1, 2, 3, 4, 5])).toEqual({ median: 3, q1: 2, q3: 4 });
    expect(quartiles([0.9, 1.3, 1.1, 1.0])).toEqual({ median: 1.05, q1: expect.closeTo(0.975, 10), q3: expect.closeTo(1.15, 10) });
    expect(quartiles([7])).toEqual({ median: 7, q1: 7, q3: 7 });
  });
});
