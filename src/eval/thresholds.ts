// Carrying a threshold rule from one score to another. The manifest's threshold sits at some
// quantile of the validation-normal GANomaly scores (0.99 by default); the baseline gets the
// threshold at the same quantile of its own validation-normal scores, so both flag the same
// share of normal images and their precision/recall compare fairly.
import { quantileSorted } from '../stats.js';

/**
 * Inverse of quantileSorted: the q in [0, 1] at which linear interpolation between order
 * statistics reaches `value`. Clamped at the ends. `sorted` ascending, non-empty.
 */
export function quantileRank(sorted: ArrayLike<number>, value: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('quantile rank in an empty list');
  if (value < sorted[0]!) return 0;
  if (value >= sorted[n - 1]!) return 1;
  let k = 0;
  while (!(value < sorted[k + 1]!)) k++; // sorted[k] ≤ value < sorted[k + 1]
  return (k + (value - sorted[k]!) / (sorted[k + 1]! - sorted[k]!)) / (n - 1);
}

/** The threshold on `target` scores at the validation quantile where `threshold` sits among `reference` scores. */
export function matchingThreshold(reference: ArrayLike<number>, threshold: number, target: ArrayLike<number>): { quantile: number; value: number } {
  const quantile = quantileRank(Float64Array.from(reference).sort(), threshold);
  return { quantile, value: quantileSorted(Float64Array.from(target).sort(), quantile) };
}
