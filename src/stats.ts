// Score statistics shared by training (validation summaries), export (calibration) and eval.
// No imports beyond types: the browser runtime may use it.
import type { ScoreStats } from './types.js';

/** Quantile with linear interpolation between order statistics (numpy's default). `sorted` ascending. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('quantile of an empty list');
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function scoreStats(scores: ArrayLike<number>): ScoreStats {
  const n = scores.length;
  if (n === 0) throw new RangeError('no scores to summarise');
  const sorted = Float64Array.from(scores).sort();
  for (const v of sorted) if (!Number.isFinite(v)) throw new RangeError('scores contain NaN or Infinity');
  let sum = 0;
  for (const v of sorted) sum += v;
  const mean = sum / n;
  let ss = 0;
  for (const v of sorted) ss += (v - mean) ** 2;
  return {
    count: n,
    min: sorted[0]!,
    max: sorted[n - 1]!,
    mean,
    std: Math.sqrt(ss / n),
    p50: quantileSorted(sorted, 0.5),
    p95: quantileSorted(sorted, 0.95),
    p99: quantileSorted(sorted, 0.99),
  };
}
