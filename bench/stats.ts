// Order statistics for the benchmarks: one median and one set of quartiles for every benchmark.

/** The median (the mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  return quartiles(xs).median;
}

/** The median and quartiles of a sample (linear interpolation between order statistics); NaN for none. */
export function quartiles(xs: readonly number[]): { median: number; q1: number; q3: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => {
    if (s.length === 0) return NaN;
    const i = (s.length - 1) * q;
    const lo = Math.floor(i);
    return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (i - lo);
  };
  return { median: at(0.5), q1: at(0.25), q3: at(0.75) };
}
